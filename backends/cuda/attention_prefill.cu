// Flash-attention for many queries (prefill, chunked prefill): one block per (tile of query
// rows, key/value head), streaming every key the tile may see through shared memory once,
// and writing the normalised output directly. The grid depends on shapes only; the key range
// each block covers is read from *d_pos on the device.
#include "backends/cuda/attention_internal.cuh"
#include "backends/cuda/device.h"

namespace kt::cuda::attn {
namespace {

template <int RPT, int NV>
__global__ void __launch_bounds__(kThreads) prefill_kernel(const Args a) {
  extern __shared__ float4 smem4[];
  float* const smem = reinterpret_cast<float*>(smem4);
  constexpr int R = kWarps * RPT;
  // The late row tiles see the most keys: start them first so that the tail of the grid is
  // made of short blocks.
  const int r0 = (gridDim.x - 1 - blockIdx.x) * R;
  const int kvh = blockIdx.y;
  const int pos = *a.d_pos;
  const int len = min(pos + a.n_q, a.n_ctx);  // never read past the cache
  const int t_lo = r0 / a.group, t_hi = (min(r0 + R, a.rows) - 1) / a.group;
  const int s_lo = first_key(a, pos, t_lo);
  const int s_hi = min(len, pos + t_hi + 1);

  RowState<RPT, NV> st;
  attend<RPT, NV>(a, pos, kvh, r0, s_lo, s_hi, smem, st);

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int i = 0; i < RPT; ++i) {
    const int r = r0 + warp + kWarps * i;
    if (r >= a.rows) continue;
    const int t = r / a.group, h = kvh * a.group + r % a.group;
    float* o = a.o + t * a.o_t + h * a.o_h;
    const float inv = st.l[i] > 0.0f ? 1.0f / st.l[i] : 0.0f;
#pragma unroll
    for (int c = 0; c < NV; ++c)
      if (lane + 32 * c < a.dv) o[lane + 32 * c] = st.acc[i][c] * inv;
  }
}

}  // namespace

void launch_prefill(const Args& a, int rpt, int nv, size_t smem_bytes, cudaStream_t stream) {
  dispatch(rpt, nv, [&]<int RPT, int NV>() {
    auto* kernel = prefill_kernel<RPT, NV>;
    check(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem_bytes)),
        "attention prefill: cudaFuncSetAttribute");
    const int rows_per_tile = kWarps * RPT;
    const dim3 grid((a.rows + rows_per_tile - 1) / rows_per_tile, a.hkv);
    kernel<<<grid, kThreads, smem_bytes, stream>>>(a);
    check(cudaGetLastError(), "attention prefill kernel launch");
  });
}

}  // namespace kt::cuda::attn
