// The prefix cache's disk tier: blocks written through and read back, found by key, parent and
// tokens only; damaged, truncated and foreign files detected and never used; the size budget;
// a restart that finds its blocks again; and, on stories260K, a repeated prompt answered from
// disk after a restart with the output of computing it.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>

#include "kv/disk_tier.h"
#include "packinfer/engine.h"
#include "packinfer/error.h"
#include "packinfer/serving.h"
#include "support/test_support.h"

namespace fs = std::filesystem;

namespace packinfer::test {
namespace {

std::string fresh_dir(const std::string& name) {
  const std::string dir = build_dir() + "/kv_disk_test_" + name;
  fs::remove_all(dir);
  return dir;
}

std::vector<uint8_t> payload(int seed, size_t n = 1000) {
  std::vector<uint8_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(i * 31 + seed * 7);
  return p;
}

DiskTierOptions options(const std::string& dir, int64_t max_bytes = 1 << 20,
                        uint64_t fingerprint = 42) {
  DiskTierOptions o;
  o.dir = dir;
  o.max_bytes = max_bytes;
  o.fingerprint = fingerprint;
  return o;
}

const std::vector<int32_t> kTokens = {5, 6, 7, 8};

std::vector<std::string> block_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().extension() == ".kvb") out.push_back(e.path().string());
  }
  return out;
}

TEST(KvDiskTier, RoundTripAndLookupByKeyParentAndTokens) {
  const std::string dir = fresh_dir("roundtrip");
  DiskTier tier(options(dir), 4, 1000);
  tier.store(11, 10, kTokens, payload(1));
  tier.flush();
  EXPECT_TRUE(tier.contains(11));
  EXPECT_FALSE(tier.contains(12));
  std::vector<uint8_t> got(1000);
  ASSERT_TRUE(tier.load(11, 10, kTokens, got));
  EXPECT_EQ(got, payload(1));
  // Same key but another parent or other tokens: a different prefix, not ours.
  EXPECT_FALSE(tier.load(11, 99, kTokens, got));
  EXPECT_FALSE(tier.load(11, 10, std::vector<int32_t>{5, 6, 7, 9}, got));
  const DiskTierStats s = tier.stats();
  EXPECT_EQ(s.blocks_written, 1);
  EXPECT_EQ(s.blocks_read, 1);
  EXPECT_EQ(s.corrupt, 0);
  EXPECT_EQ(s.files, 1);
  EXPECT_GT(s.bytes_on_disk, 1000);
}

TEST(KvDiskTier, DamagedTruncatedAndForeignFilesAreNeverUsed) {
  const std::string dir = fresh_dir("damage");
  DiskTier tier(options(dir), 4, 1000);
  for (uint64_t k = 1; k <= 3; ++k) tier.store(k, 0, kTokens, payload(static_cast<int>(k)));
  tier.flush();
  const auto files = block_files(dir);
  ASSERT_EQ(files.size(), 3u);
  auto file_of = [&](uint64_t key) {
    char name[32];
    std::snprintf(name, sizeof name, "%016llx.kvb", static_cast<unsigned long long>(key));
    for (const auto& f : files)
      if (f.ends_with(name)) return f;
    return std::string();
  };
  {  // one flipped payload byte
    std::fstream f(file_of(1), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-10, std::ios::end);
    f.put('\x7f');
  }
  fs::resize_file(file_of(2), fs::file_size(file_of(2)) - 1);  // truncated
  // A file of another model/format copied in under a valid name.
  {
    const std::string other_dir = fresh_dir("damage_other");
    DiskTier other(options(other_dir, 1 << 20, /*fingerprint=*/7), 4, 1000);
    other.store(3, 0, kTokens, payload(3));
    other.flush();
    fs::copy_file(block_files(other_dir).at(0), file_of(3), fs::copy_options::overwrite_existing);
  }
  std::vector<uint8_t> got(1000);
  for (uint64_t k = 1; k <= 3; ++k) EXPECT_FALSE(tier.load(k, 0, kTokens, got)) << k;
  const DiskTierStats s = tier.stats();
  EXPECT_EQ(s.corrupt, 3);
  EXPECT_EQ(s.files, 0);
  EXPECT_TRUE(block_files(dir).empty()) << "damaged files are deleted";
  for (uint64_t k = 1; k <= 3; ++k) EXPECT_FALSE(tier.contains(k));
}

TEST(KvDiskTier, StaysWithinItsBudgetDroppingTheLeastRecentlyUsed) {
  const std::string dir = fresh_dir("budget");
  // Each file is 1000 payload bytes + header + tokens: about 1080; room for 3.
  DiskTier tier(options(dir, 3300), 4, 1000);
  for (uint64_t k = 1; k <= 3; ++k) tier.store(k, 0, kTokens, payload(static_cast<int>(k)));
  tier.flush();
  std::vector<uint8_t> got(1000);
  ASSERT_TRUE(tier.load(1, 0, kTokens, got));  // 1 becomes the most recently used
  tier.store(4, 0, kTokens, payload(4));
  tier.flush();
  EXPECT_TRUE(tier.contains(1));
  EXPECT_FALSE(tier.contains(2)) << "the least recently used block made room";
  EXPECT_TRUE(tier.contains(4));
  EXPECT_LE(tier.stats().bytes_on_disk, 3300);
  EXPECT_EQ(block_files(dir).size(), 3u);
}

