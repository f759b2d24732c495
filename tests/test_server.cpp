// The HTTP server end to end on the real stories260K model: an in-process server (Engine +
// ServingEngine + api::HttpServer on a free loopback port) and cpp-httplib's client; plus the
// built `packinfer serve` binary for startup output and a clean stop on SIGTERM.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <future>
#include <map>
#include <thread>

#include "packinfer/engine.h"
#include "packinfer/serving.h"
#include "server/http_server.h"
#include "server/sse.h"
#include "support/in_process_server.h"
#include "support/prometheus_text.h"
#include "support/test_support.h"

namespace packinfer::test {
namespace {

using json = nlohmann::json;

std::string stories() { return shared_dir() + "/models/stories260K/stories260K-f32.gguf"; }

using TestServer = InProcessServer;

// A client of the server with a read timeout long enough for generation.
std::unique_ptr<httplib::Client> client_of(const TestServer& server) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", server.port());
  c->set_read_timeout(120);
  return c;
}

struct Reply {
  int status = 0;
  std::string body;
  json j;  // parsed body (null if not JSON)
};

Reply post(httplib::Client& c, const std::string& path, const std::string& body,
           const httplib::Headers& headers = {}) {
  auto r = c.Post(path.c_str(), headers, body, "application/json");
  Reply out;
  if (!r) return out;  // status 0: no response
  out.status = r->status;
  out.body = r->body;
  out.j = json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  return out;
}

Reply post(httplib::Client& c, const std::string& path, const json& body) {
  return post(c, path, body.dump());
}

// The text of every choice of a (non-streamed) completion, by index.
std::vector<std::string> texts(const json& body) {
  std::vector<std::string> out(body.at("choices").size());
  for (const json& ch : body["choices"]) {
    out.at(ch["index"].get<size_t>()) = ch.contains("message")
                                            ? ch["message"]["content"].get<std::string>()
                                            : ch["text"].get<std::string>();
  }
  return out;
}

// A streamed reply: the concatenated text per choice, finish reasons, usage, and whether it ended
// with [DONE].
struct Stream {
  std::map<int, std::string> text;
  std::map<int, std::string> finish;
  json usage;
  bool done = false;
  int chunks = 0;
};

Stream parse_stream(const std::string& body) {
  Stream s;
  for (const std::string& payload : api::sse_payloads(body)) {
    EXPECT_FALSE(s.done) << "data after [DONE]";
    if (payload == "[DONE]") {
      s.done = true;
      continue;
    }
    json chunk = json::parse(payload);
    s.chunks++;
    if (chunk.contains("usage") && !chunk["usage"].is_null()) s.usage = chunk["usage"];
    for (const json& ch : chunk["choices"]) {
      int i = ch["index"];
      if (ch.contains("delta")) {
        if (ch["delta"].contains("content")) s.text[i] += ch["delta"]["content"].get<std::string>();
      } else {
        s.text[i] += ch["text"].get<std::string>();
      }
      if (!ch["finish_reason"].is_null()) s.finish[i] = ch["finish_reason"];
    }
  }
  return s;
}

// The status of a reply (0: no response).
int status_of(const httplib::Result& r) { return r ? r->status : 0; }

void expect_openai_error(const Reply& r, int status, const std::string& code,
                         const std::string& what) {
  EXPECT_EQ(r.status, status) << what << ": " << r.body;
  ASSERT_TRUE(r.j.is_object()) << what << ": " << r.body;
  const json& e = r.j["error"];
  EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty()) << what;
  EXPECT_EQ(e["type"], "invalid_request_error") << what;
  EXPECT_TRUE(e.contains("param")) << what;
  if (!code.empty()) {
    EXPECT_EQ(e["code"], code) << what << ": " << r.body;
  }
}

const char* kStory =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun. "
    "One day, she saw a big red ball in the park. She ran to the ball and kicked it very hard. "
    "The ball flew over the trees and landed in the pond. Lily was sad, but her friend Tom came "
    "to help her.";

