#include "kv/disk_tier.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include "kv/block_record.h"
#include "packinfer/error.h"
#include "util/seconds_since.h"

namespace fs = std::filesystem;

namespace packinfer {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kFileMagic = 0x42564B50;  // "PKVB": a block file (block_record.h)

bool write_all(int fd, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool read_all(int fd, void* data, size_t n) {
  auto* p = static_cast<uint8_t*>(data);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

DiskTier::DiskTier(const DiskTierOptions& options, int32_t block_size, int64_t payload_bytes)
    : options_(options), block_size_(block_size), payload_bytes_(payload_bytes) {
  if (options.dir.empty()) throw InvalidArgument("the KV disk tier needs a directory");
  if (options.max_bytes <= 0) throw InvalidArgument("the KV disk tier needs a positive size");
  dir_ = (fs::path(options.dir) / block_key_hex(options.fingerprint)).string();
  std::error_code ec;
  fs::create_directories(dir_, ec);
  // Writability is checked by writing, not by permission bits (read-only mounts, ACLs, root).
  const std::string probe = dir_ + "/.write-test";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (ec || fd < 0) {
    throw InvalidArgument("KV disk directory '" + options.dir +
                          "' is not writable: " + (ec ? ec.message() : std::strerror(errno)));
  }
  ::close(fd);
  ::unlink(probe.c_str());
  scan();
  writer_ = std::thread([this] { writer_loop(); });
}

DiskTier::~DiskTier() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  writer_.join();
}

std::string DiskTier::path_of(uint64_t key) const {
  return dir_ + "/" + block_key_hex(key) + ".kvb";
}

void DiskTier::scan() {
  // Oldest first, so the LRU order after a restart follows the files' ages.
  std::multimap<fs::file_time_type, std::pair<uint64_t, int64_t>> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(".tmp")) {
      fs::remove(e.path(), ec);  // a write that did not finish
      continue;
    }
    if (!name.ends_with(".kvb") || name.size() != 20) continue;
    uint64_t key = 0;
    if (std::sscanf(name.c_str(), "%16" SCNx64, &key) != 1) continue;
    const auto size = static_cast<int64_t>(e.file_size(ec));
    found.emplace(e.last_write_time(ec), std::make_pair(key, size));
  }
  std::lock_guard lock(mu_);
  for (const auto& [time, ks] : found) {
    lru_.push_back(ks.first);
    entries_[ks.first] = {ks.second, std::prev(lru_.end())};
    stats_.files++;
    stats_.bytes_on_disk += ks.second;
  }
  make_room(0);
}

void DiskTier::store(uint64_t key, uint64_t parent, std::span<const int32_t> tokens,
                     std::span<const uint8_t> payload) {
  std::lock_guard lock(mu_);
  if (stopping_ || entries_.count(key) != 0 || queued_keys_.count(key) != 0) return;
  const int64_t bytes = static_cast<int64_t>(payload.size());
  if (queued_bytes_ + bytes > options_.max_queued_bytes) {
    stats_.dropped_writes++;  // the disk is behind: recomputing later is the price, not a stall
    return;
  }
  queue_.push_back({key, parent, std::vector<int32_t>(tokens.begin(), tokens.end()),
                    std::vector<uint8_t>(payload.begin(), payload.end())});
  queued_keys_[key] = true;
  queued_bytes_ += bytes;
  work_.notify_one();
}

bool DiskTier::contains(uint64_t key) const {
  std::lock_guard lock(mu_);
  return entries_.count(key) != 0;
}

void DiskTier::writer_loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping, and everything is written
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    const int64_t bytes = static_cast<int64_t>(p.payload.size());
    make_room(bytes + static_cast<int64_t>(sizeof(BlockRecordHeader)));
    lock.unlock();
    const auto t0 = Clock::now();
    const bool ok = write_file(p);
    const double seconds = seconds_since(t0);
    lock.lock();
    writing_ = false;
    queued_keys_.erase(p.key);
    queued_bytes_ -= bytes;
    if (ok) {
      const int64_t size =
          static_cast<int64_t>(sizeof(BlockRecordHeader) + p.tokens.size() * 4) + bytes;
      lru_.push_back(p.key);
      entries_[p.key] = {size, std::prev(lru_.end())};
      stats_.files++;
      stats_.bytes_on_disk += size;
      stats_.blocks_written++;
      stats_.bytes_written += size;
      stats_.write_seconds += seconds;
    } else {
      stats_.dropped_writes++;
    }
    if (queue_.empty()) idle_.notify_all();
  }
  idle_.notify_all();
}

