// Quantizers of the 32-element formats with one scale per block: Q4_0, Q4_1, Q5_0, Q5_1
// (ggml's reference rounding, which llama-quantize also uses without an importance matrix)
// and IQ4_NL (non-linear code book, with ggml's scale search).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_search.h"
#include "tensor/quants.h"

namespace kt::tensor {
namespace {

constexpr int kBlock = 32;  // QK4_0 == QK4_1 == QK5_0 == QK5_1 == QK4_NL

// Element j of a block goes to the low nibble of byte j, element j+16 to the high nibble.
void pack_nibbles(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < kBlock / 2; ++j)
    qs[j] = uint8_t((L[j] & 0x0F) | ((L[j + kBlock / 2] & 0x0F) << 4));
}

// Fifth bits of a Q5 block: bit j of the little-endian u32 holds bit 4 of element j.
void pack_high_bits(const uint8_t* L, uint8_t* qh) {
  uint32_t h = 0;
  for (int j = 0; j < kBlock; ++j) h |= uint32_t(L[j] >> 4) << j;
  std::memcpy(qh, &h, 4);
}

// Symmetric formats anchor the scale on the element of largest magnitude, with its sign, so
// that element lands exactly on the code -2^(bits-1) and the other side has one code less.
float symmetric_scale(const float* x, int levels_below_zero) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kBlock; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max / float(-levels_below_zero);
}

// Codes of a symmetric block: trunc(x/d + offset + 0.5), i.e. round half up, capped.
void symmetric_codes(const float* x, float d, int offset, int cap, uint8_t* L) {
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < kBlock; ++j) {
    L[j] = uint8_t(std::min(cap, int(x[j] * id + (float(offset) + 0.5f))));
  }
}

// Affine formats map [min, max] onto [0, nmax]; returns d and sets *min.
float affine_scale(const float* x, int nmax, float* min) {
  float lo = FLT_MAX, hi = -FLT_MAX;
  for (int j = 0; j < kBlock; ++j) {
    lo = std::min(lo, x[j]);
    hi = std::max(hi, x[j]);
  }
  *min = lo;
  return (hi - lo) / float(nmax);
}

void affine_codes(const float* x, float d, float min, int nmax, uint8_t* L) {
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < kBlock; ++j) {
    L[j] = uint8_t(std::clamp(int((x[j] - min) * id + 0.5f), 0, nmax));
  }
}

}  // namespace

size_t quantize_row_q4_0(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_0*>(dst);
  const int64_t nb = n / kBlock;
  uint8_t L[kBlock];
  for (int64_t b = 0; b < nb; ++b, x += kBlock) {
    const float d = symmetric_scale(x, 8);
    y[b].d = fp32_to_fp16(d);
    symmetric_codes(x, d, 8, 15, L);
    pack_nibbles(L, y[b].qs);
  }
  return size_t(nb) * sizeof(BlockQ4_0);
}

size_t quantize_row_q4_1(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_1*>(dst);
  const int64_t nb = n / kBlock;
  uint8_t L[kBlock];
  for (int64_t b = 0; b < nb; ++b, x += kBlock) {
    float min;
    const float d = affine_scale(x, 15, &min);
    y[b].d = fp32_to_fp16(d);
    y[b].m = fp32_to_fp16(min);
    affine_codes(x, d, min, 15, L);
    pack_nibbles(L, y[b].qs);
  }
  return size_t(nb) * sizeof(BlockQ4_1);
}

size_t quantize_row_q5_0(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5_0*>(dst);
  const int64_t nb = n / kBlock;
  uint8_t L[kBlock];
  for (int64_t b = 0; b < nb; ++b, x += kBlock) {
    const float d = symmetric_scale(x, 16);
    y[b].d = fp32_to_fp16(d);
    symmetric_codes(x, d, 16, 31, L);
    pack_nibbles(L, y[b].qs);
    pack_high_bits(L, y[b].qh);
  }
  return size_t(nb) * sizeof(BlockQ5_0);
}

size_t quantize_row_q5_1(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ5_1*>(dst);
  const int64_t nb = n / kBlock;
  uint8_t L[kBlock];
  for (int64_t b = 0; b < nb; ++b, x += kBlock) {
    float min;
    const float d = affine_scale(x, 31, &min);
    y[b].d = fp32_to_fp16(d);
    y[b].m = fp32_to_fp16(min);
    affine_codes(x, d, min, 31, L);
    pack_nibbles(L, y[b].qs);
    pack_high_bits(L, y[b].qh);
  }
  return size_t(nb) * sizeof(BlockQ5_1);
}

size_t quantize_row_iq4_nl(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockIQ4_NL*>(dst);
  const int64_t nb = n / kBlock;
  uint8_t L[kBlock];
  for (int64_t b = 0; b < nb; ++b, x += kBlock) {
    // ntry = 7 is what ggml's quantize_iq4_nl (llama-quantize) uses.
    const float d = iq4_search_scale(kBlock, x, 7);
    y[b].d = fp32_to_fp16(d);
    // Codes are chosen against the unrounded scale, as ggml does.
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < kBlock; ++j) L[j] = uint8_t(iq4nl_index(id * x[j]));
    pack_nibbles(L, y[b].qs);
  }
  return size_t(nb) * sizeof(BlockIQ4_NL);
}

}  // namespace kt::tensor
