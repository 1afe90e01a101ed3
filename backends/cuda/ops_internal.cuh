#pragma once
// Shared between the ops*.cu files: the per-family launchers that launch_op (ops.cu) calls
// after it has checked the operands, error helpers that name the node, and the block-wide
// reductions the row kernels use. Include from .cu files only.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <string>

#include "backends/cuda/launch.h"
#include "tensor/graph.h"

namespace kt::cuda::ops_detail {

using tensor::Node;
using tensor::Tensor;

// Throws kt::Error "<Op> '<name>': why".
[[noreturn]] void fail(const Node& n, const std::string& why);
// Throws when the last kernel launch failed (an invalid configuration, a sticky fault).
void check_launch(const Node& n);

// A 1-D grid of at most kMaxBlocks blocks of kThreads threads covering `units` work items with
// a grid-stride loop: enough blocks to fill an H100 many times over, few enough that a huge
// prefill tensor does not launch millions of tiny blocks.
constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 8192;
inline unsigned grid_for(int64_t units) {
  const int64_t b = (units + kThreads - 1) / kThreads;
  return unsigned(b < 1 ? 1 : (b > kMaxBlocks ? kMaxBlocks : b));
}

// Threads for a kernel that gives one block to a row of n floats: about 8 values a thread,
// a multiple of the warp, between one warp and 1024 threads.
inline int row_threads(int64_t n) {
  const int64_t t = ((n + 7) / 8 + 31) / 32 * 32;
  return int(t < 32 ? 32 : (t > 1024 ? 1024 : t));
}

// Launchers (operands already checked by launch_op: count, types, contiguity, device).
void launch_elementwise(const Node& n, std::span<const Tensor> in, const Tensor& out,
                        cudaStream_t s);  // Add, Mul, Scale, Sigmoid, SiLU, SwiGLU, GELU
void launch_rms_norm(const Node& n, std::span<const Tensor> in, const Tensor& out, cudaStream_t s);
void launch_softmax(const Node& n, std::span<const Tensor> in, const Tensor& out, cudaStream_t s);
void launch_rope(const Node& n, std::span<const Tensor> in, const Tensor& out, cudaStream_t s);
void launch_top_k(const Node& n, std::span<const Tensor> in, const Tensor& out, cudaStream_t s);
void launch_moe_select(const Node& n, std::span<const Tensor> in, const Tensor& out,
                       cudaStream_t s);
void launch_moe_weights(const Node& n, std::span<const Tensor> in, const Tensor& out,
                        cudaStream_t s);
void launch_get_rows(const Node& n, std::span<const Tensor> in, const Tensor& out, cudaStream_t s);
void launch_gather(const Node& n, std::span<const Tensor> in, const Tensor& out, cudaStream_t s);
void launch_weighted_sum(const Node& n, std::span<const Tensor> in, const Tensor& out,
                         cudaStream_t s);
void launch_slice(const Node& n, std::span<const Tensor> in, const Tensor& out, cudaStream_t s);
void launch_concat(const Node& n, std::span<const Tensor> in, const Tensor& out, cudaStream_t s);
void launch_cache_append(const Node& n, std::span<const Tensor> in, const LaunchContext& ctx);

// True when GetRows reads a table of this type (quant_device.cuh).
bool get_rows_readable(tensor::DType t);

// --- Block-wide reductions (blockDim.x a multiple of 32, every thread calls them). ---

struct SumOp {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct MaxOp {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

template <class T, class Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// The reduction of v over the block, returned to every thread. smem: 33 entries; it may be
// reused as soon as this returns.
template <class T, class Op>
__device__ T block_reduce(T v, Op op, T identity, T* smem) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_reduce(v, op);
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T w = lane < warps ? smem[lane] : identity;
    w = warp_reduce(w, op);
    if (lane == 0) smem[32] = w;
  }
  __syncthreads();
  const T r = smem[32];
  __syncthreads();
  return r;
}

// The order of backends/cpu top_k: larger first, ties to the lower index, NaN after every
// number (NaNs among themselves by index). Index -1 is "no candidate", after everything.
__device__ __forceinline__ bool ranks_before(float va, int ia, float vb, int ib) {
  if (ib < 0) return ia >= 0;
  if (ia < 0) return false;
  const bool na = isnan(va), nb = isnan(vb);
  if (na != nb) return nb;
  if (na) return ia < ib;
  return va > vb || (va == vb && ia < ib);
}

struct Ranked {
  float v;
  int i;
};

// The first of the warp's candidates in ranks_before order, returned to every lane.
__device__ __forceinline__ Ranked warp_first(Ranked c) {
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, c.v, o);
    const int oi = __shfl_xor_sync(0xffffffffu, c.i, o);
    if (ranks_before(ov, oi, c.v, c.i)) c = {ov, oi};
  }
  return c;
}

// The first of the block's candidates in ranks_before order, returned to every thread.
// sv, si: 33 entries each.
__device__ inline Ranked block_first(Ranked c, float* sv, int* si) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  c = warp_first(c);
  if (lane == 0) {
    sv[warp] = c.v;
    si[warp] = c.i;
  }
  __syncthreads();
  if (warp == 0) {
    Ranked w = warp_first(lane < warps ? Ranked{sv[lane], si[lane]} : Ranked{0.0f, -1});
    if (lane == 0) {
      sv[32] = w.v;
      si[32] = w.i;
    }
  }
  __syncthreads();
  const Ranked r{sv[32], si[32]};
  __syncthreads();
  return r;
}

// The k first entries of load(0..n-1) in ranks_before order into ids[0..k) (thread 0 writes).
// Round j takes the first entry that ranks after round j-1's pick: the order is total, so no
// "taken" flags are needed and n may be as large as a vocabulary. k rounds over n values.
template <class Load>
__device__ void block_top_k(const Load& load, int n, int k, int32_t* ids, float* sv, int* si) {
  Ranked prev{0.0f, -1};
  for (int j = 0; j < k; ++j) {
    Ranked best{0.0f, -1};
    for (int x = threadIdx.x; x < n; x += blockDim.x) {
      const float v = load(x);
      if (prev.i >= 0 && !ranks_before(prev.v, prev.i, v, x)) continue;  // picked already
      if (ranks_before(v, x, best.v, best.i)) best = {v, x};
    }
    prev = block_first(best, sv, si);
    if (threadIdx.x == 0) ids[j] = prev.i;
  }
}

}  // namespace kt::cuda::ops_detail
