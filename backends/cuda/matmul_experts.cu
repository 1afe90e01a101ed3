// MatMulExperts on the GPU. Decode (few (slot, token) pairs): one batched GEMV launch, a batch
// per pair, whose weight matrix the kernel picks from the ids in device memory: no host
// round trip, so it can be captured in a CUDA graph. Prefill (many pairs): the ids come to the
// host, pairs are grouped by expert, and each used expert is dequantized to F16 once and
// multiplied with its gathered rows by cuBLAS; this synchronises the stream.
#include <cuda_fp16.h>

#include <string>
#include <vector>

#include "backends/cuda/device.h"
#include "backends/cuda/matmul.h"
#include "backends/cuda/matmul_internal.cuh"
#include "tensor/error.h"

namespace kt::cuda {

namespace {

using mm::fail;
using tensor::DType;
using tensor::Node;
using tensor::Tensor;

// Set to 1 by any launch that meets an expert id outside [0, E). One per device (a __device__
// variable lives in each device's context), at a fixed address.
__device__ int32_t g_expert_error = 0;

__global__ void raise_flag(int32_t* flag) {
  *flag = 1;
}

bool use_gemv(MatMulPath path, int64_t pairs) {
  return path == MatMulPath::Gemv || (path == MatMulPath::Auto && pairs <= kExpertsGemvMaxPairs);
}

// Workspace of the cuBLAS path: the sorted pair list, the gathered F16 rows, their F32
// products, and one expert's F16 matrix.
struct ExpertSpace {
  int32_t* order = nullptr;
  __half* x = nullptr;
  float* y = nullptr;
  __half* w = nullptr;
  size_t bytes = 0;
};
ExpertSpace carve(int64_t N, int64_t K, int64_t pairs, void* base) {
  mm::Carver c(base);
  ExpertSpace s;
  s.order = c.take<int32_t>(pairs);
  s.x = c.take<__half>(pairs * K);
  s.y = c.take<float>(pairs * N);
  s.w = c.take<__half>(N * K);
  s.bytes = c.used();
  return s;
}

}  // namespace

int32_t* expert_error_flag() {
  void* p = nullptr;
  check(cudaGetSymbolAddress(&p, g_expert_error), "cudaGetSymbolAddress(expert error flag)");
  return static_cast<int32_t*>(p);
}

bool take_expert_error(cudaStream_t stream) {
  int32_t* flag = expert_error_flag();
  int32_t host = 0;
  check(cudaMemcpyAsync(&host, flag, sizeof host, cudaMemcpyDeviceToHost, stream),
        "reading the expert error flag");
  check(cudaMemsetAsync(flag, 0, sizeof host, stream), "clearing the expert error flag");
  check(cudaStreamSynchronize(stream), "reading the expert error flag");
  return host != 0;
}

size_t matmul_experts_workspace_bytes(const Tensor& w, const Tensor& ids, MatMulPath path) {
  const int64_t pairs = ids.numel();
  if (use_gemv(path, pairs)) return 0;
  return carve(w.ne(1), w.ne(0), pairs, nullptr).bytes;
}

size_t matmul_experts_workspace_bytes(const Tensor& w, const Tensor& ids) {
  return matmul_experts_workspace_bytes(w, ids, MatMulPath::Auto);
}

void launch_matmul_experts(const Node& n, const Tensor& w, const Tensor& x, const Tensor& ids,
                           const Tensor& out, const LaunchContext& ctx, MatMulPath path) {
  mm::check_weight(n, w);
  mm::check_f32(n, x, "input");
  mm::check_f32(n, out, "output");
  if (ids.dtype() != DType::I32 || !ids.device().is_cuda() || !ids.is_contiguous())
    fail(n, "ids must be a contiguous I32 tensor on the GPU, got " + ids.str());
  const int64_t K = w.ne(0), N = w.ne(1), E = w.ne(2);
  const int64_t k = ids.ne(0), T = ids.rows(), pairs = k * T;
  if (w.ne(3) != 1) fail(n, "weight " + w.str() + " must be 3-D");
  if (x.ne(0) != K) fail(n, "input " + x.str() + " does not match weight " + w.str());
  const bool per_slot = x.rows() == pairs;  // a row per (slot, token), else a row per token
  if (!per_slot && x.rows() != T)
    fail(n, "input " + x.str() + " has neither one row per token nor one per (slot, token) of " +
                ids.str());
  if (out.ne(0) != N || out.rows() != pairs)
    fail(n, "output " + out.str() + " is not {" + std::to_string(N) + ", " + std::to_string(k) +
                ", " + std::to_string(T) + "}");
  if (N == 0 || pairs == 0) return;
  const int64_t x_div = per_slot ? 1 : k;
  int32_t* flag = expert_error_flag();
  const auto* wp = static_cast<const uint8_t*>(w.data());

  if (use_gemv(path, pairs)) {
    mm::GemvArgs a;
    a.w = wp;
    a.row_stride = w.nb(1);
    a.w_batch = w.nb(2);
    a.ids = ids.data_as<int32_t>();
    a.n_experts = int32_t(E);
    a.error_flag = flag;
    a.N = N;
    a.K = K;
    a.T = 1;
    a.batches = pairs;
    a.x = x.data_as<float>();
    a.x_col = K;
    a.x_batch = K;
    a.x_div = x_div;
    a.y = out.data_as<float>();
    a.y_col = N;
    a.y_batch = N;
    mm::gemv(w.dtype(), a, ctx.stream);
    return;
  }

  // Prefill: group the pairs by expert on the host.
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(ctx.stream, &capturing), "cudaStreamIsCapturing");
  if (capturing != cudaStreamCaptureStatusNone)
    fail(n, "the cuBLAS path (" + std::to_string(pairs) +
                " pairs) reads the ids on the host and cannot be captured in a CUDA graph");
  const ExpertSpace need = carve(N, K, pairs, nullptr);
  if (need.bytes > ctx.workspace_bytes)
    fail(n, "needs " + std::to_string(need.bytes) + " workspace bytes, has " +
                std::to_string(ctx.workspace_bytes));
  const ExpertSpace s = carve(N, K, pairs, ctx.workspace);

