#pragma once
// Reference quantizers (scalar, round to nearest) for the simple block types, following ggml's
// quantize_row_*_ref so the bytes written are what llama.cpp would write. Used by tests to make
// quantized data with a known source, and available for quantizing activations or weights.
#include <cstdint>

namespace packinfer {

// n must be a multiple of 32. dst receives n/32 blocks.
void quantize_row_q8_0(const float* x, void* dst, int64_t n);
void quantize_row_q4_0(const float* x, void* dst, int64_t n);

}  // namespace packinfer
