#pragma once
// The one block routine that both attention paths share: a tile of R = 8·RPT query rows (the
// (query, head) pairs of one key/value head, ordered t·G + g) against a key range streamed
// through shared memory 32 keys at a time, with an online softmax. Warp w owns rows w + 8k:
// for scores, lane j is key j of the tile, so a row's max and sum are warp reductions; for
// P·V, lane c owns value columns c + 32i, and the probabilities reach it by shuffles, so no
// score or probability matrix is ever stored. The prefill kernel normalises the result into
// the output; the split-K decode kernel writes it unnormalised with (m, l) for the merge.
//
// Scores are kept in the log2 domain (scaled by scale·log2 e, exp2f below), which the merge
// kernel relies on as well.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace kt::cuda::attn {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kKeys = 32;  // keys per shared-memory tile: one per lane
// Fewest keys a split-K chunk gets: below this, writing and merging the partials costs more
// than the parallelism gains.
constexpr int kMinChunk = 64;

// Everything the kernels read, in floats (strides) and ints (sizes).
struct Args {
  const float* q = nullptr;
  int64_t q_t = 0, q_h = 0;
  const float* k = nullptr;
  int64_t k_s = 0, k_h = 0;
  const float* v = nullptr;  // nullptr: v is the first dv floats of every k row (shared smem)
  int64_t v_s = 0, v_h = 0;
  float* o = nullptr;
  int64_t o_t = 0, o_h = 0;
  int dk = 0, dv = 0, hkv = 0, group = 0, n_q = 0, n_ctx = 0, window = 0;
  int rows = 0;  // n_q · group: query rows per key/value head
  float scale_log2 = 0.0f;
  const int32_t* d_pos = nullptr;
  bool vec_q = false, vec_k = false, vec_v = false;  // float4 global loads are aligned
};

// Shared-memory layout of one block, in floats. Rows are padded to a multiple of 4 (float4
// access); the key tile gets 4 more so that the 8 lanes of a float4 phase hit distinct banks.
struct Smem {
  int dkp, q_st, k_st, v_st;
  size_t q_off, k_off, v_off, floats;
  __host__ __device__ Smem(int dk, int dv, int rpt, int nv, bool shared_kv) {
    dkp = (dk + 3) / 4 * 4;
    q_st = dkp;
    k_st = dkp + 4;
    v_st = nv * 32;  // the P·V loop reads 32·nv columns; the tail is zero
    q_off = 0;
    k_off = q_off + size_t(kWarps) * rpt * q_st;
    // A shared-kv tile is read as V up to column 32·nv, which may run past the last row.
    v_off = k_off + size_t(kKeys) * k_st + 32;
    floats = v_off + (shared_kv ? 0 : size_t(kKeys) * v_st);
  }
  __host__ __device__ size_t bytes() const { return floats * sizeof(float); }
};

__device__ __forceinline__ float warp_max(float x) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ __forceinline__ float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

__device__ __forceinline__ int first_key(const Args& a, int pos, int t) {
  return a.window > 0 ? max(0, pos + t - a.window + 1) : 0;
}

// 16 bytes global -> shared without passing through registers (sm_80+): every load of a tile
// is in flight at once, instead of one round trip per row when a register copy is followed
// by a shared store the compiler cannot reorder. n = 0 writes zeros and reads nothing.
__device__ __forceinline__ void cp_async16(float* dst, const float* src, int n) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(n));
}
__device__ __forceinline__ void cp_async_wait_all() {
  asm volatile("cp.async.wait_all;\n" ::: "memory");
}

