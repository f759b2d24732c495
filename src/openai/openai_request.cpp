#include "openai/openai_request.h"

#include <algorithm>
#include <filesystem>

#include "grammar/grammar_cache.h"
#include "grammar/json_text.h"
#include "packinfer/error.h"
#include "tokenizer/utf8.h"

namespace packinfer::api {
namespace {

using json = RequestJson;

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

std::vector<ChatMessage> parse_messages(const json& v, const IgnoredFieldFn& ignored) {
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
      if (key != "role" && key != "content") ignored("messages[]." + key, "unknown field");
    }
    out.push_back(std::move(msg));
  }
  return out;
}

std::vector<int32_t> parse_token_ids(const json& v, const std::string& field) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string f = field + "[" + std::to_string(i) + "]";
    int64_t id = get_integer(v[i], f);
    if (id < 0 || id > INT32_MAX) fail("'" + f + "' is not a token id", "invalid_value", "prompt");
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

// One prompt: "text" or [1, 2, 3]. An empty one is almost surely a client bug (with BOS added it
// would still "work").
PromptInput parse_one_prompt(const json& v, const std::string& field) {
  PromptInput p;
  if (v.is_string()) {
    p.text = v.get<std::string>();
  } else if (v.is_array()) {
    p.ids = parse_token_ids(v, field);
  } else {
    wrong_type(field, "a string or an array of token ids", v);
  }
  if (p.text.empty() && p.ids.empty()) fail("'" + field + "' is empty", "invalid_value", field);
  return p;
}

// "text", [1, 2, 3], or a batch: ["a", "b"] or [[1, 2], [3, 4]] (one choice set per prompt).
void parse_prompt(const json& v, size_t max_prompts, CompletionRequest& req) {
  if (v.is_array() && v.empty()) fail("'prompt' is empty", "invalid_value", "prompt");
  if (v.is_string() || (v.is_array() && v[0].is_number())) {
    req.prompts.push_back(parse_one_prompt(v, "prompt"));
  } else if (v.is_array()) {
    if (v.size() > max_prompts) {
      fail("'prompt' has " + std::to_string(v.size()) + " prompts; at most " +
               std::to_string(max_prompts) + (max_prompts == 1 ? " is" : " are") + " allowed",
           "invalid_value", "prompt");
    }
    for (size_t i = 0; i < v.size(); ++i)
      req.prompts.push_back(parse_one_prompt(v[i], "prompt[" + std::to_string(i) + "]"));
  } else {
    wrong_type("prompt", "a string, an array of token ids or an array of prompts", v);
  }
  select_prompt(req, 0);
}

// OpenAI's logit_bias: {"<token id>": bias}. Ids are checked against the vocabulary once the
// model is known (prepare_prompt); values here.
void parse_logit_bias(const json& v, SamplingParams& s) {
  if (!v.is_object()) wrong_type("logit_bias", "an object mapping token ids to biases", v);
  if (v.size() > static_cast<size_t>(kMaxLogitBiasEntries)) {
    fail("'logit_bias' has " + std::to_string(v.size()) + " entries; at most " +
             std::to_string(kMaxLogitBiasEntries) + " are allowed",
         "invalid_value", "logit_bias");
  }
  s.logit_bias.clear();
  for (const auto& [key, bias] : v.items()) {
    const std::string field = "logit_bias[\"" + key.substr(0, 32) + "\"]";
    const bool digits =
        !key.empty() && key.size() <= 10 &&
        std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
    const int64_t id = digits ? std::stoll(key) : -1;
    if (id < 0 || id > INT32_MAX) {
      fail("'logit_bias' key '" + key.substr(0, 32) + "' is not a token id", "invalid_value",
           "logit_bias");
    }
    if (!bias.is_number()) wrong_type(field, "a number", bias);
    const double b = bias.get<double>();
    if (!(b >= -100 && b <= 100)) {
      fail("'" + field + "' must be between -100 and 100, got " + bias.dump(), "invalid_value",
           "logit_bias");
    }
    s.logit_bias.emplace_back(static_cast<int32_t>(id), static_cast<float>(b));
  }
}

