#pragma once
// Activation quantizers and scalar integer-path dots (TypeKernels::quantize_act / dot_act).
// The quantizers are shared by the scalar and AVX2 kernel sets so both see the same act bytes.
#include <cstdint>

namespace packinfer {

int64_t act_bytes_q8_0(int64_t n);  // n/32 ActQ8_0 blocks
void quantize_act_q8_0(const float* x, void* act, int64_t n);
int64_t act_bytes_q8_0s(int64_t n);  // n/32 ActQ8_0S blocks
void quantize_act_q8_0s(const float* x, void* act, int64_t n);
int64_t act_bytes_q8k(int64_t n);  // n/256 ActQ8K blocks
void quantize_act_q8k(const float* x, void* act, int64_t n);

}  // namespace packinfer
