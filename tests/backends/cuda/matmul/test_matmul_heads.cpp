// MatMulHeads on the GPU against the double-precision reference: every weight type, both
// paths (per-head GEMV; F16 + strided-batched cuBLAS), odd N and several token counts.
#include <gtest/gtest.h>

#include <cstdio>

#include "backends/cuda/matmul.h"
#include "tests/backends/cuda/matmul/matmul_test_util.h"

namespace kt::cuda {
namespace {

using namespace kt::cuda::test;

class CudaMatMulHeads : public ::testing::TestWithParam<DType> {};

TEST_P(CudaMatMulHeads, MatchesReferenceOnBothPaths) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const DType type = GetParam();
  Gpu gpu;
  tensor::Node node;
  node.op = tensor::Op::MatMulHeads;
  node.name = "test.heads";
  const int64_t bs = tensor::type_traits(type).block_size;
  const int64_t K = bs == 256 ? 512 : bs == 32 ? 160 : 136, N = 37, H = 3;
  const auto wbytes = random_weights(type, K, N * H, uint32_t(K));
  const auto wf = dequantized(type, wbytes, K, N * H);
  const Tensor w = to_device(type, {K, N, H}, wbytes.data());
  for (int64_t T : {1, 3, 9, 64}) {
    const auto xf = random_floats(K * H * T, uint32_t(T + 100));
    const Tensor x = to_device(DType::F32, {K, H, T}, xf.data());
    for (MatMulPath path : {MatMulPath::Gemv, MatMulPath::Gemm}) {
      const Tensor out = device_zeros(DType::F32, {N, H, T});
      ASSERT_LE(matmul_heads_workspace_bytes(w, T, path), gpu.ctx().workspace_bytes);
      launch_matmul_heads(node, w, x, out, gpu.ctx(), path);
      gpu.sync();
      const auto y = to_host(out);
      ErrorStat err;
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t n = 0; n < N; ++n)
            err.add(
                y[size_t((t * H + h) * N + n)], &wf[size_t((h * N + n) * K)],
                &xf[size_t((t * H + h) * K)], K,
                "t=" + std::to_string(t) + " h=" + std::to_string(h) + " n=" + std::to_string(n));
      const double tol = path == MatMulPath::Gemv ? 2e-5 : 1e-3;
      const char* pname = path == MatMulPath::Gemv ? "gemv" : "gemm";
      if (T == 64 || err.worst >= tol)
        std::printf("[heads] %-5s %s K=%lld T=%lld max rel err %.3g\n", type_name(type).c_str(),
                    pname, (long long)K, (long long)T, err.worst);
      EXPECT_LT(err.worst, tol) << type_name(type) << " " << pname << " T=" << T << " worst at "
                                << err.where;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, CudaMatMulHeads, ::testing::ValuesIn(all_types()),
                         [](const auto& info) { return type_name(info.param); });

}  // namespace
}  // namespace kt::cuda