BlockRecordKind DiskTier::kind() const { return {kFileMagic, options_.fingerprint, block_size_}; }

bool DiskTier::write_file(const Pending& p) {
  const std::span<const uint8_t> tokens = block_record_token_bytes(p.tokens);
  BlockRecordHeader h = block_record_header(kind(), p.key, p.parent, p.payload.size());
  seal_block_record(h, tokens, p.payload);
  const std::string final_path = path_of(p.key);
  const std::string tmp = final_path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    report_once(write_trouble_reported_, std::string("cannot write KV blocks to ") + dir_ + ": " +
                                             std::strerror(errno) + " (recomputing instead)");
    return false;
  }
  const bool ok = write_all(fd, &h, sizeof h) && write_all(fd, tokens.data(), tokens.size()) &&
                  write_all(fd, p.payload.data(), p.payload.size());
  const int saved_errno = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), final_path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    report_once(write_trouble_reported_, std::string("cannot write KV blocks to ") + dir_ + ": " +
                                             std::strerror(ok ? errno : saved_errno) +
                                             " (recomputing instead)");
    return false;
  }
  return true;
}

bool DiskTier::load(uint64_t key, uint64_t parent, std::span<const int32_t> tokens,
                    std::span<uint8_t> payload) {
  {
    std::lock_guard lock(mu_);
    if (entries_.count(key) == 0) {
      stats_.misses++;
      return false;
    }
  }
  const auto t0 = Clock::now();
  const std::string path = path_of(key);
  const int fd = ::open(path.c_str(), O_RDONLY);
  BlockRecordHeader h;
  std::vector<int32_t> stored(tokens.size());
  bool ok = fd >= 0 && read_all(fd, &h, sizeof h);
  // A header of another writer (other fingerprint or version) or the wrong size is damage: the
  // file sits under our fingerprint's name.
  bool damaged = !ok || !block_record_header_fits(h, kind(), key, payload.size());
  if (!damaged) {
    damaged = !read_all(fd, stored.data(), stored.size() * sizeof(int32_t)) ||
              !read_all(fd, payload.data(), payload.size()) ||
              !block_record_checksums_match(h, block_record_token_bytes(stored), payload);
    uint8_t extra = 0;
    if (!damaged && ::read(fd, &extra, 1) != 0) damaged = true;  // trailing bytes
  }
  if (fd >= 0) ::close(fd);
  std::lock_guard lock(mu_);
  if (damaged) {
    stats_.corrupt++;
    report_once(damage_reported_, "KV disk block " + path +
                                      " is damaged or foreign: ignored and deleted (further "
                                      "ones are only counted)");
    forget(key);
    return false;
  }
  // A different prefix under the same key (a 64-bit collision): not damage, just not ours.
  if (!block_record_is_prefix(h, parent, block_record_token_bytes(stored), tokens)) {
    stats_.misses++;
    return false;
  }
  auto it = entries_.find(key);
  if (it != entries_.end()) lru_.splice(lru_.end(), lru_, it->second.lru);
  stats_.blocks_read++;
  stats_.bytes_read +=
      static_cast<int64_t>(sizeof(BlockRecordHeader) + stored.size() * 4 + payload.size());
  stats_.read_seconds += seconds_since(t0);
  return true;
}

void DiskTier::make_room(int64_t bytes) {
  while (!lru_.empty() && stats_.bytes_on_disk + bytes > options_.max_bytes) {
    forget(lru_.front());
  }
}

void DiskTier::forget(uint64_t key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  stats_.files--;
  stats_.bytes_on_disk -= it->second.bytes;
  lru_.erase(it->second.lru);
  entries_.erase(it);
  ::unlink(path_of(key).c_str());
}

void DiskTier::flush() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [&] { return queue_.empty() && !writing_; });
}

void DiskTier::report_once(std::atomic<bool>& reported, const std::string& what) {
  if (!reported.exchange(true)) std::fprintf(stderr, "packinfer: %s\n", what.c_str());
}

DiskTierStats DiskTier::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace packinfer
