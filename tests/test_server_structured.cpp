// Structured output through the API surfaces, on stories260K: the HTTP server's response_format
// (json_object, json_schema), llama-server's "grammar" and "json_schema" fields, streaming, n > 1,
// every refusal as a 400 naming the problem; the request parser directly; `packinfer batch`
// lines; `packinfer run --json-schema / --grammar-file`.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "openai/openai_request.h"
#include "packinfer/engine.h"
#include "packinfer/serving.h"
#include "server/http_server.h"
#include "server/sse.h"
#include "support/json_schema_validator.h"
#include "support/test_grammars.h"
#include "support/test_support.h"

namespace packinfer::test {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

std::string stories() { return shared_dir() + "/models/stories260K/stories260K-f32.gguf"; }

const char* kPerson =
    R"({"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer","minimum":1,"maximum":99},"pet":{"enum":["cat","dog",null]}},"required":["name","age"]})";

class Server {
 public:
  Server()
      : engine_({.model_path = stories(), .n_threads = 1}),
        serving_(engine_, {}),
        http_(engine_, serving_, options()) {
    port_ = http_.bind();
    thread_ = std::thread([this] { http_.run(); });
  }
  ~Server() {
    http_.stop();
    thread_.join();
  }
  struct Reply {
    int status = 0;
    std::string body;
    json j;
  };
  Reply post(const std::string& path, const std::string& body) {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120);
    auto r = c.Post(path.c_str(), body, "application/json");
    Reply out;
    if (!r) return out;
    out.status = r->status;
    out.body = r->body;
    out.j = json::parse(r->body, nullptr, false);
    return out;
  }

 private:
  static api::ServerOptions options() {
    api::ServerOptions o;
    o.port = 0;
    o.max_n = 4;
    return o;
  }
  Engine engine_;
  ServingEngine serving_;
  api::HttpServer http_;
  int port_ = 0;
  std::thread thread_;
};

std::string chat(const std::string& extra) {
  return R"({"messages": [{"role": "user", "content": "Tell me about a person."}], "max_tokens": 200, "seed": 3)" +
         (extra.empty() ? "" : ", " + extra) + "}";
}

TEST(ServerStructured, ChatJsonSchema) {
  Server s;
  const auto r = s.post(
      "/v1/chat/completions",
      chat(
          R"("response_format": {"type": "json_schema", "json_schema": {"name": "person", "strict": true, "schema": )" +
          std::string(kPerson) + "}}, \"n\": 3"));
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(r.j["choices"].size(), 3u);
  for (const json& ch : r.j["choices"]) {
    const std::string text = ch["message"]["content"];
    if (ch["finish_reason"] == "stop") {
      EXPECT_EQ(validate_json_text(text, ojson::parse(kPerson)), "") << text;
    } else {
      EXPECT_EQ(validate_json_prefix(text, ojson::parse(kPerson)), "") << text;
    }
  }
}

