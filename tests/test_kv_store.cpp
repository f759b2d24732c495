// The shared KV store on Redis: URLs that parse and those that do not; blocks published and
// fetched as the longest run of a prompt's chain; tampered, foreign, truncated and oversize
// values ignored and counted; and on stories260K two HTTP servers sharing one Redis (B answers a
// prompt A computed, cached_tokens says so, greedy output equals computing it), Redis down at
// start and killed and restarted mid-run with no failed request; the same sharing through nginx
// balancing two replicas round-robin; `packinfer router` from the command line. Each test starts
// its own redis-server on a free loopback port and skips, naming it, when it is not installed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "engine/engine_core.h"
#include "kv/redis_store.h"
#include "packinfer/engine.h"
#include "packinfer/error.h"
#include "packinfer/serving.h"
#include "router/router.h"
#include "server/http_server.h"
#include "support/nginx_server.h"
#include "support/redis_server.h"
#include "support/test_support.h"

namespace packinfer::test {
namespace {

using json = nlohmann::json;

#define NEED_REDIS()                                                          \
  do {                                                                        \
    if (!RedisServer::available()) GTEST_SKIP() << RedisServer::kSkipMessage; \
  } while (0)

TEST(KvStoreUrl, ParsesHostPortAndDatabase) {
  KvStoreAddress a = parse_kv_store_url("redis://127.0.0.1:6380/3");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.db, 3);
  a = parse_kv_store_url("redis://cache.internal");
  EXPECT_EQ(a.host, "cache.internal");
  EXPECT_EQ(a.port, 6379);
  EXPECT_EQ(a.db, 0);
  a = parse_kv_store_url("redis://[::1]:7000/");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 7000);
}

TEST(KvStoreUrl, BadUrlsAreClearErrors) {
  const std::pair<const char*, const char*> bad[] = {{"localhost:6379", "redis://HOST:PORT"},
                                                     {"memcached://h:1", "unknown scheme"},
                                                     {"redis://:6379", "no host"},
                                                     {"redis://h:0", "port"},
                                                     {"redis://h:99999", "port"},
                                                     {"redis://h:12x", "port"},
                                                     {"redis://h:1/db", "database"},
                                                     {"redis://u:p@h:1", "credentials"}};
  for (const auto& [url, why] : bad) {
    try {
      parse_kv_store_url(url);
      ADD_FAILURE() << url << " parsed";
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << url << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find(url), std::string::npos) << e.what();
    }
  }
}

// `packinfer serve --kv-store` with an unknown scheme stops at start-up with the reason.
TEST(KvStoreUrl, ServeRefusesAnUnknownScheme) {
  const CommandResult r = run_command(cli_path() + " serve --port 0 --kv-store mongo://x:1 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("unknown scheme 'mongo'"), std::string::npos) << r.out;
}

// True once pred() holds, polling for up to 20 s (stats are published after the step that
// answered a request, so they may lag the answer a little).
template <class Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 2000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

constexpr int32_t kBlock = 4;
constexpr int64_t kPayload = 1000;

std::vector<uint8_t> payload(int seed) {
  std::vector<uint8_t> p(kPayload);
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i * 31 + seed * 7);
  return p;
}

KvStoreOptions store_options(const std::string& url, uint64_t fingerprint = 42) {
  KvStoreOptions o;
  o.url = url;
  o.fingerprint = fingerprint;
  o.lookup_timeout_seconds = 2;
  return o;
}

// A chain of 5 blocks: keys 101..105 (root 100), tokens 4k..4k+3.
struct Chain {
  std::vector<uint64_t> keys = {101, 102, 103, 104, 105};
  std::vector<int32_t> tokens;
  Chain() {
    for (int32_t t = 0; t < 5 * kBlock; ++t) tokens.push_back(t);
  }
  std::span<const int32_t> block_tokens(size_t k) const {
    return std::span<const int32_t>(tokens).subspan(k * kBlock, kBlock);
  }
  uint64_t parent(size_t k) const { return k == 0 ? 100 : keys[k - 1]; }
};

// Fetches from block `first`, checking every payload; returns how many came back.
size_t fetch(RedisKvStore& s, const Chain& c, size_t first = 0) {
  return s.fetch(c.keys, first, 100, c.tokens, [&](size_t k, std::span<const uint8_t> p) {
    const auto want = payload(static_cast<int>(k));
    EXPECT_TRUE(std::equal(p.begin(), p.end(), want.begin(), want.end())) << "block " << k;
    return true;
  });
}

