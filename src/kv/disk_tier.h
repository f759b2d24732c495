#pragma once
// The disk tier of the prefix cache: full KV blocks, in their KV format, kept in files so that a
// prefix evicted from RAM (or computed before a restart) is read back instead of recomputed.
//
// Blocks are written through: when a block is published to the prefix index its bytes are
// copied into a bounded queue and a writer thread stores them (a full queue drops the block; a
// step never waits for the disk). A block is found by the same hash-chain key as in RAM, and
// read back synchronously at admission (one small file per block, usually from the page cache).
//
// Layout: DIR/<fingerprint>/<key>.kvb, where the fingerprint names the model, KV format and block
// size, so another configuration never even looks at these files. Each file repeats the
// fingerprint, its key, its parent's key and its tokens, and carries a checksum of its bytes: a
// truncated, corrupted or foreign file is detected when read, reported once, counted, deleted
// and never used. Files are written to a temporary name and renamed, so a killed process leaves
// no half-written block under a real name. The directory's size stays under max_bytes by
// deleting the least recently used blocks. A full disk or an I/O error degrades to
// recomputing; it never fails a request.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kv/block_record.h"

namespace packinfer {

struct DiskTierOptions {
  std::string dir;                       // created if missing; must be writable
  int64_t max_bytes = 0;                 // budget for this fingerprint's files
  uint64_t fingerprint = 0;              // model, KV format and block size
  int64_t max_queued_bytes = 256 << 20;  // write queue bound (blocks beyond it are dropped)
};

struct DiskTierStats {
  int64_t blocks_read = 0, blocks_written = 0;
  int64_t bytes_read = 0, bytes_written = 0;
  double read_seconds = 0, write_seconds = 0;
  int64_t misses = 0;          // looked up, not on disk
  int64_t dropped_writes = 0;  // queue full or I/O error
  int64_t corrupt = 0;         // detected bad files (never used)
  int64_t files = 0, bytes_on_disk = 0;
};

class DiskTier {
 public:
  // Throws packinfer::Error if the directory cannot be created or written (naming it).
  DiskTier(const DiskTierOptions& options, int32_t block_size, int64_t payload_bytes);
  ~DiskTier();  // writes what is queued, then stops
  DiskTier(const DiskTier&) = delete;
  DiskTier& operator=(const DiskTier&) = delete;

  // Queues a block for writing (its payload is copied). No-op when already on disk.
  void store(uint64_t key, uint64_t parent, std::span<const int32_t> tokens,
             std::span<const uint8_t> payload);
  // True when a block with this key is on disk (or queued).
  bool contains(uint64_t key) const;
  // Reads the block `key`, which must follow `parent` and hold `tokens`, into `payload`. False
  // when it is missing, belongs to another prefix, or is damaged (then it is deleted).
  bool load(uint64_t key, uint64_t parent, std::span<const int32_t> tokens,
            std::span<uint8_t> payload);
  // Blocks until the write queue is empty (tests, shutdown).
  void flush();

  DiskTierStats stats() const;
  const std::string& directory() const { return dir_; }

 private:
  // Magic, fingerprint and block size every file of this tier repeats.
  BlockRecordKind kind() const;
  struct Pending {
    uint64_t key, parent;
    std::vector<int32_t> tokens;
    std::vector<uint8_t> payload;
  };
  struct Entry {
    int64_t bytes = 0;
    std::list<uint64_t>::iterator lru;  // position in lru_ (front = least recently used)
  };

  void scan();
  void writer_loop();
  bool write_file(const Pending& p);
  void make_room(int64_t bytes);  // with mu_ held
  void forget(uint64_t key);      // with mu_ held: drops the entry and deletes its file
  std::string path_of(uint64_t key) const;
  // One line on stderr per kind of trouble, not one per block.
  static void report_once(std::atomic<bool>& reported, const std::string& what);

  DiskTierOptions options_;
  int32_t block_size_;
  int64_t payload_bytes_;
  std::string dir_;

  mutable std::mutex mu_;
  std::condition_variable work_, idle_;
  std::unordered_map<uint64_t, Entry> entries_;
  std::list<uint64_t> lru_;
  std::deque<Pending> queue_;
  std::unordered_map<uint64_t, bool> queued_keys_;
  int64_t queued_bytes_ = 0;
  bool writing_ = false;
  bool stopping_ = false;
  std::atomic<bool> write_trouble_reported_{false}, damage_reported_{false};
  DiskTierStats stats_;
  std::thread writer_;
};

}  // namespace packinfer
