#include "batch_jobs/batch_requests.h"

#include <nlohmann/json.hpp>

namespace packinfer::batch_jobs {
namespace {

using json = api::RequestJson;  // members in the order written
using api::fail;
using api::get_string;
using api::wrong_type;

void parse_object(const json& obj, BatchRequest& req, api::ParseOptions& options,
                  const api::IgnoredFieldFn& ignored) {
  if (auto id = obj.find("custom_id"); id != obj.end() && !id->is_null()) {
    const std::string& s = get_string(*id, "custom_id");
    if (s.empty()) fail("'custom_id' is empty", "invalid_value", "custom_id");
    req.custom_id = s;
  }
  auto body = obj.find("body");
  if (body == obj.end()) {
    // Bare format: the body's fields sit at the top level next to custom_id.
    options.infer_endpoint = true;
    options.silent_fields = {"custom_id"};
    api::parse_body(obj, req, options, ignored);
    return;
  }
  // OpenAI Batch envelope.
  for (const auto& [key, v] : obj.items()) {
    if (key != "custom_id" && key != "method" && key != "url" && key != "body")
      ignored(key, "unknown field");
  }
  if (auto m = obj.find("method"); m != obj.end() && get_string(*m, "method") != "POST") {
    fail("method '" + m->get<std::string>() + "' is not supported (use POST)", "unsupported_value",
         "method");
  }
  if (!body->is_object()) wrong_type("body", "an object", *body);
  if (auto url = obj.find("url"); url != obj.end()) {
    const std::string& u = get_string(*url, "url");
    if (u == "/v1/completions") {
      req.endpoint = Endpoint::Completions;
    } else if (u == "/v1/chat/completions") {
      req.endpoint = Endpoint::ChatCompletions;
    } else {
      fail("url '" + u + "' is not supported (use /v1/completions or /v1/chat/completions)",
           "unsupported_value", "url");
    }
  } else {
    // No url: the body's shape tells which endpoint was meant.
    req.endpoint = body->contains("messages") ? Endpoint::ChatCompletions : Endpoint::Completions;
  }
  api::parse_body(*body, req, options, ignored);
}

}  // namespace

BatchRequest parse_request_line(std::string_view line, int64_t line_no,
                                const std::vector<std::string>& model_names,
                                FieldWarnings& warnings) {
  BatchRequest req;
  static_cast<api::CompletionRequest&>(req) = api::openai_defaults(Endpoint::Completions);
  req.line = line_no;
  req.custom_id = "line-" + std::to_string(line_no);
  // Batch jobs return neither streams nor log probabilities, and run one choice per request.
  api::ParseOptions options;
  options.model_names = model_names;
  const std::string where = "line " + std::to_string(line_no);
  auto ignored = [&](const std::string& field, const std::string& why) {
    warnings.note(field, where, why);
  };
  json obj = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  try {
    if (obj.is_discarded())
      fail("line " + std::to_string(line_no) + " is not valid JSON", "invalid_json");
    if (!obj.is_object()) {
      fail("line " + std::to_string(line_no) + " must be a JSON object, got " + obj.type_name(),
           "invalid_type");
    }
    parse_object(obj, req, options, ignored);
  } catch (const api::RequestFailure& f) {
    req.error = f.error;
  }
  return req;
}

}  // namespace packinfer::batch_jobs