void redis_command(int port, const std::string& fmt, const std::string& a,
                   const std::string& b = "") {
  redisContext* c = redisConnect("127.0.0.1", port);
  ASSERT_TRUE(c != nullptr && c->err == 0);
  auto* r = static_cast<redisReply*>(
      b.empty() ? redisCommand(c, fmt.c_str(), a.data(), a.size())
                : redisCommand(c, fmt.c_str(), a.data(), a.size(), b.data(), b.size()));
  ASSERT_NE(r, nullptr);
  freeReplyObject(r);
  redisFree(c);
}

TEST(KvStore, PublishesAndFetchesTheLongestRun) {
  NEED_REDIS();
  RedisServer redis;
  RedisKvStore s(store_options(redis.url()), kBlock, kPayload);
  EXPECT_TRUE(s.up());
  Chain c;
  for (size_t k = 0; k < 3; ++k) s.store(c.keys[k], c.parent(k), c.block_tokens(k), payload(k));
  s.store(c.keys[4], c.parent(4), c.block_tokens(4), payload(4));  // after a gap
  s.flush();
  EXPECT_EQ(fetch(s, c), 3u);     // stops at the gap
  EXPECT_EQ(fetch(s, c, 1), 2u);  // continuing a local hit of one block
  EXPECT_EQ(fetch(s, c, 3), 0u);
  // A refusal (e.g. no free KV block) ends the run.
  EXPECT_EQ(s.fetch(c.keys, 0, 100, c.tokens, [](size_t k, auto) { return k < 1; }), 1u);
  // Another prefix under the same keys (other tokens) is a miss, not a hit and not damage.
  Chain other;
  other.tokens[1] = 999;
  EXPECT_EQ(s.fetch(other.keys, 0, 100, other.tokens, [](size_t, auto) { return true; }), 0u);
  const KvStoreStats st = s.stats();
  EXPECT_EQ(st.blocks_written, 4);
  EXPECT_EQ(st.bytes_written, 4 * static_cast<int64_t>(64 + kBlock * 4 + kPayload));
  EXPECT_EQ(st.blocks_read, 3 + 2 + 1);
  EXPECT_EQ(st.rejected, 0);
  EXPECT_EQ(st.lookups, 5);
  EXPECT_EQ(st.hit_lookups, 3);
  EXPECT_EQ(st.misses, 2);
  EXPECT_GT(st.read_seconds, 0);
}

TEST(KvStore, TamperedForeignTruncatedAndOversizeValuesAreIgnoredAndCounted) {
  NEED_REDIS();
  RedisServer redis;
  RedisKvStore s(store_options(redis.url()), kBlock, kPayload);
  Chain c;
  for (size_t k = 0; k < 5; ++k) s.store(c.keys[k], c.parent(k), c.block_tokens(k), payload(k));
  s.flush();
  ASSERT_EQ(fetch(s, c), 5u);
  // One flipped byte in block 1's payload.
  redis_command(redis.port(), "SETRANGE %b 500 %b", s.redis_key(c.keys[1]), "\x55");
  EXPECT_EQ(fetch(s, c), 1u);
  EXPECT_EQ(s.stats().rejected, 1);
  // A block of another model (fingerprint) under our key.
  RedisKvStore foreign(store_options(redis.url(), 7), kBlock, kPayload);
  redis_command(redis.port(), "SET %b %b", s.redis_key(c.keys[1]),
                foreign.encode(c.keys[1], c.parent(1), c.block_tokens(1), payload(1)));
  EXPECT_EQ(fetch(s, c), 1u);
  // Truncated, and oversize.
  const std::string good = s.encode(c.keys[1], c.parent(1), c.block_tokens(1), payload(1));
  redis_command(redis.port(), "SET %b %b", s.redis_key(c.keys[1]), good.substr(0, 700));
  EXPECT_EQ(fetch(s, c), 1u);
  redis_command(redis.port(), "SET %b %b", s.redis_key(c.keys[1]),
                good + std::string(1 << 20, 'x'));
  EXPECT_EQ(fetch(s, c), 1u);
  EXPECT_EQ(s.stats().rejected, 4);
  // Restored, the whole run is back.
  redis_command(redis.port(), "SET %b %b", s.redis_key(c.keys[1]), good);
  EXPECT_EQ(fetch(s, c), 5u);
  // The other fingerprint never sees our blocks (its keys differ).
  EXPECT_EQ(foreign.fetch(c.keys, 0, 100, c.tokens, [](size_t, auto) { return true; }), 0u);
  EXPECT_EQ(foreign.stats().rejected, 0);
}