// Copies n_rows rows of `cols` floats into dst (row stride dst_st), zero-filling columns
// [cols, fill) and the rows that row_ptr reports as absent (nullptr). One warp per row, so
// every global read is coalesced. vec (rows 16-byte aligned, cols a multiple of 4): the
// copies are asynchronous and the caller waits with cp_async_wait_all before its barrier.
template <typename RowPtr>
__device__ __forceinline__ void load_rows(float* dst, int dst_st, int n_rows, int cols, int fill,
                                          bool vec, const float* any_global, RowPtr row_ptr) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int j = warp; j < n_rows; j += kWarps) {
    const float* src = row_ptr(j);
    float* d = dst + size_t(j) * dst_st;
    for (int c = lane * 4; c < fill; c += 128) {
      if (vec) {
        const bool ok = src && c < cols;
        cp_async16(d + c, ok ? src + c : any_global, ok ? 16 : 0);
        continue;
      }
      float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
      if (src) {
        if (c + 0 < cols) x.x = src[c + 0];
        if (c + 1 < cols) x.y = src[c + 1];
        if (c + 2 < cols) x.z = src[c + 2];
        if (c + 3 < cols) x.w = src[c + 3];
      }
      *reinterpret_cast<float4*>(d + c) = x;
    }
  }
}

// The running state of the rows a thread's warp owns (replicated over the warp's lanes, the
// accumulators split by column).
template <int RPT, int NV>
struct RowState {
  float m[RPT], l[RPT], acc[RPT][NV];
  int first[RPT], last[RPT];  // keys a row may see; an absent row sees none
};

// Rows [r0, r0 + 8·RPT) of key/value head kvh against keys [s_lo, s_hi). The caller has
// checked that the range is within the cache; rows past a.rows are absent.
template <int RPT, int NV>
__device__ __forceinline__ void attend(const Args& a, int pos, int kvh, int r0, int s_lo, int s_hi,
                                       float* smem, RowState<RPT, NV>& st) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const bool shared_kv = a.v == nullptr;
  const Smem L(a.dk, a.dv, RPT, NV, shared_kv);
  float* const qs = smem + L.q_off;
  float* const ks = smem + L.k_off;
  float* const vs = shared_kv ? ks : smem + L.v_off;
  const int v_st = shared_kv ? L.k_st : L.v_st;

#pragma unroll
  for (int i = 0; i < RPT; ++i) {
    st.m[i] = -INFINITY;
    st.l[i] = 0.0f;
#pragma unroll
    for (int c = 0; c < NV; ++c) st.acc[i][c] = 0.0f;
    const int r = r0 + warp + kWarps * i;
    st.first[i] = r < a.rows ? first_key(a, pos, r / a.group) : 1 << 30;
    st.last[i] = r < a.rows ? pos + r / a.group : -1;
  }
  if (s_lo >= s_hi) return;

  if (threadIdx.x < 32) ks[size_t(kKeys) * L.k_st + threadIdx.x] = 0.0f;  // the V-read tail
  load_rows(qs, L.q_st, kWarps * RPT, a.dk, L.dkp, a.vec_q, a.q, [&](int i) -> const float* {
    const int r = r0 + i;
    if (r >= a.rows) return nullptr;
    const int t = r / a.group, h = kvh * a.group + r % a.group;
    return a.q + t * a.q_t + h * a.q_h;
  });

  for (int s0 = s_lo; s0 < s_hi; s0 += kKeys) {
    const int nk = min(kKeys, s_hi - s0);
    __syncthreads();  // the previous tile is no longer read
    load_rows(ks, L.k_st, kKeys, a.dk, L.dkp, a.vec_k, a.k, [&](int j) -> const float* {
      return j < nk ? a.k + int64_t(s0 + j) * a.k_s + kvh * a.k_h : nullptr;
    });
    if (!shared_kv)
      load_rows(vs, L.v_st, kKeys, a.dv, L.v_st, a.vec_v, a.v, [&](int j) -> const float* {
        return j < nk ? a.v + int64_t(s0 + j) * a.v_s + kvh * a.v_h : nullptr;
      });
    cp_async_wait_all();
    __syncthreads();

    // Scores of this lane's key for every row of the warp.
    float s[RPT];
#pragma unroll
    for (int i = 0; i < RPT; ++i) s[i] = 0.0f;
    const float* kr = ks + size_t(lane) * L.k_st;
#pragma unroll 4
    for (int d = 0; d < L.dkp; d += 4) {
      const float4 kv = *reinterpret_cast<const float4*>(kr + d);
#pragma unroll
      for (int i = 0; i < RPT; ++i) {
        const float4 qv =
            *reinterpret_cast<const float4*>(qs + size_t(warp + kWarps * i) * L.q_st + d);
        s[i] += qv.x * kv.x + qv.y * kv.y + qv.z * kv.z + qv.w * kv.w;
      }
    }

    // Online softmax: masked scores are -inf; a row that has seen no key yet keeps m = -inf
    // and must not form exp2(-inf - -inf).
    const int key = s0 + lane;
    float p[RPT];
#pragma unroll
    for (int i = 0; i < RPT; ++i) {
      const bool ok = lane < nk && key >= st.first[i] && key <= st.last[i];
      const float x = ok ? s[i] * a.scale_log2 : -INFINITY;
      const float m_new = fmaxf(st.m[i], warp_max(x));
      float alpha = 1.0f;
      p[i] = 0.0f;
      if (m_new != -INFINITY) {
        p[i] = exp2f(x - m_new);
        alpha = exp2f(st.m[i] - m_new);
      }
      st.l[i] = st.l[i] * alpha + warp_sum(p[i]);
      st.m[i] = m_new;
#pragma unroll
      for (int c = 0; c < NV; ++c) st.acc[i][c] *= alpha;
    }

    // acc += P · V: key j's probabilities come from lane j.
    for (int j = 0; j < nk; ++j) {
      float pj[RPT];
#pragma unroll
      for (int i = 0; i < RPT; ++i) pj[i] = __shfl_sync(0xffffffffu, p[i], j);
      const float* vr = vs + size_t(j) * v_st + lane;
#pragma unroll
      for (int c = 0; c < NV; ++c) {
        const float vv = vr[32 * c];
#pragma unroll
        for (int i = 0; i < RPT; ++i) st.acc[i][c] += pj[i] * vv;
      }
    }
  }
}