TEST(ServerStructured, PropertiesComeInTheClientsOrder) {
  Server s;
  // "z" before "a": the request's order, not an alphabetical one.
  const char* schema =
      R"({"type":"object","properties":{"z":{"const":1},"a":{"const":2}},"required":["z","a"]})";
  const auto r = s.post(
      "/v1/completions",
      std::string(
          R"({"prompt": "Once", "max_tokens": 20, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": )") +
          schema + "}}}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.j["choices"][0]["text"], R"({"z": 1, "a": 2})");
  EXPECT_EQ(r.j["choices"][0]["finish_reason"], "stop");
}

TEST(ServerStructured, CompletionsJsonObjectGrammarAndText) {
  Server s;
  auto r = s.post(
      "/v1/completions",
      R"({"prompt": "Once upon a time", "max_tokens": 120, "seed": 1, "response_format": {"type": "json_object"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string text = r.j["choices"][0]["text"];
  EXPECT_EQ(text.rfind("{", 0), 0u) << text;
  EXPECT_EQ(validate_json_prefix(text, ojson::parse(R"({"type":"object"})")), "") << text;

  r = s.post(
      "/v1/completions",
      json{
          {"prompt", "Once upon a time"}, {"max_tokens", 48}, {"seed", 2}, {"grammar", kAnswerGbnf}}
          .dump());
  ASSERT_EQ(r.status, 200) << r.body;
  text = r.j["choices"][0]["text"];
  EXPECT_TRUE(text.rfind("yes, because ", 0) == 0 || text.rfind("no, because ", 0) == 0) << text;

  r = s.post("/v1/completions",
             json{{"prompt", "Once upon a time"},
                  {"max_tokens", 24},
                  {"seed", 2},
                  {"json_schema", json::parse(R"({"type":"integer","minimum":10,"maximum":20})")}}
                 .dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(validate_json_text(r.j["choices"][0]["text"],
                               ojson::parse(R"({"type":"integer","minimum":10,"maximum":20})")),
            "");

  // "text" is no constraint at all.
  r = s.post(
      "/v1/completions",
      R"({"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0, "response_format": {"type": "text"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto plain = s.post("/v1/completions",
                            R"({"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0})");
  EXPECT_EQ(r.j["choices"][0]["text"], plain.j["choices"][0]["text"]);
}

TEST(ServerStructured, StreamedSchemaOutput) {
  Server s;
  const auto r = s.post(
      "/v1/chat/completions",
      chat(
          R"("stream": true, "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": )" +
          std::string(kPerson) + "}}"));
  ASSERT_EQ(r.status, 200) << r.body;
  std::string text, finish;
  for (const std::string& payload : api::sse_payloads(r.body)) {
    if (payload == "[DONE]") continue;
    const json chunk = json::parse(payload);
    for (const json& ch : chunk["choices"]) {
      if (ch["delta"].contains("content")) text += ch["delta"]["content"].get<std::string>();
      if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"];
    }
  }
  if (finish == "stop") {
    EXPECT_EQ(validate_json_text(text, ojson::parse(kPerson)), "") << text;
  } else {
    EXPECT_EQ(finish, "length");
    EXPECT_EQ(validate_json_prefix(text, ojson::parse(kPerson)), "") << text;
  }
}

TEST(ServerStructured, BadSchemasAndGrammarsAre400sNamingTheProblem) {
  Server s;
  struct Case {
    std::string extra;
    std::string message;
    std::string param;
  };
  const Case cases[] = {
      {R"("response_format": {"type": "xml"})", "response_format type 'xml' is not supported",
       "response_format.type"},
      {R"("response_format": {"type": "json_schema"})", "'response_format.json_schema' is missing",
       "response_format.json_schema"},
      {R"("response_format": {"type": "json_schema", "json_schema": {"name": "x"}})",
       "'response_format.json_schema.schema' is missing", "response_format.json_schema.schema"},
      {R"("response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}, "extra": 1}})",
       "'response_format.json_schema.extra' is not supported", "response_format.json_schema.extra"},
      {R"("response_format": {"type": "json_schema", "json_schema": {"schema": {}, "strict": "yes"}})",
       "'response_format.json_schema.strict' must be a boolean",
       "response_format.json_schema.strict"},
      {R"("response_format": {"type": "json_object", "foo": 1})",
       "'response_format.foo' is not supported", "response_format.foo"},
      {R"("response_format": "json")", "'response_format' must be an object", "response_format"},
      {R"("response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "string", "pattern": "^a"}}})",
       "json_schema: keyword 'pattern' is not supported (at #)", "response_format"},
      {R"("response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object", "properties": {"a": {"type": "string", "format": "email"}}}}})",
       "format 'email' is not supported (supported: date, time, date-time, uuid, ipv4) (at "
       "#/properties/a)",
       "response_format"},
      {R"("response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "integer", "minimum": 5, "maximum": 1}}})",
       "no integer satisfies minimum 5 and maximum 1", "response_format"},
      {R"("response_format": {"type": "json_schema", "json_schema": {"schema": 7}})",
       "'response_format.json_schema.schema' must be a JSON schema",
       "response_format.json_schema.schema"},
      {R"("grammar": "root ::= \"a\"\nbad := x")", "grammar: line 2, column 5: expected '::='",
       "grammar"},
      {R"("grammar": "root ::= expr\nexpr ::= expr \"+\" [0-9] | [0-9]")",
       "rule 'expr' is left-recursive", "grammar"},
      {R"("grammar": "root ::= \"a\" x\nx ::= \"b\" x")", "empty language", "grammar"},
      {R"("grammar": 5)", "'grammar' must be a string", "grammar"},
      {R"("grammar": "root ::= \"a\"", "response_format": {"type": "json_object"})",
       "give either 'grammar' or 'response_format'", "grammar"},
  };
  for (const Case& c : cases) {
    const auto r = s.post("/v1/chat/completions", chat(c.extra));
    EXPECT_EQ(r.status, 400) << c.extra << " -> " << r.body;
    const std::string message = r.j["error"]["message"];
    EXPECT_NE(message.find(c.message), std::string::npos) << c.extra << " -> " << message;
    EXPECT_EQ(r.j["error"]["param"], c.param) << c.extra;
  }
  // A schema nested thousands deep is refused before anything recurses into it.
  std::string deep;
  for (int i = 0; i < 4000; ++i) deep += R"({"items":)";
  deep += "{}";
  for (int i = 0; i < 4000; ++i) deep += "}";
  const auto r =
      s.post("/v1/chat/completions",
             chat(R"("response_format": {"type": "json_schema", "json_schema": {"schema": )" +
                  deep + "}}"));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("nested deeper than"), std::string::npos) << r.body.substr(0, 300);
}