// Fields of the OpenAI API this server does not implement: a request that sets one is refused
// (never silently run without it). A value equal to the field's "off" default is accepted.
bool is_default_of_refused(const std::string& key, const json& v) {
  if (key == "best_of") return v.is_number_integer() && v.get<int64_t>() == 1;
  if (key == "tools" || key == "functions") return v.is_array() && v.empty();
  if (key == "tool_choice" || key == "function_call") return v == "none";
  if (key == "parallel_tool_calls") return v.is_boolean();  // no tools: nothing to parallelise
  if (key == "modalities") return v == json::array({"text"});
  return false;
}

const char* refused_reason(const std::string& key) {
  if (key == "best_of") return "'best_of' is not supported (use 'n' and pick client-side)";
  if (key == "suffix") return "'suffix' (insertion) is not supported";
  if (key == "tools" || key == "tool_choice" || key == "functions" || key == "function_call" ||
      key == "parallel_tool_calls")
    return "tool and function calling is not supported";
  if (key == "modalities" || key == "audio") return "only text output is supported";
  if (key == "prediction") return "predicted outputs are not supported";
  if (key == "reasoning_effort") return "'reasoning_effort' is not supported";
  if (key == "web_search_options") return "web search is not supported";
  return nullptr;
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

void parse_stop(const json& v, std::vector<std::string>& stop) {
  stop.clear();
  if (v.is_string()) {
    stop.push_back(v.get<std::string>());
    return;
  }
  if (!v.is_array()) wrong_type("stop", "a string or an array of strings", v);
  if (v.size() > kMaxStopStrings) {
    fail("'stop' has " + std::to_string(v.size()) + " strings; at most " +
             std::to_string(kMaxStopStrings) + " are allowed",
         "invalid_value", "stop");
  }
  for (size_t i = 0; i < v.size(); ++i)
    stop.push_back(get_string(v[i], "stop[" + std::to_string(i) + "]"));
}

void parse_n(const json& v, int32_t max_n, CompletionRequest& req) {
  const int64_t n = get_integer(v, "n");
  if (max_n == 1 && n != 1) fail("only n=1 is supported", "unsupported_value", "n");
  if (n < 1 || n > max_n) {
    fail("'n' must be between 1 and " + std::to_string(max_n) + ", got " + std::to_string(n),
         "invalid_value", "n");
  }
  req.n = static_cast<int32_t>(n);
}

// Completions: "logprobs": N (0..5) alternatives. Chat: "logprobs": true, "top_logprobs": N.
void resolve_logprobs(const json* logprobs, const json* top, CompletionRequest& req) {
  if (req.endpoint == Endpoint::Completions) {
    if (top != nullptr)
      fail("'top_logprobs' belongs to chat completions; use 'logprobs': N", "invalid_value",
           "top_logprobs");
    if (logprobs == nullptr) return;
    const int64_t n = get_integer(*logprobs, "logprobs");
    if (n < 0 || n > kMaxCompletionLogprobs) {
      fail("'logprobs' must be between 0 and " + std::to_string(kMaxCompletionLogprobs) + ", got " +
               std::to_string(n),
           "invalid_value", "logprobs");
    }
    req.top_logprobs = static_cast<int32_t>(n);
    return;
  }
  const bool on = logprobs != nullptr && get_bool(*logprobs, "logprobs");
  if (top == nullptr) {
    req.top_logprobs = on ? 0 : -1;
    return;
  }
  const int64_t n = get_integer(*top, "top_logprobs");
  if (n < 0 || n > kMaxChatTopLogprobs) {
    fail("'top_logprobs' must be between 0 and " + std::to_string(kMaxChatTopLogprobs) + ", got " +
             std::to_string(n),
         "invalid_value", "top_logprobs");
  }
  if (!on) fail("'top_logprobs' needs 'logprobs': true", "invalid_value", "top_logprobs");
  req.top_logprobs = static_cast<int32_t>(n);
}

void parse_stream_options(const json& v, CompletionRequest& req) {
  if (!v.is_object()) wrong_type("stream_options", "an object", v);
  if (auto u = v.find("include_usage"); u != v.end() && !u->is_null())
    req.include_usage = get_bool(*u, "stream_options.include_usage");
}

// Deeper schemas are refused before anything walks them recursively (dump(), the compiler).
constexpr int kMaxSchemaJsonDepth = 256;

std::string schema_text(const json& schema, const std::string& field) {
  if (!schema.is_object() && !schema.is_boolean()) {
    wrong_type(field, "a JSON schema (an object or a boolean)", schema);
  }
  if (grammar::json_depth(schema) > kMaxSchemaJsonDepth) {
    fail("'" + field + "' is nested deeper than " + std::to_string(kMaxSchemaJsonDepth) + " levels",
         "invalid_value", field);
  }
  return schema.dump();  // ordered: the compiler sees the properties in the client's order
}

void only_keys(const json& obj, const std::string& field, std::initializer_list<const char*> keys) {
  for (const auto& item : obj.items()) {
    // A named variable, not a structured binding: clang 14 cannot capture those in a lambda.
    const std::string& key = item.key();
    if (std::none_of(keys.begin(), keys.end(), [&key](const char* k) { return key == k; })) {
      fail("'" + field + "." + key + "' is not supported", "unsupported_value", field + "." + key);
    }
  }
}

// OpenAI's response_format: {"type": "text" | "json_object" | "json_schema", ...}. llama-server's
// {"type": "json_object", "schema": {...}} is accepted too.
StructuredOutput parse_response_format(const json& v) {
  if (!v.is_object()) wrong_type("response_format", "an object", v);
  auto type = v.find("type");
  if (type == v.end() || type->is_null()) {
    fail("'response_format.type' is missing", "missing_required_parameter", "response_format.type");
  }
  const std::string t = get_string(*type, "response_format.type");
  StructuredOutput out;
  if (t == "text") {
    only_keys(v, "response_format", {"type"});
  } else if (t == "json_object") {
    only_keys(v, "response_format", {"type", "schema"});
    out.kind = StructuredOutput::Kind::JsonObject;
    if (auto schema = v.find("schema"); schema != v.end() && !schema->is_null()) {
      out.kind = StructuredOutput::Kind::JsonSchema;
      out.text = schema_text(*schema, "response_format.schema");
    }
  } else if (t == "json_schema") {
    only_keys(v, "response_format", {"type", "json_schema"});
    auto js = v.find("json_schema");
    if (js == v.end() || js->is_null()) {
      fail("'response_format.json_schema' is missing", "missing_required_parameter",
           "response_format.json_schema");
    }
    if (!js->is_object()) wrong_type("response_format.json_schema", "an object", *js);
    only_keys(*js, "response_format.json_schema", {"name", "description", "schema", "strict"});
    if (auto n = js->find("name"); n != js->end() && !n->is_null())
      get_string(*n, "response_format.json_schema.name");
    if (auto d = js->find("description"); d != js->end() && !d->is_null())
      get_string(*d, "response_format.json_schema.description");
    if (auto st = js->find("strict"); st != js->end() && !st->is_null())
      out.strict = get_bool(*st, "response_format.json_schema.strict");
    auto schema = js->find("schema");
    if (schema == js->end() || schema->is_null()) {
      fail("'response_format.json_schema.schema' is missing", "missing_required_parameter",
           "response_format.json_schema.schema");
    }
    out.kind = StructuredOutput::Kind::JsonSchema;
    out.text = schema_text(*schema, "response_format.json_schema.schema");
  } else {
    fail("response_format type '" + t +
             "' is not supported (use \"text\", \"json_object\" or \"json_schema\")",
         "unsupported_value", "response_format.type");
  }
  return out;
}

// response_format, llama-server's "grammar" (GBNF) and "json_schema" (a bare schema): at most
// one. The schema or grammar is compiled here (cached), so a bad one is a 400 naming the problem.
void parse_structured(const json* response_format, const json* gbnf, const json* json_schema,
                      StructuredOutput& out) {
  std::string param;
  if (response_format != nullptr) {
    out = parse_response_format(*response_format);
    param = "response_format";
  }
  const bool has_format = out.kind != StructuredOutput::Kind::None;
  if (gbnf != nullptr) {
    if (has_format)
      fail("give either 'grammar' or 'response_format', not both", "invalid_value", "grammar");
    out.kind = StructuredOutput::Kind::Grammar;
    out.text = get_string(*gbnf, "grammar");
    param = "grammar";
    if (out.text.empty()) fail("'grammar' is empty", "invalid_value", "grammar");
  }
  if (json_schema != nullptr) {
    if (out.kind != StructuredOutput::Kind::None) {
      fail("give only one of 'json_schema', 'grammar' and 'response_format'", "invalid_value",
           "json_schema");
    }
    out.kind = StructuredOutput::Kind::JsonSchema;
    out.text = schema_text(*json_schema, "json_schema");
    param = "json_schema";
  }
  if (out.kind == StructuredOutput::Kind::None) return;
  try {
    grammar::compile_source(out);
  } catch (const InvalidArgument& e) {
    fail(e.what(), "invalid_value", param);
  }
}

bool is_silent(const ParseOptions& o, const std::string& key) {
  return std::find(o.silent_fields.begin(), o.silent_fields.end(), key) != o.silent_fields.end();
}

}  // namespace

