#pragma once
// Shared pieces of the matmul family's tests: random weights in every supported block format,
// a stream + cuBLAS handle + workspace like the executor's, and the double-precision reference
// (tensor/quants dequantization, then exact dot products) with the relative error measure
//   |got - want| / Σ_k |w[n,k]·x[k]|,
// which scales with the rounding any F32 / F16 sum may make.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/cuda/device.h"
#include "backends/cuda/launch.h"
#include "backends/cuda/memory.h"
#include "tensor/dtype.h"
#include "tensor/fp16.h"
#include "tensor/tensor.h"

namespace kt::cuda::test {

using tensor::DType;
using tensor::Tensor;

inline const std::vector<DType>& all_types() {
  static const std::vector<DType> t = {DType::F32,  DType::F16,  DType::BF16,
                                       DType::Q4_0, DType::Q5_0, DType::Q8_0,
                                       DType::Q4_K, DType::Q5_K, DType::Q6_K};
  return t;
}

inline std::string type_name(DType t) {
  return tensor::dtype_name(t);
}

// Random bytes for `rows` rows of k elements: every quant bit pattern, the f16 scale fields
// replaced by small values (offsets per gguf.md) so that nothing is NaN or huge.
inline std::vector<uint8_t> random_weights(DType type, int64_t k, int64_t rows, uint32_t seed) {
  const auto& tr = tensor::type_traits(type);
  const size_t bytes = tensor::row_size(type, k) * size_t(rows);
  std::vector<uint8_t> v(bytes);
  std::mt19937 rng(seed);
  for (size_t i = 0; i + 4 <= bytes; i += 4) {
    const uint32_t r = rng();
    std::memcpy(v.data() + i, &r, 4);
  }
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f), value(-1.0f, 1.0f);
  auto put16 = [&](size_t at, uint16_t h) { std::memcpy(v.data() + at, &h, 2); };
  const int64_t n = k * rows;
  switch (type) {
    case DType::F32:
      for (int64_t i = 0; i < n; ++i) {
        const float f = value(rng);
        std::memcpy(v.data() + 4 * i, &f, 4);
      }
      return v;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) put16(2 * size_t(i), tensor::fp32_to_fp16(value(rng)));
      return v;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) put16(2 * size_t(i), tensor::fp32_to_bf16(value(rng)));
      return v;
    default:
      break;
  }
  std::vector<size_t> offsets;
  switch (type) {
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q5_0:
      offsets = {0};
      break;
    case DType::Q4_K:
    case DType::Q5_K:
      offsets = {0, 2};
      break;
    case DType::Q6_K:
      offsets = {208};
      break;
    default:
      break;
  }
  for (size_t blk = 0; blk < bytes / tr.type_size; ++blk)
    for (size_t off : offsets) put16(blk * tr.type_size + off, tensor::fp32_to_fp16(scale(rng)));
  return v;
}

inline std::vector<float> random_floats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& f : v) f = u(rng);
  return v;
}

// A host tensor of that type and shape holding `bytes`, uploaded.
inline Tensor to_device(DType type, const tensor::Shape& shape, const void* bytes) {
  Tensor h = Tensor::zeros(type, shape);
  std::memcpy(h.data(), bytes, h.nbytes());
  return upload(h);
}

inline std::vector<float> to_host(const Tensor& d) {
  Tensor h = download(d);
  const float* p = h.data_as<float>();
  return std::vector<float>(p, p + h.numel());
}

// The executor's launch context: a stream, a cuBLAS handle on it, a workspace.
class Gpu {
 public:
  explicit Gpu(size_t workspace_bytes = size_t(256) << 20) {
    check(cudaStreamCreate(&stream_), "cudaStreamCreate");
    if (cublasCreate(&cublas_) != CUBLAS_STATUS_SUCCESS) throw std::runtime_error("cublasCreate");
    cublasSetStream(cublas_, stream_);
    ws_ = device_alloc(workspace_bytes, 0, "test workspace");
    ctx_.stream = stream_;
    ctx_.cublas = cublas_;
    ctx_.workspace = ws_.get();
    ctx_.workspace_bytes = workspace_bytes;
  }
  ~Gpu() {
    cublasDestroy(cublas_);
    cudaStreamDestroy(stream_);
  }
  const LaunchContext& ctx() const { return ctx_; }
  cudaStream_t stream() const { return stream_; }
  void sync() const { check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

 private:
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::shared_ptr<void> ws_;
  LaunchContext ctx_;
};

// Rows of a weight as floats, exactly as the CPU dequantizes them.
inline std::vector<float> dequantized(DType type, const std::vector<uint8_t>& w, int64_t k,
                                      int64_t rows) {
  std::vector<float> f(size_t(k * rows));
  const size_t rb = tensor::row_size(type, k);
  for (int64_t r = 0; r < rows; ++r)
    tensor::dequantize_row(type, w.data() + size_t(r) * rb, f.data() + r * k, k);
  return f;
}

// Worst relative error of got against W·x over a set of (row, activation) products.
struct ErrorStat {
  double worst = 0.0;
  std::string where;
  void add(double got, const float* w, const float* x, int64_t k, const std::string& at) {
    double want = 0.0, mag = 0.0;
    for (int64_t i = 0; i < k; ++i) {
      want += double(w[i]) * double(x[i]);
      mag += std::fabs(double(w[i]) * double(x[i]));
    }
    const double e = std::fabs(got - want) / std::max(mag, 1e-30);
    if (!(e <= worst)) {  // also catches NaN
      worst = std::isnan(e) ? INFINITY : e;
      where = at + " got " + std::to_string(got) + " want " + std::to_string(want);
    }
  }
};

}  // namespace kt::cuda::test