TEST(KvStore, AStoreThatIsDownWarnsSkipsAndReconnects) {
  NEED_REDIS();
  RedisServer redis;
  const int port = redis.port();
  redis.kill();
  KvStoreOptions o = store_options(redis.url());
  o.reconnect_seconds = 0.2;
  RedisKvStore s(o, kBlock, kPayload);  // Redis down at start: no throw
  EXPECT_FALSE(s.up());
  Chain c;
  s.store(c.keys[0], c.parent(0), c.block_tokens(0), payload(0));  // dropped, not queued
  EXPECT_EQ(fetch(s, c), 0u);
  redis.start();
  ASSERT_EQ(redis.port(), port);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(fetch(s, c), 0u);  // reconnects; nothing stored yet
  EXPECT_TRUE(s.up());
  s.store(c.keys[0], c.parent(0), c.block_tokens(0), payload(0));
  s.flush();
  EXPECT_EQ(fetch(s, c), 1u);
  const KvStoreStats st = s.stats();
  EXPECT_GE(st.dropped_writes, 1);
  EXPECT_GE(st.disconnects, 1);
  EXPECT_GE(st.skipped, 1);
}

TEST(KvStore, MarkersTellAnotherServerTheBlocksAreBeingComputed) {
  NEED_REDIS();
  RedisServer redis;
  RedisKvStore a(store_options(redis.url()), kBlock, kPayload);
  RedisKvStore b(store_options(redis.url()), kBlock, kPayload);
  Chain c;
  std::vector<uint64_t> taken_a, taken_b;
  EXPECT_EQ(a.claim(c.keys, taken_a), 5);
  EXPECT_EQ(taken_a, c.keys);
  EXPECT_EQ(b.claim(c.keys, taken_b), -1);  // A computes them: B waits
  EXPECT_TRUE(taken_b.empty());
  // A longer prompt of B's diverging after A's: its own blocks are B's once A's are done.
  a.release_claims(std::span<const uint64_t>(taken_a).first(2));
  a.flush();
  EXPECT_EQ(b.claim(std::span<const uint64_t>(c.keys).first(2), taken_b), 2);
  EXPECT_EQ(b.claim(std::span<const uint64_t>(c.keys).subspan(2), taken_b), -1);
  a.refresh_claims(taken_a);
  a.flush();
  EXPECT_EQ(a.stats().claims, 1);
  EXPECT_EQ(b.stats().claims, 1);
  EXPECT_EQ(b.stats().claims_busy, 2);
  // A marker whose owner died expires.
  KvStoreOptions short_lived = store_options(redis.url(), 43);
  short_lived.marker_ttl_seconds = 0.05;
  RedisKvStore dead(short_lived, kBlock, kPayload),
      other(store_options(redis.url(), 43), kBlock, kPayload);
  std::vector<uint64_t> t;
  EXPECT_EQ(dead.claim(c.keys, t), 5);
  EXPECT_TRUE(eventually([&] {
    std::vector<uint64_t> u;
    return other.claim(c.keys, u) == 5;
  }));
}

std::string stories() { return shared_dir() + "/models/stories260K/stories260K-f32.gguf"; }

