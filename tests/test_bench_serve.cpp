// `packinfer bench serve`: SSE parsing, latency statistics, the seeded workload, and the load
// generator end to end against a fake OpenAI streaming server in this process (fixed chunks with
// small sleeps, so the test does not depend on model speed).
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "loadgen/latency_stats.h"
#include "loadgen/rss_sampler.h"
#include "loadgen/serve_bench.h"
#include "loadgen/serve_load.h"
#include "loadgen/serve_metrics.h"
#include "loadgen/serve_report.h"
#include "loadgen/serve_rounds.h"
#include "loadgen/serve_workload.h"
#include "loadgen/server_process.h"
#include "loadgen/sse_client.h"
#include "packinfer/error.h"
#include "report/percentile.h"
#include "support/test_support.h"

namespace packinfer::test {
namespace {

using namespace packinfer::loadgen;
using report::percentile;

std::vector<std::string> parse_all(const std::vector<std::string_view>& pieces) {
  std::vector<std::string> events;
  SseParser p([&](std::string_view d) { events.emplace_back(d); });
  for (auto piece : pieces) p.feed(piece);
  p.finish();
  return events;
}

TEST(SseParser, SameEventsWhateverTheSplit) {
  const std::string stream =
      ": keep-alive comment\r\n"
      "data: {\"a\":1}\r\n\r\n"
      "event: message\n"
      "data: {\"b\":\n"
      "data: 2}\n\n"
      "data:no-space\r\r"
      "id: 7\n"
      "data: [DONE]\n\n";
  const std::vector<std::string> want = {"{\"a\":1}", "{\"b\":\n2}", "no-space", "[DONE]"};
  EXPECT_EQ(parse_all({stream}), want);
  std::string_view s(stream);
  for (size_t i = 0; i <= s.size(); ++i) {
    for (size_t j = i; j <= s.size(); j += 3) {
      EXPECT_EQ(parse_all({s.substr(0, i), s.substr(i, j - i), s.substr(j)}), want)
          << "cuts at " << i << ", " << j;
    }
  }
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < s.size(); ++i) bytes.push_back(s.substr(i, 1));
  EXPECT_EQ(parse_all(bytes), want);
  // A last event without its blank line still counts at the end of the stream.
  EXPECT_EQ(parse_all({"data: x"}), std::vector<std::string>{"x"});
}

TEST(SseParser, EventsFillTheResult) {
  StreamResult r;
  bool done = false;
  EXPECT_TRUE(apply_sse_event(R"({"choices":[{"delta":{"role":"assistant"}}]})", 0.1, r, done));
  EXPECT_TRUE(r.token_times.empty());  // a role-only chat delta is not a token
  EXPECT_TRUE(apply_sse_event(R"({"choices":[{"delta":{"content":"Hi"}}]})", 0.2, r, done));
  EXPECT_TRUE(apply_sse_event(R"({"choices":[{"text":" there"}]})", 0.3, r, done));
  // A token with empty text still arrived; the closing chunks carry no token.
  EXPECT_TRUE(apply_sse_event(R"({"choices":[{"text":"","finish_reason":null}]})", 0.35, r, done));
  EXPECT_TRUE(
      apply_sse_event(R"({"choices":[{"text":"","finish_reason":"length"}]})", 0.36, r, done));
  EXPECT_TRUE(
      apply_sse_event(R"({"choices":[{"delta":{},"finish_reason":"stop"}]})", 0.37, r, done));
  EXPECT_TRUE(apply_sse_event(
      R"({"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":2,
          "prompt_tokens_details":{"cached_tokens":8}}})",
      0.4, r, done));
  EXPECT_EQ(r.token_times, (std::vector<double>{0.2, 0.3, 0.35}));
  EXPECT_EQ(r.prompt_tokens, 12);
  EXPECT_EQ(r.completion_tokens, 2);
  EXPECT_EQ(r.cached_tokens, 8);
  EXPECT_FALSE(done);
  EXPECT_FALSE(apply_sse_event("[DONE]", 0.5, r, done));
  EXPECT_TRUE(done);
  StreamResult e;
  bool d2 = false;
  EXPECT_FALSE(apply_sse_event(R"({"error":{"message":"out of KV"}})", 0.1, e, d2));
  EXPECT_EQ(e.error, "out of KV");
}

