// TopK and the MoE router (MoeSelect, MoeWeights): one block per token. The router must pick
// the same experts as backends/cpu/moe_route.cpp, so its gating repeats the CPU's float
// operations one for one: exp and log1p are taken in double and rounded to float, which gives
// the correctly rounded float result that the CPU's libm returns, and the selection uses the
// CPU's order (larger first, ties to the lower index, NaN last). A router is a few hundred
// values per token: the serial parts (group scores, the k chosen weights) cost nothing.
#include <cuda_runtime.h>

#include <algorithm>

#include "backends/cuda/ops_internal.cuh"

namespace kt::cuda::ops_detail {
namespace {

using tensor::MoeGating;
using tensor::MoeGroupScore;
using tensor::MoeRouting;

__device__ __forceinline__ float exp_f(float x) {
  return float(exp(double(x)));
}

// Shared scratch of the row kernels below.
struct Scratch {
  float fv[33];
  int fi[33];
  double d[33];
};

// probs[0..X) = gate(logits) (moe_gate); ends with a barrier.
__device__ void gate_row(const float* logits, int X, MoeGating g, float* probs, Scratch& sh) {
  if (g == MoeGating::Softmax) {
    float m = -INFINITY;
    for (int i = threadIdx.x; i < X; i += blockDim.x) m = fmaxf(m, logits[i]);
    m = block_reduce(m, MaxOp{}, -INFINITY, sh.fv);
    if (m == -INFINITY) {
      for (int i = threadIdx.x; i < X; i += blockDim.x) probs[i] = 0.0f;
      __syncthreads();
      return;
    }
    double sum = 0.0;
    for (int i = threadIdx.x; i < X; i += blockDim.x) {
      const float e = exp_f(logits[i] - m);
      probs[i] = e;
      sum += e;
    }
    sum = block_reduce(sum, SumOp{}, 0.0, sh.d);
    const float inv = float(1.0 / sum);
    for (int i = threadIdx.x; i < X; i += blockDim.x) probs[i] *= inv;
  } else {
    for (int i = threadIdx.x; i < X; i += blockDim.x) {
      const float x = logits[i];
      float p = x;  // SoftmaxWeight: the logits themselves
      if (g == MoeGating::Sigmoid) {
        p = 1.0f / (1.0f + exp_f(-x));
      } else if (g == MoeGating::SqrtSoftplus) {
        p = sqrtf(x > 20.0f ? x : float(log1p(double(exp_f(x)))));
      }
      probs[i] = p;
    }
  }
  __syncthreads();
}

// Score of the group of `per` experts at s, computed by one warp (every lane gets it): its
// best (the max; without NaNs the order of comparison does not matter) or the sum of its two
// first in ranks_before order (the CPU's top_k with k = 2: first + second).
__device__ float group_score(const float* s, int per, MoeGroupScore how) {
  const int lane = threadIdx.x % 32;
  if (how == MoeGroupScore::Max) {
    float best = s[0];
    for (int i = lane; i < per; i += 32)
      if (best < s[i]) best = s[i];
    for (int o = 16; o > 0; o >>= 1) {
      const float other = __shfl_xor_sync(0xffffffffu, best, o);
      if (best < other) best = other;
    }
    return best;
  }
  Ranked c{0.0f, -1};
  for (int i = lane; i < per; i += 32)
    if (ranks_before(s[i], i, c.v, c.i)) c = {s[i], i};
  const Ranked first = warp_first(c);
  c = {0.0f, -1};
  for (int i = lane; i < per; i += 32)
    if (i != first.i && ranks_before(s[i], i, c.v, c.i)) c = {s[i], i};
  const Ranked second = warp_first(c);
  return first.v + second.v;
}

// logits {X, T} (+ bias {X}) -> ids {k, T}. Dynamic shared memory: X scores, then n_group
// group scores and n_group keep flags.
__global__ void moe_select_kernel(const float* __restrict__ logits, const float* __restrict__ bias,
                                  int X, MoeRouting r, int32_t* __restrict__ ids) {
  extern __shared__ float smem[];
  __shared__ Scratch sh;
  float* s = smem;
  float* gscore = smem + X;
  int* keep = reinterpret_cast<int*>(gscore + r.n_group);
  const int64_t t = blockIdx.x;
  gate_row(logits + t * X, X, r.gating, s, sh);
  if (bias)
    for (int i = threadIdx.x; i < X; i += blockDim.x) s[i] += bias[i];
  __syncthreads();
  if (r.n_group > 1) {
    // A warp scores each group; a group is kept when fewer than n_group_used groups rank
    // before it (the set the CPU's top_k over the group scores returns).
    const int per = X / r.n_group, warps = blockDim.x / 32;
    for (int g = threadIdx.x / 32; g < r.n_group; g += warps) {
      const float score = group_score(s + g * per, per, r.group_score);
      if (threadIdx.x % 32 == 0) gscore[g] = score;
    }
    __syncthreads();
    for (int g = threadIdx.x; g < r.n_group; g += blockDim.x) {
      int rank = 0;
      for (int o = 0; o < r.n_group; ++o) rank += ranks_before(gscore[o], o, gscore[g], g);
      keep[g] = rank < r.n_group_used;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < X; i += blockDim.x)
      if (!keep[i / per]) s[i] = -INFINITY;
    __syncthreads();
  }
  block_top_k([s](int i) { return s[i]; }, X, r.k, ids + t * r.k, sh.fv, sh.fi);
}

// logits {X, T}, ids {k, T} -> weights {k, T} (moe_weights). An id outside [0, X) is clamped
// into it: the kernel cannot throw, and it must not read outside the row.
__global__ void moe_weights_kernel(const float* __restrict__ logits,
                                   const int32_t* __restrict__ ids, int X, MoeRouting r,
                                   float* __restrict__ weights) {
  extern __shared__ float probs[];
  __shared__ Scratch sh;
  const int64_t t = blockIdx.x;
  gate_row(logits + t * X, X, r.gating, probs, sh);
  if (threadIdx.x != 0) return;
  const int k = r.k;
  float* w = weights + t * k;
  for (int j = 0; j < k; ++j) w[j] = probs[min(max(ids[t * k + j], 0), X - 1)];
  if (r.gating == MoeGating::SoftmaxWeight) {  // the CPU's softmax over the k weights
    float m = w[0];
    for (int j = 1; j < k; ++j)
      if (m < w[j]) m = w[j];
    if (m == -INFINITY) {
      for (int j = 0; j < k; ++j) w[j] = 0.0f;
    } else {
      double sum = 0.0;
      for (int j = 0; j < k; ++j) {
        w[j] = exp_f(w[j] - m);
        sum += w[j];
      }
      const float inv = float(1.0 / sum);
      for (int j = 0; j < k; ++j) w[j] *= inv;
    }
  }
  if (r.norm) {
    float sum = 0.0f;
    for (int j = 0; j < k; ++j) sum += w[j];
    const float d = r.norm_eps_additive ? sum + r.norm_eps : (sum < r.norm_eps ? r.norm_eps : sum);
    for (int j = 0; j < k; ++j) w[j] /= d;
  }
  if (r.scale != 1.0f)
    for (int j = 0; j < k; ++j) w[j] *= r.scale;
}

__global__ void top_k_kernel(const float* __restrict__ x, int n, int k, int32_t* __restrict__ ids) {
  __shared__ Scratch sh;
  const float* xr = x + blockIdx.x * int64_t(n);
  block_top_k([xr](int i) { return xr[i]; }, n, k, ids + blockIdx.x * int64_t(k), sh.fv, sh.fi);
}

// Threads for a block over a row of X values: one per value up to 256, whole warps.
int threads_for(int64_t X) {
  return int(std::min<int64_t>(256, std::max<int64_t>(32, (X + 31) / 32 * 32)));
}

// Checks the routing against the logits (graph.cpp check_routing) and returns X.
int routing_experts(const Node& n, const Tensor& logits, int64_t T) {
  const MoeRouting& r = n.routing;
  const int64_t X = logits.ne(0);
  if (X <= 0 || X > (1 << 20) || logits.numel() != X * T)
    fail(n, "logits " + logits.str() + " are not {experts, " + std::to_string(T) + "}");
  if (r.k <= 0 || r.k > X)
    fail(n, "k=" + std::to_string(r.k) + " outside [1, " + std::to_string(X) + "]");
  if (r.n_group < 1 || X % r.n_group != 0)
    fail(n, std::to_string(r.n_group) + " groups do not divide " + std::to_string(X) + " experts");
  if (r.n_group > 1) {
    const int64_t per = X / r.n_group;
    if (r.n_group_used < 1 || r.n_group_used > r.n_group || r.k > r.n_group_used * per ||
        (r.group_score == MoeGroupScore::Top2Sum && per < 2))
      fail(n, "group limits (" + std::to_string(r.n_group_used) + " of " +
                  std::to_string(r.n_group) + " groups, k=" + std::to_string(r.k) +
                  ") do not fit " + std::to_string(X) + " experts");
  }
  return int(X);
}

// Dynamic shared memory of a router kernel; throws when it exceeds the default 48 KiB.
size_t router_smem(const Node& n, int X, bool groups) {
  const size_t bytes =
      size_t(X) * sizeof(float) + (groups ? size_t(n.routing.n_group) * 2 * sizeof(float) : 0);
  if (bytes > 48 * 1024)
    fail(n, std::to_string(X) + " experts do not fit the router kernel's shared memory");
  return bytes;
}

}  // namespace

void launch_top_k(const Node& n, std::span<const Tensor> in, const Tensor& out, cudaStream_t s) {
  const Tensor& x = in[0];
  const int64_t N = x.ne(0), rows = out.numel() / std::max(1, n.k);
  if (n.k <= 0 || n.k > N || N > INT32_MAX || out.ne(0) != n.k || x.numel() != N * rows)
    fail(n, "k=" + std::to_string(n.k) + " does not fit input " + x.str() + " and output " +
                out.str());
  if (rows == 0) return;
  top_k_kernel<<<unsigned(rows), threads_for(N), 0, s>>>(x.data_as<const float>(), int(N), n.k,
                                                         out.data_as<int32_t>());
  check_launch(n);
}

void launch_moe_select(const Node& n, std::span<const Tensor> in, const Tensor& out,
                       cudaStream_t s) {
  const int64_t T = out.numel() / std::max(1, n.routing.k);
  const int X = routing_experts(n, in[0], T);
  const float* bias = nullptr;
  if (in.size() > 1) {
    if (in[1].numel() != X)
      fail(n, "bias " + in[1].str() + " does not match " + std::to_string(X) + " experts");
    bias = in[1].data_as<const float>();
  }
  const size_t smem = router_smem(n, X, true);
  if (T == 0) return;
  moe_select_kernel<<<unsigned(T), threads_for(X), smem, s>>>(in[0].data_as<const float>(), bias, X,
                                                              n.routing, out.data_as<int32_t>());
  check_launch(n);
}

void launch_moe_weights(const Node& n, std::span<const Tensor> in, const Tensor& out,
                        cudaStream_t s) {
  const int64_t T = out.numel() / std::max(1, n.routing.k);
  const int X = routing_experts(n, in[0], T);
  if (in[1].numel() != out.numel())
    fail(n, "ids " + in[1].str() + " do not match the output " + out.str());
  const size_t smem = router_smem(n, X, false);
  if (T == 0) return;
  moe_weights_kernel<<<unsigned(T), threads_for(X), smem, s>>>(in[0].data_as<const float>(),
                                                               in[1].data_as<const int32_t>(), X,
                                                               n.routing, out.data_as<float>());
  check_launch(n);
}

}  // namespace kt::cuda::ops_detail
