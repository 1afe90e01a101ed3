// Rotary position embeddings over x {D, H, T} with positions I32 {T} read on the device.
// One block per token: its threads first compute the token's n_rot/2 (cos, sin) pairs into
// shared memory, exactly as backends/cpu/ops.cpp rope_cos_sin does (angle in double, YaRN
// ramp in float, products kept unfused), then rotate every head with them.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>

#include "backends/cuda/ops_internal.cuh"

namespace kt::cuda::ops_detail {
namespace {

using tensor::RopePairing;
using tensor::RopeParams;

// Pairs per head the kernel's argument block holds (n_rot up to 512; 3 KiB of the 4 KiB of
// kernel parameters).
constexpr int kMaxPairs = 256;

// Everything about the angles that does not depend on the position is computed on the host,
// with the CPU's own expressions: the frequencies come out bit-identical to rope_cos_sin's,
// and the kernel is left with a product and a sincos per pair.
struct RopeArgs {
  int n_rot;
  bool adjacent;  // RopePairing::Adjacent
  bool yarn;      // ext_factor != 0
  float freq_scale;
  float mscale;  // attn_factor, times YaRN's magnitude correction when yarn
  int head_dim, heads;
  double inv_freq[kMaxPairs];  // freq_base^(-2i / n_rot)
  float mix[kMaxPairs];        // YaRN ramp * ext_factor
};

// The CPU's yarn_corr_dim and yarn_ramp, on the host with the same float operations.
float yarn_corr_dim(int n_rot, int n_ctx_orig, float n_turns, float base) {
  return n_rot * std::log(n_ctx_orig / (n_turns * 2.0f * float(M_PI))) / (2.0f * std::log(base));
}

float yarn_ramp(float low, float high, int i0) {
  const float y = (i0 / 2 - low) / std::max(0.001f, high - low);
  return 1.0f - std::min(1.0f, std::max(0.0f, y));
}

// cos and sin of pair i at position pos, as rope_cos_sin (angle in double, products unfused).
__device__ void cos_sin(const RopeArgs& a, int64_t pos, int i, float* c, float* s) {
  const double theta_extrap = __dmul_rn(double(pos), a.inv_freq[i]);
  const double theta_interp = __dmul_rn(double(a.freq_scale), theta_extrap);
  double theta = theta_interp;
  if (a.yarn) {
    const double mix = a.mix[i];
    theta = __dadd_rn(__dmul_rn(theta_interp, 1.0 - mix), __dmul_rn(theta_extrap, mix));
  }
  double sv, cv;
  sincos(theta, &sv, &cv);
  *c = float(cv) * a.mscale;
  *s = float(sv) * a.mscale;
}

__global__ void rope_kernel(const float* __restrict__ x, const int32_t* __restrict__ positions,
                            float* __restrict__ y, const RopeArgs a) {
  extern __shared__ float cs[];  // cos[half], then sin[half]
  const int half = a.n_rot / 2, D = a.head_dim, n = a.heads * D;
  const int64_t t = blockIdx.x;
  const int64_t pos = positions[t];
  for (int i = threadIdx.x; i < half; i += blockDim.x) cos_sin(a, pos, i, &cs[i], &cs[half + i]);
  __syncthreads();
  const float* xt = x + t * n;
  float* yt = y + t * n;
  for (int e = threadIdx.x; e < n; e += blockDim.x) {
    const int d = e % D;
    if (d >= a.n_rot) {
      yt[e] = xt[e];
      continue;
    }
    // This element's pair index i, its partner and whether it is the pair's first.
    int i, partner;
    bool first;
    if (a.adjacent) {
      i = d / 2;
      first = d % 2 == 0;
      partner = d ^ 1;
    } else {
      first = d < half;
      i = first ? d : d - half;
      partner = first ? d + half : d - half;
    }
    const float self = xt[e], other = xt[e - d + partner];
    const float x0 = first ? self : other, x1 = first ? other : self;
    const float c = cs[i], s = cs[half + i];
    yt[e] = first ? __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s))
                  : __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
  }
}

}  // namespace

void launch_rope(const Node& n, std::span<const Tensor> in, const Tensor& out, cudaStream_t s) {
  const RopeParams& p = n.rope;
  const Tensor &x = in[0], &positions = in[1];
  const int64_t D = out.ne(0), H = out.ne(1), T = out.numel() / std::max<int64_t>(1, D * H);
  if (p.n_rot <= 0 || p.n_rot % 2 != 0 || p.n_rot > D)
    fail(n, "n_rot " + std::to_string(p.n_rot) + " must be even and at most head_dim " +
                std::to_string(D));
  if (x.numel() != out.numel()) fail(n, "input " + x.str() + " does not match " + out.str());
  if (positions.numel() != T)
    fail(n, "positions " + positions.str() + " do not give one per token of " + out.str());
  if (p.n_rot / 2 > kMaxPairs)
    fail(n, "n_rot " + std::to_string(p.n_rot) + " exceeds the kernel's " +
                std::to_string(2 * kMaxPairs));
  if (H * D > INT32_MAX) fail(n, "heads of " + out.str() + " exceed 2^31 values per token");
  RopeArgs a{};
  a.n_rot = p.n_rot;
  a.adjacent = p.pairing == RopePairing::Adjacent;
  a.yarn = p.ext_factor != 0.0f;
  a.freq_scale = p.freq_scale;
  a.head_dim = int(D);
  a.heads = int(H);
  a.mscale = p.attn_factor;
  float low = 0.0f, high = 0.0f;
  if (a.yarn) {
    low =
        std::max(0.0f, std::floor(yarn_corr_dim(p.n_rot, p.n_ctx_orig, p.beta_fast, p.freq_base)));
    high = std::min(float(p.n_rot - 1),
                    std::ceil(yarn_corr_dim(p.n_rot, p.n_ctx_orig, p.beta_slow, p.freq_base)));
    a.mscale *= 1.0f + 0.1f * std::log(1.0f / p.freq_scale);
  }
  for (int i = 0; i < p.n_rot / 2; ++i) {
    const int i0 = 2 * i;
    a.inv_freq[i] = std::pow(double(p.freq_base), -double(i0) / p.n_rot);
    a.mix[i] = a.yarn ? yarn_ramp(low, high, i0) * p.ext_factor : 0.0f;
  }
  if (T == 0) return;
  const int threads = std::min<int64_t>(256, std::max<int64_t>(32, (H * D + 31) / 32 * 32));
  rope_kernel<<<unsigned(T), threads, size_t(p.n_rot) * sizeof(float), s>>>(
      x.data_as<const float>(), positions.data_as<const int32_t>(), out.data_as<float>(), a);
  check_launch(n);
}

}  // namespace kt::cuda::ops_detail
