#include "cli/batch_requests.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "packinfer/error.h"

namespace packinfer::cli {
namespace {

using json = nlohmann::json;

// Thrown inside the parser only; parse_request_line turns it into BatchRequest::error.
struct ParseFailure {
  RequestError error;
};

[[noreturn]] void fail(std::string message, std::string code, std::string param = {}) {
  throw ParseFailure{{std::move(message), std::move(code), std::move(param)}};
}

[[noreturn]] void wrong_type(const std::string& field, const char* expected, const json& v) {
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

// JSON has one number type; 10.0 is accepted as an integer, 10.5 is not. Values beyond int64 are
// saturated (they are then rejected or clamped by the range checks).
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

const std::string& get_string(const json& v, const std::string& field) {
  if (!v.is_string()) wrong_type(field, "a string", v);
  return v.get_ref<const std::string&>();
}

// int32 fields of SamplingParams: out-of-range values saturate and then fail validate().
int32_t to_int32(int64_t v) {
  return static_cast<int32_t>(std::clamp<int64_t>(v, std::numeric_limits<int32_t>::min(),
                                                  std::numeric_limits<int32_t>::max()));
}

std::string parse_content(const json& content, const std::string& field) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) wrong_type(field, "a string or an array of text parts", content);
  // Parts are concatenated as given: a client that wants a separator puts it in the text.
  std::string text;
  for (size_t j = 0; j < content.size(); ++j) {
    const json& part = content[j];
    const std::string pfield = field + "[" + std::to_string(j) + "]";
    if (!part.is_object()) wrong_type(pfield, "an object", part);
    auto type = part.find("type");
    if (type == part.end())
      fail("'" + pfield + ".type' is missing", "missing_required_parameter", pfield + ".type");
    if (get_string(*type, pfield + ".type") != "text") {
      fail("content part type '" + type->get<std::string>() + "' is not supported (only \"text\")",
           "unsupported_value", pfield + ".type");
    }
    auto t = part.find("text");
    if (t == part.end())
      fail("'" + pfield + ".text' is missing", "missing_required_parameter", pfield + ".text");
    text += get_string(*t, pfield + ".text");
  }
  return text;
}

std::vector<ChatMessage> parse_messages(const json& v, int64_t line, FieldWarnings& warnings) {
  if (!v.is_array()) wrong_type("messages", "an array", v);
  if (v.empty()) fail("'messages' is empty", "invalid_value", "messages");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < v.size(); ++i) {
    const json& m = v[i];
    const std::string field = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) wrong_type(field, "an object", m);
    ChatMessage msg;
    auto role = m.find("role");
    if (role == m.end())
      fail("'" + field + ".role' is missing", "missing_required_parameter", field + ".role");
    msg.role = get_string(*role, field + ".role");
    if (msg.role == "developer") msg.role = "system";  // OpenAI's newer name for the system role
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant") {
      fail("role '" + msg.role + "' is not supported (use system, developer, user or assistant)",
           "unsupported_value", field + ".role");
    }
    auto content = m.find("content");
    if (content == m.end() || content->is_null()) {
      fail("'" + field + ".content' is missing", "missing_required_parameter", field + ".content");
    }
    msg.content = parse_content(*content, field + ".content");
    for (const auto& [key, value] : m.items()) {
      if (key != "role" && key != "content")
        warnings.note("messages[]." + key, line, "unknown field");
    }
    out.push_back(std::move(msg));
  }
  return out;
}

std::string parse_prompt(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    if (v.size() != 1) {
      fail("'prompt' must be a string or an array of one string (got " + std::to_string(v.size()) +
               " elements; send one request per prompt)",
           "invalid_value", "prompt");
    }
    return get_string(v[0], "prompt[0]");
  }
  wrong_type("prompt", "a string", v);
}

std::string join(const std::vector<std::string>& names) {
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "'" : ", '") + n + "'";
  return s;
}

// The field named in SamplingParams::validate()'s message ("invalid sampling parameter 'x': ").
std::string field_of(const std::string& message) {
  size_t a = message.find('\'');
  size_t b = a == std::string::npos ? a : message.find('\'', a + 1);
  return b == std::string::npos ? std::string() : message.substr(a + 1, b - a - 1);
}

