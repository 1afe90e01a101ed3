// MatMulExperts on the GPU against the double-precision reference: every weight type, both
// paths (per-pair GEMV; host grouping + cuBLAS), shared and per-slot activations, repeated
// experts, and ids out of range (zero rows + error flag, no stray read).
#include <gtest/gtest.h>

#include <cstdio>

#include "backends/cuda/matmul.h"
#include "tensor/error.h"
#include "tests/backends/cuda/matmul/matmul_test_util.h"

namespace kt::cuda {
namespace {

using namespace kt::cuda::test;

int64_t short_k(DType t) {
  const int64_t bs = tensor::type_traits(t).block_size;
  return bs == 256 ? 256 : bs == 32 ? 64 : 40;
}

struct Case {
  int64_t K, N, E, k, T;
  bool per_slot;
};

// Runs one case; ids may hold invalid entries (their rows must be zero). Returns the worst
// relative error over the valid pairs.
double run_case(Gpu& gpu, DType type, const Case& c, const std::vector<int32_t>& ids,
                MatMulPath path, std::string* where) {
  tensor::Node node;
  node.op = tensor::Op::MatMulExperts;
  node.name = "test.experts";
  const auto wbytes = random_weights(type, c.K, c.N * c.E, uint32_t(c.K + c.N + c.E));
  const auto wf = dequantized(type, wbytes, c.K, c.N * c.E);
  const Tensor w = to_device(type, {c.K, c.N, c.E}, wbytes.data());
  const int64_t pairs = c.k * c.T, xrows = c.per_slot ? pairs : c.T;
  const auto xf = random_floats(c.K * xrows, uint32_t(c.T * 3 + c.per_slot));
  const Tensor x = to_device(DType::F32, {c.K, xrows}, xf.data());
  const Tensor d_ids = to_device(DType::I32, {c.k, c.T}, ids.data());
  const Tensor out = device_empty(DType::F32, {c.N, c.k, c.T});
  check(cudaMemset(out.data(), 0x7F, size_t(out.numel()) * 4), "poison output");
  EXPECT_LE(matmul_experts_workspace_bytes(w, d_ids, path), gpu.ctx().workspace_bytes);
  launch_matmul_experts(node, w, x, d_ids, out, gpu.ctx(), path);
  gpu.sync();
  const auto y = to_host(out);
  ErrorStat err;
  for (int64_t p = 0; p < pairs; ++p) {
    const int32_t e = ids[size_t(p)];
    const float* xr = &xf[size_t((c.per_slot ? p : p / c.k) * c.K)];
    for (int64_t n = 0; n < c.N; ++n) {
      const float got = y[size_t(p * c.N + n)];
      if (e < 0 || e >= c.E) {
        if (got != 0.0f) {
          *where = "invalid pair " + std::to_string(p) + " not zeroed";
          return INFINITY;
        }
        continue;
      }
      err.add(got, &wf[size_t((e * c.N + n) * c.K)], xr, c.K,
              "pair " + std::to_string(p) + " n=" + std::to_string(n));
    }
  }
  *where = err.where;
  return err.worst;
}

std::vector<int32_t> random_ids(int64_t count, int64_t E, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(count));
  for (auto& i : ids) i = int32_t(rng() % uint32_t(E));
  return ids;
}

class CudaMatMulExperts : public ::testing::TestWithParam<DType> {};

TEST_P(CudaMatMulExperts, MatchesReferenceOnBothPaths) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const DType type = GetParam();
  Gpu gpu;
  for (int64_t K : {short_k(type), int64_t(2304)}) {
    for (int64_t T : {1, 3, 9, 64}) {
      for (bool per_slot : {false, true}) {
        const Case c{K, 37, 5, 3, T, per_slot};
        const auto ids = random_ids(c.k * c.T, c.E, uint32_t(T * 11 + K));
        for (MatMulPath path : {MatMulPath::Gemv, MatMulPath::Gemm}) {
          std::string where;
          const double e = run_case(gpu, type, c, ids, path, &where);
          const double tol = path == MatMulPath::Gemv ? 2e-5 : 1e-3;
          const char* pname = path == MatMulPath::Gemv ? "gemv" : "gemm";
          if (T == 64 || e >= tol)
            std::printf("[experts] %-5s %s K=%lld T=%lld per_slot=%d max rel err %.3g\n",
                        type_name(type).c_str(), pname, (long long)K, (long long)T, int(per_slot),
                        e);
          EXPECT_LT(e, tol) << type_name(type) << " " << pname << " K=" << K << " T=" << T
                            << " per_slot=" << per_slot << " worst at " << where;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, CudaMatMulExperts, ::testing::ValuesIn(all_types()),
                         [](const auto& info) { return type_name(info.param); });

TEST(CudaMatMulExpertsErrors, InvalidIdsGiveZeroRowsAndTheFlag) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  Gpu gpu;
  take_expert_error(gpu.stream());  // start clear
  const Case c{64, 37, 5, 3, 4, false};
  std::vector<int32_t> ids = random_ids(12, 5, 3);
  ids[1] = 5;         // == E
  ids[7] = -1;        // negative
  ids[10] = 1 << 30;  // far out
  for (MatMulPath path : {MatMulPath::Gemv, MatMulPath::Gemm}) {
    std::string where;
    const double e = run_case(gpu, DType::Q8_0, c, ids, path, &where);
    EXPECT_LT(e, path == MatMulPath::Gemv ? 2e-5 : 1e-3) << where;
    EXPECT_TRUE(take_expert_error(gpu.stream())) << "flag not set";
    EXPECT_FALSE(take_expert_error(gpu.stream())) << "flag not cleared";
  }
  // Valid ids leave the flag alone.
  std::string where;
  run_case(gpu, DType::Q8_0, c, random_ids(12, 5, 4), MatMulPath::Gemv, &where);
  EXPECT_FALSE(take_expert_error(gpu.stream()));
}

TEST(CudaMatMulExpertsErrors, RejectsMismatchedInput) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  Gpu gpu;
  tensor::Node node;
  node.op = tensor::Op::MatMulExperts;
  node.name = "bad.experts";
  const auto wbytes = random_weights(DType::Q8_0, 64, 8 * 4, 1);
  const Tensor w = to_device(DType::Q8_0, {64, 8, 4}, wbytes.data());
  const std::vector<int32_t> ids = {0, 1, 2, 3};
  const Tensor d_ids = to_device(DType::I32, {2, 2}, ids.data());
  const Tensor x = device_zeros(DType::F32, {64, 3});  // neither T=2 nor k*T=4 rows
  const Tensor out = device_zeros(DType::F32, {8, 2, 2});
  EXPECT_THROW(launch_matmul_experts(node, w, x, d_ids, out, gpu.ctx()), Error);
}

// The decode path is capturable: record it once, replay it with other ids.
TEST(CudaMatMulExpertsGraph, GemvCapturesAndReplays) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  Gpu gpu;
  tensor::Node node;
  node.op = tensor::Op::MatMulExperts;
  node.name = "graph.experts";
  const int64_t K = 256, N = 45, E = 8, k = 2, T = 1;
  const auto wbytes = random_weights(DType::Q4_K, K, N * E, 2);
  const auto wf = dequantized(DType::Q4_K, wbytes, K, N * E);
  const Tensor w = to_device(DType::Q4_K, {K, N, E}, wbytes.data());
  const auto xf = random_floats(K, 1);
  const Tensor x = to_device(DType::F32, {K, T}, xf.data());
  const Tensor d_ids = device_zeros(DType::I32, {k, T});
  const Tensor out = device_zeros(DType::F32, {N, k, T});
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  check(cudaStreamBeginCapture(gpu.stream(), cudaStreamCaptureModeThreadLocal), "capture");
  launch_matmul_experts(node, w, x, d_ids, out, gpu.ctx());
  check(cudaStreamEndCapture(gpu.stream(), &graph), "end capture");
  check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  const int32_t ids[2] = {6, 3};
  check(cudaMemcpy(d_ids.data(), ids, sizeof ids, cudaMemcpyHostToDevice), "copy");
  check(cudaGraphLaunch(exec, gpu.stream()), "graph launch");
  gpu.sync();
  const auto y = to_host(out);
  ErrorStat err;
  for (int64_t j = 0; j < k; ++j)
    for (int64_t n = 0; n < N; ++n)
      err.add(y[size_t(j * N + n)], &wf[size_t((ids[j] * N + n) * K)], xf.data(), K, "replay");
  EXPECT_LT(err.worst, 2e-5) << err.where;
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
}

}  // namespace
}  // namespace kt::cuda