TEST(LatencyStats, PercentilesInterpolateLikeNumpy) {
  std::vector<double> v = {5, 1, 4, 2, 3};
  EXPECT_DOUBLE_EQ(percentile(v, 50), 3);
  EXPECT_DOUBLE_EQ(percentile(v, 90), 4.6);
  EXPECT_DOUBLE_EQ(percentile(v, 99), 4.96);
  EXPECT_DOUBLE_EQ(percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(percentile(v, 100), 5);
  EXPECT_DOUBLE_EQ(percentile({}, 50), 0);
  EXPECT_DOUBLE_EQ(percentile({7}, 99), 7);
  LatencySummary s = summarize(v);
  EXPECT_EQ(s.count, 5);
  EXPECT_DOUBLE_EQ(s.mean, 3);
  EXPECT_DOUBLE_EQ(s.max, 5);
}

TEST(LatencyStats, TtftTpotItlAndGoodput) {
  RequestTiming a{true, {0.1, 0.15, 0.25}, 0.3, 3};  // TTFT 100 ms, TPOT (0.3-0.1)/2 = 100 ms
  EXPECT_DOUBLE_EQ(ttft_s(a), 0.1);
  EXPECT_NEAR(tpot_s(a), 0.1, 1e-12);
  auto gaps = inter_token_gaps(a);
  ASSERT_EQ(gaps.size(), 2u);
  EXPECT_NEAR(gaps[0], 0.05, 1e-12);
  EXPECT_NEAR(gaps[1], 0.10, 1e-12);
  RequestTiming slow_first{true, {0.5}, 0.5, 1};         // TTFT 500 ms, one token: TPOT 0
  RequestTiming slow_decode{true, {0.05, 1.0}, 1.0, 2};  // TPOT 950 ms
  RequestTiming failed{false, {0.01}, 0.02, 1};
  std::vector<RequestTiming> all = {a, slow_first, slow_decode, failed};
  EXPECT_EQ(count_meeting_slo(all, {}), 3);  // no SLO: every successful request counts
  EXPECT_EQ(count_meeting_slo(all, {200, 0}), 2);
  EXPECT_EQ(count_meeting_slo(all, {0, 200}), 2);
  EXPECT_EQ(count_meeting_slo(all, {200, 200}), 1);
}

TEST(ServeWorkload, PoissonArrivalsAreSeededWithTheRightRate) {
  auto a = poisson_arrivals(20000, 4.0, 3);
  EXPECT_EQ(a, poisson_arrivals(20000, 4.0, 3));
  EXPECT_NE(a, poisson_arrivals(20000, 4.0, 4));
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_NEAR(a.back() / 20000.0, 0.25, 0.25 * 0.03);  // mean gap 1/rate
  // Exponential gaps: the standard deviation equals the mean.
  double sq = 0, prev = 0;
  for (double t : a) sq += (t - prev - 0.25) * (t - prev - 0.25), prev = t;
  EXPECT_NEAR(std::sqrt(sq / 20000), 0.25, 0.25 * 0.05);
  for (double t : poisson_arrivals(5, INFINITY, 1)) EXPECT_EQ(t, 0);
  auto d = poisson_arrivals_for(1000, 2.0, 9);
  EXPECT_NEAR(static_cast<double>(d.size()), 2000, 150);
  EXPECT_LT(d.back(), 1000);
  EXPECT_THROW(poisson_arrivals_for(10, INFINITY, 1), InvalidArgument);
}

TEST(ServeWorkload, SharedPrefixThenDistinctQuestions) {
  WorkloadOptions o;
  o.num_requests = 4;
  o.prompt_len = "fixed:50";
  o.output_len = "uniform:8:16";
  o.shared_prefix_tokens = 200;
  o.rate = 10;
  auto plan = build_workload(o);
  ASSERT_EQ(plan.size(), 4u);
  std::vector<std::string> prompts;
  for (const auto& r : plan) {
    auto b = nlohmann::json::parse(r.body);
    EXPECT_EQ(r.path, "/v1/completions");
    EXPECT_TRUE(b["stream"].get<bool>());
    EXPECT_TRUE(b["ignore_eos"].get<bool>());
    EXPECT_TRUE(b["stream_options"]["include_usage"].get<bool>());
    EXPECT_EQ(b["temperature"], 0);
    EXPECT_EQ(b["max_tokens"].get<int64_t>(), r.max_tokens);
    EXPECT_GE(r.max_tokens, 8);
    EXPECT_LE(r.max_tokens, 16);
    EXPECT_EQ(r.approx_prompt_tokens, 250);
    prompts.push_back(b["prompt"].get<std::string>());
  }
  // Everything up to the question is shared; the questions differ from their first word on.
  size_t q = prompts[0].find("Question 0:");
  ASSERT_NE(q, std::string::npos);
  for (size_t i = 1; i < prompts.size(); ++i) {
    EXPECT_EQ(prompts[i].substr(0, q), prompts[0].substr(0, q));
    EXPECT_EQ(prompts[i].find("Question " + std::to_string(i) + ":"), q);
  }
  // Roughly one word per token.
  auto words = [](const std::string& s) { return std::count(s.begin(), s.end(), ' ') + 1; };
  EXPECT_NEAR(static_cast<double>(words(prompts[0])), 250, 10);
  EXPECT_EQ(build_workload(o)[2].body, plan[2].body);  // same seed, same requests
  o.chat = true;
  auto chat = build_workload(o);
  EXPECT_EQ(chat[0].path, "/v1/chat/completions");
  EXPECT_TRUE(nlohmann::json::parse(chat[0].body).contains("messages"));
  // The same prompts, as one user message each, with the same streaming fields.
  for (size_t i = 0; i < chat.size(); ++i) {
    auto b = nlohmann::json::parse(chat[i].body);
    EXPECT_EQ(b["messages"], nlohmann::json::array({{{"role", "user"}, {"content", prompts[i]}}}));
    EXPECT_FALSE(b.contains("prompt"));
    EXPECT_EQ(b["max_tokens"], plan[i].max_tokens);
    EXPECT_TRUE(b["stream"].get<bool>());
  }
}

// A fake OpenAI server: streams `max_tokens` chunks 10 ms apart with usage and [DONE]; prompts
// starting with "HTTP400"/"HTTP500" get that error, "CLOSE" drops the connection mid-stream.
class FakeServer {
 public:
  FakeServer() {
    srv_.new_task_queue = [] { return new httplib::ThreadPool(32); };
    srv_.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("{}", "application/json");
    });
    srv_.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"object":"list","data":[{"id":"fake-model"}]})", "application/json");
    });
    srv_.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      auto body = nlohmann::json::parse(req.body);
      {
        std::lock_guard lock(mu_);
        model_seen_ = body.value("model", "");
      }
      std::string prompt = body["prompt"].get<std::string>();
      int64_t n = body["max_tokens"].get<int64_t>();
      if (prompt.rfind("HTTP400", 0) == 0 || prompt.rfind("HTTP500", 0) == 0) {
        res.status = prompt[4] == '4' ? 400 : 500;
        res.set_content(R"({"error":{"message":"fake failure","type":"invalid_request_error"}})",
                        "application/json");
        return;
      }
      bool close_early = prompt.rfind("CLOSE", 0) == 0;
      auto words = static_cast<int64_t>(std::count(prompt.begin(), prompt.end(), ' ') + 1);
      res.set_chunked_content_provider("text/event-stream", [n, close_early, words](
                                                                size_t, httplib::DataSink& sink) {
        for (int64_t i = 0; i < n; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          std::string ev =
              "data: " + nlohmann::json{{"choices", {{{"text", " tok"}, {"index", 0}}}}}.dump() +
              "\n\n";
          // Split each event in two writes: the client must reassemble it.
          sink.write(ev.data(), 7);
          sink.write(ev.data() + 7, ev.size() - 7);
          if (close_early && i == 1) return false;
        }
        std::string usage =
            "data: " +
            nlohmann::json{{"choices", nlohmann::json::array()},
                           {"usage", {{"prompt_tokens", words}, {"completion_tokens", n}}}}
                .dump() +
            "\n\ndata: [DONE]\n\n";
        sink.write(usage.data(), usage.size());
        sink.done();
        return true;
      });
    });
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeServer() {
    srv_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  StreamTarget target() const {
    StreamTarget t;
    t.port = port_;
    t.timeout_s = 10;
    return t;
  }
  std::string model_seen() {
    std::lock_guard lock(mu_);
    return model_seen_;
  }

 private:
  std::mutex mu_;  // the handlers run on the server's threads
  std::string model_seen_;
  httplib::Server srv_;
  int port_ = 0;
  std::thread thread_;
};

