#pragma once
// Tensor element types as numbered by GGUF/ggml, with their block layout. Quantized types store
// elements in blocks: `block_size` elements take `type_size` bytes.
#include <cstdint>
#include <optional>
#include <string_view>

namespace packinfer {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
};

struct GgmlTypeTraits {
  std::string_view name;
  int64_t block_size;  // elements per block
  int64_t type_size;   // bytes per block
};

// Layout of a type the GGUF reader knows (it can size and bounds-check such tensors even if no
// kernel computes with them); nullopt for a number that is no ggml type.
std::optional<GgmlTypeTraits> ggml_type_traits(uint32_t type);

// Name of the type for messages ("Q4_K", or "type 99" for unknown numbers).
std::string ggml_type_name(uint32_t type);

// Bytes taken by a row of n elements; n must be a multiple of the block size.
inline int64_t ggml_row_size(const GgmlTypeTraits& t, int64_t n) {
  return n / t.block_size * t.type_size;
}

}  // namespace packinfer
