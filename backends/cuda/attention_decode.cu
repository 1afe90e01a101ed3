// Split-K flash-decoding for one or a few queries over a long cache. A block per (tile of
// query rows, key/value head, key chunk): all query heads of a key/value group share the
// block, so each key row is read once per key/value head. The grid has `splits` chunks, fixed
// by shapes; the chunk length is computed on the device from *d_pos so that the active chunks
// cover the current keys evenly, and the chunks past the end write empty partials
// (m = -inf, l = 0). A merge kernel then combines the partials of each row.
#include "backends/cuda/attention_internal.cuh"
#include "backends/cuda/device.h"

namespace kt::cuda::attn {
namespace {

// Partials of (chunk c, key/value head kvh, row r): dv accumulators, then (m, l).
struct Partials {
  float* acc;
  float* ml;
  __device__ Partials(const Args& a, float* ws, int splits)
      : acc(ws), ml(ws + size_t(splits) * a.hkv * a.rows * a.dv) {}
};

template <int RPT, int NV>
__global__ void __launch_bounds__(kThreads) split_kernel(const Args a, float* ws) {
  extern __shared__ float4 smem4[];
  float* const smem = reinterpret_cast<float*>(smem4);
  constexpr int R = kWarps * RPT;
  const int r0 = blockIdx.x * R, kvh = blockIdx.y, c = blockIdx.z, splits = gridDim.z;
  const int pos = *a.d_pos;
  const int len = min(pos + a.n_q, a.n_ctx);  // never read past the cache
  const int t_lo = r0 / a.group, t_hi = (min(r0 + R, a.rows) - 1) / a.group;
  const int lo = first_key(a, pos, t_lo), hi = min(len, pos + t_hi + 1);
  // Active chunks: as many as the keys allow, up to the grid's; whole key tiles each.
  const int span = max(0, hi - lo);
  const int n_act = max(1, min(splits, (span + kMinChunk - 1) / kMinChunk));
  const int chunk = ((span + n_act - 1) / n_act + kKeys - 1) / kKeys * kKeys;
  const int s_lo = lo + c * chunk, s_hi = min(hi, s_lo + chunk);

  RowState<RPT, NV> st;
  attend<RPT, NV>(a, pos, kvh, r0, s_lo, s_hi, smem, st);

  const Partials part(a, ws, splits);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int i = 0; i < RPT; ++i) {
    const int r = r0 + warp + kWarps * i;
    if (r >= a.rows) continue;
    const size_t idx = (size_t(c) * a.hkv + kvh) * a.rows + r;
    if (lane == 0) {
      part.ml[2 * idx] = st.m[i];
      part.ml[2 * idx + 1] = st.l[i];
    }
    if (st.l[i] == 0.0f) continue;  // the merge skips it: its accumulators need not exist
    float* acc = part.acc + idx * a.dv;
#pragma unroll
    for (int j = 0; j < NV; ++j)
      if (lane + 32 * j < a.dv) acc[lane + 32 * j] = st.acc[i][j];
  }
}

constexpr int kMergeCols = 64;

// o = Σ_c 2^(m_c - M) acc_c / Σ_c 2^(m_c - M) l_c over the chunks that saw a key. A block per
// (row, key/value head, 64 columns); dynamic shared memory holds the chunks' weights.
__global__ void __launch_bounds__(kMergeCols)
    merge_kernel(const Args a, const float* ws, int splits) {
  extern __shared__ float w[];
  const int r = blockIdx.x, kvh = blockIdx.y, col = blockIdx.z * kMergeCols + threadIdx.x;
  const Partials part(a, const_cast<float*>(ws), splits);
  auto at = [&](int c) { return (size_t(c) * a.hkv + kvh) * a.rows + r; };
  float m = -INFINITY;
  for (int c = 0; c < splits; ++c)
    if (part.ml[2 * at(c) + 1] > 0.0f) m = fmaxf(m, part.ml[2 * at(c)]);
  for (int c = threadIdx.x; c < splits; c += blockDim.x) {
    const float l = part.ml[2 * at(c) + 1];
    w[c] = l > 0.0f ? exp2f(part.ml[2 * at(c)] - m) : 0.0f;
  }
  __syncthreads();
  if (col >= a.dv) return;
  float l = 0.0f, sum = 0.0f;
  for (int c = 0; c < splits; ++c) {
    if (w[c] == 0.0f) continue;  // also skips partials never written
    l += w[c] * part.ml[2 * at(c) + 1];
    sum += w[c] * part.acc[at(c) * a.dv + col];
  }
  const int t = r / a.group, h = kvh * a.group + r % a.group;
  a.o[t * a.o_t + h * a.o_h + col] = l > 0.0f ? sum / l : 0.0f;
}

}  // namespace

void launch_decode(const Args& a, int rpt, int nv, size_t smem_bytes, int splits, float* ws,
                   cudaStream_t stream) {
  dispatch(rpt, nv, [&]<int RPT, int NV>() {
    auto* kernel = split_kernel<RPT, NV>;
    check(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem_bytes)),
        "attention decode: cudaFuncSetAttribute");
    const int rows_per_tile = kWarps * RPT;
    const dim3 grid((a.rows + rows_per_tile - 1) / rows_per_tile, a.hkv, splits);
    kernel<<<grid, kThreads, smem_bytes, stream>>>(a, ws);
    check(cudaGetLastError(), "attention decode kernel launch");
  });
  const dim3 grid(a.rows, a.hkv, (a.dv + kMergeCols - 1) / kMergeCols);
  merge_kernel<<<grid, kMergeCols, splits * sizeof(float), stream>>>(a, ws, splits);
  check(cudaGetLastError(), "attention merge kernel launch");
}

}  // namespace kt::cuda::attn
