#pragma once
// Every failure packinfer reports to a caller is a packinfer::Error with a message that names the
// problem (which file, which field, which limit). Callers never see a crash for bad input.
#include <stdexcept>
#include <string>

namespace packinfer {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Bad input from a user or client (invalid parameter, prompt too long, ...): maps to HTTP 400.
class InvalidArgument : public Error {
 public:
  explicit InvalidArgument(const std::string& what) : Error(what) {}
};

// The engine cannot take more work right now (queue full, shutting down): HTTP 503 / 429.
class Overloaded : public Error {
 public:
  explicit Overloaded(const std::string& what) : Error(what) {}
};

}  // namespace packinfer
