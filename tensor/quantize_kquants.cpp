// Quantizers of the 256-element super-block formats: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and IQ4_XS.
// Each follows ggml's reference quantizer without importance matrix: a scale (and min)
// search per sub-block (quant_search.h), then the sub-block scales are themselves quantized
// against one f16 super-block scale, and finally every element is re-rounded against the
// scales as the reader will see them (after f16 and 4/6-bit rounding), so the codes fit the
// stored scales rather than the ideal ones.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_search.h"
#include "tensor/quants.h"

namespace kt::tensor {
namespace {

// 2-bit codes of 128 elements: byte l holds elements l, l+32, l+64, l+96 (lowest bits first).
// Shared by Q2_K's codes and Q3_K's low two bits.
void pack_2bit_codes(const uint8_t* L, uint8_t* qs) {
  for (int half = 0; half < QK_K; half += 128) {
    for (int l = 0; l < 32; ++l) {
      qs[half / 4 + l] = uint8_t(L[half + l] | (L[half + l + 32] << 2) | (L[half + l + 64] << 4) |
                                 (L[half + l + 96] << 6));
    }
  }
}

// Affine re-rounding of one group against its stored scale d and min dm: x ~ d*L - dm.
void requantize_affine(const float* x, int n, float d, float dm, int nmax, uint8_t* L) {
  for (int i = 0; i < n; ++i) L[i] = uint8_t(std::clamp(nearest_int((x[i] + dm) / d), 0, nmax));
}

// ---------------------------------------------------------------------------------- Q2_K

size_t quantize_q2_K_block(const float* x, BlockQ2_K* y) {
  constexpr float kQ4Scale = 15.0f;  // scales and mins are 4-bit
  uint8_t L[QK_K];
  float weights[16], scales[QK_K / 16], mins[QK_K / 16];
  float max_scale = 0.0f, max_min = 0.0f;  // the min is subtracted, so scales are positive
  for (int j = 0; j < QK_K / 16; ++j) {
    // 2-bit codes are coarse: weighting by |x| and minimizing |error| protects large values.
    for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
    scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j],
                                 AffineSearch{-0.5f, 0.1f, 15, true});
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  std::memset(y->scales, 0, sizeof(y->scales));
  y->d = fp32_to_fp16(max_scale > 0 ? max_scale / kQ4Scale : 0.0f);
  y->dmin = fp32_to_fp16(max_min > 0 ? max_min / kQ4Scale : 0.0f);
  for (int j = 0; j < QK_K / 16; ++j) {
    const int ls = max_scale > 0 ? nearest_int(kQ4Scale / max_scale * scales[j]) : 0;
    const int lm = max_min > 0 ? nearest_int(kQ4Scale / max_min * mins[j]) : 0;
    y->scales[j] = uint8_t(std::clamp(ls, 0, 15) | (std::clamp(lm, 0, 15) << 4));
  }
  const float d = fp16_to_fp32(y->d), dmin = fp16_to_fp32(y->dmin);
  for (int j = 0; j < QK_K / 16; ++j) {
    const float dl = d * (y->scales[j] & 0x0F);
    if (dl == 0.0f) continue;  // keep the search's codes; they are multiplied by zero anyway
    requantize_affine(x + 16 * j, 16, dl, dmin * (y->scales[j] >> 4), 3, L + 16 * j);
  }
  pack_2bit_codes(L, y->qs);
  return sizeof(BlockQ2_K);
}

// ---------------------------------------------------------------------------------- Q3_K

// Stores the 6-bit value u (scale + 32) of sub-block j: low nibble in bytes 0..7, top two
// bits in bytes 8..11 (gguf.md 7.9).
void pack_q3_K_scale(int j, int u, uint8_t* s) {
  if (j < 8) {
    s[j] |= uint8_t(u & 0x0F);
  } else {
    s[j - 8] |= uint8_t((u & 0x0F) << 4);
  }
  s[8 + j % 4] |= uint8_t((u >> 4) << (2 * (j / 4)));
}

size_t quantize_q3_K_block(const float* x, BlockQ3_K* y) {
  int8_t L[QK_K];
  float scales[QK_K / 16];
  float max_scale = 0.0f, amax = 0.0f;  // scales are signed: keep the one of largest |.|
  for (int j = 0; j < QK_K / 16; ++j) {
    scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
    if (std::fabs(scales[j]) > amax) {
      amax = std::fabs(scales[j]);
      max_scale = scales[j];
    }
  }
  std::memset(y->scales, 0, sizeof(y->scales));
  int sc[QK_K / 16] = {};
  if (max_scale != 0.0f) {
    // The largest scale maps to -32, the end of the signed 6-bit range with the most room.
    const float iscale = -32.0f / max_scale;
    for (int j = 0; j < QK_K / 16; ++j) {
      sc[j] = std::clamp(nearest_int(iscale * scales[j]), -32, 31);
      pack_q3_K_scale(j, sc[j] + 32, y->scales);
    }
    y->d = fp32_to_fp16(1 / iscale);
  } else {
    y->d = fp32_to_fp16(0.0f);
  }
  const float d = fp16_to_fp32(y->d);
  for (int j = 0; j < QK_K / 16; ++j) {
    const float dl = d * sc[j];
    if (dl == 0.0f) continue;
    for (int i = 0; i < 16; ++i) {
      L[16 * j + i] = int8_t(std::clamp(nearest_int(x[16 * j + i] / dl), -4, 3) + 4);
    }
  }
  // Bit 2 of code e goes to hmask[e % 32] bit e / 32; the low two bits pack as in Q2_K.
  std::memset(y->hmask, 0, sizeof(y->hmask));
  uint8_t low[QK_K];
  for (int e = 0; e < QK_K; ++e) {
    if (L[e] > 3) y->hmask[e % 32] |= uint8_t(1 << (e / 32));
    low[e] = uint8_t(L[e] & 3);
  }
  pack_2bit_codes(low, y->qs);
  return sizeof(BlockQ3_K);
}

// ------------------------------------------------------------------------- Q4_K and Q5_K

// Writes the 6-bit scale ls and min lm of sub-block j into the 12 packed bytes (gguf.md 7.10).
void pack_scale_min_k4(int j, int ls, int lm, uint8_t* s) {
  if (j < 4) {
    s[j] = uint8_t(ls);
    s[j + 4] = uint8_t(lm);
  } else {
    s[j + 4] = uint8_t((ls & 0x0F) | ((lm & 0x0F) << 4));
    s[j - 4] |= uint8_t((ls >> 4) << 6);
    s[j] |= uint8_t((lm >> 4) << 6);
  }
}

// Everything Q4_K and Q5_K share: the scale/min search per 32-element sub-block, the 6-bit
// scales and mins under f16 d and dmin, and the codes in [0, nmax] re-rounded against them.
void quantize_affine_superblock(const float* x, int nmax, const AffineSearch& search,
                                uint16_t* d_out, uint16_t* dmin_out, uint8_t* packed, uint8_t* L) {
  float weights[32], scales[QK_K / 32], mins[QK_K / 32];
  float max_scale = 0.0f, max_min = 0.0f;
  for (int j = 0; j < QK_K / 32; ++j) {
    const float* xs = x + 32 * j;
    // Weight each element by the group's RMS plus its own magnitude: errors on large values
    // cost more, but small values are not ignored.
    float sum_x2 = 0.0f;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = make_qkx2_quants(32, nmax, xs, weights, L + 32 * j, &mins[j], search);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  std::memset(packed, 0, K_SCALE_SIZE);
  for (int j = 0; j < QK_K / 32; ++j) {
    pack_scale_min_k4(j, std::clamp(nearest_int(inv_scale * scales[j]), 0, 63),
                      std::clamp(nearest_int(inv_min * mins[j]), 0, 63), packed);
  }
  *d_out = fp32_to_fp16(max_scale / 63.0f);
  *dmin_out = fp32_to_fp16(max_min / 63.0f);
  const float d = fp16_to_fp32(*d_out), dmin = fp16_to_fp32(*dmin_out);
  for (int j = 0; j < QK_K / 32; ++j) {
    uint8_t sc, m;
    get_scale_min_k4(j, packed, &sc, &m);
    if (d * sc == 0.0f) continue;
    requantize_affine(x + 32 * j, 32, d * sc, dmin * m, nmax, L + 32 * j);
  }
}

size_t quantize_q4_K_block(const float* x, BlockQ4_K* y) {
  uint8_t L[QK_K];
  quantize_affine_superblock(x, 15, AffineSearch{-1.0f, 0.1f, 20, false}, &y->d, &y->dmin,
                             y->scales, L);
  // Chunk c of 64 elements: the first 32 in the low nibbles of qs[32c..], the rest high.
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l)
      y->qs[32 * c + l] = uint8_t(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
  }
  return sizeof(BlockQ4_K);
}

size_t quantize_q5_K_block(const float* x, BlockQ5_K* y) {
  uint8_t L[QK_K];
  quantize_affine_superblock(x, 31, AffineSearch{-0.5f, 0.1f, 15, false}, &y->d, &y->dmin,
                             y->scales, L);
  // As Q4_K for the low four bits; bit 4 of element 32s + l goes to qh[l] bit s.
  std::memset(y->qh, 0, sizeof(y->qh));
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t lo = L[64 * c + l], hi = L[64 * c + 32 + l];
      y->qs[32 * c + l] = uint8_t((lo & 0x0F) | ((hi & 0x0F) << 4));
      y->qh[l] |= uint8_t(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
    }
  }
  return sizeof(BlockQ5_K);
}