// Dispatch over the compile-time tile shapes: rows per warp RPT (1, 2, 4, 8) and 32-column
// groups of the value head NV (1, 2, 4, 8, 16, 18, so dv <= 576). Combinations whose
// accumulators would not fit in registers are not instantiated (the planner never asks).
inline int nv_for(int dv) {
  const int n = (dv + 31) / 32;
  for (int c : {1, 2, 4, 8, 16, 18})
    if (n <= c) return c;
  return 0;
}
inline int max_rpt(int nv) {
  return nv <= 8 ? 8 : nv <= 16 ? 4 : 2;
}

template <typename F>
void dispatch(int rpt, int nv, F&& f) {
  auto with_nv = [&]<int RPT>() {
    switch (nv) {
      case 1:
        return f.template operator()<RPT, 1>();
      case 2:
        return f.template operator()<RPT, 2>();
      case 4:
        return f.template operator()<RPT, 4>();
      case 8:
        return f.template operator()<RPT, 8>();
      case 16:
        if constexpr (RPT <= 4) return f.template operator()<RPT, 16>();
        break;
      case 18:
        if constexpr (RPT <= 2) return f.template operator()<RPT, 18>();
        break;
    }
  };
  switch (rpt) {
    case 1:
      return with_nv.template operator()<1>();
    case 2:
      return with_nv.template operator()<2>();
    case 4:
      return with_nv.template operator()<4>();
    case 8:
      return with_nv.template operator()<8>();
  }
}

// Launchers (attention_prefill.cu, attention_decode.cu). smem_bytes comes from Smem.
void launch_prefill(const Args& a, int rpt, int nv, size_t smem_bytes, cudaStream_t stream);
// Partials: acc at ws (splits · hkv · rows · dv floats), then (m, l) pairs.
void launch_decode(const Args& a, int rpt, int nv, size_t smem_bytes, int splits, float* ws,
                   cudaStream_t stream);

}  // namespace kt::cuda::attn
