#include "kv/redis_store.h"

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "kv/block_record.h"
#include "packinfer/error.h"
#include "util/seconds_since.h"

namespace packinfer {
namespace {

constexpr uint32_t kValueMagic = 0x52564B50;  // "PKVR": a store value (block_record.h)
// What a queued marker operation counts against max_queued_bytes (its key and command).
constexpr int64_t kMarkerOpBytes = 64;

timeval to_timeval(double seconds) {
  seconds = std::max(seconds, 0.001);
  timeval tv;
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec = static_cast<suseconds_t>((seconds - static_cast<double>(tv.tv_sec)) * 1e6);
  return tv;
}

bool parse_int(const std::string& s, int lo, int hi, int& out) {
  if (s.empty() || s.size() > 9) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v < lo || v > hi) return false;
  out = v;
  return true;
}

}  // namespace

KvStoreAddress parse_kv_store_url(const std::string& url) {
  const std::string bad = "invalid --kv-store '" + url + "': ";
  const size_t colon = url.find("://");
  if (colon == std::string::npos) {
    throw InvalidArgument(bad + "expected redis://HOST:PORT[/DB]");
  }
  const std::string scheme = url.substr(0, colon);
  if (scheme != "redis") {
    throw InvalidArgument(bad + "unknown scheme '" + scheme +
                          "' (the only store is redis://HOST:PORT[/DB])");
  }
  std::string rest = url.substr(colon + 3);
  KvStoreAddress a;
  if (rest.find_first_of("@?#") != std::string::npos) {
    throw InvalidArgument(bad + "credentials, queries and fragments are not supported");
  }
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    const std::string db = rest.substr(slash + 1);
    if (!db.empty() && !parse_int(db, 0, 1 << 20, a.db)) {
      throw InvalidArgument(bad + "database '" + db + "' is not a number");
    }
    rest = rest.substr(0, slash);
  }
  std::string host = rest;
  if (!rest.empty() && rest[0] == '[') {  // [IPv6]:PORT
    const size_t close = rest.find(']');
    if (close == std::string::npos) throw InvalidArgument(bad + "unclosed '[' in the host");
    host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') throw InvalidArgument(bad + "junk after the host");
    if (!rest.empty() && !parse_int(rest.substr(1), 1, 65535, a.port)) {
      throw InvalidArgument(bad + "port '" + rest.substr(1) + "' is not in 1..65535");
    }
  } else if (const size_t c = rest.rfind(':'); c != std::string::npos) {
    host = rest.substr(0, c);
    if (!parse_int(rest.substr(c + 1), 1, 65535, a.port)) {
      throw InvalidArgument(bad + "port '" + rest.substr(c + 1) + "' is not in 1..65535");
    }
  }
  if (host.empty()) throw InvalidArgument(bad + "no host");
  a.host = host;
  return a;
}

RedisKvStore::RedisKvStore(const KvStoreOptions& options, int32_t block_size, int64_t payload_bytes)
    : options_(options),
      address_(parse_kv_store_url(options.url)),
      block_size_(block_size),
      payload_bytes_(payload_bytes),
      prefix_("pkv:" + block_key_hex(options.fingerprint) + ":"),
      marker_prefix_("pkc:" + block_key_hex(options.fingerprint) + ":") {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  owner_ = std::string(host) + ":" + std::to_string(::getpid());
  {
    std::lock_guard lock(reader_mu_);
    ensure(reader_, options_.connect_timeout_seconds);  // warns when Redis is down
  }
  writer_ = std::thread([this] { writer_loop(); });
}

RedisKvStore::~RedisKvStore() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  writer_.join();
  if (reader_.ctx != nullptr) redisFree(reader_.ctx);
  if (writer_conn_.ctx != nullptr) redisFree(writer_conn_.ctx);
}

std::string RedisKvStore::redis_key(uint64_t key) const { return prefix_ + block_key_hex(key); }
std::string RedisKvStore::marker_key(uint64_t key) const {
  return marker_prefix_ + block_key_hex(key);
}

void RedisKvStore::set_up(bool up, const std::string& why) {
  const bool was = up_.exchange(up);
  if (up && !was) epoch_++;
  if (was == up) {
    if (!up && !warned_down_.exchange(true)) {
      std::fprintf(stderr,
                   "packinfer: KV store %s is unreachable (%s): serving from local compute, "
                   "reconnecting in the background\n",
                   options_.url.c_str(), why.c_str());
    }
    return;
  }
  if (up) {
    if (warned_down_.exchange(false)) {
      std::fprintf(stderr, "packinfer: KV store %s is back\n", options_.url.c_str());
    }
  } else if (!warned_down_.exchange(true)) {
    std::fprintf(stderr,
                 "packinfer: KV store %s went down (%s): serving from local compute, "
                 "reconnecting in the background\n",
                 options_.url.c_str(), why.c_str());
  }
}