PlannedRequest planned(const std::string& prompt, int64_t max_tokens, double at = 0) {
  PlannedRequest r;
  r.send_at_s = at;
  r.path = "/v1/completions";
  r.max_tokens = max_tokens;
  r.body = request_body(prompt, max_tokens, false, "fake-model");
  return r;
}

TEST(BenchServe, RecordsTimingsAgainstAStreamingServer) {
  FakeServer fake;
  WorkloadOptions o;
  o.num_requests = 6;
  o.rate = 50;
  o.prompt_len = "fixed:20";
  o.output_len = "fixed:5";
  o.model_name = "fake-model";
  auto plan = build_workload(o);
  LoadResult load = run_load(fake.target(), plan);
  ASSERT_EQ(load.requests.size(), 6u);
  for (size_t i = 0; i < plan.size(); ++i) {
    const StreamResult& r = load.requests[i].result;
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.http_status, 200);
    EXPECT_EQ(r.token_times.size(), 5u);
    EXPECT_EQ(r.completion_tokens, 5);
    EXPECT_NEAR(static_cast<double>(r.prompt_tokens), 20, 3);
    EXPECT_GE(r.token_times[0], 0.009);
    EXPECT_GE(r.e2e_s, r.token_times.back());
    // Open loop: sent at the planned time, not after the previous request.
    // (never early; the slack is for a loaded test machine).
    EXPECT_GE(load.requests[i].sent_at_s, plan[i].send_at_s - 1e-3);
    EXPECT_LT(load.requests[i].sent_at_s, plan[i].send_at_s + 0.25);
  }
  EXPECT_EQ(fake.model_seen(), "fake-model");
  RunMetrics m = compute_metrics(plan, load, Slo{1000, 1000});
  EXPECT_EQ(m.completed, 6);
  EXPECT_EQ(m.failed, 0);
  EXPECT_EQ(m.output_tokens, 30);
  EXPECT_EQ(m.ttft_ms.count, 6);
  EXPECT_EQ(m.itl_ms.count, 24);
  EXPECT_GT(m.itl_ms.p50, 8);
  EXPECT_LT(m.itl_ms.p50, 100);
  EXPECT_GT(m.tpot_ms.p50, 8);
  EXPECT_EQ(m.good_requests, 6);
  EXPECT_NEAR(m.goodput, m.request_throughput, 1e-9);
  EXPECT_GT(m.output_tokens_per_s, 0);
  EXPECT_EQ(compute_metrics(plan, load, Slo{1, 0}).good_requests, 0);  // 1 ms TTFT: nobody

  // The report carries the same figures.
  ServeConfigResult cfg;
  cfg.label = "fake";
  cfg.url = "http://127.0.0.1";
  cfg.metrics = m;
  nlohmann::json j = serve_json({"", "6 requests", "", 1}, {cfg});
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["completed"], 6);
  EXPECT_DOUBLE_EQ(j[0]["ttft_ms"]["p99"].get<double>(), m.ttft_ms.p99);
  EXPECT_EQ(m.ttft_over_time.size(), 6u);
  EXPECT_NE(serve_svg({"", "6 requests", "", 1}, {cfg}).find("TTFT over the run"),
            std::string::npos);
}