void select_prompt(CompletionRequest& req, size_t i) {
  req.prompt = req.prompts.at(i).text;
  req.prompt_ids = req.prompts.at(i).ids;
}

CompletionRequest openai_defaults(Endpoint endpoint) {
  CompletionRequest req;
  req.endpoint = endpoint;
  SamplingParams& s = req.sampling;
  s.temperature = 1.0f;
  s.top_p = 1.0f;
  s.top_k = 0;
  s.min_p = 0.0f;
  s.repetition_penalty = 1.0f;
  s.repetition_window = -1;  // OpenAI's penalties count the whole text so far
  s.presence_penalty = 0.0f;
  s.frequency_penalty = 0.0f;
  return req;
}

void parse_body(const json& body, CompletionRequest& req, const ParseOptions& options,
                const IgnoredFieldFn& on_ignored) {
  // A caller that does not care about ignored fields may pass an empty function.
  const IgnoredFieldFn ignored =
      on_ignored ? on_ignored : [](const std::string&, const std::string&) {};
  SamplingParams& s = req.sampling;
  std::optional<int64_t> max_tokens, max_completion_tokens;
  const json *prompt = nullptr, *messages = nullptr, *logprobs = nullptr, *top = nullptr;
  const json *response_format = nullptr, *gbnf = nullptr, *json_schema = nullptr;
  for (const auto& [key, v] : body.items()) {
    // null means "the default", as in the OpenAI API.
    if (v.is_null()) continue;
    if (key == "model") {
      req.model = get_string(v, key);
      const auto& names = options.model_names;
      if (std::find(names.begin(), names.end(), req.model) == names.end()) {
        fail("unknown model '" + req.model + "' (the loaded model is " + join(names) + ")",
             "model_not_found", key, 404);
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
      parse_stop(v, s.stop);
    } else if (key == "ignore_eos") {
      s.ignore_eos = get_bool(v, key);
    } else if (key == "n") {
      parse_n(v, options.max_n, req);
    } else if ((key == "logprobs" || key == "top_logprobs") && !options.logprobs) {
      bool asked = !(v.is_boolean() && !v.get<bool>()) && !(v.is_number() && v.get<double>() == 0);
      if (asked) ignored(key, "log probabilities are not returned");
    } else if (key == "logprobs") {
      logprobs = &v;
    } else if (key == "top_logprobs") {
      top = &v;
    } else if (key == "response_format") {
      response_format = &v;
    } else if (key == "grammar") {
      gbnf = &v;
    } else if (key == "json_schema") {
      json_schema = &v;
    } else if (key == "logit_bias") {
      parse_logit_bias(v, s);
    } else if (key == "echo") {
      req.echo = get_bool(v, key);
    } else if (const char* why = refused_reason(key)) {
      if (!is_default_of_refused(key, v)) fail(why, "unsupported_parameter", key);
    } else if (key == "stream" && options.stream) {
      req.stream = get_bool(v, key);
    } else if (key == "stream_options" && options.stream) {
      parse_stream_options(v, req);
    } else if (!is_silent(options, key)) {
      ignored(key, "unknown field");
    }
  }

  if (prompt != nullptr && messages != nullptr) {
    fail("give either 'prompt' or 'messages', not both", "invalid_value", "messages");
  }
  if (options.infer_endpoint && messages != nullptr) req.endpoint = Endpoint::ChatCompletions;
  if (req.endpoint == Endpoint::Completions) {
    if (messages != nullptr) {
      fail("'messages' belongs to /v1/chat/completions; /v1/completions takes 'prompt'",
           "invalid_value", "messages");
    }
    if (prompt == nullptr) fail("'prompt' is missing", "missing_required_parameter", "prompt");
    parse_prompt(*prompt, options.max_prompts, req);
  } else {
    if (prompt != nullptr) {
      fail("'prompt' belongs to /v1/completions; /v1/chat/completions takes 'messages'",
           "invalid_value", "prompt");
    }
    if (messages == nullptr)
      fail("'messages' is missing", "missing_required_parameter", "messages");
    req.messages = parse_messages(*messages, ignored);
  }
  if (options.logprobs) resolve_logprobs(logprobs, top, req);
  parse_structured(response_format, gbnf, json_schema, s.structured);
  if (req.echo && req.endpoint != Endpoint::Completions)
    fail("'echo' belongs to /v1/completions", "unsupported_parameter", "echo");
  if (req.echo && !options.echo)
    fail("'echo' is not supported here", "unsupported_parameter", "echo");
  if (req.echo && req.stream)
    fail("'echo' is not supported with 'stream'", "unsupported_parameter", "echo");

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

std::optional<RequestError> parse_request_text(std::string_view text, Endpoint endpoint,
                                               const ParseOptions& options,
                                               const IgnoredFieldFn& ignored,
                                               CompletionRequest& out) {
  out = openai_defaults(endpoint);
  // nlohmann rejects invalid UTF-8 too, but only as a generic parse error at some byte.
  if (!utf8::is_valid(text))
    return RequestError{"the request body is not valid UTF-8", "invalid_encoding", ""};
  json body = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded())
    return RequestError{"the request body is not valid JSON", "invalid_json", ""};
  if (!body.is_object()) {
    return RequestError{
        std::string("the request body must be a JSON object, got ") + body.type_name(),
        "invalid_type", ""};
  }
  try {
    parse_body(body, out, options, ignored);
  } catch (const RequestFailure& f) {
    return f.error;
  }
  return std::nullopt;
}

std::optional<RequestError> fit_to_context(CompletionRequest& req, int64_t n_prompt_tokens,
                                           int64_t n_ctx, MaxTokensPolicy policy) {
  const char* field = req.endpoint == Endpoint::Completions ? "prompt" : "messages";
  if (n_prompt_tokens == 0) return RequestError{"the prompt has no tokens", "invalid_value", field};
  if (n_prompt_tokens >= n_ctx) {
    return RequestError{"prompt has " + std::to_string(n_prompt_tokens) +
                            " tokens but the context size is " + std::to_string(n_ctx) +
                            " (at least one position must remain for generation)",
                        "context_length_exceeded", field};
  }
  const int64_t room = n_ctx - n_prompt_tokens;
  if (policy == MaxTokensPolicy::Reject && req.max_tokens && *req.max_tokens > room) {
    return RequestError{"max_tokens is " + std::to_string(*req.max_tokens) +
                            " but the prompt has " + std::to_string(n_prompt_tokens) +
                            " tokens and the context size is " + std::to_string(n_ctx) +
                            ", so at most " + std::to_string(room) + " tokens can be generated",
                        "context_length_exceeded", "max_tokens"};
  }
  int64_t want = req.max_tokens.value_or(
      req.endpoint == Endpoint::Completions ? kDefaultCompletionMaxTokens : room);
  req.sampling.max_tokens = to_int32(std::min(want, room));
  return std::nullopt;
}

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

bool FieldWarnings::note(const std::string& field, const std::string& where,
                         const std::string& why) {
  if (!seen_.insert(field).second) return false;
  pending_.push_back("ignoring field '" + field + "' (" + why + "; first in " + where +
                     ", not reported again)");
  return true;
}

std::vector<std::string> FieldWarnings::take() {
  std::vector<std::string> out;
  out.swap(pending_);
  return out;
}

}  // namespace packinfer::api