bool RedisKvStore::ensure(Connection& c, double timeout_seconds, bool force) {
  if (c.ctx != nullptr) return true;
  const auto now = Clock::now();
  if (!force && now < c.next_attempt) return false;
  c.next_attempt = now + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(options_.reconnect_seconds));
  const timeval tv = to_timeval(timeout_seconds);
  redisContext* ctx = redisConnectWithTimeout(address_.host.c_str(), address_.port, tv);
  if (ctx == nullptr || ctx->err != 0) {
    const std::string why = ctx != nullptr ? ctx->errstr : "out of memory";
    if (ctx != nullptr) redisFree(ctx);
    {
      std::lock_guard lock(mu_);
      stats_.disconnects++;
    }
    set_up(false, why);
    return false;
  }
  redisSetTimeout(ctx, tv);
  if (address_.db != 0) {
    auto* r = static_cast<redisReply*>(redisCommand(ctx, "SELECT %d", address_.db));
    const bool ok = r != nullptr && r->type == REDIS_REPLY_STATUS;
    const std::string why = r == nullptr ? std::string(ctx->errstr)
                            : r->type == REDIS_REPLY_ERROR
                                ? std::string(r->str, r->len)
                                : std::string("unexpected reply to SELECT");
    if (r != nullptr) freeReplyObject(r);
    if (!ok) {
      redisFree(ctx);
      {
        std::lock_guard lock(mu_);
        stats_.disconnects++;
      }
      set_up(false, why);
      return false;
    }
  }
  c.ctx = ctx;
  set_up(true, "");
  return true;
}

void RedisKvStore::drop(Connection& c, const std::string& why, bool down) {
  if (c.ctx != nullptr) {
    redisFree(c.ctx);
    c.ctx = nullptr;
  }
  {
    std::lock_guard lock(mu_);
    stats_.disconnects++;
  }
  if (down) set_up(false, why);
}

std::string RedisKvStore::encode(uint64_t key, uint64_t parent, std::span<const int32_t> tokens,
                                 std::span<const uint8_t> payload) const {
  BlockRecordHeader h = block_record_header(kind(), key, parent, payload.size());
  seal_block_record(h, block_record_token_bytes(tokens), payload);
  std::string v(sizeof h + tokens.size_bytes() + payload.size(), '\0');
  std::memcpy(v.data(), &h, sizeof h);
  std::memcpy(v.data() + sizeof h, tokens.data(), tokens.size_bytes());
  std::memcpy(v.data() + sizeof h + tokens.size_bytes(), payload.data(), payload.size());
  return v;
}

BlockRecordKind RedisKvStore::kind() const {
  return {kValueMagic, options_.fingerprint, block_size_};
}

bool RedisKvStore::store(uint64_t key, uint64_t parent, std::span<const int32_t> tokens,
                         std::span<const uint8_t> payload) {
  const int64_t bytes =
      static_cast<int64_t>(sizeof(BlockRecordHeader) + tokens.size_bytes() + payload.size());
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  if (!up_.load()) {
    stats_.dropped_writes++;  // down: nothing to write to (the writer thread reconnects)
    return false;
  }
  if (queued_bytes_ + bytes > options_.max_queued_bytes) {
    stats_.dropped_writes++;  // the store is behind: recomputing later is the price, not a stall
    return false;
  }
  // The copy is all a step pays; checksums are computed on the writer thread.
  Pending p{key, std::string(static_cast<size_t>(bytes), '\0')};
  const BlockRecordHeader h = block_record_header(kind(), key, parent, payload.size());
  std::memcpy(p.value.data(), &h, sizeof h);
  std::memcpy(p.value.data() + sizeof h, tokens.data(), tokens.size_bytes());
  std::memcpy(p.value.data() + sizeof h + tokens.size_bytes(), payload.data(), payload.size());
  queue_.push_back(std::move(p));
  queued_bytes_ += bytes;
  work_.notify_one();
  return true;
}

