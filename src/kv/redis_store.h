#pragma once
// A shared KV store on Redis: the prefix cache's remote tier, shared by every server pointed at
// the same Redis (replicas, prefill and decode workers).
//
// Like the disk tier (kv/disk_tier.h), full blocks are published when they enter the prefix
// index: their bytes are copied into a bounded queue and a writer thread SETs them in pipelined
// batches over its own connection (a full queue, or a store that is down, drops the block; a
// step never waits for Redis). On a local prefix miss the KV cache asks the store for the
// longest run of the prompt's next blocks: one pipelined round trip of EXISTS, then pipelined
// GETs in small batches; a lookup stops (keeping what it has) when Redis does not answer within
// the time limit.
//
// Keys: "pkv:<fingerprint>:<chain key>", both 16 hex digits, where the fingerprint names the
// model, the KV format and the block size and the chain key is the prefix index's hash chain, so
// a block is found by its whole prefix. A value repeats the fingerprint, its key, its parent's
// key and its tokens, and carries XXH3 checksums of its tokens and bytes: a value of another
// model or format, a damaged, truncated or oversize one is ignored and counted, never used. A
// different prefix under the same key (a 64-bit collision) is only a miss.
//
// "Being computed" markers ("pkc:<fingerprint>:<chain key>"): a server about to compute blocks
// no one has published claims them (SET NX PX, a few seconds, refreshed while it publishes and
// deleted once they are published, behind their SETs on the same connection). Another server
// that misses on a block whose marker exists waits for it instead of computing it a second time
// (the scheduler polls; sched/scheduler.h); a marker whose owner died expires, and the waiter
// computes.
//
// Memory is Redis's to bound (maxmemory with an LRU policy): a block Redis dropped is a miss.
// Redis down at start or mid-run: one warning line, up() false, lookups skipped, writes
// dropped, and a reconnect attempt at most every reconnect_seconds; serving goes on from local
// compute.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "kv/block_record.h"

struct redisContext;

namespace packinfer {

struct KvStoreAddress {
  std::string host;
  int port = 6379;
  int db = 0;
};

// Parses "redis://HOST[:PORT][/DB]". Throws packinfer::InvalidArgument naming the problem for
// anything else (another scheme, a bad port or database number, credentials, a query).
KvStoreAddress parse_kv_store_url(const std::string& url);

struct KvStoreOptions {
  std::string url;                       // redis://HOST:PORT[/DB]
  uint64_t fingerprint = 0;              // model, KV format and block size
  int64_t max_queued_bytes = 256 << 20;  // write queue bound (blocks beyond it are dropped)
  int64_t max_lookup_bytes = 4 << 20;    // bytes one GET batch may bring in
  // Longest wait for Redis in a lookup: one that waits longer stops, keeping the blocks it has
  // (a lookup that keeps receiving blocks goes on; a slow or dead store costs at most this).
  double lookup_timeout_seconds = 0.25;
  double connect_timeout_seconds = 0.2;
  double write_timeout_seconds = 2.0;
  double reconnect_seconds = 1.0;  // at most one connection attempt per this, per connection
  // A marker lives this long unless its owner refreshes it (an owner that died stops blocking
  // others after this); the owner refreshes at a third of it while it publishes.
  double marker_ttl_seconds = 3.0;
  // A request waits at most this long for blocks another server is computing, then computes
  // them itself; it looks again at most every marker_poll_seconds.
  double marker_wait_seconds = 20.0;
  double marker_poll_seconds = 0.005;
};

struct KvStoreStats {
  bool up = false;  // the last operation on the store succeeded
  int64_t blocks_read = 0, blocks_written = 0;
  int64_t bytes_read = 0, bytes_written = 0;
  double read_seconds = 0, write_seconds = 0;
  int64_t lookups = 0;         // prefix lookups sent to the store
  int64_t hit_lookups = 0;     // of those, lookups that loaded at least one block
  int64_t misses = 0;          // lookups that found no usable block
  int64_t skipped = 0;         // lookups not sent because the store is down
  int64_t timeouts = 0;        // lookups cut short by their time limit
  int64_t dropped_writes = 0;  // queue full, store down or a failed SET
  int64_t rejected = 0;        // corrupted, foreign, truncated or oversize values (never used)
  int64_t disconnects = 0;     // connections lost or refused
  int64_t claims = 0;          // claims that took markers (this server computes the blocks)
  int64_t claims_busy = 0;     // claims that found another server computing the first block
};

class RedisKvStore {
 public:
  // Throws packinfer::InvalidArgument for a URL that does not parse. An unreachable Redis is not
  // an error: it warns once and retries.
  RedisKvStore(const KvStoreOptions& options, int32_t block_size, int64_t payload_bytes);
  ~RedisKvStore();  // writes what is queued if the store is up, then stops
  RedisKvStore(const RedisKvStore&) = delete;
  RedisKvStore& operator=(const RedisKvStore&) = delete;

  // Queues a block for publishing (tokens and payload are copied). False when it was dropped
  // (store down or queue full).
  bool store(uint64_t key, uint64_t parent, std::span<const int32_t> tokens,
             std::span<const uint8_t> payload);