// ---------------------------------------------------------------------------------- Q6_K

size_t quantize_q6_K_block(const float* x, BlockQ6_K* y) {
  int8_t L[QK_K];
  float scales[QK_K / 16];
  float max_scale = 0.0f, max_abs_scale = 0.0f;
  for (int j = 0; j < QK_K / 16; ++j) {
    scales[j] = make_qx_quants(16, 32, x + 16 * j, L + 16 * j);
    if (std::fabs(scales[j]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[j]);
      max_scale = scales[j];
    }
  }
  std::memset(y, 0, sizeof(*y));
  if (max_abs_scale < kGroupMaxEps) return sizeof(BlockQ6_K);  // all zero: d = 0
  // Scales are signed 8-bit; the largest maps to -128, the end of the range with most room.
  const float iscale = -128.0f / max_scale;
  y->d = fp32_to_fp16(1 / iscale);
  for (int j = 0; j < QK_K / 16; ++j) {
    y->scales[j] = int8_t(std::clamp(nearest_int(iscale * scales[j]), -128, 127));
  }
  const float d = fp16_to_fp32(y->d);
  for (int j = 0; j < QK_K / 16; ++j) {
    const float dl = d * y->scales[j];
    if (dl == 0.0f) continue;
    for (int i = 0; i < 16; ++i) {
      L[16 * j + i] = int8_t(std::clamp(nearest_int(x[16 * j + i] / dl), -32, 31) + 32);
    }
  }
  // Half h, element 128h + 32k + l: low nibble in ql[64h + 32(k%2) + l] (k < 2 low half of
  // the byte, k >= 2 high half), top two bits in qh[32h + l] bits 2k..2k+1.
  for (int h = 0; h < 2; ++h) {
    const int8_t* Lh = L + 128 * h;
    uint8_t* ql = y->ql + 64 * h;
    uint8_t* qh = y->qh + 32 * h;
    for (int l = 0; l < 32; ++l) {
      ql[l] = uint8_t((Lh[l] & 0x0F) | ((Lh[l + 64] & 0x0F) << 4));
      ql[l + 32] = uint8_t((Lh[l + 32] & 0x0F) | ((Lh[l + 96] & 0x0F) << 4));
      qh[l] = uint8_t((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) |
                      ((Lh[l + 96] >> 4) << 6));
    }
  }
  return sizeof(BlockQ6_K);
}