std::string RedisKvStore::write_batch(std::vector<Pending>& batch, int64_t& written,
                                      int64_t& bytes) {
  written = 0;
  bytes = 0;
  redisContext* ctx = writer_conn_.ctx;
  redisSetTimeout(ctx, to_timeval(options_.write_timeout_seconds));
  const std::string ttl_ms =
      std::to_string(std::max<int64_t>(1, std::llround(options_.marker_ttl_seconds * 1000)));
  for (Pending& p : batch) {
    if (p.op == Op::SetBlock) {
      const std::string k = redis_key(p.key);
      redisAppendCommand(ctx, "SET %b %b", k.data(), k.size(), p.value.data(), p.value.size());
    } else {
      const std::string k = marker_key(p.key);
      if (p.op == Op::RefreshMarker) {
        redisAppendCommand(ctx, "PEXPIRE %b %s", k.data(), k.size(), ttl_ms.c_str());
      } else {
        redisAppendCommand(ctx, "DEL %b", k.data(), k.size());
      }
    }
  }
  std::string error;
  for (const Pending& p : batch) {
    void* reply = nullptr;
    if (redisGetReply(ctx, &reply) != REDIS_OK) {
      error = ctx->errstr;
      break;  // the connection is unusable; later replies never come
    }
    auto* r = static_cast<redisReply*>(reply);
    // An error reply (e.g. OOM under maxmemory noeviction) only loses this block.
    if (p.op == Op::SetBlock && r != nullptr && r->type == REDIS_REPLY_STATUS) {
      written++;
      bytes += static_cast<int64_t>(p.value.size());
    }
    if (r != nullptr) freeReplyObject(r);
  }
  return error;
}

void RedisKvStore::writer_loop() {
  constexpr size_t kMaxBatch = 64;
  // Small batches: hiredis moves its buffers down after each reply, so big ones cost O(n^2).
  constexpr size_t kMaxBatchBytes = 4 << 20;
  std::unique_lock lock(mu_);
  for (;;) {
    // While down, wake up now and then to reconnect even with nothing queued.
    work_.wait_for(lock, std::chrono::duration<double>(options_.reconnect_seconds),
                   [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {
      if (stopping_) break;
      if (!up_.load()) {
        // The store is reported down (by either connection): this thread is the one that
        // brings it back, so that publishing resumes even when nothing is looked up.
        lock.unlock();
        if (writer_conn_.ctx != nullptr) drop(writer_conn_, "", /*down=*/false);
        ensure(writer_conn_, options_.connect_timeout_seconds);
        lock.lock();
      }
      continue;
    }
    std::vector<Pending> batch;
    size_t batch_bytes = 0;
    while (!queue_.empty() && batch.size() < kMaxBatch && batch_bytes < kMaxBatchBytes) {
      batch_bytes += queue_.front().op == Op::SetBlock ? queue_.front().value.size()
                                                       : static_cast<size_t>(kMarkerOpBytes);
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    writing_ = true;
    lock.unlock();
    const auto t0 = Clock::now();
    int64_t n_blocks = 0;
    for (Pending& p : batch) {
      if (p.op != Op::SetBlock) continue;
      n_blocks++;
      auto* h = reinterpret_cast<BlockRecordHeader*>(p.value.data());
      const auto* tok = reinterpret_cast<const uint8_t*>(p.value.data()) + sizeof *h;
      const size_t n_tok = static_cast<size_t>(block_size_) * sizeof(int32_t);
      seal_block_record(*h, {tok, n_tok}, {tok + n_tok, static_cast<size_t>(h->payload_bytes)});
    }
    int64_t written = 0, written_bytes = 0;
    // A connection that went stale (Redis restarted) fails at once: one retry on a new one.
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!ensure(writer_conn_, options_.connect_timeout_seconds, attempt > 0)) break;
      const std::string error = write_batch(batch, written, written_bytes);
      if (error.empty()) break;
      drop(writer_conn_, error, /*down=*/attempt > 0);
    }
    const double seconds = seconds_since(t0);
    lock.lock();
    writing_ = false;
    queued_bytes_ -= static_cast<int64_t>(batch_bytes);
    stats_.blocks_written += written;
    stats_.bytes_written += written_bytes;
    stats_.dropped_writes += n_blocks - written;
    stats_.write_seconds += seconds;
    if (queue_.empty()) idle_.notify_all();
  }
  idle_.notify_all();
}

void RedisKvStore::queue_markers(std::span<const uint64_t> keys, Op op) {
  std::lock_guard lock(mu_);
  for (uint64_t key : keys) {
    // A marker that is not refreshed or deleted only expires.
    if (stopping_ || !up_.load() || queued_bytes_ + kMarkerOpBytes > options_.max_queued_bytes) {
      break;
    }
    queue_.push_back(Pending{key, {}, op});
    queued_bytes_ += kMarkerOpBytes;
  }
  work_.notify_one();
}

void RedisKvStore::refresh_claims(std::span<const uint64_t> keys) {
  queue_markers(keys, Op::RefreshMarker);
}

void RedisKvStore::release_claims(std::span<const uint64_t> keys) {
  queue_markers(keys, Op::DeleteMarker);
}

int64_t RedisKvStore::claim(std::span<const uint64_t> keys, std::vector<uint64_t>& taken) {
  if (keys.empty()) return 0;
  std::lock_guard rlock(reader_mu_);
  if (!up_.load() || !ensure(reader_, options_.connect_timeout_seconds)) return 0;
  redisContext* ctx = reader_.ctx;
  redisSetTimeout(ctx, to_timeval(options_.lookup_timeout_seconds));
  const std::string ttl_ms =
      std::to_string(std::max<int64_t>(1, std::llround(options_.marker_ttl_seconds * 1000)));
  // One round trip: every marker at once. Only the first decides whether to wait; the others
  // are this server's to compute once it does (where another server's prompt diverges from
  // ours, they are free).
  for (uint64_t key : keys) {
    const std::string k = marker_key(key);
    redisAppendCommand(ctx, "SET %b %b NX PX %s", k.data(), k.size(), owner_.data(), owner_.size(),
                       ttl_ms.c_str());
  }
  std::vector<uint64_t> got;
  bool first_taken = false;
  for (size_t i = 0; i < keys.size(); ++i) {
    void* reply = nullptr;
    if (redisGetReply(ctx, &reply) != REDIS_OK) {
      // Slow or gone: compute without markers (what was set expires).
      drop(reader_, ctx->errstr, /*down=*/false);
      return 0;
    }
    auto* r = static_cast<redisReply*>(reply);
    const bool ok = r != nullptr && r->type == REDIS_REPLY_STATUS;  // nil: someone else's
    if (ok) got.push_back(keys[i]);
    if (i == 0) first_taken = ok;
    if (r != nullptr) freeReplyObject(r);
  }
  std::lock_guard lock(mu_);
  if (!first_taken) {
    stats_.claims_busy++;
    // Not ours to compute yet: give back what we took behind it.
    for (uint64_t key : got) {
      queue_.push_back(Pending{key, {}, Op::DeleteMarker});
      queued_bytes_ += kMarkerOpBytes;
    }
    if (!got.empty()) work_.notify_one();
    return -1;
  }
  stats_.claims++;
  taken.insert(taken.end(), got.begin(), got.end());
  return static_cast<int64_t>(got.size());
}

void RedisKvStore::flush() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [&] { return queue_.empty() && !writing_; });
}

