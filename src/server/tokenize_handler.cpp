#include "server/tokenize_handler.h"

#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "openai/request_fields.h"
#include "server/http_reply.h"
#include "tokenizer/utf8.h"

namespace packinfer::api {
namespace {

using json = nlohmann::json;

// The body as a JSON object, or the error to send.
std::optional<RequestError> parse_object(const std::string& text, json& out) {
  if (!utf8::is_valid(text))
    return RequestError{"the request body is not valid UTF-8", "invalid_encoding", ""};
  out = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded())
    return RequestError{"the request body is not valid JSON", "invalid_json", ""};
  if (!out.is_object()) {
    return RequestError{
        std::string("the request body must be a JSON object, got ") + out.type_name(),
        "invalid_type", ""};
  }
  return std::nullopt;
}

}  // namespace

void handle_tokenize(const Engine& engine, const HttpRequest& req, HttpResponse& res) {
  json body;
  if (auto e = parse_object(req.body, body)) return send_error(res, *e);
  try {
    std::string content;
    bool have_content = false, add_special = false, parse_special = true, with_pieces = false;
    for (const auto& [key, v] : body.items()) {
      if (key == "content") {
        content = get_string(v, key);
        have_content = true;
      } else if (key == "add_special") {
        add_special = get_bool(v, key);
      } else if (key == "parse_special") {
        parse_special = get_bool(v, key);
      } else if (key == "with_pieces") {
        with_pieces = get_bool(v, key);
      } else {
        fail("unknown field '" + key + "' (accepted: content, add_special, parse_special, " +
                 "with_pieces)",
             "unknown_parameter", key);
      }
    }
    if (!have_content) fail("'content' is missing", "missing_required_parameter", "content");
    const std::vector<int32_t> ids = engine.tokenize(content, add_special, parse_special);
    ojson tokens = ojson::array();
    for (int32_t id : ids) {
      if (!with_pieces) {
        tokens.push_back(id);
        continue;
      }
      const int32_t one[1] = {id};
      tokens.push_back({{"id", id}, {"piece", engine.detokenize(one, /*render_special=*/true)}});
    }
    send_json(res, {{"tokens", std::move(tokens)}});
  } catch (const RequestFailure& f) {
    send_error(res, f.error);
  } catch (const std::exception& e) {
    send_error(res, {e.what(), "invalid_value", "content"});
  }
}

void handle_detokenize(const Engine& engine, const HttpRequest& req, HttpResponse& res) {
  json body;
  if (auto e = parse_object(req.body, body)) return send_error(res, *e);
  try {
    const int64_t n_vocab = engine.model_info().n_vocab;
    std::vector<int32_t> ids;
    bool have_tokens = false;
    for (const auto& [key, v] : body.items()) {
      if (key != "tokens")
        fail("unknown field '" + key + "' (accepted: tokens)", "unknown_parameter", key);
      if (!v.is_array()) wrong_type(key, "an array of token ids", v);
      have_tokens = true;
      for (size_t i = 0; i < v.size(); ++i) {
        const std::string field = "tokens[" + std::to_string(i) + "]";
        const int64_t id = get_integer(v[i], field);
        if (id < 0 || id >= n_vocab) {
          fail("'" + field + "' = " + std::to_string(id) + " is not a token id (vocabulary of " +
                   std::to_string(n_vocab) + ")",
               "invalid_value", field);
        }
        ids.push_back(static_cast<int32_t>(id));
      }
    }
    if (!have_tokens) fail("'tokens' is missing", "missing_required_parameter", "tokens");
    send_json(res, {{"content", engine.detokenize(ids, /*render_special=*/true)}});
  } catch (const RequestFailure& f) {
    send_error(res, f.error);
  } catch (const std::exception& e) {
    send_error(res, {e.what(), "invalid_value", "tokens"});
  }
}

}  // namespace packinfer::api