TEST(ServerStructured, ParserFillsTheStructuredOutput) {
  api::ParseOptions o;
  o.model_names = {"m"};
  api::CompletionRequest req;
  ASSERT_FALSE(api::parse_request_text(
      R"({"prompt": "x", "response_format": {"type": "json_schema", "json_schema": {"name": "n", "strict": false, "schema": {"type": "object", "properties": {"b": {}, "a": {}}}}}})",
      api::Endpoint::Completions, o, {}, req));
  EXPECT_EQ(req.sampling.structured.kind, StructuredOutput::Kind::JsonSchema);
  EXPECT_EQ(req.sampling.structured.text, R"({"type":"object","properties":{"b":{},"a":{}}})");
  EXPECT_FALSE(req.sampling.structured.strict);
  ASSERT_FALSE(
      api::parse_request_text(R"({"prompt": "x", "response_format": {"type": "json_object"}})",
                              api::Endpoint::Completions, o, {}, req));
  EXPECT_EQ(req.sampling.structured.kind, StructuredOutput::Kind::JsonObject);
  ASSERT_FALSE(api::parse_request_text(R"({"prompt": "x", "response_format": null})",
                                       api::Endpoint::Completions, o, {}, req));
  EXPECT_EQ(req.sampling.structured.kind, StructuredOutput::Kind::None);
  ASSERT_FALSE(api::parse_request_text(R"({"prompt": "x", "grammar": "root ::= [a-z]+"})",
                                       api::Endpoint::Completions, o, {}, req));
  EXPECT_EQ(req.sampling.structured.kind, StructuredOutput::Kind::Grammar);
  EXPECT_EQ(req.sampling.structured.text, "root ::= [a-z]+");
}

// --- the command line ---------------------------------------------------------------------------

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = build_dir() + "/structured_test_" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(StructuredCli, BatchLinesWithResponseFormat) {
  std::string lines;
  for (int i = 0; i < 4; ++i) {
    lines += json{{"custom_id", "s" + std::to_string(i)},
                  {"body",
                   {{"prompt", "Once upon a time"},
                    {"max_tokens", 200},
                    {"seed", i + 1},
                    {"response_format",
                     {{"type", "json_schema"},
                      {"json_schema", {{"name", "p"}, {"schema", json::parse(kPerson)}}}}}}}}
                 .dump() +
             "\n";
  }
  lines +=
      R"({"custom_id": "bad", "body": {"prompt": "x", "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "string", "pattern": "a"}}}}})"
      "\n";
  lines +=
      R"({"custom_id": "g", "body": {"prompt": "x", "max_tokens": 40, "grammar": "root ::= \"ok\" [0-9]"}})"
      "\n";
  const std::string in = write_file("batch_in.jsonl", lines);
  const std::string out = build_dir() + "/structured_test_batch_out.jsonl";
  std::filesystem::remove(out);
  const CommandResult r = run_command("'" + cli_path() + "' batch -m '" + stories() +
                                      "' -t 1 -i '" + in + "' -o '" + out + "' 2>&1");
  EXPECT_EQ(r.status, 0) << r.out;
  std::ifstream f(out);
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    const json j = json::parse(line);
    const std::string id = j["custom_id"];
    ++n;
    if (id == "bad") {
      EXPECT_EQ(j["response"]["status_code"], 400);
      EXPECT_NE(j["error"]["message"].get<std::string>().find("keyword 'pattern'"),
                std::string::npos)
          << line;
      continue;
    }
    const json& choice = j["response"]["body"]["choices"][0];
    const std::string text = choice["text"];
    if (id == "g") {
      EXPECT_TRUE(text.size() == 3 && text.rfind("ok", 0) == 0) << text;
      continue;
    }
    if (choice["finish_reason"] == "stop") {
      EXPECT_EQ(validate_json_text(text, ojson::parse(kPerson)), "") << text;
    } else {
      EXPECT_EQ(validate_json_prefix(text, ojson::parse(kPerson)), "") << text;
    }
  }
  EXPECT_EQ(n, 6);
}

TEST(StructuredCli, RunWithSchemaAndGrammarFiles) {
  const std::string schema = write_file("schema.json", kPerson);
  CommandResult r = run_command("'" + cli_path() + "' run -m '" + stories() +
                                "' -p 'Once upon a time' -n 200 --temp 0.9 -s 4 --json-schema '" +
                                schema + "' 2>/dev/null");
  ASSERT_EQ(r.status, 0);
  std::string text = r.out.substr(0, r.out.find_last_not_of('\n') + 1);
  EXPECT_EQ(validate_json_text(text, ojson::parse(kPerson)), "") << text;
  const std::string gbnf = write_file("grammar.gbnf", kChessGbnf);
  r = run_command("'" + cli_path() + "' run -m '" + stories() +
                  "' -p 'Once' -n 24 -s 2 --grammar-file '" + gbnf + "' 2>/dev/null");
  ASSERT_EQ(r.status, 0);
  EXPECT_EQ(r.out.rfind("1. ", 0), 0u) << r.out;
  const std::string bad = write_file("bad.gbnf", "root ::= (\"a\"");
  r = run_command("'" + cli_path() + "' run -m '" + stories() +
                  "' -p 'Once' -n 4 --grammar-file '" + bad + "' 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("grammar: line 1"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace packinfer::test
