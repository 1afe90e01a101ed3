// The Marlin int4 GEMM against a double-precision host product of exactly the values it should
// multiply: the repacked weights read back (marlin_dequantize) and the FP16-rounded
// activations. Shapes are odd but supported (K a multiple of the group, N of 64), tokens on
// both sides of the 16-row MMA tile and of the 64-token launch chunk. Also reports (prints) how
// far the int4 requantization moves Q4_K and Q8_0 weights. Skips without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "backends/cuda/device.h"
#include "backends/cuda/marlin.h"
#include "backends/cuda/memory.h"
#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/fp16.h"
#include "tensor/tensor.h"

namespace kt::cuda {
namespace {

using tensor::DType;
using tensor::Tensor;

std::vector<float> random_normal(size_t n, float sd, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// A host F32 weight {K, N}.
Tensor f32_weight(int64_t k, int64_t n, uint32_t seed) {
  Tensor t = Tensor::zeros(DType::F32, {k, n});
  const std::vector<float> v = random_normal(size_t(k * n), 0.02f, seed);
  std::copy(v.begin(), v.end(), t.data_as<float>());
  return t;
}

float round_f16(float x) {
  return tensor::fp16_to_fp32(tensor::fp32_to_fp16(x));
}

struct Check {
  double max_err = 0, max_ratio = 0, err2 = 0, ref2 = 0;
  int64_t worst_n = -1, worst_t = -1;
  double worst_ref = 0, worst_got = 0;
};

// y {N, T} against sum_k wq[n][k] * x16[t][k] in double; the bound per element is 2e-3 of
// sum_k |w x| (FP16 rounding of each weight product, F32 accumulation) plus a tiny floor.
Check compare(const std::vector<float>& wq, const std::vector<float>& x16,
              const std::vector<float>& y, int64_t K, int64_t N, int64_t T) {
  Check c;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      double ref = 0, mag = 0;
      const float* w = wq.data() + n * K;
      const float* x = x16.data() + t * K;
      for (int64_t k = 0; k < K; ++k) {
        ref += double(w[k]) * x[k];
        mag += std::fabs(double(w[k]) * x[k]);
      }
      const double got = y[size_t(t * N + n)];
      const double err = std::fabs(got - ref);
      const double ratio = err / (2e-3 * mag + 1e-6);
      c.err2 += err * err;
      c.ref2 += ref * ref;
      if (!(ratio <= c.max_ratio)) {  // also catches NaN
        c.max_ratio = std::isnan(ratio) ? 1e30 : ratio;
        c.worst_n = n, c.worst_t = t, c.worst_ref = ref, c.worst_got = got;
      }
      c.max_err = std::max(c.max_err, err);
    }
  return c;
}

void expect_close(const Check& c, const std::string& what) {
  const double rel_rms = std::sqrt(c.err2 / std::max(c.ref2, 1e-30));
  EXPECT_LE(c.max_ratio, 1.0) << what << ": max abs err " << c.max_err << "; worst at n "
                              << c.worst_n << " t " << c.worst_t << ": got " << c.worst_got
                              << " want " << c.worst_ref << " (" << c.max_ratio
                              << " x tolerance), relative rms " << rel_rms;
  EXPECT_LE(rel_rms, 1e-3) << what << ": relative rms error " << rel_rms;
}

struct DeviceBuffer {
  std::shared_ptr<void> mem;
  explicit DeviceBuffer(size_t bytes) : mem(device_alloc(bytes)) {}
  void* get() const { return mem.get(); }
};

std::string shape_name(int64_t k, int64_t n, int64_t t, int group) {
  return "K " + std::to_string(k) + " N " + std::to_string(n) + " T " + std::to_string(t) +
         " group " + std::to_string(group);
}

TEST(CudaMarlin, SupportedShapes) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  EXPECT_TRUE(marlin_supported(2048, 576, 128));
  EXPECT_TRUE(marlin_supported(10944, 2048, 64));
  EXPECT_FALSE(marlin_supported(10944, 2048, 128));  // K not a multiple of the group
  EXPECT_FALSE(marlin_supported(2048, 100, 128));    // N not a multiple of 64
  EXPECT_FALSE(marlin_supported(2048, 2048, 32));    // group size
  const Tensor bad = f32_weight(256, 96, 1);
  EXPECT_THROW(marlin_repack(bad, 128, nullptr), Error);
}

// The F32 entry point (what the executor calls) on every shape of the brief.
TEST(CudaMarlin, MatmulMatchesReference) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const int64_t Ks[] = {256, 2048, 2048 + 128};
  const int64_t Ns[] = {64, 192, 1408, 2048 + 64};
  const int64_t Ts[] = {1, 3, 16, 17, 64, 100};
  for (int group : {128, 64}) {
    for (int64_t K : Ks) {
      for (int64_t N : Ns) {
        if (group == 64 && K == 2048 && N != 1408) continue;  // keep the run short
        const MarlinWeight w = marlin_repack(f32_weight(K, N, uint32_t(K * 7 + N)), group, nullptr);
        const std::vector<float> wq = marlin_dequantize(w, nullptr);
        for (int64_t T : Ts) {
          const std::vector<float> x = random_normal(size_t(K * T), 1.0f, uint32_t(T + K));
          std::vector<float> x16(x.size());
          for (size_t i = 0; i < x.size(); ++i) x16[i] = round_f16(x[i]);
          DeviceBuffer dx(x.size() * 4), dy(size_t(N * T) * 4);
          const size_t ws_bytes = marlin_workspace_bytes(w, T);
          DeviceBuffer ws(ws_bytes);
          check(cudaMemcpy(dx.get(), x.data(), x.size() * 4, cudaMemcpyHostToDevice), "copy x");
          check(cudaMemset(dy.get(), 0xff, size_t(N * T) * 4), "poison y");  // NaN if unwritten
          LaunchContext ctx;
          ctx.workspace = ws.get();
          ctx.workspace_bytes = ws_bytes;
          marlin_matmul(w, static_cast<const float*>(dx.get()), static_cast<float*>(dy.get()), T,
                        ctx);
          check(cudaDeviceSynchronize(), "marlin_matmul");
          std::vector<float> y(size_t(N * T));
          check(cudaMemcpy(y.data(), dy.get(), y.size() * 4, cudaMemcpyDeviceToHost), "copy y");
          expect_close(compare(wq, x16, y, K, N, T), shape_name(K, N, T, group));
        }
      }
    }
  }
}

