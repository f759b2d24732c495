#pragma once
// The orthonormal Walsh-Hadamard transform of rows of d values (d a power of two): H = H^T =
// H^-1, so rotating both queries and keys keeps every score q.k, and rotating the values and then
// the attention output gives back the output. Low-bit KV formats store rotated keys and values
// (--kv-rotate) because the rotation spreads an outlier channel over all channels, which quantizes
// with a smaller error (as llama.cpp and QuaRot do).
#include <cstdint>

namespace packinfer {

// Transforms n_rows rows of d floats, rows `stride` floats apart, in place.
void hadamard_rows(float* x, int64_t n_rows, int64_t stride, int32_t d);

}  // namespace packinfer