// --- bad input ---------------------------------------------------------------------------------

TEST(Server, EveryBadInputGetsAnOpenAIErrorThenANormalRequestSucceeds) {
  api::ServerOptions options;
  options.max_body_bytes = 64 << 10;
  TestServer server(options);
  auto c = client_of(server);
  std::string too_long = "[";
  for (int i = 0; i < 600; ++i) too_long += (i ? ",300" : "1");
  too_long += "]";
  struct Case {
    std::string path, body;
    int status;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"/v1/completions", "{not json", 400, "invalid_json"},
      {"/v1/completions", R"({"prompt": 5})", 400, "invalid_type"},
      {"/v1/completions", R"({"prompt": "a", "temperature": "hot"})", 400, "invalid_type"},
      {"/v1/chat/completions", R"({"messages": "hi"})", 400, "invalid_type"},
      {"/v1/completions", R"({"prompt": "a", "model": "gpt-4o"})", 404, "model_not_found"},
      {"/v1/completions", R"({"prompt": "a", "max_tokens": -5})", 400, "invalid_value"},
      {"/v1/completions", R"({"prompt": "a", "max_tokens": 1000000000})", 400,
       "context_length_exceeded"},
      {"/v1/completions", R"({"prompt": "a", "n": 17})", 400, "invalid_value"},
      {"/v1/completions", R"({"prompt": )" + too_long + "}", 400, "context_length_exceeded"},
      {"/v1/chat/completions", R"({"messages": []})", 400, "invalid_value"},
      {"/v1/completions", R"({"prompt": ""})", 400, "invalid_value"},
      {"/v1/completions", "{\"prompt\": \"bad \xc3\x28 utf8\"}", 400, "invalid_encoding"},
      {"/v1/completions", R"({"prompt": ")" + std::string(100 << 10, 'a') + "\"}", 413, ""},
      {"/v1/nothing", "{}", 404, "unknown_url"},
  };
  for (const Case& k : cases) {
    Reply r = post(*c, k.path, k.body);
    expect_openai_error(r, k.status, k.code, k.body.substr(0, 60));
    if (k.code == "context_length_exceeded" && k.body.find("1,300") != std::string::npos) {
      // The message names both lengths.
      EXPECT_NE(r.body.find("600"), std::string::npos) << r.body;
      EXPECT_NE(r.body.find("512"), std::string::npos) << r.body;
    }
  }
  // Wrong methods on known routes.
  auto g = c->Get("/v1/completions");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, 405);
  EXPECT_EQ(json::parse(g->body)["error"]["code"], "method_not_allowed");
  EXPECT_EQ(status_of(c->Delete("/v1/models")), 405);
  EXPECT_EQ(status_of(c->Get("/v2/whatever")), 404);

  // Still serving.
  auto fresh = client_of(server);
  Reply ok = post(*fresh, "/v1/completions",
                  json{{"prompt", "Once upon a time"}, {"max_tokens", 8}, {"temperature", 0}});
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_FALSE(texts(ok.j)[0].empty());
  EXPECT_EQ(ok.j["usage"]["completion_tokens"], 8);
  // Greedy after "Once upon a time" is llama2.c's story from BOS (expected_greedy_200): its next
  // 8 tokens.
  const std::string story =
      read_file(shared_dir() + "/models/stories260K/expected_greedy_200.txt").substr(16);
  EXPECT_EQ(texts(ok.j)[0], ", there was a little girl");
  EXPECT_EQ(story.rfind(texts(ok.j)[0], 0), 0u) << story;
}

