#pragma once
// One KV block outside RAM, self-describing: what the disk tier writes to a file and the shared
// store writes to a Redis value. A 64-byte header, then the block's tokens (int32), then its
// payload (the block's bytes in its KV format). The header names the writer (magic), the
// configuration (fingerprint: model, KV format, block size), the block's hash-chain key and its
// parent's, and checksums of the tokens and the payload, so a truncated, corrupted or foreign
// record is told apart from a sound one.
#include <cstdint>
#include <span>
#include <string>

namespace packinfer {

struct BlockRecordHeader {
  uint32_t magic = 0;
  uint32_t version = 1;
  uint64_t fingerprint = 0;
  uint64_t key = 0;
  uint64_t parent = 0;
  uint32_t block_size = 0;
  uint32_t reserved = 0;
  uint64_t payload_bytes = 0;
  uint64_t payload_checksum = 0;
  uint64_t tokens_checksum = 0;
};
static_assert(sizeof(BlockRecordHeader) == 64);

// Who wrote records and for which configuration: what every header must repeat.
struct BlockRecordKind {
  uint32_t magic = 0;
  uint64_t fingerprint = 0;
  int32_t block_size = 0;
};

// The bytes of a record's tokens.
inline std::span<const uint8_t> block_record_token_bytes(std::span<const int32_t> tokens) {
  return {reinterpret_cast<const uint8_t*>(tokens.data()), tokens.size_bytes()};
}

// The header of a record, checksums not yet filled (seal_block_record fills them).
BlockRecordHeader block_record_header(const BlockRecordKind& kind, uint64_t key, uint64_t parent,
                                      uint64_t payload_bytes);

// A 64-bit key or fingerprint as 16 hex digits: how block files, their directory and store keys
// name it.
std::string block_key_hex(uint64_t key);

// Fills the checksums of `h` from the record's tokens and payload.
void seal_block_record(BlockRecordHeader& h, std::span<const uint8_t> tokens,
                       std::span<const uint8_t> payload);

// Whether a header belongs to this kind and key and announces `payload_bytes`; false means the
// record is damaged or foreign.
bool block_record_header_fits(const BlockRecordHeader& h, const BlockRecordKind& kind, uint64_t key,
                              uint64_t payload_bytes);

// Whether the record's tokens and payload match the header's checksums.
bool block_record_checksums_match(const BlockRecordHeader& h, std::span<const uint8_t> tokens,
                                  std::span<const uint8_t> payload);

// Sound records of another prefix can share a 64-bit key (a collision): whether this one is the
// block of `parent` followed by `tokens` (`stored`: the record's token bytes, any alignment).
bool block_record_is_prefix(const BlockRecordHeader& h, uint64_t parent,
                            std::span<const uint8_t> stored, std::span<const int32_t> tokens);

}  // namespace packinfer