// A server on a free port, serving until destroyed.
class TestServer {
 public:
  explicit TestServer(const std::string& store_url, const std::string& role = "both")
      : engine_(options(store_url)), serving_(engine_, {}), http_(engine_, serving_, server(role)) {
    port_ = http_.bind();
    thread_ = std::thread([this] { http_.run(); });
  }
  ~TestServer() {
    http_.stop();
    thread_.join();
  }
  ServingEngine& serving() { return serving_; }
  Engine& engine() { return engine_; }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  json complete(const std::string& prompt, int max_tokens, bool stream = false) {
    return complete_at(port_, prompt, max_tokens, stream);
  }
  // POST /v1/completions, greedy; returns the parsed body (null on a failed request).
  static json complete_at(int port, const std::string& prompt, int max_tokens, bool stream) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(120);
    const json body = {{"prompt", prompt},
                       {"max_tokens", max_tokens},
                       {"temperature", 0},
                       {"stream", stream},
                       {"stream_options", {{"include_usage", true}}}};
    auto r = c.Post("/v1/completions", body.dump(), "application/json");
    if (!r || r->status != 200) {
      std::fprintf(stderr, "request failed: %s\n",
                   r ? (std::to_string(r->status) + " " + r->body).c_str()
                     : httplib::to_string(r.error()).c_str());
      return nullptr;
    }
    if (!stream) return json::parse(r->body);
    json out = {{"text", ""}};  // concatenated text and the usage chunk
    size_t pos = 0;
    while ((pos = r->body.find("data: ", pos)) != std::string::npos) {
      const size_t end = r->body.find("\n\n", pos);
      const std::string data = r->body.substr(pos + 6, end - pos - 6);
      pos = end;
      if (data == "[DONE]") break;
      const json j = json::parse(data);
      if (!j["choices"].empty())
        out["text"] = out["text"].get<std::string>() + j["choices"][0]["text"].get<std::string>();
      if (j.contains("usage") && !j["usage"].is_null()) out["usage"] = j["usage"];
    }
    return out;
  }
  std::string metrics() {
    httplib::Client c("127.0.0.1", port_);
    auto r = c.Get("/metrics");
    return r ? r->body : "";
  }

 private:
  static EngineOptions options(const std::string& url) {
    EngineOptions o;
    o.model_path = stories();
    o.n_threads = 1;
    o.kv_store_url = url;
    return o;
  }
  static api::ServerOptions server(const std::string& role) {
    api::ServerOptions o;
    o.port = 0;
    o.role = role;
    return o;
  }
  Engine engine_;
  ServingEngine serving_;
  api::HttpServer http_;
  int port_ = 0;
  std::thread thread_;
};

std::string text_of(const json& r) {
  if (r.is_null()) return "<failed>";
  return r.contains("choices") ? r["choices"][0]["text"].get<std::string>()
                               : r["text"].get<std::string>();
}

std::string long_prompt() {
  return story_opening() + " Then " + story_opening() + " The little dog ran to the park and";
}