// -------------------------------------------------------------------------------- IQ4_XS

size_t quantize_iq4_xs_block(const float* x, BlockIQ4_XS* y) {
  uint8_t L[QK_K];
  float scales[QK_K / 32];
  float max_scale = 0.0f, amax_scale = 0.0f;
  for (int ib = 0; ib < QK_K / 32; ++ib) {
    // ntry = 7 is what ggml's quantize_iq4_xs (llama-quantize) uses.
    scales[ib] = iq4_search_scale(32, x + 32 * ib, 7);
    if (std::fabs(scales[ib]) > amax_scale) {
      amax_scale = std::fabs(scales[ib]);
      max_scale = scales[ib];
    }
  }
  std::memset(y, 0, sizeof(*y));
  // Sub-block scales are 6-bit signed (stored +32); the largest maps to -32. (The guard keeps
  // an all-zero block's d at +0 rather than -0.)
  const float d = max_scale != 0.0f ? -max_scale / 32 : 0.0f;
  y->d = fp32_to_fp16(d);
  const float id = d != 0.0f ? 1 / d : 0.0f;
  for (int ib = 0; ib < QK_K / 32; ++ib) {
    const int l = std::clamp(nearest_int(id * scales[ib]), -32, 31);
    // Codes follow the unrounded super-block scale times the 6-bit sub-block scale, as ggml.
    const float dl = d * l;
    const float idl = dl != 0.0f ? 1 / dl : 0.0f;
    for (int j = 0; j < 32; ++j) L[32 * ib + j] = uint8_t(iq4nl_index(idl * x[32 * ib + j]));
    const int u = l + 32;
    y->scales_l[ib / 2] |= uint8_t((u & 0x0F) << (4 * (ib % 2)));
    y->scales_h |= uint16_t((u >> 4) << (2 * ib));
  }
  // Sub-block ib: element j in the low nibble of qs[16ib + j], element j+16 in the high one.
  for (int ib = 0; ib < QK_K / 32; ++ib) {
    for (int j = 0; j < 16; ++j) {
      y->qs[16 * ib + j] = uint8_t(L[32 * ib + j] | (L[32 * ib + 16 + j] << 4));
    }
  }
  return sizeof(BlockIQ4_XS);
}

