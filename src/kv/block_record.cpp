#include "kv/block_record.h"

#include <xxhash.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace packinfer {

namespace {
constexpr uint32_t kVersion = 1;
}  // namespace

BlockRecordHeader block_record_header(const BlockRecordKind& kind, uint64_t key, uint64_t parent,
                                      uint64_t payload_bytes) {
  BlockRecordHeader h;
  h.magic = kind.magic;
  h.version = kVersion;
  h.fingerprint = kind.fingerprint;
  h.key = key;
  h.parent = parent;
  h.block_size = static_cast<uint32_t>(kind.block_size);
  h.payload_bytes = payload_bytes;
  return h;
}

std::string block_key_hex(uint64_t key) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, key);
  return buf;
}

void seal_block_record(BlockRecordHeader& h, std::span<const uint8_t> tokens,
                       std::span<const uint8_t> payload) {
  h.tokens_checksum = XXH3_64bits(tokens.data(), tokens.size());
  h.payload_checksum = XXH3_64bits(payload.data(), payload.size());
}

bool block_record_header_fits(const BlockRecordHeader& h, const BlockRecordKind& kind, uint64_t key,
                              uint64_t payload_bytes) {
  return h.magic == kind.magic && h.version == kVersion && h.fingerprint == kind.fingerprint &&
         h.key == key && h.block_size == static_cast<uint32_t>(kind.block_size) &&
         h.payload_bytes == payload_bytes;
}

bool block_record_checksums_match(const BlockRecordHeader& h, std::span<const uint8_t> tokens,
                                  std::span<const uint8_t> payload) {
  return XXH3_64bits(tokens.data(), tokens.size()) == h.tokens_checksum &&
         XXH3_64bits(payload.data(), payload.size()) == h.payload_checksum;
}

bool block_record_is_prefix(const BlockRecordHeader& h, uint64_t parent,
                            std::span<const uint8_t> stored, std::span<const int32_t> tokens) {
  return h.parent == parent && stored.size() == tokens.size_bytes() &&
         std::memcmp(stored.data(), tokens.data(), stored.size()) == 0;
}

}  // namespace packinfer
