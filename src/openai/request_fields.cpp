#include "openai/request_fields.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace packinfer::api {

using json = RequestJson;

void fail(std::string message, std::string code, std::string param, int status) {
  throw RequestFailure{{std::move(message), std::move(code), std::move(param), status}};
}

void wrong_type(const std::string& field, const char* expected, const json& v) {
  // Numbers and booleans are shown ("got number 2.5"); strings and containers only by type, so a
  // long prompt in the wrong field does not end up in the error message.
  std::string got = v.type_name();
  if (v.is_number() || v.is_boolean()) got += " " + v.dump();
  fail("'" + field + "' must be " + expected + ", got " + got, "invalid_type", field);
}

double get_number(const json& v, const std::string& field) {
  if (!v.is_number()) wrong_type(field, "a number", v);
  return v.get<double>();
}

int64_t get_integer(const json& v, const std::string& field) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  if (v.is_number_unsigned())
    return static_cast<int64_t>(std::min<uint64_t>(v.get<uint64_t>(), kMax));
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18)
      return static_cast<int64_t>(d);
  }
  wrong_type(field, "an integer", v);
}

bool get_bool(const json& v, const std::string& field) {
  if (!v.is_boolean()) wrong_type(field, "a boolean", v);
  return v.get<bool>();
}

const std::string& get_string(const json& v, const std::string& field) {
  if (!v.is_string()) wrong_type(field, "a string", v);
  return v.get_ref<const std::string&>();
}

int32_t to_int32(int64_t v) {
  return static_cast<int32_t>(std::clamp<int64_t>(v, std::numeric_limits<int32_t>::min(),
                                                  std::numeric_limits<int32_t>::max()));
}

}  // namespace packinfer::api