  // Looks up blocks keys[first], keys[first+1], ... (keys[k] holds tokens[k*block_size, ...)
  // and follows keys[k-1], or `root` for k == 0) and hands each valid one, in order, to
  // accept(k, payload), stopping at the first missing, invalid or refused (accept returns
  // false) block or at the time limit. Returns the number of blocks accepted.
  size_t fetch(std::span<const uint64_t> keys, size_t first, uint64_t root,
               std::span<const int32_t> tokens,
               const std::function<bool(size_t, std::span<const uint8_t>)>& accept);

  // Marks blocks keys[0], keys[1], ... as being computed here. Returns -1 when another server
  // holds keys[0]'s marker (it computes that block: wait for it), else the markers taken, their
  // keys appended to `taken` (0: the store is down or slow, compute without one).
  int64_t claim(std::span<const uint64_t> keys, std::vector<uint64_t>& taken);
  // Queued behind the blocks already queued, so a server that finds a marker gone also finds
  // the blocks published before it: refresh markers (the blocks are still being computed), or
  // delete them (published, or given up).
  void refresh_claims(std::span<const uint64_t> keys);
  void release_claims(std::span<const uint64_t> keys);
  const KvStoreOptions& options() const { return options_; }
  // The Redis key of a block's marker (tests set markers of a server that died).
  std::string marker_key(uint64_t key) const;

  // Blocks until the write queue is empty (tests, prefill workers, shutdown).
  void flush();

  KvStoreStats stats() const;
  bool up() const { return up_.load(); }
  // Counts the times the store came up (first connection, each reconnection): blocks published
  // in an earlier epoch may be gone (Redis restarted), so the KV cache publishes them again
  // when it next uses them.
  uint32_t epoch() const { return epoch_.load(); }
  const std::string& url() const { return options_.url; }
  // The Redis key of a block (tests tamper with values through it).
  std::string redis_key(uint64_t key) const;
  // Encodes a block as stored (tests).
  // Magic, fingerprint and block size every value of this store repeats.
  BlockRecordKind kind() const;
  std::string encode(uint64_t key, uint64_t parent, std::span<const int32_t> tokens,
                     std::span<const uint8_t> payload) const;

 private:
  using Clock = std::chrono::steady_clock;
  enum class Op : uint8_t { SetBlock, RefreshMarker, DeleteMarker };
  struct Pending {
    uint64_t key;
    std::string value;  // SetBlock: header (checksums filled by the writer) + tokens + payload
    Op op = Op::SetBlock;
  };
  struct Connection {
    redisContext* ctx = nullptr;
    Clock::time_point next_attempt{};
  };

  void writer_loop();
  // Queues marker operations (dropped, like blocks, when the store is down or behind).
  void queue_markers(std::span<const uint64_t> keys, Op op);
  // Connects if needed and allowed now (`force`: even within reconnect_seconds of the last
  // attempt); false when there is no connection.
  bool ensure(Connection& c, double timeout_seconds, bool force = false);
  // Closes a connection that failed; `down`: also report the store down (else it is only stale,
  // e.g. Redis restarted, and the caller reconnects at once).
  void drop(Connection& c, const std::string& why, bool down = true);
  // Writes one batch on the writer's connection; returns the blocks written and bytes, and the
  // connection error (empty if none).
  std::string write_batch(std::vector<Pending>& batch, int64_t& written, int64_t& bytes);
  // One lookup attempt on the reader's connection (see fetch()).
  size_t fetch_once(std::span<const uint64_t> keys, size_t first, uint64_t root,
                    std::span<const int32_t> tokens,
                    const std::function<bool(size_t, std::span<const uint8_t>)>& accept,
                    Clock::time_point t0, std::string& error, bool& timed_out, size_t& rejected,
                    int64_t& bytes);
  void set_up(bool up, const std::string& why);
  // Checks a value; on success `payload` views its bytes.
  bool verify(const char* data, size_t n, uint64_t key, uint64_t parent,
              std::span<const int32_t> tokens, std::span<const uint8_t>& payload) const;

  KvStoreOptions options_;
  KvStoreAddress address_;
  int32_t block_size_;
  int64_t payload_bytes_;
  std::string prefix_;         // "pkv:<fingerprint>:"
  std::string marker_prefix_;  // "pkc:<fingerprint>:"
  std::string owner_;          // a marker's value: who computes (host name and pid, for people)

  std::mutex reader_mu_;  // the lookup connection
  Connection reader_;
  Connection writer_conn_;  // the writer thread's

  mutable std::mutex mu_;
  std::condition_variable work_, idle_;
  std::deque<Pending> queue_;
  int64_t queued_bytes_ = 0;
  bool writing_ = false;
  bool stopping_ = false;
  std::atomic<bool> up_{false};
  std::atomic<uint32_t> epoch_{0};
  std::atomic<bool> warned_down_{false};
  KvStoreStats stats_;
  std::thread writer_;
};

}  // namespace packinfer