// Fields of the request body. In the bare format these sit at the top level next to custom_id.
void apply_body(const json& body, BatchRequest& req, bool bare,
                const std::vector<std::string>& model_names, FieldWarnings& warnings) {
  SamplingParams& s = req.sampling;
  std::optional<int64_t> max_tokens, max_completion_tokens;
  const json* prompt = nullptr;
  const json* messages = nullptr;
  for (const auto& [key, v] : body.items()) {
    // null means "the default", as in the OpenAI API.
    if (v.is_null()) continue;
    if (key == "model") {
      req.model = get_string(v, key);
      if (std::find(model_names.begin(), model_names.end(), req.model) == model_names.end()) {
        fail("unknown model '" + req.model + "' (this job runs " + join(model_names) + ")",
             "model_not_found", key);
      }
    } else if (key == "prompt") {
      prompt = &v;
    } else if (key == "messages") {
      messages = &v;
    } else if (key == "max_tokens") {
      max_tokens = get_integer(v, key);
    } else if (key == "max_completion_tokens") {
      max_completion_tokens = get_integer(v, key);
    } else if (key == "temperature") {
      s.temperature = static_cast<float>(get_number(v, key));
    } else if (key == "top_p") {
      s.top_p = static_cast<float>(get_number(v, key));
    } else if (key == "top_k") {
      s.top_k = to_int32(get_integer(v, key));
    } else if (key == "min_p") {
      s.min_p = static_cast<float>(get_number(v, key));
    } else if (key == "presence_penalty") {
      s.presence_penalty = static_cast<float>(get_number(v, key));
    } else if (key == "frequency_penalty") {
      s.frequency_penalty = static_cast<float>(get_number(v, key));
    } else if (key == "repetition_penalty") {
      s.repetition_penalty = static_cast<float>(get_number(v, key));
    } else if (key == "seed") {
      // Negative seeds are valid in the OpenAI API; any 64-bit pattern is a seed here.
      s.seed =
          v.is_number_unsigned() ? v.get<uint64_t>() : static_cast<uint64_t>(get_integer(v, key));
    } else if (key == "stop") {
      s.stop.clear();
      if (v.is_string()) {
        s.stop.push_back(v.get<std::string>());
      } else if (v.is_array()) {
        for (size_t i = 0; i < v.size(); ++i)
          s.stop.push_back(get_string(v[i], "stop[" + std::to_string(i) + "]"));
      } else {
        wrong_type(key, "a string or an array of strings", v);
      }
    } else if (key == "n") {
      if (get_integer(v, key) != 1) fail("only n=1 is supported", "unsupported_value", key);
    } else if (key == "logprobs" || key == "top_logprobs") {
      bool asked = !(v.is_boolean() && !v.get<bool>()) && !(v.is_number() && v.get<double>() == 0);
      if (asked) warnings.note(key, req.line, "log probabilities are not returned");
    } else if (!(bare && key == "custom_id")) {
      warnings.note(key, req.line, "unknown field");
    }
  }

  if (prompt != nullptr && messages != nullptr) {
    fail("give either 'prompt' or 'messages', not both", "invalid_value", "messages");
  }
  if (bare && messages != nullptr) req.endpoint = Endpoint::ChatCompletions;
  if (req.endpoint == Endpoint::Completions) {
    if (messages != nullptr) {
      fail("'messages' belongs to /v1/chat/completions; /v1/completions takes 'prompt'",
           "invalid_value", "messages");
    }
    if (prompt == nullptr) fail("'prompt' is missing", "missing_required_parameter", "prompt");
    req.prompt = parse_prompt(*prompt);
    // With BOS added an empty prompt would still "work"; it is almost surely a client bug.
    if (req.prompt.empty()) fail("'prompt' is empty", "invalid_value", "prompt");
  } else {
    if (prompt != nullptr) {
      fail("'prompt' belongs to /v1/completions; /v1/chat/completions takes 'messages'",
           "invalid_value", "prompt");
    }
    if (messages == nullptr)
      fail("'messages' is missing", "missing_required_parameter", "messages");
    req.messages = parse_messages(*messages, req.line, warnings);
  }

  // max_completion_tokens is the newer name; it wins when both are given.
  req.max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;
  const char* mt_field = max_completion_tokens ? "max_completion_tokens" : "max_tokens";
  if (req.max_tokens && *req.max_tokens < 0) {
    fail("'" + std::string(mt_field) + "' must be >= 0, got " + std::to_string(*req.max_tokens),
         "invalid_value", mt_field);
  }
  s.max_tokens = 0;  // set by fit_to_context() once the prompt length is known
  try {
    s.validate();
  } catch (const InvalidArgument& e) {
    fail(e.what(), "invalid_value", field_of(e.what()));
  }
}

