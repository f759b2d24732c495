// The server's pure parts without a model or a socket: OpenAI request parsing and validation,
// response and chunk shaping, SSE framing and the Prometheus exposition.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "openai/openai_request.h"
#include "openai/openai_response.h"
#include "server/metrics.h"
#include "server/sse.h"
#include "support/prometheus_text.h"
#include "support/test_support.h"

namespace packinfer::api {
namespace {

using json = nlohmann::json;

const std::vector<std::string> kNames = {"stories260K-f32", "stories260K"};

ParseOptions server_options() {
  ParseOptions o;
  o.model_names = kNames;
  o.max_n = 16;
  o.logprobs = true;
  o.stream = true;
  return o;
}

struct Parsed {
  CompletionRequest req;
  std::optional<RequestError> error;
  std::vector<std::string> ignored;
};

Parsed parse(std::string_view body, Endpoint endpoint = Endpoint::Completions) {
  Parsed p;
  p.error = parse_request_text(
      body, endpoint, server_options(),
      [&](const std::string& field, const std::string&) { p.ignored.push_back(field); }, p.req);
  return p;
}

TEST(ServerRequests, CompletionFields) {
  Parsed p = parse(R"({"model": "stories260K", "prompt": "Once", "max_tokens": 7, "n": 3,
      "seed": 5, "stop": ["a", "b"], "logprobs": 2, "stream": true,
      "stream_options": {"include_usage": true}, "ignore_eos": true, "top_k": 4, "foo": 1})");
  ASSERT_FALSE(p.error) << p.error->message;
  EXPECT_EQ(p.req.prompt, "Once");
  EXPECT_EQ(p.req.max_tokens, 7);
  EXPECT_EQ(p.req.n, 3);
  EXPECT_EQ(p.req.sampling.seed, 5u);
  EXPECT_EQ(p.req.sampling.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p.req.top_logprobs, 2);
  EXPECT_TRUE(p.req.stream);
  EXPECT_TRUE(p.req.include_usage);
  EXPECT_TRUE(p.req.sampling.ignore_eos);
  EXPECT_EQ(p.req.sampling.top_k, 4);
  EXPECT_EQ(p.ignored, std::vector<std::string>{"foo"});
  // OpenAI defaults, not the CLI's.
  p = parse(R"({"prompt": "x"})");
  EXPECT_EQ(p.req.sampling.temperature, 1.0f);
  EXPECT_EQ(p.req.top_logprobs, -1);
  EXPECT_FALSE(p.req.stream);
}

TEST(ServerRequests, PromptAsTokenIds) {
  EXPECT_EQ(parse(R"({"prompt": [1, 2, 3]})").req.prompt_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(parse(R"({"prompt": [[4, 5]]})").req.prompt_ids, (std::vector<int32_t>{4, 5}));
  EXPECT_EQ(parse(R"({"prompt": ["text"]})").req.prompt, "text");
  EXPECT_EQ(parse(R"({"prompt": [1, -2]})").error->code, "invalid_value");
  EXPECT_EQ(parse(R"({"prompt": [1, "a"]})").error->code, "invalid_type");
}

TEST(ServerRequests, ChatLogprobs) {
  const char* m = R"("messages": [{"role": "user", "content": "hi"}])";
  auto chat = [&](const std::string& extra) {
    return parse("{" + std::string(m) + extra + "}", Endpoint::ChatCompletions);
  };
  EXPECT_EQ(chat("").req.top_logprobs, -1);
  EXPECT_EQ(chat(R"(, "logprobs": true)").req.top_logprobs, 0);
  EXPECT_EQ(chat(R"(, "logprobs": true, "top_logprobs": 20)").req.top_logprobs, 20);
  EXPECT_EQ(chat(R"(, "logprobs": true, "top_logprobs": 21)").error->param, "top_logprobs");
  EXPECT_EQ(chat(R"(, "top_logprobs": 2)").error->param, "top_logprobs");
  EXPECT_EQ(chat(R"(, "logprobs": 3)").error->code, "invalid_type");
  EXPECT_EQ(chat(R"(, "max_completion_tokens": 9, "max_tokens": 3)").req.max_tokens, 9);
}

TEST(ServerRequests, BadInputHasTheRightCodeAndStatus) {
  struct Case {
    std::string body;
    std::string code;
    int status;
  };
  const std::vector<Case> cases = {
      {"not json", "invalid_json", 400},
      {"[1]", "invalid_type", 400},
      {"{\"prompt\": \"\xff\xfe\"}", "invalid_encoding", 400},
      {R"({"prompt": "a", "model": "gpt-4o"})", "model_not_found", 404},
      {R"({"prompt": "a", "max_tokens": -1})", "invalid_value", 400},
      {R"({"prompt": "a", "max_tokens": "9"})", "invalid_type", 400},
      {R"({"prompt": "a", "n": 17})", "invalid_value", 400},
      {R"({"prompt": "a", "n": 0})", "invalid_value", 400},
      {R"({"prompt": "a", "logprobs": 6})", "invalid_value", 400},
      {R"({"prompt": "a", "stop": ["1", "2", "3", "4", "5"]})", "invalid_value", 400},
      {R"({"prompt": "a", "stream": "yes"})", "invalid_type", 400},
      {R"({"prompt": "a", "stream_options": {"include_usage": 1}})", "invalid_type", 400},
      {R"({"prompt": "a", "temperature": -1})", "invalid_value", 400},
      {R"({"prompt": ""})", "invalid_value", 400},
      {R"({"prompt": []})", "invalid_value", 400},
      {R"({"max_tokens": 3})", "missing_required_parameter", 400},
  };
  for (const Case& c : cases) {
    Parsed p = parse(c.body);
    ASSERT_TRUE(p.error) << c.body;
    EXPECT_EQ(p.error->code, c.code) << c.body << ": " << p.error->message;
    EXPECT_EQ(p.error->status, c.status) << c.body;
  }
  Parsed p = parse(R"({"messages": []})", Endpoint::ChatCompletions);
  ASSERT_TRUE(p.error);
  EXPECT_EQ(p.error->param, "messages");
}

// Parameters the server does not implement are refused with a 400 naming them; their "off"
// values are accepted. (response_format is implemented: structured output.)
TEST(ServerRequests, UnimplementedParametersAreRefusedByName) {
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"best_of", "3"},
      {"suffix", R"("end")"},
      {"tools", R"([{"type": "function", "function": {"name": "f"}}])"},
      {"tool_choice", R"("auto")"},
      {"functions", R"([{"name": "f"}])"},
      {"function_call", R"("auto")"},
      {"modalities", R"(["text", "audio"])"},
      {"audio", R"({"voice": "x"})"},
      {"prediction", R"({"type": "content", "content": "x"})"},
      {"reasoning_effort", R"("high")"},
  };
  for (const auto& [field, value] : refused) {
    Parsed p = parse(R"({"prompt": "a", ")" + field + "\": " + value + "}");
    ASSERT_TRUE(p.error) << field;
    EXPECT_EQ(p.error->status, 400) << field;
    EXPECT_EQ(p.error->param, field);
    EXPECT_EQ(p.error->code, "unsupported_parameter") << field;
  }
  for (const std::string off : {R"("best_of": 1)", R"("tools": [])", R"("tool_choice": "none")",
                                R"("response_format": {"type": "text"})", R"("suffix": null)"}) {
    Parsed p = parse(R"({"prompt": "a", )" + off + "}");
    EXPECT_FALSE(p.error) << off << ": " << p.error->message;
    EXPECT_TRUE(p.ignored.empty()) << off;
  }
}

