// The Marlin entry points: shape rules, workspace sizes, and the F32 wrapper that the graph
// executor calls (F32 activations -> FP16 in the workspace -> kernel writing F32 directly).
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>
#include <string>

#include "backends/cuda/device.h"
#include "backends/cuda/marlin.h"
#include "backends/cuda/marlin_internal.cuh"
#include "tensor/error.h"

namespace kt::cuda {
namespace {

constexpr size_t kAlign = 256;

size_t align_up(size_t b) {
  return (b + kAlign - 1) / kAlign * kAlign;
}

__global__ void f32_to_f16(const float* x, __half* y, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x)
    y[i] = __float2half_rn(x[i]);
}

std::string shape_of(const MarlinWeight& w) {
  return std::string("{") + std::to_string(w.k) + ", " + std::to_string(w.n) + "}";
}

}  // namespace

namespace marlin {

int sm_count() {
  // Asked once per device: it sits on the launch path of every call.
  static std::atomic<int> cached[64] = {};
  int dev = 0, sms = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) {
    cudaGetLastError();  // no device: size for an H100
    return 132;
  }
  if (dev < 64 && cached[dev].load(std::memory_order_relaxed) > 0) return cached[dev];
  if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
    cudaGetLastError();
    return 132;
  }
  if (dev < 64) cached[dev].store(sms, std::memory_order_relaxed);
  return sms;
}

}  // namespace marlin

size_t MarlinWeight::bytes() const {
  return size_t(k) * size_t(n) / 2 + size_t(k / group) * size_t(n) * 2;
}

bool marlin_supported(int64_t k, int64_t n, int group) {
  // K is a multiple of the group (so of 64: stages split into whole k16 tiles and groups),
  // N of the 64-output strip; int indexing inside the kernel bounds both.
  return (group == 64 || group == 128) && k > 0 && n > 0 && k % group == 0 &&
         n % marlin::kTileN == 0 && k < (int64_t(1) << 30) && n < (int64_t(1) << 30);
}

size_t marlin_workspace_bytes(const MarlinWeight& w, int64_t T) {
  if (T <= 0) return 0;
  return align_up(size_t(w.k) * size_t(T) * sizeof(__half)) + marlin::partial_bytes(w.k, w.n, T);
}

void marlin_matmul(const MarlinWeight& w, const float* x, float* y, int64_t T,
                   const LaunchContext& ctx) {
  if (T <= 0) return;
  const size_t need = marlin_workspace_bytes(w, T);
  if (ctx.workspace_bytes < need || (need && !ctx.workspace))
    throw Error("marlin_matmul: weight " + shape_of(w) + " with " + std::to_string(T) +
                " tokens needs " + std::to_string(need) + " bytes of workspace, got " +
                std::to_string(ctx.workspace_bytes));
  auto* a16 = static_cast<__half*>(ctx.workspace);
  const size_t count = size_t(w.k) * size_t(T);
  const int blocks = int(std::min<size_t>((count + 255) / 256, 4096));
  f32_to_f16<<<blocks, 256, 0, ctx.stream>>>(x, a16, count);
  check(cudaGetLastError(), "marlin f32->f16 launch");
  const size_t a_bytes = align_up(count * sizeof(__half));
  marlin::gemm(w, a16, y, /*c_is_f32=*/true, T, static_cast<uint8_t*>(ctx.workspace) + a_bytes,
               ctx.workspace_bytes - a_bytes, ctx.stream);
}

size_t marlin_gemm_f16_workspace_bytes(const MarlinWeight& w, int64_t T) {
  return T > 0 ? marlin::partial_bytes(w.k, w.n, T) : 0;
}

void marlin_gemm_f16(const MarlinWeight& w, const void* a, void* c, int64_t T, void* workspace,
                     size_t workspace_bytes, cudaStream_t stream) {
  marlin::gemm(w, static_cast<const __half*>(a), c, /*c_is_f32=*/false, T, workspace,
               workspace_bytes, stream);
}

}  // namespace kt::cuda