void parse_object(const json& obj, BatchRequest& req, const std::vector<std::string>& model_names,
                  FieldWarnings& warnings) {
  if (auto id = obj.find("custom_id"); id != obj.end() && !id->is_null()) {
    const std::string& s = get_string(*id, "custom_id");
    if (s.empty()) fail("'custom_id' is empty", "invalid_value", "custom_id");
    req.custom_id = s;
  }
  auto body = obj.find("body");
  if (body == obj.end()) {
    apply_body(obj, req, /*bare=*/true, model_names, warnings);
    return;
  }
  // OpenAI Batch envelope.
  for (const auto& [key, v] : obj.items()) {
    if (key != "custom_id" && key != "method" && key != "url" && key != "body") {
      warnings.note(key, req.line, "unknown field");
    }
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
  apply_body(*body, req, /*bare=*/false, model_names, warnings);
}

}  // namespace

std::vector<std::string> accepted_model_names(const std::string& model_path,
                                              const std::string& general_name) {
  std::filesystem::path p(model_path);
  std::vector<std::string> names = {p.stem().string(), p.filename().string()};
  if (!general_name.empty()) names.push_back(general_name);
  names.erase(std::remove(names.begin(), names.end(), std::string()), names.end());
  std::vector<std::string> unique;
  for (const std::string& n : names) {
    if (std::find(unique.begin(), unique.end(), n) == unique.end()) unique.push_back(n);
  }
  return unique;
}

bool FieldWarnings::note(const std::string& field, int64_t line, const std::string& why) {
  if (!seen_.insert(field).second) return false;
  pending_.push_back("ignoring field '" + field + "' (" + why + "; first on line " +
                     std::to_string(line) + ", not reported again)");
  return true;
}

std::vector<std::string> FieldWarnings::take() {
  std::vector<std::string> out;
  out.swap(pending_);
  return out;
}

BatchRequest parse_request_line(std::string_view line, int64_t line_no,
                                const std::vector<std::string>& model_names,
                                FieldWarnings& warnings) {
  BatchRequest req;
  req.line = line_no;
  req.custom_id = "line-" + std::to_string(line_no);
  // OpenAI semantics, not SamplingParams' llama.cpp-style defaults.
  req.sampling.temperature = 1.0f;
  req.sampling.top_p = 1.0f;
  req.sampling.top_k = 0;
  req.sampling.min_p = 0.0f;
  req.sampling.repetition_penalty = 1.0f;
  req.sampling.repetition_window = -1;  // OpenAI's penalties count the whole text so far
  req.sampling.presence_penalty = 0.0f;
  req.sampling.frequency_penalty = 0.0f;
  json obj = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  try {
    if (obj.is_discarded())
      fail("line " + std::to_string(line_no) + " is not valid JSON", "invalid_json");
    if (!obj.is_object()) {
      fail("line " + std::to_string(line_no) + " must be a JSON object, got " + obj.type_name(),
           "invalid_type");
    }
    parse_object(obj, req, model_names, warnings);
  } catch (const ParseFailure& f) {
    req.error = f.error;
  }
  return req;
}

std::optional<RequestError> fit_to_context(BatchRequest& req, int64_t n_prompt_tokens,
                                           int64_t n_ctx) {
  const char* field = req.endpoint == Endpoint::Completions ? "prompt" : "messages";
  if (n_prompt_tokens == 0) return RequestError{"the prompt has no tokens", "invalid_value", field};
  if (n_prompt_tokens >= n_ctx) {
    return RequestError{"prompt has " + std::to_string(n_prompt_tokens) +
                            " tokens but the context size is " + std::to_string(n_ctx) +
                            " (at least one position must remain for generation)",
                        "context_length_exceeded", field};
  }
  const int64_t room = n_ctx - n_prompt_tokens;
  int64_t want = req.max_tokens.value_or(
      req.endpoint == Endpoint::Completions ? kDefaultCompletionMaxTokens : room);
  req.sampling.max_tokens = to_int32(std::min(want, room));
  return std::nullopt;
}

}  // namespace packinfer::cli