TEST(KvDiskTier, ARestartFindsTheBlocksAgain) {
  const std::string dir = fresh_dir("restart");
  {
    DiskTier tier(options(dir), 4, 1000);
    tier.store(21, 20, kTokens, payload(9));
  }  // the destructor writes what is queued
  std::ofstream(dir + "/000000000000002a/00000000000000aa.kvb.tmp") << "half a write";
  DiskTier again(options(dir), 4, 1000);
  EXPECT_TRUE(again.contains(21));
  std::vector<uint8_t> got(1000);
  ASSERT_TRUE(again.load(21, 20, kTokens, got));
  EXPECT_EQ(got, payload(9));
  EXPECT_FALSE(fs::exists(dir + "/000000000000002a/00000000000000aa.kvb.tmp"))
      << "leftovers of an interrupted write are removed";
}

TEST(KvDiskTier, UnwritableDirectoryIsAClearError) {
  const std::string file = build_dir() + "/kv_disk_test_not_a_dir";
  std::ofstream(file) << "x";
  try {
    DiskTier tier(options(file + "/sub"), 4, 1000);
    FAIL() << "expected an error";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("not writable"), std::string::npos) << e.what();
  }
}

std::string stories() { return shared_dir() + "/models/stories260K/stories260K-f32.gguf"; }

EngineOptions disk_engine(const std::string& dir) {
  EngineOptions o;
  o.model_path = stories();
  o.n_threads = 2;
  o.kv_disk_dir = dir;
  return o;
}

GenerationRequest greedy(const std::string& prompt, int n) {
  GenerationRequest r;
  r.prompt = prompt;
  r.sampling = SamplingParams::greedy();
  r.sampling.max_tokens = n;
  return r;
}

// A long prompt computed by one engine is answered by a new engine (a restart) from disk: most
// of its prompt comes from the cache and the greedy continuation is the one computed afresh.
TEST(KvDiskEngine, RestartedEngineAnswersARepeatedPromptFromDisk) {
  const std::string dir = fresh_dir("engine");
  const std::string prompt =
      story_opening() + " Then " + story_opening() + " The little dog ran to the park and";
  GenerationResult computed, from_disk, plain;
  {
    EngineOptions o = disk_engine(dir);
    o.kv_disk_dir.clear();
    Engine engine(o);
    plain = engine.generate(greedy(prompt, 24));
    EXPECT_EQ(plain.cached_tokens, 0);
  }
  {
    Engine engine(disk_engine(dir));
    computed = engine.generate(greedy(prompt, 24));
    EXPECT_EQ(computed.cached_tokens, 0);
  }  // the engine's destructor writes every queued block
  ASSERT_FALSE(block_files(dir).empty());
  {
    Engine engine(disk_engine(dir));
    from_disk = engine.generate(greedy(prompt, 24));
  }
  const int64_t n_prompt = static_cast<int64_t>(computed.prompt_ids.size());
  EXPECT_EQ(from_disk.cached_tokens, (n_prompt - 1) / 16 * 16);
  EXPECT_GT(from_disk.cached_tokens, 64);
  EXPECT_EQ(from_disk.output_ids, computed.output_ids);
  EXPECT_EQ(computed.output_ids, plain.output_ids);
  EXPECT_EQ(from_disk.text, plain.text);
}

// The server reports the tier in its counters, and damaged files found at a hit are counted
// and recomputed around, with the same output.
TEST(KvDiskEngine, ServingCountsDiskTrafficAndSurvivesDamage) {
  const std::string dir = fresh_dir("serving");
  const std::string prompt = story_opening() + " She found a shiny";
  std::vector<int32_t> first_ids;
  {
    Engine engine(disk_engine(dir));
    ServingEngine serving(engine, {});
    std::promise<ServingResult> done;
    serving.submit({greedy(prompt, 8), -1},
                   {.on_token = {}, .on_done = [&](const ServingResult& r) { done.set_value(r); }});
    first_ids = done.get_future().get().generation.output_ids;
  }
  auto files = block_files(dir);
  ASSERT_GE(files.size(), 3u);
  std::sort(files.begin(), files.end());
  {  // damage one block file
    std::fstream f(files[1], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x55');
    f.put('\x66');
  }
  Engine engine(disk_engine(dir));
  ServingEngine serving(engine, {});
  std::promise<ServingResult> done;
  serving.submit({greedy(prompt, 8), -1},
                 {.on_token = {}, .on_done = [&](const ServingResult& r) { done.set_value(r); }});
  const ServingResult r = done.get_future().get();
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.generation.output_ids, first_ids);
  const ServingStats s = serving.stats();
  EXPECT_TRUE(s.kv_disk);
  EXPECT_LE(s.kv_disk_corrupt, 1);
  EXPECT_GE(s.kv_disk_blocks_read + s.kv_disk_corrupt, 1);
}

}  // namespace
}  // namespace packinfer::test