// The FP16 entry point (used by the benchmark), output rounded to FP16.
TEST(CudaMarlin, GemmF16MatchesReference) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const int64_t K = 2048 + 128, N = 192;
  const MarlinWeight w = marlin_repack(f32_weight(K, N, 5), 128, nullptr);
  const std::vector<float> wq = marlin_dequantize(w, nullptr);
  for (int64_t T : {1, 17, 64}) {
    const std::vector<float> x = random_normal(size_t(K * T), 1.0f, uint32_t(T));
    std::vector<uint16_t> x16(x.size());
    std::vector<float> x16f(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      x16[i] = tensor::fp32_to_fp16(x[i]);
      x16f[i] = tensor::fp16_to_fp32(x16[i]);
    }
    DeviceBuffer da(x16.size() * 2), dc(size_t(N * T) * 2);
    const size_t ws_bytes = marlin_gemm_f16_workspace_bytes(w, T);
    DeviceBuffer ws(ws_bytes);
    check(cudaMemcpy(da.get(), x16.data(), x16.size() * 2, cudaMemcpyHostToDevice), "copy a");
    marlin_gemm_f16(w, da.get(), dc.get(), T, ws.get(), ws_bytes, nullptr);
    check(cudaDeviceSynchronize(), "marlin_gemm_f16");
    std::vector<uint16_t> c16(size_t(N * T));
    check(cudaMemcpy(c16.data(), dc.get(), c16.size() * 2, cudaMemcpyDeviceToHost), "copy c");
    std::vector<float> c(c16.size());
    for (size_t i = 0; i < c.size(); ++i) c[i] = tensor::fp16_to_fp32(c16[i]);
    expect_close(compare(wq, x16f, c, K, N, T), "f16 " + shape_name(K, N, T, 128));
  }
}

TEST(CudaMarlin, ShortWorkspaceThrows) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const MarlinWeight w = marlin_repack(f32_weight(256, 64, 3), 128, nullptr);
  LaunchContext ctx;
  EXPECT_THROW(marlin_matmul(w, nullptr, nullptr, 4, ctx), Error);
}

// How far int4 with one FP16 scale per group moves GGUF weights (printed; loose bound only).
TEST(CudaMarlin, RequantizationError) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const int64_t K = 2048, N = 256;
  const std::vector<float> orig = random_normal(size_t(K * N), 0.02f, 11);
  for (DType type : {DType::Q4_K, DType::Q8_0}) {
    Tensor q = Tensor::zeros(type, {K, N});
    std::vector<float> gguf(size_t(K * N));
    for (int64_t n = 0; n < N; ++n) {
      tensor::quantize_row(type, orig.data() + n * K, q.row(n), K);
      tensor::dequantize_row(type, q.row(n), gguf.data() + n * K, K);
    }
    double e_gguf = 0, ref2 = 0;
    for (size_t i = 0; i < gguf.size(); ++i) {
      e_gguf += double(gguf[i] - orig[i]) * (gguf[i] - orig[i]);
      ref2 += double(gguf[i]) * gguf[i];
    }
    for (int group : {64, 128}) {
      const MarlinWeight w = marlin_repack(q, group, nullptr);
      const std::vector<float> m = marlin_dequantize(w, nullptr);
      double e = 0, emax = 0;
      for (size_t i = 0; i < m.size(); ++i) {
        const double d = double(m[i]) - gguf[i];
        e += d * d;
        emax = std::max(emax, std::fabs(d));
      }
      const double rel = std::sqrt(e / ref2);
      std::printf(
          "requantization %s -> int4 group %3d: relative rms %.4f, max abs %.5f (the %s file "
          "itself is %.4f from the F32 weights); %.3f bits per weight\n",
          tensor::dtype_name(type), group, rel, emax, tensor::dtype_name(type),
          std::sqrt(e_gguf / ref2), 8.0 * double(w.bytes()) / double(K * N));
      EXPECT_LT(rel, 0.15) << tensor::dtype_name(type) << " group " << group;
    }
  }
}

}  // namespace
}  // namespace kt::cuda