bool RedisKvStore::verify(const char* data, size_t n, uint64_t key, uint64_t parent,
                          std::span<const int32_t> tokens,
                          std::span<const uint8_t>& payload) const {
  const size_t expected =
      sizeof(BlockRecordHeader) + tokens.size_bytes() + static_cast<size_t>(payload_bytes_);
  if (n != expected) return false;  // truncated, oversize or another block size
  BlockRecordHeader h;
  std::memcpy(&h, data, sizeof h);
  if (!block_record_header_fits(h, kind(), key, static_cast<uint64_t>(payload_bytes_)))
    return false;
  const auto* tok = reinterpret_cast<const uint8_t*>(data) + sizeof h;
  const uint8_t* pay = tok + tokens.size_bytes();
  if (!block_record_checksums_match(h, {tok, tokens.size_bytes()},
                                    {pay, static_cast<size_t>(payload_bytes_)})) {
    return false;
  }
  // Sound, but a different prefix under the same key (a collision): reported as a miss by the
  // caller through an empty payload.
  if (!block_record_is_prefix(h, parent, {tok, tokens.size_bytes()}, tokens)) {
    payload = {};
    return true;
  }
  payload = std::span<const uint8_t>(pay, static_cast<size_t>(payload_bytes_));
  return true;
}