TEST(ServerRequests, LogitBiasIsParsedAndRangeChecked) {
  Parsed p = parse(R"({"prompt": "a", "logit_bias": {"5": -100, "17": 2.5}})");
  ASSERT_FALSE(p.error) << p.error->message;
  auto bias = p.req.sampling.logit_bias;
  std::sort(bias.begin(), bias.end());
  EXPECT_EQ(bias, (std::vector<std::pair<int32_t, float>>{{5, -100.0f}, {17, 2.5f}}));
  for (const char* bad : {R"({"x": 1})", R"({"-1": 1})", R"({"5": 101})", R"({"5": -100.5})",
                          R"({"5": "1"})", R"([1])", R"({"99999999999": 1})"}) {
    Parsed q = parse(std::string(R"({"prompt": "a", "logit_bias": )") + bad + "}");
    ASSERT_TRUE(q.error) << bad;
    EXPECT_EQ(q.error->status, 400);
    EXPECT_NE(q.error->param.find("logit_bias"), std::string::npos) << bad << q.error->param;
  }
}

TEST(ServerRequests, EchoOnlyWhereSupported) {
  ParseOptions o = server_options();
  o.echo = true;
  CompletionRequest r;
  EXPECT_FALSE(
      parse_request_text(R"({"prompt": "a", "echo": true})", Endpoint::Completions, o, {}, r));
  EXPECT_TRUE(r.echo);
  auto e = parse_request_text(R"({"prompt": "a", "echo": true, "stream": true})",
                              Endpoint::Completions, o, {}, r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "echo");
  e = parse_request_text(R"({"messages": [{"role": "user", "content": "a"}], "echo": true})",
                         Endpoint::ChatCompletions, o, {}, r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "echo");
  // A caller without echo support (batch jobs) refuses it rather than ignoring it.
  e = parse_request_text(R"({"prompt": "a", "echo": true})", Endpoint::Completions,
                         server_options(), {}, r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "echo");
  EXPECT_FALSE(parse_request_text(R"({"prompt": "a", "echo": false})", Endpoint::Completions,
                                  server_options(), {}, r));
}

