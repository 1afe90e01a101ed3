// Scalar reference dot products: the plain statement of every kernel, against which the SIMD
// tiers are tested. Integer partial sums per (sub-)block, then one float multiply-add per
// block, in the same shape the SIMD kernels compute.
#include <cstring>

#include "backends/cpu/vec_dot.h"
#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"
#include "tensor/quants.h"

namespace kt::cpu {
namespace {

using namespace kt::tensor;

float dot_f32(int64_t k, const void* w, const float* x) {
  const auto* a = static_cast<const float*>(w);
  float s = 0.0f;
  for (int64_t i = 0; i < k; ++i) s += a[i] * x[i];
  return s;
}

float dot_f16(int64_t k, const void* w, const float* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  float s = 0.0f;
  for (int64_t i = 0; i < k; ++i) s += fp16_to_fp32(a[i]) * x[i];
  return s;
}

float dot_bf16(int64_t k, const void* w, const float* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  float s = 0.0f;
  for (int64_t i = 0; i < k; ++i) s += bf16_to_fp32(a[i]) * x[i];
  return s;
}

// Q4_0: y = d·(q − 8).
float dot_q4_0(int64_t k, const void* w, const BlockQ8_0* y) {
  const auto* b = static_cast<const BlockQ4_0*>(w);
  float s = 0.0f;
  for (int64_t i = 0; i < k / QK4_0; ++i) {
    int isum = 0;
    for (int j = 0; j < 16; ++j) {
      isum += ((b[i].qs[j] & 0x0F) - 8) * y[i].qs[j];
      isum += ((b[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
    }
    s += fp16_to_fp32(b[i].d) * fp16_to_fp32(y[i].d) * float(isum);
  }
  return s;
}

// Q5_0: y = d·(q5 − 16), fifth bit of element j in bit j of qh.
float dot_q5_0(int64_t k, const void* w, const BlockQ8_0* y) {
  const auto* b = static_cast<const BlockQ5_0*>(w);
  float s = 0.0f;
  for (int64_t i = 0; i < k / QK5_0; ++i) {
    uint32_t h;
    std::memcpy(&h, b[i].qh, 4);
    int isum = 0;
    for (int j = 0; j < 16; ++j) {
      const int q0 = (b[i].qs[j] & 0x0F) | int(((h >> j) & 1) << 4);
      const int q1 = (b[i].qs[j] >> 4) | int(((h >> (j + 16)) & 1) << 4);
      isum += (q0 - 16) * y[i].qs[j] + (q1 - 16) * y[i].qs[j + 16];
    }
    s += fp16_to_fp32(b[i].d) * fp16_to_fp32(y[i].d) * float(isum);
  }
  return s;
}

float dot_q8_0(int64_t k, const void* w, const BlockQ8_0* y) {
  const auto* b = static_cast<const BlockQ8_0*>(w);
  float s = 0.0f;
  for (int64_t i = 0; i < k / QK8_0; ++i) {
    int isum = 0;
    for (int j = 0; j < QK8_0; ++j) isum += b[i].qs[j] * y[i].qs[j];
    s += fp16_to_fp32(b[i].d) * fp16_to_fp32(y[i].d) * float(isum);
  }
  return s;
}

// Q4_K: y = d·sc_j·q − dmin·m_j per 32-element sub-block j; the min term uses the
// activation's per-16 sums (bsums).
float dot_q4_K(int64_t k, const void* w, const BlockQ8_K* y) {
  const auto* b = static_cast<const BlockQ4_K*>(w);
  float s = 0.0f;
  for (int64_t i = 0; i < k / QK_K; ++i) {
    int isum = 0, msum = 0;
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      get_scale_min_k4(j, b[i].scales, &sc, &m);
      const uint8_t* q = b[i].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      int sub = 0;
      for (int l = 0; l < 32; ++l) sub += ((q[l] >> shift) & 0x0F) * y[i].qs[32 * j + l];
      isum += sc * sub;
      msum += m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    }
    s += y[i].d * fp16_to_fp32(b[i].d) * float(isum) -
         y[i].d * fp16_to_fp32(b[i].dmin) * float(msum);
  }
  return s;
}

float dot_q5_K(int64_t k, const void* w, const BlockQ8_K* y) {
  const auto* b = static_cast<const BlockQ5_K*>(w);
  float s = 0.0f;
  for (int64_t i = 0; i < k / QK_K; ++i) {
    int isum = 0, msum = 0;
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      get_scale_min_k4(j, b[i].scales, &sc, &m);
      const uint8_t* q = b[i].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      int sub = 0;
      for (int l = 0; l < 32; ++l) {
        const int q5 = ((q[l] >> shift) & 0x0F) | (((b[i].qh[l] >> j) & 1) << 4);
        sub += q5 * y[i].qs[32 * j + l];
      }
      isum += sc * sub;
      msum += m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    }
    s += y[i].d * fp16_to_fp32(b[i].d) * float(isum) -
         y[i].d * fp16_to_fp32(b[i].dmin) * float(msum);
  }
  return s;
}

// Q6_K: y = d·S_g·(q6 − 32) per 16-element group g.
float dot_q6_K(int64_t k, const void* w, const BlockQ8_K* y) {
  const auto* b = static_cast<const BlockQ6_K*>(w);
  float s = 0.0f;
  for (int64_t i = 0; i < k / QK_K; ++i) {
    int isum = 0;
    for (int n = 0; n < 2; ++n) {
      const uint8_t* ql = b[i].ql + 64 * n;
      const uint8_t* qh = b[i].qh + 32 * n;
      const int8_t* sc = b[i].scales + 8 * n;
      const int8_t* q8 = y[i].qs + 128 * n;
      for (int part = 0; part < 4; ++part) {  // elements 32·part .. 32·part + 31 of the half
        for (int g = 0; g < 2; ++g) {
          int sub = 0;
          for (int l = 16 * g; l < 16 * g + 16; ++l) {
            const int lo = part % 2 == 0 ? ql[l] : ql[l + 32];
            const int nib = part < 2 ? (lo & 0x0F) : (lo >> 4);
            const int q6 = nib | (((qh[l] >> (2 * part)) & 3) << 4);
            sub += (q6 - 32) * q8[32 * part + l];
          }
          isum += sc[2 * part + g] * sub;
        }
      }
    }
    s += y[i].d * fp16_to_fp32(b[i].d) * float(isum);
  }
  return s;
}

template <typename Y, float (*Dot)(int64_t, const void*, const Y*)>
void multi(int64_t k, const void* w, const void* x, size_t x_stride, int nx, float* s,
           size_t s_stride) {
  for (int j = 0; j < nx; ++j)
    s[j * s_stride] =
        Dot(k, w, reinterpret_cast<const Y*>(static_cast<const char*>(x) + j * x_stride));
}

void quantize_q8_0_ref(const float* src, void* dst, int64_t n) {
  quantize_row_q8_0(src, dst, n);
}
void quantize_q8_K_ref(const float* src, void* dst, int64_t n) {
  quantize_row_q8_K(src, dst, n);
}

}  // namespace

VecDotFn Kernels::vec_dot(DType wtype) const {
  switch (wtype) {
    case DType::F32:
      return f32;
    case DType::F16:
      return f16;
    case DType::BF16:
      return bf16;
    case DType::Q4_0:
      return q4_0;
    case DType::Q5_0:
      return q5_0;
    case DType::Q8_0:
      return q8_0;
    case DType::Q4_K:
      return q4_K;
    case DType::Q5_K:
      return q5_K;
    case DType::Q6_K:
      return q6_K;
    default:
      return nullptr;
  }
}

const Kernels& kernels_ref() {
  static const Kernels k = {
      Isa::Reference,
      multi<float, dot_f32>,
      multi<float, dot_f16>,
      multi<float, dot_bf16>,
      multi<BlockQ8_0, dot_q4_0>,
      multi<BlockQ8_0, dot_q5_0>,
      multi<BlockQ8_0, dot_q8_0>,
      multi<BlockQ8_K, dot_q4_K>,
      multi<BlockQ8_K, dot_q5_K>,
      multi<BlockQ8_K, dot_q6_K>,
      quantize_q8_0_ref,
      quantize_q8_K_ref,
  };
  return k;
}

const Kernels& kernels(Isa isa) {
  switch (isa) {
    case Isa::Avx512:
      return kernels_avx512();
    case Isa::Avx2:
      return kernels_avx2();
    case Isa::Reference:
      break;
  }
  return kernels_ref();
}

}  // namespace kt::cpu