TEST(Server, ApiKeyGuardsEverythingButHealth) {
  api::ServerOptions options;
  options.api_key = "sekret";
  TestServer server(options);
  auto c = client_of(server);
  const json body = {{"prompt", "Once"}, {"max_tokens", 2}};
  expect_openai_error(post(*c, "/v1/completions", body), 401, "invalid_api_key", "no key");
  expect_openai_error(post(*c, "/v1/completions", body.dump(), {{"Authorization", "Bearer nope"}}),
                      401, "invalid_api_key", "wrong key");
  EXPECT_EQ(status_of(c->Get("/v1/models")), 401);
  EXPECT_EQ(status_of(c->Get("/health")), 200);
  EXPECT_EQ(post(*c, "/v1/completions", body.dump(), {{"Authorization", "Bearer sekret"}}).status,
            200);
  c->set_bearer_token_auth("sekret");
  auto m2 = c->Get("/v1/models");
  ASSERT_TRUE(m2);
  EXPECT_EQ(m2->status, 200);
  EXPECT_EQ(json::parse(m2->body)["data"][0]["id"], "stories260K-f32");
}

// --- outputs -----------------------------------------------------------------------------------

TEST(Server, StreamedTextEqualsNonStreamedText) {
  TestServer server;
  auto c = client_of(server);
  const std::vector<std::pair<std::string, json>> requests = {
      {"/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 60}}},
      {"/v1/chat/completions",
       {{"messages", {{{"role", "user"}, {"content", "Tell me a story."}}}}, {"max_tokens", 40}}},
  };
  for (auto [path, body] : requests) {
    body["temperature"] = 0;
    Reply whole = post(*c, path, body);
    ASSERT_EQ(whole.status, 200) << whole.body;
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
    Reply streamed = post(*c, path, body);
    ASSERT_EQ(streamed.status, 200) << streamed.body;
    Stream s = parse_stream(streamed.body);
    EXPECT_TRUE(s.done) << path;
    EXPECT_GT(s.chunks, 3) << path;  // token by token, not one lump
    EXPECT_EQ(s.text[0], texts(whole.j)[0]) << path;
    EXPECT_EQ(s.finish[0], whole.j["choices"][0]["finish_reason"]) << path;
    EXPECT_EQ(s.usage["completion_tokens"], whole.j["usage"]["completion_tokens"]) << path;
    EXPECT_EQ(s.usage["prompt_tokens"], whole.j["usage"]["prompt_tokens"]) << path;
  }
}

TEST(Server, ConcurrentRequestsWithDifferentSamplingDoNotAffectEachOther) {
  TestServer server;
  std::vector<json> requests = {
      {{"prompt", "Once upon a time"}, {"temperature", 0}, {"max_tokens", 48}}};
  for (int i = 0; i < 4; ++i) {
    requests.push_back({{"prompt", i % 2 ? "Tom and his dog" : "Once upon a time"},
                        {"temperature", 0.7 + 0.2 * i},
                        {"top_p", 0.9},
                        {"top_k", 20 + i},
                        {"presence_penalty", 0.5 * i},
                        {"frequency_penalty", 0.3},
                        {"seed", 100 + i},
                        {"max_tokens", 40 + 4 * i}});
  }
  auto run = [&](const json& body) {
    auto c = client_of(server);
    Reply r = post(*c, "/v1/completions", body);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? texts(r.j)[0] : std::string("<failed>");
  };
  std::vector<std::string> alone;
  for (const json& r : requests) alone.push_back(run(r));
  std::vector<std::future<std::string>> together;
  for (const json& r : requests) together.push_back(std::async(std::launch::async, run, r));
  for (size_t i = 0; i < requests.size(); ++i)
    EXPECT_EQ(together[i].get(), alone[i]) << "request " << i << ": " << requests[i].dump();
}

TEST(Server, NChoicesAreIndexedAndSeeded) {
  TestServer server;
  auto c = client_of(server);
  json body = {{"prompt", "Once upon a time"},
               {"n", 3},
               {"seed", 7},
               {"max_tokens", 24},
               {"temperature", 1.0}};
  Reply a = post(*c, "/v1/completions", body);
  ASSERT_EQ(a.status, 200) << a.body;
  std::vector<std::string> t = texts(a.j);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_TRUE(t[0] != t[1] || t[1] != t[2]);                 // seeds seed+i
  EXPECT_EQ(texts(post(*c, "/v1/completions", body).j), t);  // reproducible
  EXPECT_EQ(a.j["usage"]["completion_tokens"], 72);
  body["stream"] = true;
  Stream s = parse_stream(post(*c, "/v1/completions", body).body);
  EXPECT_TRUE(s.done);
  ASSERT_EQ(s.text.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(s.text[i], t[i]) << i;
  EXPECT_EQ(s.finish.size(), 3u);
}

TEST(Server, LogprobsInBothShapes) {
  TestServer server;
  auto c = client_of(server);
  Reply r = post(
      *c, "/v1/completions",
      json{{"prompt", "Once upon a time"}, {"max_tokens", 5}, {"logprobs", 3}, {"temperature", 0}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json& lp = r.j["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 5u);
  EXPECT_EQ(lp["top_logprobs"][0].size(), 3u);
  std::string joined;
  for (const json& t : lp["tokens"]) joined += t.get<std::string>();
  EXPECT_EQ(joined, texts(r.j)[0]);  // token texts keep their spaces
  r = post(*c, "/v1/chat/completions",
           json{{"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                {"max_tokens", 4},
                {"logprobs", true},
                {"top_logprobs", 2}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json& content = r.j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 4u);
  EXPECT_EQ(content[0]["top_logprobs"].size(), 2u);
  EXPECT_LE(content[0]["logprob"].get<double>(), 0.0);
}

// --- parameters beyond the basics: logit_bias, echo, prompt batches, /tokenize -----------------

std::vector<int32_t> tokenize(httplib::Client& c, const std::string& text, bool add_special) {
  Reply r = post(c, "/tokenize", json{{"content", text}, {"add_special", add_special}});
  EXPECT_EQ(r.status, 200) << r.body;
  return r.j["tokens"].get<std::vector<int32_t>>();
}

TEST(Server, TokenizeAndDetokenizeLikeLlamaServer) {
  TestServer server;
  auto c = client_of(server);
  const std::vector<int32_t> ids = tokenize(*c, "Once upon a time", false);
  ASSERT_FALSE(ids.empty());
  const std::vector<int32_t> with_bos = tokenize(*c, "Once upon a time", true);
  EXPECT_EQ(with_bos.size(), ids.size() + 1);
  Reply d = post(*c, "/detokenize", json{{"tokens", ids}});
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(d.j["content"], "Once upon a time");
  Reply pieces = post(*c, "/tokenize", json{{"content", "Once upon"}, {"with_pieces", true}});
  ASSERT_EQ(pieces.status, 200) << pieces.body;
  ASSERT_TRUE(pieces.j["tokens"][0].contains("piece"));
  std::string joined;
  for (const json& t : pieces.j["tokens"]) joined += t["piece"].get<std::string>();
  EXPECT_NE(joined.find("upon"), std::string::npos) << joined;
  struct Case {
    std::string path, body, param;
  };
  for (const Case& k : std::vector<Case>{{"/tokenize", R"({"content": 5})", "content"},
                                         {"/tokenize", R"({})", "content"},
                                         {"/tokenize", R"({"content": "a", "x": 1})", "x"},
                                         {"/detokenize", R"({"tokens": [1, 512]})", "tokens[1]"},
                                         {"/detokenize", R"({"tokens": [-1]})", "tokens[0]"},
                                         {"/detokenize", R"({"tokens": "a"})", "tokens"}}) {
    Reply r = post(*c, k.path, k.body);
    expect_openai_error(r, 400, "", k.body);
    EXPECT_EQ(r.j["error"]["param"], k.param) << k.body;
  }
  EXPECT_EQ(status_of(c->Get("/tokenize")), 405);
}

TEST(Server, LogitBiasBansAndForcesTokens) {
  TestServer server;
  auto c = client_of(server);
  // Greedy after "Once upon a time" starts with ","; that token, found by tokenizing.
  const std::vector<int32_t> a = tokenize(*c, "Once upon a time", true);
  const std::vector<int32_t> b = tokenize(*c, "Once upon a time, there", true);
  ASSERT_GT(b.size(), a.size());
  const int32_t comma = b[a.size()];
  json body = {{"prompt", "Once upon a time"}, {"max_tokens", 4}, {"temperature", 0}};
  ASSERT_EQ(texts(post(*c, "/v1/completions", body).j)[0].substr(0, 1), ",");
  body["logit_bias"] = {{std::to_string(comma), -100}};
  Reply banned = post(*c, "/v1/completions", body);
  ASSERT_EQ(banned.status, 200) << banned.body;
  EXPECT_NE(texts(banned.j)[0].substr(0, 1), ",") << texts(banned.j)[0];
  // +100 makes a token all but certain, at any temperature.
  body["logit_bias"] = {{std::to_string(comma), 100}};
  body["temperature"] = 1.0;
  body["logprobs"] = 0;
  Reply forced = post(*c, "/v1/completions", body);
  ASSERT_EQ(forced.status, 200) << forced.body;
  for (const json& t : forced.j["choices"][0]["logprobs"]["tokens"]) EXPECT_EQ(t, ",");
  // Out-of-range ids and values are refused, naming the field.
  for (const json& bad : {json{{"512", 1}}, json{{"3", 200}}, json{{"x", 1}}}) {
    body["logit_bias"] = bad;
    Reply r = post(*c, "/v1/completions", body);
    expect_openai_error(r, 400, "", bad.dump());
    EXPECT_EQ(r.j["error"]["param"], "logit_bias") << r.body;
  }
}

TEST(Server, EchoPrependsThePromptWithItsLogprobs) {
  TestServer server;
  auto c = client_of(server);
  const std::string prompt = "Once upon a time";
  json body = {{"prompt", prompt}, {"max_tokens", 4}, {"temperature", 0}};
  const std::string plain = texts(post(*c, "/v1/completions", body).j)[0];
  body["echo"] = true;
  Reply r = post(*c, "/v1/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(texts(r.j)[0], prompt + plain);
  EXPECT_TRUE(r.j["choices"][0]["logprobs"].is_null());

  // With logprobs: every prompt token (the first without a log probability), then the generated
  // ones. A prompt token's log probability is what the model gave it when it was generated.
  body["logprobs"] = 2;
  body["prompt"] = prompt + plain;
  body["max_tokens"] = 1;
  r = post(*c, "/v1/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  const json& lp = r.j["choices"][0]["logprobs"];
  const std::vector<int32_t> ids = tokenize(*c, prompt + plain, true);
  ASSERT_EQ(lp["tokens"].size(), ids.size() + 1);
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  for (size_t i = 1; i < lp["token_logprobs"].size(); ++i) {
    EXPECT_LE(lp["token_logprobs"][i].get<double>(), 0.0) << i;
    EXPECT_EQ(lp["top_logprobs"][i].size(), 2u) << i;
  }
  // Offsets index the echoed text.
  const std::string text = texts(r.j)[0];
  const std::vector<int64_t> offsets = lp["text_offset"].get<std::vector<int64_t>>();
  for (size_t i = 1; i < offsets.size(); ++i) EXPECT_LE(offsets[i - 1], offsets[i]);
  EXPECT_LE(offsets.back(), static_cast<int64_t>(text.size()));
  EXPECT_EQ(offsets[ids.size()], static_cast<int64_t>((prompt + plain).size()));

  Reply greedy =
      post(*c, "/v1/completions",
           json{{"prompt", prompt}, {"max_tokens", 1}, {"temperature", 0}, {"logprobs", 0}});
  const size_t first_generated = tokenize(*c, prompt, true).size();
  EXPECT_NEAR(lp["token_logprobs"][first_generated].get<double>(),
              greedy.j["choices"][0]["logprobs"]["token_logprobs"][0].get<double>(), 1e-3);
}

TEST(Server, PromptBatchesGiveLenTimesNChoices) {
  TestServer server;
  auto c = client_of(server);
  const std::vector<std::string> prompts = {"Once upon a time", "Lily and Tom"};
  auto alone = [&](const json& prompt) {
    return texts(
        post(*c, "/v1/completions", json{{"prompt", prompt}, {"max_tokens", 6}, {"temperature", 0}})
            .j)[0];
  };
  json body = {{"prompt", prompts}, {"max_tokens", 6}, {"temperature", 0}, {"n", 2}};
  Reply r = post(*c, "/v1/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::vector<std::string> t = texts(r.j);
  ASSERT_EQ(t.size(), 4u);  // OpenAI's indices: prompt k's choices are 2k and 2k + 1
  EXPECT_EQ(t[0], alone(prompts[0]));
  EXPECT_EQ(t[1], t[0]);
  EXPECT_EQ(t[2], alone(prompts[1]));
  EXPECT_EQ(t[3], t[2]);
  const size_t p0 = tokenize(*c, prompts[0], true).size(),
               p1 = tokenize(*c, prompts[1], true).size();
  EXPECT_EQ(r.j["usage"]["prompt_tokens"], p0 + p1);
  EXPECT_EQ(r.j["usage"]["completion_tokens"], 24);
  // Token-id lists, streamed.
  const std::vector<int32_t> ids0 = tokenize(*c, prompts[0], true);
  body = {{"prompt", {ids0, tokenize(*c, prompts[1], true)}},
          {"max_tokens", 6},
          {"temperature", 0},
          {"stream", true}};
  Stream s = parse_stream(post(*c, "/v1/completions", body).body);
  EXPECT_TRUE(s.done);
  ASSERT_EQ(s.text.size(), 2u);
  EXPECT_EQ(s.text[0], t[0]);
  EXPECT_EQ(s.text[1], t[2]);
  // An empty element is refused, naming it.
  Reply bad = post(*c, "/v1/completions", json{{"prompt", {"a", ""}}});
  expect_openai_error(bad, 400, "invalid_value", "empty element");
  EXPECT_EQ(bad.j["error"]["param"], "prompt[1]");
  bad = post(*c, "/v1/completions", json{{"prompt", {ids0, std::vector<int32_t>{1, 9999}}}});
  expect_openai_error(bad, 400, "invalid_value", "bad id");
  EXPECT_EQ(bad.j["error"]["param"], "prompt[1]");
}

TEST(Server, RepeatedLongPromptReportsCachedTokens) {
  TestServer server;
  auto c = client_of(server);
  json body = {{"prompt", kStory}, {"max_tokens", 4}, {"temperature", 0}};
  Reply first = post(*c, "/v1/completions", body);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.j["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  Reply second = post(*c, "/v1/completions", body);
  ASSERT_EQ(second.status, 200);
  const int64_t cached = second.j["usage"]["prompt_tokens_details"]["cached_tokens"];
  EXPECT_GT(cached, 0) << second.body;
  EXPECT_LT(cached, second.j["usage"]["prompt_tokens"].get<int64_t>());
  // Every full 16-token block of the prompt but the one holding its last token.
  const int64_t n_prompt = second.j["usage"]["prompt_tokens"];
  EXPECT_EQ(n_prompt, first.j["usage"]["prompt_tokens"]);
  EXPECT_EQ(cached, (n_prompt - 1) / 16 * 16) << second.body;
  EXPECT_EQ(texts(second.j), texts(first.j));
}

std::map<std::string, double> scrape(httplib::Client& c) {
  auto r = c.Get("/metrics");
  EXPECT_TRUE(r && r->status == 200);
  if (!r) return {};
  EXPECT_NE(r->get_header_value("Content-Type").find("text/plain"), std::string::npos);
  return parse_prometheus(r->body);
}

TEST(Server, MetricsParseAndMove) {
  TestServer server;
  auto c = client_of(server);
  auto before = scrape(*c);
  for (const char* key :
       {"packinfer_time_to_first_token_seconds_count", "packinfer_requests_running",
        "packinfer_requests_queued", "packinfer_kv_blocks{state=\"free\"}",
        "packinfer_prefix_cache_hit_rate", "packinfer_preemptions_total",
        "packinfer_prompt_tokens_per_second", "packinfer_generation_tokens_per_second"}) {
    EXPECT_TRUE(before.count(key)) << key;
  }
  json body = {{"prompt", kStory}, {"max_tokens", 16}, {"temperature", 0}, {"ignore_eos", true}};
  ASSERT_EQ(post(*c, "/v1/completions", body).status, 200);
  ASSERT_EQ(post(*c, "/v1/completions", body).status, 200);
  // The engine publishes its counters after each step, just after the last token went out.
  auto after = scrape(*c);
  for (int i = 0; i < 500 && after["packinfer_requests_running"] > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    after = scrape(*c);
  }
  EXPECT_EQ(after["packinfer_time_to_first_token_seconds_count"] -
                before["packinfer_time_to_first_token_seconds_count"],
            2);
  EXPECT_EQ(after["packinfer_e2e_request_latency_seconds_count"], 2);
  EXPECT_EQ(after["packinfer_time_per_output_token_seconds_count"], 2);
  EXPECT_EQ(after["packinfer_generation_tokens_total"], 32);
  EXPECT_GT(after["packinfer_prompt_tokens_total"], 100);
  EXPECT_GT(after["packinfer_cached_prompt_tokens_total"], 0);
  EXPECT_GT(after["packinfer_prefix_cache_hit_rate"], 0);
  // Exactly: two prompts of n tokens, the second served from the first's full 16-token KV blocks
  // except its last token, which must be computed.
  const auto n = static_cast<double>(Engine({.model_path = stories()}).tokenize(kStory).size());
  const double cached = std::floor((n - 1) / 16) * 16;
  EXPECT_EQ(after["packinfer_prompt_tokens_total"], 2 * n);
  EXPECT_EQ(after["packinfer_cached_prompt_tokens_total"], cached);
  EXPECT_NEAR(after["packinfer_prefix_cache_hit_rate"], cached / (2 * n), 1e-6);
  EXPECT_GT(after["packinfer_generation_tokens_per_second"], 0);
  EXPECT_EQ(after["packinfer_requests_finished_total{finish_reason=\"length\"}"], 2);
  EXPECT_EQ(after["packinfer_requests_running"], 0);
  EXPECT_EQ(after["packinfer_kv_blocks{state=\"used\"}"] +
                after["packinfer_kv_blocks{state=\"cached\"}"] +
                after["packinfer_kv_blocks{state=\"free\"}"],
            after["packinfer_kv_blocks_total"]);
  // Counted once a response is written, so the second POST may not have been counted yet.
  EXPECT_GE(after["packinfer_http_responses_total{code=\"200\"}"], 2);
}

// --- disconnects and shutdown
// ---------------------------------------------------------------------

// Sends a raw HTTP request and returns the connected socket.
int send_raw(int port, const std::string& path, const std::string& body) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::string req = "POST " + path +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                    "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  EXPECT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  return fd;
}

TEST(Server, ClientDisconnectMidStreamCancelsTheRequest) {
  TestServer server({}, /*n_ctx=*/4096);
  const json body = {{"prompt", "Once upon a time"},
                     {"max_tokens", 4000},
                     {"ignore_eos", true},
                     {"temperature", 0},
                     {"stream", true}};
  int fd = send_raw(server.port(), "/v1/completions", body.dump());
  // Read until the first token's event arrived, then hang up.
  std::string got;
  char buf[4096];
  while (got.find("data: {") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    ASSERT_GT(n, 0) << got;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  ServingStats s = server.serving().stats();
  while ((s.running > 0 || s.requests_cancelled == 0) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    s = server.serving().stats();
  }
  EXPECT_EQ(s.requests_cancelled, 1);
  EXPECT_EQ(s.running, 0);
  EXPECT_EQ(s.queued, 0);
  EXPECT_LT(s.generated_tokens, 4000);  // it did not run to the end
  EXPECT_EQ(s.kv_blocks_used, 0);
  auto c = client_of(server);
  auto m = scrape(*c);
  EXPECT_EQ(m["packinfer_requests_finished_total{finish_reason=\"cancelled\"}"], 1);
  EXPECT_EQ(m["packinfer_requests_running"], 0);
  // And the server goes on.
  EXPECT_EQ(post(*c, "/v1/completions", json{{"prompt", "Hi"}, {"max_tokens", 3}}).status, 200);
}

// A non-streamed request whose client hangs up is cancelled instead of running to max_tokens.
TEST(Server, ClientDisconnectWhileWaitingForAWholeReplyCancelsTheRequest) {
  TestServer server({}, /*n_ctx=*/4096);
  const json body = {
      {"prompt", "Once upon a time"}, {"max_tokens", 4000}, {"ignore_eos", true}, {"n", 2}};
  int fd = send_raw(server.port(), "/v1/completions", body.dump());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  ServingStats s = server.serving().stats();
  while (s.generated_tokens < 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    s = server.serving().stats();
  }
  ASSERT_GE(s.generated_tokens, 4) << "generation started";
  ::close(fd);
  while ((s.running > 0 || s.requests_cancelled < 2) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    s = server.serving().stats();
  }
  EXPECT_EQ(s.requests_cancelled, 2);
  EXPECT_EQ(s.running, 0);
  EXPECT_LT(s.generated_tokens, 8000);  // it did not run to the end
  EXPECT_EQ(s.kv_blocks_used, 0);
  auto c = client_of(server);
  EXPECT_EQ(post(*c, "/v1/completions", json{{"prompt", "Hi"}, {"max_tokens", 3}}).status, 200);
}

TEST(Server, StopEndsStreamsInFlight) {
  auto server = std::make_unique<TestServer>(api::ServerOptions{}, 4096);
  const json body = {
      {"prompt", "Once upon a time"}, {"max_tokens", 4000}, {"ignore_eos", true}, {"stream", true}};
  int fd = send_raw(server->port(), "/v1/completions", body.dump());
  char buf[256];
  ASSERT_GT(::recv(fd, buf, sizeof(buf), 0), 0);
  const auto t0 = std::chrono::steady_clock::now();
  server.reset();  // stop() cancels the request; run() returns once the stream closed
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  ::close(fd);
}

// The CLI prints where it listens (--port 0 picks a free port) and exits 0 on SIGTERM.
TEST(Server, CliServesOnAFreePortAndStopsOnSigterm) {
  int err[2];
  ASSERT_EQ(::pipe(err), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(err[1], STDERR_FILENO);
    ::close(err[0]);
    const std::string cli = cli_path(), model = stories();
    ::execl(cli.c_str(), cli.c_str(), "serve", "-m", model.c_str(), "-t", "1", "--port", "0",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(err[1]);
  std::string out;
  char buf[512];
  size_t at;
  while ((at = out.find("http://127.0.0.1:")) == std::string::npos ||
         out.find('\n', at) == std::string::npos) {
    ssize_t n = ::read(err[0], buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ASSERT_NE(at, std::string::npos) << out;
  EXPECT_NE(out.find("packinfer: serving stories260K-f32 on"), std::string::npos) << out;
  const int port = std::stoi(out.substr(at + 17));
  ASSERT_GT(port, 0);
  httplib::Client c("127.0.0.1", port);
  EXPECT_EQ(status_of(c.Get("/health")), 200);
  Reply r = post(c, "/v1/chat/completions",
                 json{{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 5}});
  EXPECT_EQ(r.status, 200) << r.body;
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ::close(err[0]);
}

}  // namespace
}  // namespace packinfer::test