TEST(ServerRequests, PromptBatches) {
  ParseOptions o = server_options();
  o.max_prompts = 4;
  CompletionRequest r;
  ASSERT_FALSE(
      parse_request_text(R"({"prompt": ["a", "b", "c"]})", Endpoint::Completions, o, {}, r));
  ASSERT_EQ(r.prompts.size(), 3u);
  EXPECT_EQ(r.prompts[2].text, "c");
  EXPECT_EQ(r.prompt, "a");
  select_prompt(r, 1);
  EXPECT_EQ(r.prompt, "b");
  ASSERT_FALSE(parse_request_text(R"({"prompt": [[1, 2], [3]]})", Endpoint::Completions, o, {}, r));
  ASSERT_EQ(r.prompts.size(), 2u);
  EXPECT_EQ(r.prompts[1].ids, std::vector<int32_t>{3});
  // An empty element is refused, named by its index.
  for (const char* bad : {R"(["a", ""])", R"([[1], []])"}) {
    auto e = parse_request_text(std::string(R"({"prompt": )") + bad + "}", Endpoint::Completions, o,
                                {}, r);
    ASSERT_TRUE(e) << bad;
    EXPECT_EQ(e->param, "prompt[1]");
  }
  auto e = parse_request_text(R"({"prompt": ["a", "b", "c", "d", "e"]})", Endpoint::Completions, o,
                              {}, r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "prompt");
  // Where batches are off (batch jobs: one prompt per line) a list of several is refused.
  e = parse_request_text(R"({"prompt": ["a", "b"]})", Endpoint::Completions, server_options(), {},
                         r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "prompt");
}

TEST(ServerRequests, MaxTokensBeyondTheContextIsRejectedNotClamped) {
  CompletionRequest r = parse(R"({"prompt": "a", "max_tokens": 100000})").req;
  auto e = fit_to_context(r, 10, 512, MaxTokensPolicy::Reject);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "max_tokens");
  EXPECT_NE(e->message.find("100000"), std::string::npos);
  EXPECT_NE(e->message.find("512"), std::string::npos);
  EXPECT_FALSE(fit_to_context(r, 10, 512, MaxTokensPolicy::Clamp));
  EXPECT_EQ(r.sampling.max_tokens, 502);
  e = fit_to_context(r, 600, 512, MaxTokensPolicy::Reject);
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("600"), std::string::npos);  // both lengths named
  EXPECT_NE(e->message.find("512"), std::string::npos);
}

// --- responses ----------------------------------------------------------------------------------

GenerationResult result(const std::string& text, std::vector<int32_t> out, int64_t cached) {
  GenerationResult g;
  g.prompt_ids = {1, 2, 3, 4};
  g.output_ids = std::move(out);
  g.text = text;
  g.finish_reason = "stop";
  g.cached_tokens = cached;
  return g;
}

std::string fake_text(int32_t id) {
  // Appended piecewise: "<" + s + ">" trips GCC 12's -Wrestrict false positive.
  std::string s = "<";
  s += std::to_string(id);
  s += ">";
  return s;
}