  std::vector<int32_t> host_ids(static_cast<size_t>(pairs));
  check(cudaMemcpyAsync(host_ids.data(), ids.data(), size_t(pairs) * 4, cudaMemcpyDeviceToHost,
                        ctx.stream),
        "downloading expert ids");
  check(cudaStreamSynchronize(ctx.stream), "downloading expert ids");
  std::vector<int64_t> start(size_t(E) + 1, 0);
  int64_t invalid = 0;
  for (int32_t e : host_ids) {
    if (e < 0 || e >= E)
      ++invalid;
    else
      ++start[size_t(e) + 1];
  }
  for (int64_t e = 0; e < E; ++e) start[size_t(e) + 1] += start[size_t(e)];
  std::vector<int32_t> order(size_t(pairs - invalid));
  {
    std::vector<int64_t> next(start.begin(), start.end() - 1);
    for (int64_t p = 0; p < pairs; ++p) {
      const int32_t e = host_ids[size_t(p)];
      if (e >= 0 && e < E) order[size_t(next[size_t(e)]++)] = int32_t(p);
    }
  }
  if (invalid > 0) {
    raise_flag<<<1, 1, 0, ctx.stream>>>(flag);
    check(cudaGetLastError(), "raising the expert error flag");
    check(cudaMemsetAsync(out.data(), 0, size_t(out.numel()) * 4, ctx.stream),
          "zeroing MatMulExperts output");
  }
  const int64_t valid = int64_t(order.size());
  if (valid == 0) return;
  // Pageable source: the call returns once the bytes are staged, so `order` may go after it.
  check(
      cudaMemcpyAsync(s.order, order.data(), size_t(valid) * 4, cudaMemcpyHostToDevice, ctx.stream),
      "uploading the expert pair order");
  mm::rows_to_f16(x.data_as<float>(), K, s.order, x_div, valid, s.x, ctx.stream);
  const std::string what = "MatMulExperts '" + n.name + "'";
  for (int64_t e = 0; e < E; ++e) {
    const int64_t first = start[size_t(e)], count = start[size_t(e) + 1] - first;
    if (count == 0) continue;
    mm::dequant_f16(w.dtype(), wp + size_t(e) * w.nb(2), w.nb(1), 0, N, N, K, s.w, ctx.stream);
    mm::gemm_f16(ctx.cublas, N, count, K, s.w, K, s.x + first * K, s.y + first * N, N, what);
  }
  mm::scatter_rows(s.y, s.order, valid, N, out.data_as<float>(), ctx.stream);
}

void launch_matmul_experts(const Node& n, const Tensor& w, const Tensor& x, const Tensor& ids,
                           const Tensor& out, const LaunchContext& ctx) {
  launch_matmul_experts(n, w, x, ids, out, ctx, MatMulPath::Auto);
}

}  // namespace kt::cuda