TEST(BenchServe, CountsFailures) {
  FakeServer fake;
  std::vector<PlannedRequest> plan = {planned("HTTP400 x", 4), planned("HTTP500 x", 4),
                                      planned("CLOSE x", 4), planned("fine", 3)};
  LoadResult load = run_load(fake.target(), plan);
  const auto& r = load.requests;
  EXPECT_FALSE(r[0].result.ok);
  EXPECT_EQ(r[0].result.http_status, 400);
  EXPECT_EQ(r[0].result.error, "HTTP 400: fake failure");
  EXPECT_EQ(r[1].result.http_status, 500);
  EXPECT_FALSE(r[2].result.ok);
  EXPECT_NE(r[2].result.error.find("[DONE]"), std::string::npos) << r[2].result.error;
  EXPECT_TRUE(r[3].result.ok) << r[3].result.error;
  RunMetrics m = compute_metrics(plan, load, {});
  EXPECT_EQ(m.completed, 1);
  EXPECT_EQ(m.failed, 3);
  EXPECT_EQ(m.first_error, "HTTP 400: fake failure");
  // Nobody listening: a failure with the reason, not an exception.
  StreamTarget closed = fake.target();
  closed.port = 1;
  StreamResult none = stream_request(closed, "/v1/completions", plan[3].body);
  EXPECT_FALSE(none.ok);
  EXPECT_EQ(none.http_status, 0);
  EXPECT_NE(none.error.find("no response"), std::string::npos);
}

