// Reference dequantization of every supported block format (gguf.md section 7). These are
// the plain versions every optimized kernel is tested against.
#include <cstring>

#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"
#include "tensor/quants.h"

namespace kt::tensor {

void dequantize_row_f32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, size_t(n) * sizeof(float));
}

void dequantize_row_f16(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(x[i]);
}

void dequantize_row_bf16(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(x[i]);
}

void dequantize_row_q4_0(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ4_0*>(src);
  for (int64_t b = 0; b < n / QK4_0; ++b, y += QK4_0) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < QK4_0 / 2; ++j) {
      y[j] = d * (int(x[b].qs[j] & 0x0F) - 8);
      y[j + QK4_0 / 2] = d * (int(x[b].qs[j] >> 4) - 8);
    }
  }
}

void dequantize_row_q4_1(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ4_1*>(src);
  for (int64_t b = 0; b < n / QK4_1; ++b, y += QK4_1) {
    const float d = fp16_to_fp32(x[b].d), m = fp16_to_fp32(x[b].m);
    for (int j = 0; j < QK4_1 / 2; ++j) {
      y[j] = d * (x[b].qs[j] & 0x0F) + m;
      y[j + QK4_1 / 2] = d * (x[b].qs[j] >> 4) + m;
    }
  }
}

void dequantize_row_q5_0(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ5_0*>(src);
  for (int64_t b = 0; b < n / QK5_0; ++b, y += QK5_0) {
    const float d = fp16_to_fp32(x[b].d);
    uint32_t h;
    std::memcpy(&h, x[b].qh, 4);
    for (int j = 0; j < QK5_0 / 2; ++j) {
      const int q0 = (x[b].qs[j] & 0x0F) | (((h >> j) & 1) << 4);
      const int q1 = (x[b].qs[j] >> 4) | (((h >> (j + 16)) & 1) << 4);
      y[j] = d * (q0 - 16);
      y[j + QK5_0 / 2] = d * (q1 - 16);
    }
  }
}

void dequantize_row_q5_1(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ5_1*>(src);
  for (int64_t b = 0; b < n / QK5_1; ++b, y += QK5_1) {
    const float d = fp16_to_fp32(x[b].d), m = fp16_to_fp32(x[b].m);
    uint32_t h;
    std::memcpy(&h, x[b].qh, 4);
    for (int j = 0; j < QK5_1 / 2; ++j) {
      const int q0 = (x[b].qs[j] & 0x0F) | (((h >> j) & 1) << 4);
      const int q1 = (x[b].qs[j] >> 4) | (((h >> (j + 16)) & 1) << 4);
      y[j] = d * q0 + m;
      y[j + QK5_1 / 2] = d * q1 + m;
    }
  }
}

void dequantize_row_q8_0(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ8_0*>(src);
  for (int64_t b = 0; b < n / QK8_0; ++b, y += QK8_0) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < QK8_0; ++j) y[j] = d * x[b].qs[j];
  }
}

void dequantize_row_q8_1(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ8_1*>(src);
  for (int64_t b = 0; b < n / QK8_1; ++b, y += QK8_1) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < QK8_1; ++j) y[j] = d * x[b].qs[j];
  }
}

void dequantize_row_q2_K(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ2_K*>(src);
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const float d = fp16_to_fp32(x[b].d), dmin = fp16_to_fp32(x[b].dmin);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = x[b].qs + 32 * h;
      for (int j = 0; j < 4; ++j) {
        for (int l = 0; l < 32; ++l) {
          const uint8_t sc = x[b].scales[8 * h + 2 * j + l / 16];
          *y++ = d * (sc & 0x0F) * ((q[l] >> (2 * j)) & 3) - dmin * (sc >> 4);
        }
      }
    }
  }
}

void dequantize_row_q3_K(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ3_K*>(src);
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    const uint8_t* s = x[b].scales;
    int scales[16];
    for (int i = 0; i < 16; ++i) {
      const int low4 = i < 8 ? (s[i] & 0x0F) : (s[i - 8] >> 4);
      const int hi2 = (s[8 + (i % 4)] >> (2 * (i / 4))) & 3;
      scales[i] = (low4 | (hi2 << 4)) - 32;
    }
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = x[b].qs + 32 * h;
      for (int j = 0; j < 4; ++j) {
        for (int l = 0; l < 32; ++l) {
          const int q2 = (q[l] >> (2 * j)) & 3;
          const bool hb = (x[b].hmask[l] >> (4 * h + j)) & 1;
          *y++ = d * scales[8 * h + 2 * j + l / 16] * (q2 - (hb ? 0 : 4));
        }
      }
    }
  }
}

