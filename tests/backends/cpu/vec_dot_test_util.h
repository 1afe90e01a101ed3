#pragma once
// Random weight rows and activations for the CPU kernel tests. Quantized weights are random
// block bytes (every bit pattern of the quants) with sane random f16 scales.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/fp16.h"

namespace kt::cpu::testing {

using tensor::DType;

// Byte offsets of the f16 scale fields inside one block of a weight type.
inline std::vector<size_t> f16_fields(DType t) {
  switch (t) {
    case DType::Q4_0:
    case DType::Q5_0:
    case DType::Q8_0:
      return {0};
    case DType::Q4_K:
    case DType::Q5_K:
      return {0, 2};  // d, dmin
    case DType::Q6_K:
      return {208};
    default:
      return {};
  }
}

inline std::vector<uint8_t> random_weights(DType t, int64_t n_rows, int64_t k, std::mt19937& rng) {
  const size_t rs = tensor::row_size(t, k);
  std::vector<uint8_t> w(rs * size_t(n_rows));
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  if (t == DType::F32) {
    for (size_t i = 0; i < w.size() / 4; ++i) {
      const float v = val(rng);
      std::memcpy(&w[4 * i], &v, 4);
    }
    return w;
  }
  if (t == DType::F16 || t == DType::BF16) {
    for (size_t i = 0; i < w.size() / 2; ++i) {
      const float v = val(rng);
      const uint16_t h = t == DType::F16 ? tensor::fp32_to_fp16(v) : tensor::fp32_to_bf16(v);
      std::memcpy(&w[2 * i], &h, 2);
    }
    return w;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : w) b = uint8_t(byte(rng));
  const tensor::TypeTraits& tr = tensor::type_traits(t);
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  const size_t nblocks = w.size() / tr.type_size;
  for (size_t b = 0; b < nblocks; ++b) {
    for (size_t off : f16_fields(t)) {
      float v = scale(rng);
      if (byte(rng) & 1) v = -v;
      const uint16_t h = tensor::fp32_to_fp16(v);
      std::memcpy(&w[b * tr.type_size + off], &h, 2);
    }
  }
  return w;
}

// n_tokens rows of k floats with varied magnitudes per row.
inline std::vector<float> random_activations(int64_t n_tokens, int64_t k, std::mt19937& rng) {
  std::vector<float> x(size_t(n_tokens * k));
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float s = std::ldexp(1.0f, int(t % 5) - 2);
    for (int64_t i = 0; i < k; ++i) x[size_t(t * k + i)] = s * nd(rng);
  }
  return x;
}

// Bytes of one activation row for weights of type wtype.
inline size_t quantized_bytes(DType wtype, int64_t k) {
  return tensor::row_size(tensor::type_traits(wtype).vec_dot_type, k);
}

// Activation row in the weight's vec_dot_type.
inline std::vector<uint8_t> quantize_activation(DType wtype, const float* x, int64_t k) {
  const DType at = tensor::type_traits(wtype).vec_dot_type;
  std::vector<uint8_t> q(tensor::row_size(at, k));
  tensor::quantize_row(at, x, q.data(), k);
  return q;
}

// Σ |w_i·x_i| in double over dequantized values, where a K-quant's weight counts as
// |d·sc·q| + |dmin·m| (its two parts are rounded separately): the scale of float rounding
// error in a dot product.
inline double magnitude(DType wtype, const uint8_t* w, const uint8_t* xq, int64_t k) {
  const DType at = tensor::type_traits(wtype).vec_dot_type;
  std::vector<float> x(static_cast<size_t>(k)), a(static_cast<size_t>(k)),
      b(static_cast<size_t>(k));
  tensor::dequantize_row(at, xq, x.data(), k);
  const tensor::TypeTraits& tr = tensor::type_traits(wtype);
  const size_t rs = tensor::row_size(wtype, k);
  std::vector<uint8_t> copy(w, w + rs);
  const bool has_min = wtype == DType::Q4_K || wtype == DType::Q5_K;
  if (has_min)
    for (size_t blk = 0; blk < rs / tr.type_size; ++blk)
      std::memset(&copy[blk * tr.type_size + 2], 0, 2);
  tensor::dequantize_row(wtype, copy.data(), a.data(), k);
  if (has_min) {
    std::memcpy(copy.data(), w, rs);
    for (size_t blk = 0; blk < rs / tr.type_size; ++blk)
      std::memset(&copy[blk * tr.type_size], 0, 2);
    tensor::dequantize_row(wtype, copy.data(), b.data(), k);
  }
  double m = 0.0;
  for (int64_t i = 0; i < k; ++i)
    m += (std::fabs(double(a[size_t(i)])) + std::fabs(double(b[size_t(i)]))) *
         std::fabs(double(x[size_t(i)]));
  return m;
}

}  // namespace kt::cpu::testing
