// Throughput report (prints, asserts nothing): GEMV bandwidth at T=1 on the brief's shapes,
// GEMV against dequantize + cuBLAS over T (where kMatMulGemvMaxTokens comes from), and the
// MoE decode product on a DeepSeek-V2-Lite expert stack. Weights are random blocks: speed does
// not depend on the values.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>

#include "backends/cuda/matmul.h"
#include "tests/backends/cuda/matmul/matmul_test_util.h"

namespace kt::cuda {
namespace {

using namespace kt::cuda::test;

// Mean milliseconds of fn over `reps` back-to-back launches (after one warm-up), by events.
double time_ms(Gpu& gpu, int reps, const std::function<void()>& fn) {
  fn();
  gpu.sync();
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  cudaEventRecord(a, gpu.stream());
  for (int i = 0; i < reps; ++i) fn();
  cudaEventRecord(b, gpu.stream());
  cudaEventSynchronize(b);
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return double(ms) / reps;
}

TEST(CudaMatMulBench, GemvBandwidthAtT1) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  Gpu gpu;
  tensor::Node node;
  node.op = tensor::Op::MatMul;
  node.name = "bench";
  struct Shape {
    int64_t K, N;
  };
  for (DType type : {DType::Q4_K, DType::Q6_K, DType::Q8_0, DType::Q5_K, DType::Q4_0, DType::Q5_0,
                     DType::F16, DType::BF16, DType::F32}) {
    const int64_t bs = tensor::type_traits(type).block_size;
    // 10944 is not a multiple of 256: K-quant rows of that length cannot exist, use 10752.
    const int64_t long_k = bs == 256 ? 10752 : 10944;
    for (Shape s : {Shape{2048, 10944}, Shape{long_k, 2048}, Shape{2048, 102400}}) {
      if (type == DType::F32 && s.N == 102400) continue;
      const auto wbytes = random_weights(type, s.K, s.N, 1);
      const Tensor w = to_device(type, {s.K, s.N}, wbytes.data());
      const auto xf = random_floats(s.K, 2);
      const Tensor x = to_device(DType::F32, {s.K, 1}, xf.data());
      const Tensor out = device_empty(DType::F32, {s.N, 1});
      const double ms = time_ms(gpu, 50, [&] { launch_matmul(node, w, x, out, gpu.ctx()); });
      const double gbs = double(wbytes.size()) / (ms * 1e-3) / 1e9;
      std::printf("[bench] gemv %-5s K=%6lld N=%6lld T=1: %8.2f us  %7.1f GB/s (%.0f%% of 3350)\n",
                  type_name(type).c_str(), (long long)s.K, (long long)s.N, ms * 1e3, gbs,
                  gbs / 3350 * 100);
    }
  }
}

TEST(CudaMatMulBench, GemvVersusCublasOverT) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  Gpu gpu;
  tensor::Node node;
  node.op = tensor::Op::MatMul;
  node.name = "bench";
  for (DType type : {DType::Q4_K, DType::Q8_0, DType::F16}) {
    const int64_t K = 2048, N = 10944;
    const auto wbytes = random_weights(type, K, N, 1);
    const Tensor w = to_device(type, {K, N}, wbytes.data());
    for (int64_t T : {1, 2, 4, 8, 12, 16, 24, 32, 64}) {
      const auto xf = random_floats(K * T, 2);
      const Tensor x = to_device(DType::F32, {K, T}, xf.data());
      const Tensor out = device_empty(DType::F32, {N, T});
      const double g =
          time_ms(gpu, 20, [&] { launch_matmul(node, w, x, out, gpu.ctx(), MatMulPath::Gemv); });
      const double c =
          time_ms(gpu, 20, [&] { launch_matmul(node, w, x, out, gpu.ctx(), MatMulPath::Gemm); });
      std::printf("[bench] %-5s 2048x10944 T=%3lld: gemv %8.2f us  cublas %8.2f us\n",
                  type_name(type).c_str(), (long long)T, g * 1e3, c * 1e3);
    }
  }
}

TEST(CudaMatMulBench, ExpertsDecode) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  Gpu gpu;
  tensor::Node node;
  node.op = tensor::Op::MatMulExperts;
  node.name = "bench";
  const int64_t K = 2048, N = 1408, E = 64, k = 6;
  for (DType type : {DType::Q4_K, DType::Q6_K, DType::Q8_0}) {
    const auto wbytes = random_weights(type, K, N * E, 1);
    const Tensor w = to_device(type, {K, N, E}, wbytes.data());
    const size_t matrix_bytes = wbytes.size() / size_t(E);
    for (int64_t T : {1, 2, 4, 8, 16, 32, 64, 128}) {
      std::vector<int32_t> ids(size_t(k * T));
      for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 7 + i / 6) % E);
      const Tensor d_ids = to_device(DType::I32, {k, T}, ids.data());
      const auto xf = random_floats(K * T, 2);
      const Tensor x = to_device(DType::F32, {K, T}, xf.data());
      const Tensor out = device_empty(DType::F32, {N, k, T});
      const double g = time_ms(gpu, 20, [&] {
        launch_matmul_experts(node, w, x, d_ids, out, gpu.ctx(), MatMulPath::Gemv);
      });
      const double c = time_ms(gpu, 5, [&] {
        launch_matmul_experts(node, w, x, d_ids, out, gpu.ctx(), MatMulPath::Gemm);
      });
      const double gbs = double(matrix_bytes * size_t(k * T)) / (g * 1e-3) / 1e9;
      std::printf(
          "[bench] experts %-5s {2048,1408,64} k=6 T=%2lld: gemv %8.2f us (%6.1f GB/s "
          "over the %lld matrices read)  cublas %8.2f us\n",
          type_name(type).c_str(), (long long)T, g * 1e3, gbs, (long long)(k * T), c * 1e3);
    }
  }
}

}  // namespace
}  // namespace kt::cuda
