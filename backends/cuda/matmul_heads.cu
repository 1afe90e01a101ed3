// MatMulHeads on the GPU (DeepSeek MLA's absorbed per-head projections): a batched GEMV with
// one batch per head for few tokens; for many, every head's matrix dequantized to F16 and one
// strided-batched cuBLAS call. Neither synchronises, so both can be captured.
#include <cuda_fp16.h>

#include <string>

#include "backends/cuda/matmul.h"
#include "backends/cuda/matmul_internal.cuh"
#include "tensor/error.h"

namespace kt::cuda {

namespace {

using mm::fail;
using tensor::Node;
using tensor::Tensor;

bool use_gemv(MatMulPath path, int64_t T) {
  return path == MatMulPath::Gemv || (path == MatMulPath::Auto && T <= kHeadsGemvMaxTokens);
}

struct HeadSpace {
  __half* w = nullptr;  // H heads of N rows of K
  __half* x = nullptr;  // T·H rows of K
  size_t bytes = 0;
};
HeadSpace carve(int64_t K, int64_t N, int64_t H, int64_t T, void* base) {
  mm::Carver c(base);
  HeadSpace s;
  s.w = c.take<__half>(H * N * K);
  s.x = c.take<__half>(T * H * K);
  s.bytes = c.used();
  return s;
}

}  // namespace

size_t matmul_heads_workspace_bytes(const Tensor& w, int64_t T, MatMulPath path) {
  if (use_gemv(path, T)) return 0;
  return carve(w.ne(0), w.ne(1), w.ne(2), T, nullptr).bytes;
}

size_t matmul_heads_workspace_bytes(const Tensor& w, int64_t T) {
  return matmul_heads_workspace_bytes(w, T, MatMulPath::Auto);
}

void launch_matmul_heads(const Node& n, const Tensor& w, const Tensor& x, const Tensor& out,
                         const LaunchContext& ctx, MatMulPath path) {
  mm::check_weight(n, w);
  mm::check_f32(n, x, "input");
  mm::check_f32(n, out, "output");
  const int64_t K = w.ne(0), N = w.ne(1), H = w.ne(2);
  if (w.ne(3) != 1) fail(n, "weight " + w.str() + " must be 3-D");
  if (K * H == 0 || x.numel() % (K * H) != 0)
    fail(n, "input " + x.str() + " is not a whole number of {K, H} = {" + std::to_string(K) + ", " +
                std::to_string(H) + "} tokens");
  const int64_t T = x.numel() / (K * H);
  if (out.numel() != N * H * T || out.ne(0) != N)
    fail(n, "output " + out.str() + " is not {" + std::to_string(N) + ", " + std::to_string(H) +
                ", " + std::to_string(T) + "}");
  if (N == 0 || T == 0) return;
  const auto* wp = static_cast<const uint8_t*>(w.data());
  if (use_gemv(path, T)) {
    mm::GemvArgs a;
    a.w = wp;
    a.row_stride = w.nb(1);
    a.w_batch = w.nb(2);
    a.N = N;
    a.K = K;
    a.T = T;
    a.batches = H;
    a.x = x.data_as<float>();
    a.x_col = H * K;  // token t, head h at (t·H + h)·K
    a.x_batch = K;
    a.y = out.data_as<float>();
    a.y_col = H * N;
    a.y_batch = N;
    mm::gemv(w.dtype(), a, ctx.stream);
    return;
  }
  const HeadSpace need = carve(K, N, H, T, nullptr);
  if (need.bytes > ctx.workspace_bytes)
    fail(n, "needs " + std::to_string(need.bytes) + " workspace bytes, has " +
                std::to_string(ctx.workspace_bytes));
  const HeadSpace s = carve(K, N, H, T, ctx.workspace);
  mm::dequant_f16(w.dtype(), wp, w.nb(1), w.nb(2), N, H * N, K, s.w, ctx.stream);
  mm::rows_to_f16(x.data_as<float>(), K, nullptr, 1, T * H, s.x, ctx.stream);
  // Head h: out[t][h] (N floats, H·N apart) = W_h · x[t][h] (K halves, H·K apart).
  const float one = 1.0f, zero = 0.0f;
  mm::check_cublas(cublasGemmStridedBatchedEx(
                       ctx.cublas, CUBLAS_OP_T, CUBLAS_OP_N, int(N), int(T), int(K), &one, s.w,
                       CUDA_R_16F, int(K), N * K, s.x, CUDA_R_16F, int(H * K), K, &zero, out.data(),
                       CUDA_R_32F, int(H * N), N, int(H), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                   "MatMulHeads '" + n.name + "'");
}

void launch_matmul_heads(const Node& n, const Tensor& w, const Tensor& x, const Tensor& out,
                         const LaunchContext& ctx) {
  launch_matmul_heads(n, w, x, out, ctx, MatMulPath::Auto);
}

}  // namespace kt::cuda