TEST(ServerResponses, CompletionWithChoicesUsageAndLogprobs) {
  GenerationResult a = result("ab", {7, 8}, 2), b = result("c", {9}, 0);
  std::vector<TokenEvent> tokens = {{7, "a", -0.5f, {{7, -0.5f}, {3, -1.5f}}},
                                    {8, "b", -0.25f, {{8, -0.25f}, {4, -2.0f}}}};
  ResponseContext ctx{Endpoint::Completions, "cmpl-1", "m", 123};
  json j = json::parse(dump(completion_json(ctx, {{&a, &tokens}, {&b, nullptr}}, fake_text)));
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"].size(), 2u);
  EXPECT_EQ(j["choices"][1]["index"], 1);
  EXPECT_EQ(j["choices"][1]["text"], "c");
  EXPECT_TRUE(j["choices"][1]["logprobs"].is_null());
  const json& lp = j["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"], json({"<7>", "<8>"}));
  EXPECT_EQ(lp["token_logprobs"], json({-0.5, -0.25}));
  EXPECT_EQ(lp["text_offset"], json({0, 1}));
  EXPECT_EQ(lp["top_logprobs"][1]["<4>"], -2.0);
  // The prompt counts once for n choices.
  EXPECT_EQ(j["usage"], json({{"prompt_tokens", 4},
                              {"completion_tokens", 3},
                              {"total_tokens", 7},
                              {"prompt_tokens_details", {{"cached_tokens", 2}}}}));

  ctx.endpoint = Endpoint::ChatCompletions;
  j = json::parse(dump(completion_json(ctx, {{&a, &tokens}}, fake_text)));
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"], json({{"role", "assistant"}, {"content", "ab"}}));
  const json& c = j["choices"][0]["logprobs"]["content"];
  EXPECT_EQ(c[0]["token"], "<7>");
  EXPECT_EQ(c[0]["bytes"], json({'<', '7', '>'}));
  EXPECT_EQ(c[1]["top_logprobs"][1]["token"], "<4>");
}

TEST(ServerResponses, StreamChunks) {
  ResponseContext ctx{Endpoint::ChatCompletions, "chatcmpl-1", "m", 5};
  json first = json::parse(dump(stream_chunk(ctx, 0, "Hi", std::nullopt, true)));
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"], json({{"role", "assistant"}, {"content", "Hi"}}));
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  json last = json::parse(dump(stream_chunk(ctx, 2, "", "length", false)));
  EXPECT_EQ(last["choices"][0]["index"], 2);
  EXPECT_EQ(last["choices"][0]["delta"], json::object());
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
  json usage = json::parse(dump(usage_chunk(ctx, usage_json(4, 2, 1))));
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["total_tokens"], 6);
  ctx.endpoint = Endpoint::Completions;
  json text = json::parse(dump(stream_chunk(ctx, 0, "x", std::nullopt, true)));
  EXPECT_EQ(text["object"], "text_completion");
  EXPECT_EQ(text["choices"][0]["text"], "x");
}

TEST(ServerResponses, ErrorObjectAndInvalidUtf8Dump) {
  json e = json::parse(dump(error_json({"bad", "model_not_found", "model", 404})));
  EXPECT_EQ(e, json({{"error",
                      {{"message", "bad"},
                       {"type", "invalid_request_error"},
                       {"param", "model"},
                       {"code", "model_not_found"}}}}));
  e = json::parse(dump(error_json({"boom", "", "", 500})));
  EXPECT_EQ(e["error"]["type"], "server_error");
  EXPECT_TRUE(e["error"]["param"].is_null());
  // A lone byte token must not make serialisation throw; the broken sequence becomes U+FFFD.
  EXPECT_NO_THROW(dump(ojson{{"token", std::string("\xe2\x82")}}));
  EXPECT_EQ(dump(ojson{{"token", std::string("a\xe2\x82")}}), "{\"token\":\"a\xef\xbf\xbd\"}");
}

// --- SSE and metrics
// ------------------------------------------------------------------------------