TEST(BenchServe, LongPromptWaitsUntilTheStreamsDecode) {
  FakeServer fake;
  WorkloadOptions o;
  o.prompt_len = "fixed:10";
  o.output_len = "fixed:30";  // ~300 ms of decoding: the gate opens well before the end
  auto plan = long_prompt_during_decode(o, 4, 300);
  ASSERT_EQ(plan.size(), 5u);
  EXPECT_TRUE(plan.back().after_decoding);
  EXPECT_EQ(plan.back().group, "long");
  LoadResult load = run_load(fake.target(), plan);
  double long_sent = load.requests.back().sent_at_s;
  for (size_t i = 0; i < 4; ++i) {
    const auto& s = load.requests[i];
    ASSERT_TRUE(s.result.ok) << s.result.error;
    EXPECT_GE(long_sent, s.sent_at_s + s.result.token_times[1] - 1e-3);  // after its 2nd token
    EXPECT_LT(long_sent, s.sent_at_s + s.result.e2e_s);                  // while it decodes
  }
  RunMetrics m = compute_metrics(plan, load, {});
  EXPECT_TRUE(m.has_stall_figures);
  EXPECT_EQ(m.stream_itl_ms.count, 4 * 29);
  EXPECT_GE(m.max_stall_ms, m.stream_itl_ms.p99);
  EXPECT_GT(m.long_prompt_ttft_ms, 0);
}