void dequantize_row_q4_K(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ4_K*>(src);
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const float d = fp16_to_fp32(x[b].d), dmin = fp16_to_fp32(x[b].dmin);
    for (int c = 0; c < 4; ++c) {
      uint8_t sa, ma, sb, mb;
      get_scale_min_k4(2 * c, x[b].scales, &sa, &ma);
      get_scale_min_k4(2 * c + 1, x[b].scales, &sb, &mb);
      const uint8_t* q = x[b].qs + 32 * c;
      for (int l = 0; l < 32; ++l) y[l] = d * sa * (q[l] & 0x0F) - dmin * ma;
      for (int l = 0; l < 32; ++l) y[32 + l] = d * sb * (q[l] >> 4) - dmin * mb;
      y += 64;
    }
  }
}

void dequantize_row_q5_K(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ5_K*>(src);
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const float d = fp16_to_fp32(x[b].d), dmin = fp16_to_fp32(x[b].dmin);
    for (int c = 0; c < 4; ++c) {
      uint8_t sa, ma, sb, mb;
      get_scale_min_k4(2 * c, x[b].scales, &sa, &ma);
      get_scale_min_k4(2 * c + 1, x[b].scales, &sb, &mb);
      const uint8_t* q = x[b].qs + 32 * c;
      for (int l = 0; l < 32; ++l) {
        const int lo = (q[l] & 0x0F) + 16 * ((x[b].qh[l] >> (2 * c)) & 1);
        y[l] = d * sa * lo - dmin * ma;
      }
      for (int l = 0; l < 32; ++l) {
        const int hi = (q[l] >> 4) + 16 * ((x[b].qh[l] >> (2 * c + 1)) & 1);
        y[32 + l] = d * sb * hi - dmin * mb;
      }
      y += 64;
    }
  }
}

void dequantize_row_q6_K(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ6_K*>(src);
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    for (int half = 0; half < 2; ++half) {
      const uint8_t* L = x[b].ql + 64 * half;
      const uint8_t* H = x[b].qh + 32 * half;
      const int8_t* S = x[b].scales + 8 * half;
      for (int l = 0; l < 32; ++l) {
        const int g = l / 16;
        const int q1 = int((L[l] & 0x0F) | ((H[l] & 3) << 4)) - 32;
        const int q2 = int((L[l + 32] & 0x0F) | (((H[l] >> 2) & 3) << 4)) - 32;
        const int q3 = int((L[l] >> 4) | (((H[l] >> 4) & 3) << 4)) - 32;
        const int q4 = int((L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * S[g] * q1;
        y[l + 32] = d * S[g + 2] * q2;
        y[l + 64] = d * S[g + 4] * q3;
        y[l + 96] = d * S[g + 6] * q4;
      }
      y += 128;
    }
  }
}

void dequantize_row_q8_K(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ8_K*>(src);
  for (int64_t b = 0; b < n / QK_K; ++b, y += QK_K) {
    for (int j = 0; j < QK_K; ++j) y[j] = x[b].d * x[b].qs[j];
  }
}

void dequantize_row_iq4_nl(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockIQ4_NL*>(src);
  for (int64_t b = 0; b < n / QK4_NL; ++b, y += QK4_NL) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < QK4_NL / 2; ++j) {
      y[j] = d * kIQ4NLValues[x[b].qs[j] & 0x0F];
      y[j + QK4_NL / 2] = d * kIQ4NLValues[x[b].qs[j] >> 4];
    }
  }
}

void dequantize_row_iq4_xs(const void* src, float* y, int64_t n) {
  const auto* x = static_cast<const BlockIQ4_XS*>(src);
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    for (int sb = 0; sb < 8; ++sb) {
      const int ls = ((x[b].scales_l[sb / 2] >> (4 * (sb % 2))) & 0x0F) |
                     (((x[b].scales_h >> (2 * sb)) & 3) << 4);
      const float dl = d * (ls - 32);
      const uint8_t* q = x[b].qs + 16 * sb;
      for (int j = 0; j < 16; ++j) {
        y[j] = dl * kIQ4NLValues[q[j] & 0x0F];
        y[j + 16] = dl * kIQ4NLValues[q[j] >> 4];
      }
      y += 32;
    }
  }
}

}  // namespace kt::tensor