size_t RedisKvStore::fetch(std::span<const uint64_t> keys, size_t first, uint64_t root,
                           std::span<const int32_t> tokens,
                           const std::function<bool(size_t, std::span<const uint8_t>)>& accept) {
  if (first >= keys.size()) return 0;
  std::lock_guard rlock(reader_mu_);
  const auto t0 = Clock::now();
  size_t accepted = 0, rejected = 0;
  int64_t bytes = 0;
  bool timed_out = false, skipped = false;
  // A connection that went stale (Redis restarted) fails at once: one retry on a new one, as
  // long as nothing was handed over yet and there is time left.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!ensure(reader_, options_.connect_timeout_seconds, attempt > 0)) {
      skipped = attempt == 0;
      break;
    }
    std::string error;
    accepted += fetch_once(keys, first + accepted, root, tokens, accept, t0, error, timed_out,
                           rejected, bytes);
    if (error.empty()) break;
    const bool retry = !timed_out && accepted == 0 && attempt == 0;
    drop(reader_, error, /*down=*/!retry && !timed_out);
    if (!retry) break;
  }
  if (rejected > 0) {
    static std::atomic<bool> reported{false};
    if (!reported.exchange(true)) {
      std::fprintf(stderr,
                   "packinfer: a KV block in %s is damaged, foreign or oversize: ignored "
                   "(further ones are only counted)\n",
                   options_.url.c_str());
    }
  }
  std::lock_guard lock(mu_);
  if (skipped) {
    stats_.skipped++;
    return 0;
  }
  stats_.lookups++;
  if (accepted > 0) {
    stats_.hit_lookups++;
  } else {
    stats_.misses++;
  }
  if (timed_out) stats_.timeouts++;
  stats_.rejected += static_cast<int64_t>(rejected);
  stats_.blocks_read += static_cast<int64_t>(accepted);
  stats_.bytes_read += bytes;
  stats_.read_seconds += seconds_since(t0);
  return accepted;
}

size_t RedisKvStore::fetch_once(std::span<const uint64_t> keys, size_t first, uint64_t root,
                                std::span<const int32_t> tokens,
                                const std::function<bool(size_t, std::span<const uint8_t>)>& accept,
                                Clock::time_point t0, std::string& error, bool& timed_out,
                                size_t& rejected, int64_t& bytes) {
  const double limit = options_.lookup_timeout_seconds;
  redisContext* ctx = reader_.ctx;
  auto get_reply = [&](redisReply*& r) {
    r = nullptr;
    if (!error.empty()) return false;
    const double left = limit - seconds_since(t0);
    if (left <= 0) {
      timed_out = true;
      error = "lookup time limit";
      return false;
    }
    redisSetTimeout(ctx, to_timeval(left));
    void* reply = nullptr;
    if (redisGetReply(ctx, &reply) != REDIS_OK) {
      error = ctx->errstr;
      if (ctx->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) timed_out = true;
      return false;
    }
    r = static_cast<redisReply*>(reply);
    t0 = Clock::now();  // the limit bounds each wait: a lookup that makes progress goes on
    return true;
  };

  // 1. Which of the next blocks does the store hold? One round trip.
  std::vector<std::string> names;
  for (size_t k = first; k < keys.size(); ++k) names.push_back(redis_key(keys[k]));
  for (const std::string& name : names) {
    redisAppendCommand(ctx, "EXISTS %b", name.data(), name.size());
  }
  size_t run = 0;
  bool counting = true;
  for (size_t i = 0; i < names.size(); ++i) {
    redisReply* r = nullptr;
    if (!get_reply(r)) return 0;  // the caller drops the connection (replies are pending)
    if (counting && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
      run++;
    } else {
      counting = false;
    }
    freeReplyObject(r);
  }
  // 2. Fetch the run in batches, verifying and handing over each block in order.
  const auto bs = static_cast<size_t>(block_size_);
  const size_t value_bytes =
      sizeof(BlockRecordHeader) + bs * sizeof(int32_t) + static_cast<size_t>(payload_bytes_);
  const size_t per_batch = std::max<size_t>(
      1, static_cast<size_t>(options_.max_lookup_bytes) / std::max<size_t>(value_bytes, 1));
  size_t accepted = 0;
  bool stop = false;
  for (size_t start = 0; start < run && !stop; start += per_batch) {
    const size_t end = std::min(run, start + per_batch);
    for (size_t i = start; i < end; ++i) {
      redisAppendCommand(ctx, "GET %b", names[i].data(), names[i].size());
    }
    for (size_t i = start; i < end; ++i) {
      redisReply* r = nullptr;
      if (!get_reply(r)) return accepted;  // the caller drops the connection
      if (!stop) {
        const size_t k = first + i;
        std::span<const uint8_t> payload;
        if (r->type != REDIS_REPLY_STRING) {
          stop = true;  // gone since EXISTS (evicted)
        } else if (!verify(r->str, r->len, keys[k], k == 0 ? root : keys[k - 1],
                           tokens.subspan(k * bs, bs), payload)) {
          rejected++;
          stop = true;
        } else if (payload.empty() || !accept(k, payload)) {
          stop = true;
        } else {
          accepted++;
          bytes += static_cast<int64_t>(r->len);
        }
      }
      freeReplyObject(r);  // the batch's remaining replies are read even after a stop
    }
  }
  return accepted;
}

KvStoreStats RedisKvStore::stats() const {
  std::lock_guard lock(mu_);
  KvStoreStats s = stats_;
  s.up = up_.load();
  return s;
}

}  // namespace packinfer