TEST(BenchServe, CommandLineAgainstARunningServer) {
  FakeServer fake;
  std::string svg = build_dir() + "/test_bench_serve.svg";
  std::string url = " --url http://127.0.0.1:" + std::to_string(fake.port());
  CommandResult r = run_command(cli_path() + " bench serve" + url +
                                " -n 4 --rate 200 --prompt-len fixed:12 --output-len fixed:3"
                                " --slo-ttft-ms 5000 --json --svg " +
                                svg + " 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["completed"], 4);
  EXPECT_EQ(j[0]["output_tokens"], 12);
  EXPECT_EQ(j[0]["good_requests"], 4);
  EXPECT_EQ(j[0]["itl_ms"]["count"], 8);
  EXPECT_EQ(fake.model_seen(), "fake-model");  // from GET /v1/models
  const std::string chart = read_file(svg);
  EXPECT_NE(chart.find("<svg"), std::string::npos);
  for (const char* title : {"Time to first token", "Inter-token latency", "Throughput",
                            "TTFT over the run", "packinfer bench serve: 4 requests"}) {
    EXPECT_NE(chart.find(title), std::string::npos) << title;
  }
  EXPECT_EQ(chart.find("Server RSS"), std::string::npos);  // --url: no server process to sample

  // The table names what ran; failures make the exit status non-zero.
  r = run_command(cli_path() + " bench serve" + url +
                  " -n 2 --prompt-len fixed:4 --output-len fixed:2 2>&1");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("2 requests at rate inf/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| server "), std::string::npos) << r.out;
  // --rate P%: capacity first (the -n requests at once), then Poisson arrivals at P% of it.
  r = run_command(cli_path() + " bench serve" + url +
                  " -n 4 --rate 50% --duration 0.5 --prompt-len fixed:4 --output-len fixed:3"
                  " --json 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.out;
  j = nlohmann::json::parse(r.out);
  double capacity = j[0]["capacity_rps"].get<double>();
  EXPECT_GT(capacity, 4);  // 4 requests of ~30 ms at once
  EXPECT_NE(j[0]["workload"].get<std::string>().find("for 0.5 s"), std::string::npos);
  r = run_command(cli_path() + " bench serve --url http://127.0.0.1:1 -n 1 --warmup 0 2>&1");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("first error: no response"), std::string::npos) << r.out;
  r = run_command(cli_path() + " bench serve" + url + " --compare prefix-cache 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("needs -m MODEL"), std::string::npos) << r.out;
}

// With `packinfer serve` built in (issue 4's server), a real on/off comparison in one run: the
// bench starts a server per configuration, and only the prefix-cache one reuses tokens.
TEST(BenchServe, StartsRealServersForAComparison) {
  if (run_command("'" + cli_path() + "' --help").out.find("\n  serve ") == std::string::npos) {
    GTEST_SKIP() << "this packinfer has no serve command";
  }
  std::string model = shared_dir() + "/models/stories260K/stories260K-f32.gguf";
  CommandResult r = run_command("'" + cli_path() + "' bench serve -m '" + model +
                                "' -t 1 --compare prefix-cache -n 4 --shared-prefix-tokens 48"
                                " --prompt-len fixed:8 --output-len fixed:4 --json 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["config"], "prefix-cache on");
  EXPECT_EQ(j[1]["server_args"], "-t 1 --no-prefix-cache");
  for (const auto& c : j) {
    EXPECT_EQ(c["completed"], 4) << c["first_error"];
    EXPECT_EQ(c["output_tokens"], 16);
    EXPECT_EQ(c["ttft_ms"]["count"], 4);
    EXPECT_GT(c["prompt_tokens"].get<int64_t>(), 4 * 48);
    EXPECT_GT(c["server_rss_mib"]["peak"].get<double>(), 0);
  }
  EXPECT_GT(j[0]["cached_tokens"].get<int64_t>(), 0);
  EXPECT_EQ(j[1]["cached_tokens"], 0);
}

// --rounds: every round runs both configurations; the JSON says which round each object is from.
TEST(BenchServe, RoundsAlternateTheConfigurations) {
  if (run_command("'" + cli_path() + "' --help").out.find("\n  serve ") == std::string::npos) {
    GTEST_SKIP() << "this packinfer has no serve command";
  }
  std::string model = shared_dir() + "/models/stories260K/stories260K-f32.gguf";
  CommandResult r =
      run_command("'" + cli_path() + "' bench serve -m '" + model +
                  "' -t 1 --compare prefix-cache -n 2 --rounds 2 --warmup 0"
                  " --prompt-len fixed:8 --output-len fixed:2 --json 2>&1 >/dev/null");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("## round 2 of 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("median over the rounds of 'prefix-cache off' / 'prefix-cache on'"),
            std::string::npos)
      << r.out;
  r = run_command("'" + cli_path() + "' bench serve -m '" + model +
                  "' -t 1 --compare prefix-cache -n 2 --rounds 2 --warmup 0"
                  " --prompt-len fixed:8 --output-len fixed:2 --json 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 4u);
  const char* labels[] = {"prefix-cache on", "prefix-cache off"};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(j[i]["round"], i / 2 + 1);
    EXPECT_EQ(j[i]["config"], labels[i % 2]);
    EXPECT_EQ(j[i]["completed"], 2) << j[i]["first_error"];
  }
  r = run_command("'" + cli_path() + "' bench serve -m '" + model + "' --rounds 0 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--rounds"), std::string::npos) << r.out;
  r = run_command("'" + cli_path() + "' bench serve --url http://127.0.0.1:9 --rounds 2 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--rounds repeats servers it starts itself"), std::string::npos) << r.out;
}