// Applies a per-super-block quantizer to a row of n elements (a multiple of QK_K).
template <typename Block>
size_t quantize_superblocks(const float* x, void* dst, int64_t n,
                            size_t (*quantize_block)(const float*, Block*)) {
  auto* y = static_cast<Block*>(dst);
  const int64_t nb = n / QK_K;
  for (int64_t b = 0; b < nb; ++b) quantize_block(x + b * QK_K, &y[b]);
  return size_t(nb) * sizeof(Block);
}

}  // namespace

size_t quantize_row_q2_K(const float* x, void* dst, int64_t n) {
  return quantize_superblocks<BlockQ2_K>(x, dst, n, quantize_q2_K_block);
}
size_t quantize_row_q3_K(const float* x, void* dst, int64_t n) {
  return quantize_superblocks<BlockQ3_K>(x, dst, n, quantize_q3_K_block);
}
size_t quantize_row_q4_K(const float* x, void* dst, int64_t n) {
  return quantize_superblocks<BlockQ4_K>(x, dst, n, quantize_q4_K_block);
}
size_t quantize_row_q5_K(const float* x, void* dst, int64_t n) {
  return quantize_superblocks<BlockQ5_K>(x, dst, n, quantize_q5_K_block);
}
size_t quantize_row_q6_K(const float* x, void* dst, int64_t n) {
  return quantize_superblocks<BlockQ6_K>(x, dst, n, quantize_q6_K_block);
}
size_t quantize_row_iq4_xs(const float* x, void* dst, int64_t n) {
  return quantize_superblocks<BlockIQ4_XS>(x, dst, n, quantize_iq4_xs_block);
}

}  // namespace kt::tensor