TEST(ServerSse, FramingRoundTrips) {
  std::string stream = sse_event(R"({"a":1})") + sse_event("two\nlines") + std::string(kSseDone);
  EXPECT_EQ(sse_event("x"), "data: x\n\n");
  EXPECT_EQ(sse_payloads(stream), (std::vector<std::string>{R"({"a":1})", "two\nlines", "[DONE]"}));
  // An event cut off mid-way is not reported.
  EXPECT_EQ(sse_payloads("data: 1\n\ndata: 2\n").size(), 1u);
  EXPECT_EQ(sse_payloads(": comment\r\ndata: 3\r\n\r\n"), std::vector<std::string>{"3"});
}

TEST(ServerMetrics, HistogramsAreCumulativeAndCountersRender) {
  ServerMetrics m;
  ServingResult r;
  r.generation.output_ids = {1, 2, 3};
  r.generation.finish_reason = "length";
  r.ttft_seconds = 0.03;
  r.e2e_seconds = 0.13;  // 2 tokens after the first in 0.1 s: TPOT 0.05
  m.on_request_done(r);
  r.generation.finish_reason = "cancelled";
  m.on_request_done(r);
  m.on_http_response(200);
  m.on_http_response(400);
  ServingStats s;
  s.running = 2;
  s.kv_blocks_used = 5;
  s.prompt_tokens = 100;
  s.cached_prompt_tokens = 25;
  s.generated_tokens = 10;
  s.computed_prompt_tokens = 75;
  m.render(s, 100.0);
  s.generated_tokens = 30;
  s.computed_prompt_tokens = 175;
  auto v = test::parse_prometheus(m.render(s, 110.0));
  EXPECT_EQ(v["packinfer_time_to_first_token_seconds_bucket{le=\"0.02\"}"], 0);
  EXPECT_EQ(v["packinfer_time_to_first_token_seconds_bucket{le=\"0.04\"}"], 1);
  EXPECT_EQ(v["packinfer_time_to_first_token_seconds_bucket{le=\"+Inf\"}"], 1);
  EXPECT_EQ(v["packinfer_time_per_output_token_seconds_bucket{le=\"0.05\"}"], 1);
  EXPECT_EQ(v["packinfer_e2e_request_latency_seconds_count"], 1);  // cancelled ones are not timed
  EXPECT_EQ(v["packinfer_requests_finished_total{finish_reason=\"length\"}"], 1);
  EXPECT_EQ(v["packinfer_requests_finished_total{finish_reason=\"cancelled\"}"], 1);
  EXPECT_EQ(v["packinfer_requests_finished_total{finish_reason=\"stop\"}"], 0);
  EXPECT_EQ(v["packinfer_requests_running"], 2);
  EXPECT_EQ(v["packinfer_kv_blocks{state=\"used\"}"], 5);
  EXPECT_EQ(v["packinfer_prefix_cache_hit_rate"], 0.25);
  EXPECT_EQ(v["packinfer_generation_tokens_per_second"], 2.0);
  EXPECT_EQ(v["packinfer_prompt_tokens_per_second"], 10.0);
  EXPECT_EQ(v["packinfer_http_responses_total{code=\"400\"}"], 1);
}

// Every fuzz seed and every input the fuzzer once crashed on parses to a request or an error
// object, for both endpoints, without throwing.
TEST(ServerRequests, FuzzCorpusAndRegressionsNeverThrow) {
  namespace fs = std::filesystem;
  int files = 0;
  for (const char* dir : {"fuzz/corpus/openai_request", "fuzz/regressions/openai_request"}) {
    const fs::path p = fs::path(PACKINFER_SOURCE_DIR) / dir;
    if (!fs::exists(p)) continue;
    for (const auto& e : fs::directory_iterator(p)) {
      if (!e.is_regular_file() || e.path().filename() == ".gitkeep") continue;
      const std::string body = packinfer::test::read_file(e.path().string());
      for (Endpoint ep : {Endpoint::Completions, Endpoint::ChatCompletions}) {
        CompletionRequest req = openai_defaults(ep);
        ParseOptions o;
        o.model_names = {"stories260K"};
        o.max_n = 16;
        o.logprobs = o.stream = true;
        EXPECT_NO_THROW(parse_request_text(body, ep, o, {}, req)) << e.path();
      }
      ++files;
    }
  }
  EXPECT_GE(files, 4);
}

}  // namespace
}  // namespace packinfer::api