// The summary of several rounds: per-round figures, their medians, and the median of the
// per-round ratios (not the ratio of the medians), with the long prompt's TTFT ratio.
TEST(BenchServe, RoundsSummaryQuotesMediansOfPerRoundRatios) {
  // The medians are report::percentile's p50: the middle value, or the mean of the middle two.
  EXPECT_DOUBLE_EQ(percentile({}, 50), 0);
  EXPECT_DOUBLE_EQ(percentile({3, 1, 2}, 50), 2);
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 50), 2.5);
  std::vector<std::vector<ServeConfigResult>> rounds;
  const double on_ttft[] = {1200, 1500, 1300}, off_ttft[] = {1000, 1000, 1000};
  for (int r = 0; r < 3; ++r) {
    std::vector<ServeConfigResult> round(2);
    round[0].label = "chunked on";
    round[1].label = "chunked off";
    for (int c = 0; c < 2; ++c) {
      RunMetrics& m = round[static_cast<size_t>(c)].metrics;
      m.has_stall_figures = true;
      m.ttft_ms.p50 = 100.0 * (c + 1);
      m.stream_itl_ms = {};
      m.stream_itl_ms.p50 = 40;
      m.stream_itl_ms.p99 = 60;
      m.long_prompt_ttft_ms = c == 0 ? on_ttft[r] : off_ttft[r];
    }
    rounds.push_back(std::move(round));
  }
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  ASSERT_NE(f, nullptr);
  print_rounds_summary(f, rounds);
  std::fclose(f);
  const std::string out(buf, len);
  std::free(buf);
  EXPECT_NE(out.find("3 rounds"), std::string::npos) << out;
  EXPECT_NE(out.find("| median | chunked on |"), std::string::npos) << out;
  EXPECT_NE(out.find("TTFT p50 2.00x"), std::string::npos) << out;
  EXPECT_NE(out.find("long prompt TTFT 'chunked on' / 'chunked off': median 1.30x "
                     "(rounds: 1.20x, 1.50x, 1.30x)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(" 1.50 |"), std::string::npos) << "the streams' p99/p50\n" << out;
}

TEST(BenchServe, ComparisonConfigurationsAndUrls) {
  auto one = serve_configs("", {"-t", "2"});
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].server_flags, (std::vector<std::string>{"-t", "2"}));
  auto pc = serve_configs("prefix-cache", {"-t", "2"});
  ASSERT_EQ(pc.size(), 2u);
  EXPECT_EQ(pc[0].label, "prefix-cache on");
  EXPECT_EQ(pc[1].server_flags, (std::vector<std::string>{"-t", "2", "--no-prefix-cache"}));
  auto cp = serve_configs("chunked-prefill", {});
  EXPECT_EQ(cp[1].server_flags, std::vector<std::string>{"--no-chunked-prefill"});
  EXPECT_THROW(serve_configs("kv", {}), InvalidArgument);
  StreamTarget t = parse_url("http://127.0.0.1:8080/v1");
  EXPECT_EQ(t.host, "127.0.0.1");
  EXPECT_EQ(t.port, 8080);
  EXPECT_EQ(parse_url("http://localhost").port, 80);
  for (const char* bad :
       {"127.0.0.1:8080", "https://x:1", "http://:80", "http://h:0", "http://h:x"})
    EXPECT_THROW(parse_url(bad), InvalidArgument) << bad;
}

TEST(ServerProcess, ParsesThePortAndStopsTheChild) {
  EXPECT_EQ(parse_listen_port("packinfer serve: listening on http://127.0.0.1:43211"), 43211);
  EXPECT_EQ(parse_listen_port("on http://localhost:8080/v1 (2 threads)"), 8080);
  EXPECT_EQ(parse_listen_port("loading model"), 0);
  EXPECT_EQ(parse_listen_port("http://127.0.0.1/ no port"), 0);

  FakeServer fake;  // answers /health for the child that announces its port
  std::string line = "listening on http://127.0.0.1:" + std::to_string(fake.port());
  ServerProcess child({"/bin/sh", "-c", "echo loading >&2; echo '" + line + "' >&2; exec sleep 60"},
                      false, 10);
  EXPECT_EQ(child.port(), fake.port());
  RssSampler rss(child.pid(), 0.05);
  // Three samples take 100 ms; on a loaded machine the sampler thread may be late, so wait
  // for them (bounded) instead of sleeping a fixed time.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  } while (rss.sample_count() < 3 && std::chrono::steady_clock::now() < deadline);
  RssSummary s = rss.finish();
  EXPECT_GE(s.samples.size(), 3u);
  EXPECT_GT(s.peak_mib, 0);
  EXPECT_GE(s.peak_mib, s.start_mib);
  auto t0 = std::chrono::steady_clock::now();
  child.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));

  EXPECT_THROW(ServerProcess({"/bin/sh", "-c", "echo 'bad model' >&2; exit 3"}, false, 10), Error);
}

}  // namespace
}  // namespace packinfer::test
