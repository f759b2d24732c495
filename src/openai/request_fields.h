#pragma once
// Typed access to the fields of a JSON request, shared by every OpenAI-style parser (the HTTP
// server and `packinfer batch`). A field of the wrong type or value throws RequestFailure, which
// the parser's entry point turns into an OpenAI error object naming the field. Requests are
// parsed as ordered_json: members keep the client's order (a JSON schema's `properties` order is
// the order of the generated object's members).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace packinfer::api {

using RequestJson = nlohmann::ordered_json;

// Why a request cannot run; becomes {"error": {"message", "type", "param", "code"}}.
struct RequestError {
  std::string message;
  std::string code;   // e.g. "invalid_type", "model_not_found"
  std::string param;  // offending field, empty when none applies
  int status = 400;   // HTTP status (404 for an unknown model, 413 for an oversize body, ...)
};

// Thrown by the helpers below; caught at the parser's entry point only.
struct RequestFailure {
  RequestError error;
};

[[noreturn]] void fail(std::string message, std::string code, std::string param = {},
                       int status = 400);
[[noreturn]] void wrong_type(const std::string& field, const char* expected, const RequestJson& v);

double get_number(const RequestJson& v, const std::string& field);
// JSON has one number type; 10.0 is accepted as an integer, 10.5 is not. Values beyond int64 are
// saturated (they are then rejected or clamped by the range checks).
int64_t get_integer(const RequestJson& v, const std::string& field);
bool get_bool(const RequestJson& v, const std::string& field);
const std::string& get_string(const RequestJson& v, const std::string& field);

// int32 fields of SamplingParams: out-of-range values saturate and then fail validate().
int32_t to_int32(int64_t v);

}  // namespace packinfer::api