TEST(KvStoreServing, ServerBAnswersAPromptServerAComputed) {
  NEED_REDIS();
  RedisServer redis;
  const std::string prompt = long_prompt();
  json plain;
  {
    TestServer alone("");
    plain = alone.complete(prompt, 24);
    ASSERT_FALSE(plain.is_null());
  }
  TestServer a(redis.url());
  TestServer b(redis.url());
  const json from_a = a.complete(prompt, 24);
  ASSERT_FALSE(from_a.is_null());
  EXPECT_EQ(from_a["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  a.engine().core().kv->store()->flush();  // published in the background: wait for it
  const json from_b = b.complete(prompt, 24);
  ASSERT_FALSE(from_b.is_null());
  const int64_t n_prompt = from_b["usage"]["prompt_tokens"];
  EXPECT_EQ(from_b["usage"]["prompt_tokens_details"]["cached_tokens"], (n_prompt - 1) / 16 * 16);
  EXPECT_GT(from_b["usage"]["prompt_tokens_details"]["cached_tokens"].get<int64_t>(), 64);
  EXPECT_EQ(from_b["choices"][0]["text"], plain["choices"][0]["text"]);
  EXPECT_EQ(from_a["choices"][0]["text"], plain["choices"][0]["text"]);
  // Streamed too: B now hits in RAM, A as well; the text is the same.
  const json streamed = b.complete(prompt, 24, true);
  ASSERT_FALSE(streamed.is_null());
  EXPECT_EQ(streamed["text"], plain["choices"][0]["text"]);
  const ServingStats sb = b.serving().stats();
  EXPECT_TRUE(sb.kv_store);
  EXPECT_TRUE(sb.kv_store_up);
  EXPECT_EQ(sb.kv_store_blocks_read, (n_prompt - 1) / 16);
  EXPECT_GT(sb.kv_store_bytes_read, 0);
  EXPECT_EQ(sb.kv_store_rejected, 0);
  const std::string m = b.metrics();
  EXPECT_NE(m.find("packinfer_kv_store_up 1"), std::string::npos);
  EXPECT_NE(m.find("packinfer_kv_store_blocks_total{direction=\"read\"} " +
                   std::to_string(sb.kv_store_blocks_read)),
            std::string::npos);
  EXPECT_NE(m.find("packinfer_kv_store_lookups_total{result=\"hit\"} 1"), std::string::npos);
}

// Two replicas sharing Redis behind nginx round-robin, the deployment without our router: the
// second request for a long prompt lands on the other replica, which loads the prompt from the
// store; a streamed request passes through nginx as events.
TEST(KvStoreNginx, RoundRobinReplicasShareThePrompt) {
  NEED_REDIS();
  if (!NginxServer::available()) GTEST_SKIP() << NginxServer::kSkipMessage;
  RedisServer redis;
  const std::string prompt = long_prompt();
  json plain;
  {
    TestServer alone("");
    plain = alone.complete(prompt, 24);
    ASSERT_FALSE(plain.is_null());
  }
  TestServer a(redis.url());
  TestServer b(redis.url());
  NginxServer nginx({a.port(), b.port()});
  const json first = TestServer::complete_at(nginx.port(), prompt, 24, false);
  ASSERT_FALSE(first.is_null()) << nginx.error_log();
  EXPECT_EQ(first["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  // Published in the background by whichever replica computed it: wait for both queues.
  a.engine().core().kv->store()->flush();
  b.engine().core().kv->store()->flush();
  const json second = TestServer::complete_at(nginx.port(), prompt, 24, false);
  ASSERT_FALSE(second.is_null()) << nginx.error_log();
  const int64_t n_prompt = second["usage"]["prompt_tokens"];
  EXPECT_EQ(second["usage"]["prompt_tokens_details"]["cached_tokens"], (n_prompt - 1) / 16 * 16);
  EXPECT_EQ(text_of(first), text_of(plain));
  EXPECT_EQ(text_of(second), text_of(plain));
  // Round-robin put them on different replicas: one computed, the other read the store.
  EXPECT_TRUE(eventually([&] {
    return a.serving().stats().requests_finished == 1 && b.serving().stats().requests_finished == 1;
  })) << "requests on A: "
      << a.serving().stats().requests_finished
      << ", on B: " << b.serving().stats().requests_finished;
  EXPECT_EQ(a.serving().stats().kv_store_blocks_read + b.serving().stats().kv_store_blocks_read,
            (n_prompt - 1) / 16);
  // Streamed through nginx (proxy_buffering off): the events and the usage chunk arrive.
  const json streamed = TestServer::complete_at(nginx.port(), prompt, 24, true);
  ASSERT_FALSE(streamed.is_null()) << nginx.error_log();
  EXPECT_EQ(streamed["text"], text_of(plain));
  ASSERT_TRUE(streamed.contains("usage"));
  EXPECT_EQ(streamed["usage"]["prompt_tokens_details"]["cached_tokens"], (n_prompt - 1) / 16 * 16);
}

// The same long prompt sent to two servers at once is computed once: one server marks its
// blocks as being computed, the other waits for them and loads them from the store.
TEST(KvStoreServing, ThePromptSentToTwoServersAtOnceIsComputedOnce) {
  NEED_REDIS();
  RedisServer redis;
  // A prompt of its own each round (streamed or not), so the second is no RAM hit.
  const std::string prompts[2] = {long_prompt(), "At last " + long_prompt()};
  std::string plain[2];
  {
    TestServer alone("");
    for (int i = 0; i < 2; ++i) plain[i] = text_of(alone.complete(prompts[i], 16));
  }
  TestServer a(redis.url());
  TestServer b(redis.url());
  for (int i = 0; i < 2; ++i) {
    const bool stream = i == 1;
    const int64_t before =
        a.serving().stats().computed_prompt_tokens + b.serving().stats().computed_prompt_tokens;
    auto fa = std::async(std::launch::async, [&] { return a.complete(prompts[i], 16, stream); });
    auto fb = std::async(std::launch::async, [&] { return b.complete(prompts[i], 16, stream); });
    const json ra = fa.get(), rb = fb.get();
    ASSERT_FALSE(ra.is_null());
    ASSERT_FALSE(rb.is_null());
    EXPECT_EQ(text_of(ra), plain[i]) << stream;
    EXPECT_EQ(text_of(rb), plain[i]) << stream;
    const int64_t n = rb["usage"]["prompt_tokens"];
    const int64_t shareable = (n - 1) / 16 * 16;
    const int64_t ca = ra["usage"]["prompt_tokens_details"]["cached_tokens"];
    const int64_t cb = rb["usage"]["prompt_tokens_details"]["cached_tokens"];
    // One computed everything, the other loaded everything it could.
    EXPECT_EQ(ca + cb, shareable) << stream << ": " << ca << " " << cb;
    // Counters follow the answers by a step.
    EXPECT_TRUE(eventually([&] {
      return a.serving().stats().computed_prompt_tokens +
                 b.serving().stats().computed_prompt_tokens - before ==
             n + (n - shareable);
    })) << stream;
  }
  const ServingStats sa = a.serving().stats(), sb = b.serving().stats();
  EXPECT_EQ(sa.kv_store_wait_timeouts + sb.kv_store_wait_timeouts, 0);
  EXPECT_GE(sa.kv_store_claims + sb.kv_store_claims, 2);
  EXPECT_NE(a.metrics().find("packinfer_kv_store_waits_total"), std::string::npos);
}

// A server that marked a prompt's blocks and died: its markers expire and the waiting server
// computes the prompt itself, with the same output.
TEST(KvStoreServing, AMarkerWhoseOwnerDiedExpiresAndTheWaiterComputes) {
  NEED_REDIS();
  RedisServer redis;
  const std::string prompt = long_prompt();
  std::string plain;
  {
    // Computes the prompt once so its block keys are known (listed from Redis) ...
    TestServer first(redis.url());
    plain = text_of(first.complete(prompt, 16));
    first.engine().core().kv->store()->flush();
  }
  // ... then the blocks are gone and markers of a dead server stand in their place.
  redisContext* c = redisConnect("127.0.0.1", redis.port());
  ASSERT_TRUE(c != nullptr && c->err == 0);
  auto* keys = static_cast<redisReply*>(redisCommand(c, "KEYS pkv:*"));
  ASSERT_TRUE(keys != nullptr && keys->type == REDIS_REPLY_ARRAY);
  ASSERT_GT(keys->elements, 4u);
  for (size_t i = 0; i < keys->elements; ++i) {
    std::string k(keys->element[i]->str, keys->element[i]->len);
    freeReplyObject(redisCommand(c, "DEL %b", k.data(), k.size()));
    k.replace(0, 4, "pkc:");
    freeReplyObject(redisCommand(c, "SET %b dead-server PX 1500", k.data(), k.size()));
  }
  freeReplyObject(keys);
  redisFree(c);
  TestServer b(redis.url());
  const json r = b.complete(prompt, 16);
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(text_of(r), plain);
  EXPECT_EQ(r["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  EXPECT_TRUE(eventually([&] { return b.serving().stats().requests_finished == 1; }));
  const ServingStats st = b.serving().stats();
  EXPECT_EQ(st.kv_store_waits, 1);
  EXPECT_EQ(st.kv_store_wait_timeouts, 0);  // the marker expired: no need to give up
  EXPECT_GE(st.kv_store_claims_busy, 1);
  EXPECT_EQ(st.kv_store_claims, 1);
}

// Redis down at start, then up, then killed and restarted while requests run: every request
// succeeds with the output of computing it, the gauge follows, and sharing resumes.
TEST(KvStoreServing, RedisDownAtStartAndRestartedMidRunFailsNoRequest) {
  NEED_REDIS();
  RedisServer redis;
  redis.kill();
  // A prompt of its own each round (the shared opening and a suffix), so every round publishes
  // and looks up blocks instead of only hitting in RAM.
  const std::vector<std::string> bases = prompts_sharing_the_opening(6);
  auto prompt_of = [&](size_t i, int round) {
    return bases[i] + " and on day " + std::to_string(round) + " they went home";
  };
  std::map<std::pair<size_t, int>, std::string> expected;
  {
    TestServer alone("");
    for (int round = 0; round < 4; ++round) {
      for (size_t i = 0; i < bases.size(); ++i) {
        expected[{i, round}] = text_of(alone.complete(prompt_of(i, round), 12));
      }
    }
  }
  TestServer s(redis.url());
  EXPECT_FALSE(s.serving().stats().kv_store_up);
  EXPECT_NE(s.metrics().find("packinfer_kv_store_up 0"), std::string::npos);
  int failed = 0, wrong = 0;
  auto run_all = [&](int round) {
    for (size_t i = 0; i < bases.size(); ++i) {
      const json r = s.complete(prompt_of(i, round), 12, (i + round) % 2 == 1);
      if (r.is_null()) {
        failed++;
      } else if (text_of(r) != expected[{i, round}]) {
        wrong++;
      }
    }
  };
  run_all(0);
  redis.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // past the reconnect interval
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    redis.kill();
  });
  run_all(1);
  killer.join();
  run_all(2);
  redis.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  run_all(3);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(wrong, 0);
  // Still sharing after the restart: a new server finds a long prompt this one computed.
  const std::string prompt = long_prompt();
  ASSERT_FALSE(s.complete(prompt, 4).is_null());
  s.engine().core().kv->store()->flush();
  TestServer other(redis.url());
  const json r = other.complete(prompt, 4);
  ASSERT_FALSE(r.is_null());
  EXPECT_GT(r["usage"]["prompt_tokens_details"]["cached_tokens"].get<int64_t>(), 64);
  const ServingStats st = s.serving().stats();
  EXPECT_TRUE(st.kv_store_up);
  EXPECT_GE(st.kv_store_disconnects, 1);
  EXPECT_NE(s.metrics().find("packinfer_kv_store_up 1"), std::string::npos);
}

// A router in front of backends, on a free port, until destroyed.
class TestRouter {
 public:
  explicit TestRouter(router::RouterOptions o) : router_(with_free_port(std::move(o))) {
    port_ = router_.bind();
    thread_ = std::thread([this] { router_.run(); });
  }
  ~TestRouter() {
    router_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::string metrics() {
    httplib::Client c("127.0.0.1", port_);
    auto r = c.Get("/metrics");
    return r ? r->body : "";
  }

 private:
  static router::RouterOptions with_free_port(router::RouterOptions o) {
    o.port = 0;
    return o;
  }
  router::Router router_;
  int port_ = 0;
  std::thread thread_;
};

// A prefill worker and a decode worker behind the router answer like one co-located server,
// streamed and not; the decode worker loads the prompt the prefill worker computed.
TEST(KvStoreRouter, PrefillAndDecodeWorkersAnswerLikeOneServer) {
  NEED_REDIS();
  RedisServer redis;
  const std::vector<std::string> prompts = {long_prompt(), story_opening() + " A bird sang"};
  std::vector<std::string> expected;
  {
    TestServer alone("");
    for (const auto& p : prompts) expected.push_back(text_of(alone.complete(p, 20)));
  }
  TestServer prefill(redis.url(), "prefill");
  TestServer decode(redis.url(), "decode");
  router::RouterOptions o;
  o.prefill = {prefill.url()};
  o.decode = {decode.url()};
  TestRouter router(o);
  // The prefill worker alone answers with one token.
  const json pre = prefill.complete(prompts[0], 20);
  ASSERT_FALSE(pre.is_null());
  EXPECT_EQ(pre["usage"]["completion_tokens"], 1);
  for (size_t i = 0; i < prompts.size(); ++i) {
    for (bool stream : {false, true}) {
      const json r = TestServer::complete_at(router.port(), prompts[i], 20, stream);
      ASSERT_FALSE(r.is_null()) << i << " " << stream;
      EXPECT_EQ(text_of(r), expected[i]) << i << " " << stream;
      if (!stream && i == 1) {
        const int64_t n = r["usage"]["prompt_tokens"];
        EXPECT_EQ(r["usage"]["prompt_tokens_details"]["cached_tokens"], (n - 1) / 16 * 16);
      }
    }
  }
  const ServingStats d = decode.serving().stats();
  EXPECT_GT(d.kv_store_blocks_read, 0);
  EXPECT_EQ(d.computed_prompt_tokens, d.prompt_tokens - d.cached_prompt_tokens);
  const std::string m = router.metrics();
  EXPECT_NE(m.find("packinfer_router_failed_total 0"), std::string::npos) << m;
}

// A prefill worker that is gone: the decode worker computes the prompt, the request succeeds.
TEST(KvStoreRouter, ADeadPrefillWorkerFallsBackToTheDecodeWorker) {
  NEED_REDIS();
  RedisServer redis;
  std::string expected;
  {
    TestServer alone("");
    expected = text_of(alone.complete(long_prompt(), 12));
  }
  // A port that refuses connections and that nothing else gets meanwhile (bound, never listening).
  const int dead = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(dead, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::getsockname(dead, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::string dead_url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  TestServer decode(redis.url(), "decode");
  router::RouterOptions o;
  o.prefill = {dead_url};
  o.decode = {decode.url()};
  TestRouter router(o);
  for (bool stream : {false, true}) {
    EXPECT_EQ(text_of(TestServer::complete_at(router.port(), long_prompt(), 12, stream)), expected);
  }
  EXPECT_NE(router.metrics().find("packinfer_router_prefill_fallbacks_total 2"), std::string::npos);
  ::close(dead);
}

// `packinfer router` with arguments it cannot serve with: a clear error and a failing status,
// before it listens.
TEST(RouterCli, BadArgumentsAreClearErrors) {
  const std::pair<std::string, std::string> cases[] = {
      {"", "the router needs backends"},
      {"--replica localhost:8081", "must look like http://HOST:PORT"},
      {"--replica http://h:99999", "bad port"},
      {"--replica http://h:80x", "bad port"},
      {"--replica http://h:1 --prefill http://h:2 --decode http://h:3", "either --replica or"},
      {"--prefill http://h:2", "at least one --prefill and one --decode"},
      {"--replica http://h:1 --port 70000", "--port"},
      {"--replica http://h:1 --affinity-chars 0", "--affinity-chars"},
      {"--replica http://h:1 --bogus", "bogus"}};
  for (const auto& [args, why] : cases) {
    const CommandResult r = run_command(cli_path() + " router --port 0 " + args + " 2>&1");
    EXPECT_NE(r.status, 0) << args;
    EXPECT_NE(r.out.find(why), std::string::npos) << args << ": " << r.out;
  }
}

// `packinfer router --port 0 ARGS...` as a child process, until destroyed (SIGTERM).
class RouterProcess {
 public:
  explicit RouterProcess(const std::vector<std::string>& args) {
    char dir[] = "/tmp/packinfer-router-XXXXXX";
    if (::mkdtemp(dir) == nullptr) throw Error("cannot make a directory for the router");
    log_ = std::string(dir) + "/stderr.log";
    std::vector<std::string> argv = {cli_path(), "router", "--port", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = ::fork();
    if (pid_ < 0) throw Error("cannot fork the router");
    if (pid_ == 0) {
      const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) ::dup2(fd, 2);
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    // It prints where it listens once bound.
    const std::string mark = "router on http://127.0.0.1:";
    for (int i = 0; i < 2000 && port_ == 0; ++i) {
      const std::string out = read_file_or_empty(log_);
      if (const size_t at = out.find(mark); at != std::string::npos) {
        port_ = std::atoi(out.c_str() + at + mark.size());
      } else {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          throw Error("the router exited: " + out);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }
  ~RouterProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(std::filesystem::path(log_).parent_path(), ec);
  }
  int port() const { return port_; }
  // Waits for it to exit after SIGTERM; returns the exit status (-1 if not a normal exit).
  int terminate() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  static std::string read_file_or_empty(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string log_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// The router binary in front of two replicas: /health, completions (streamed and not) with the
// replicas' answer, /v1/models passed through, /metrics counting, and a clean exit on SIGTERM.
TEST(RouterCli, ServesCompletionsAndHealthInFrontOfReplicas) {
  NEED_REDIS();
  RedisServer redis;
  TestServer a(redis.url());
  TestServer b(redis.url());
  const std::string prompt = long_prompt();
  const std::string expected = text_of(a.complete(prompt, 12));
  RouterProcess router({"--replica", a.url(), "--replica", b.url()});
  ASSERT_GT(router.port(), 0);
  httplib::Client c("127.0.0.1", router.port());
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(json::parse(health->body)["status"], "ok");
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 200);
  EXPECT_TRUE(json::parse(models->body).contains("data")) << models->body;
  for (bool stream : {false, true}) {
    EXPECT_EQ(text_of(TestServer::complete_at(router.port(), prompt, 12, stream)), expected)
        << stream;
  }
  auto bad = c.Post("/v1/completions", "{not json", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400) << bad->body;  // the replica's answer, passed back
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(
      m->body.find("packinfer_router_requests_total{role=\"replica\",backend=\"" + a.url() + "\"}"),
      std::string::npos)
      << m->body;
  EXPECT_NE(m->body.find("packinfer_router_failed_total 0"), std::string::npos) << m->body;
  EXPECT_EQ(router.terminate(), 0);
}

TEST(KvStoreRouter, PicksByAffinityUnlessMuchBusier) {
  std::vector<std::unique_ptr<router::Backend>> pool;
  for (int i = 0; i < 3; ++i) pool.push_back(std::make_unique<router::Backend>());
  const int a = router::pick_backend(pool, "Once upon a time", 4);
  ASSERT_GE(a, 0);
  EXPECT_EQ(router::pick_backend(pool, "Once upon a time", 4), a);  // stable
  int differ = 0;
  for (int k = 0; k < 32; ++k)
    differ += router::pick_backend(pool, "p" + std::to_string(k), 4) != a;
  EXPECT_GT(differ, 8);  // other prefixes spread
  pool[static_cast<size_t>(a)]->in_flight = 4;
  EXPECT_EQ(router::pick_backend(pool, "Once upon a time", 4), a);  // within the slack
  pool[static_cast<size_t>(a)]->in_flight = 5;
  EXPECT_NE(router::pick_backend(pool, "Once upon a time", 4), a);  // much busier
}

}  // namespace
}  // namespace packinfer::test
