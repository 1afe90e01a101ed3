// The Marlin-style GEMM: c {N, T} = W · a with W int4 (layout in marlin_internal.cuh) and a
// FP16. Decode is bandwidth-bound, so the design reads every weight byte exactly once per
// launch and keeps many bytes in flight:
//   - a block owns one strip of 64 outputs and a slice of K; its 4 warps take alternate k16
//     tiles of each 128-input stage and sum their accumulators through shared memory at the end;
//   - weights, scales and the activation slice of a stage arrive by cp.async into a ring of 4
//     to 6 stages (deeper for fewer tokens), all but one in flight while one is computed;
//   - weights are dequantised in registers (lop3 into the mantissa of 1024, one subtract or
//     fma), scaled in FP16 and fed to mma.sync m16n8k16 with the tokens as the M dimension;
//   - when the strips alone cannot fill the GPU, K is split over blocks (grid.y) and a second
//     small kernel adds the F32 partial sums.
#include <cuda_fp16.h>

#include <algorithm>
#include <string>

#include "backends/cuda/device.h"
#include "backends/cuda/marlin_internal.cuh"
#include "tensor/error.h"

namespace kt::cuda::marlin {
namespace {

constexpr int kScaleBytes = 2 * 128;  // two groups of 64 per stage at most
constexpr int kWeightBytes = kStageTiles * kTileBytes;
constexpr int kRedStride = kTileN + 8;  // padded row of the reduction buffer (no bank conflicts)

constexpr int a_bytes(int mt) {
  return 16 * mt * kStageK * 2;
}
constexpr int stage_bytes(int mt) {
  return kWeightBytes + kScaleBytes + a_bytes(mt);
}
constexpr int smem_bytes(int mt) {
  const int ring = stages(mt) * stage_bytes(mt);
  const int red = kWarps * 16 * mt * kRedStride * 4;
  return ring > red ? ring : red;
}

struct Params {
  const uint8_t* qweight;
  const uint8_t* scales;
  const __half* a;  // {K, T}: token t's inputs at a + t K
  void* c;          // {N, T}
  float* partial;   // [splits][T][N] when splits > 1
  int k, n, t, group, splits, total_stages;
};

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void cp_async16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(dst)), "l"(src));
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

__device__ __forceinline__ void mma_16816(float c[4], const uint32_t a[4], uint32_t b0,
                                          uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// (a & b) | c in one instruction.
__device__ __forceinline__ uint32_t and_or(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t d;
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;\n" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}

__device__ __forceinline__ __half2 as_h2(uint32_t u) {
  return *reinterpret_cast<__half2*>(&u);
}
__device__ __forceinline__ uint32_t as_u32(__half2 h) {
  return *reinterpret_cast<uint32_t*>(&h);
}

// Eight nibbles -> four half2 of q - 8. A nibble OR-ed into the mantissa of 1024.0 (0x6400)
// reads as 1024 + q; one at bits 4..7 reads as 1024 + 16 q. Subtracting 1032, or multiplying
// by 1/16 and adding -72, leaves q - 8 exactly.
__device__ __forceinline__ void dequant8(uint32_t q, __half2 out[4]) {
  constexpr uint32_t kLo = 0x000f000f, kHi = 0x00f000f0, kMagic = 0x64006400;
  const __half2 sub = as_h2(0x64086408u);  // 1032
  const __half2 mul = as_h2(0x2c002c00u);  // 1/16
  const __half2 add = as_h2(0xd480d480u);  // -72
  out[0] = __hsub2(as_h2(and_or(q, kLo, kMagic)), sub);
  out[1] = __hfma2(as_h2(and_or(q, kHi, kMagic)), mul, add);
  q >>= 8;
  out[2] = __hsub2(as_h2(and_or(q, kLo, kMagic)), sub);
  out[3] = __hfma2(as_h2(and_or(q, kHi, kMagic)), mul, add);
}

__device__ __forceinline__ void store(float* p, float v) {
  *p = v;
}
__device__ __forceinline__ void store(__half* p, float v) {
  *p = __float2half_rn(v);
}

template <int MT, typename Out>
__global__ void __launch_bounds__(kThreads, blocks_per_sm(MT)) gemm_kernel(Params p) {
  constexpr int kStages = stages(MT);
  extern __shared__ __align__(16) uint8_t smem[];
  const int strip = blockIdx.x, split = blockIdx.y;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int strips = p.n / kTileN;
  const int k_tiles = p.k / 16;
  const int stage_begin = int(int64_t(split) * p.total_stages / p.splits);
  const int stage_end = int(int64_t(split + 1) * p.total_stages / p.splits);
  const int n_local = stage_end - stage_begin;
  const uint8_t* wq = p.qweight + size_t(strip) * k_tiles * kTileBytes;

  // Stage s of this block into ring slot `slot`: weights, its one or two scale groups, and the
  // activation slice (rows >= T are never loaded: they only feed output rows never stored).
  // Activation rows are 256 bytes; 16-byte chunk c of row r lives at chunk c ^ (r % 8), so
  // that the 8 rows one ldmatrix reads fall in distinct banks.
  auto load_stage = [&](int s, int slot) {
    const int stage = stage_begin + s;
    const int kt0 = stage * kStageTiles;
    const int tiles = min(kStageTiles, k_tiles - kt0);
    uint8_t* base = smem + slot * stage_bytes(MT);
    const uint8_t* wsrc = wq + size_t(kt0) * kTileBytes;
    for (int i = tid; i < tiles * 32; i += kThreads) cp_async16(base + 16 * i, wsrc + 16 * i);
    const int k0 = stage * kStageK;
    const int groups = tiles * 16 / p.group;
    if (tid < groups * 8) {
      const int g = k0 / p.group + tid / 8;
      cp_async16(base + kWeightBytes + 16 * tid,
                 p.scales + (size_t(g) * strips + strip) * 128 + 16 * (tid % 8));
    }
    uint8_t* abase = base + kWeightBytes + kScaleBytes;
    const int rows = min(p.t, 16 * MT);
    for (int i = tid; i < rows * 16; i += kThreads) {
      const int r = i / 16, ch = i % 16;
      if (ch < tiles * 2)
        cp_async16(abase + 256 * r + 16 * (ch ^ (r % 8)), p.a + size_t(r) * p.k + k0 + 8 * ch);
    }
  };

  float acc[MT][8][4];
#pragma unroll
  for (int m = 0; m < MT; ++m)
#pragma unroll
    for (int s = 0; s < 8; ++s)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[m][s][e] = 0.0f;

#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < n_local) load_stage(s, s);
    cp_async_commit();
  }

  for (int it = 0; it < n_local; ++it) {
    cp_async_wait<kStages - 2>();
    // Stage `it` is visible to all, and everyone is done with the slot refilled next.
    __syncthreads();
    if (it + kStages - 1 < n_local) load_stage(it + kStages - 1, (it + kStages - 1) % kStages);
    cp_async_commit();

    const uint8_t* base = smem + (it % kStages) * stage_bytes(MT);
    const uint8_t* abase = base + kWeightBytes + kScaleBytes;
    const int tiles = min(kStageTiles, k_tiles - (stage_begin + it) * kStageTiles);
#pragma unroll
    for (int j = 0; j < kStageTiles / kWarps; ++j) {
      const int tile = warp + j * kWarps;
      if (tile >= tiles) break;
      const uint4 wv = *reinterpret_cast<const uint4*>(base + tile * kTileBytes + 16 * lane);
      const int gl = tile * 16 / p.group;
      const uint4 sv =
          *reinterpret_cast<const uint4*>(base + kWeightBytes + 128 * gl + 16 * (lane / 4));
      const __half* sc = reinterpret_cast<const __half*>(&sv);
      uint32_t a[MT][4];
#pragma unroll
      for (int m = 0; m < MT; ++m) {
        const int r = 16 * m + (lane % 16);
        const int ch = 2 * tile + lane / 16;
        ldmatrix_x4(a[m], abase + 256 * r + 16 * (ch ^ (r % 8)));
      }
      const uint32_t words[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        __half2 h[4];
        dequant8(words[i], h);
        const __half2 s0 = __half2half2(sc[2 * i]), s1 = __half2half2(sc[2 * i + 1]);
        const uint32_t b0 = as_u32(__hmul2(h[0], s0)), b1 = as_u32(__hmul2(h[1], s0));
        const uint32_t b2 = as_u32(__hmul2(h[2], s1)), b3 = as_u32(__hmul2(h[3], s1));
#pragma unroll
        for (int m = 0; m < MT; ++m) {
          mma_16816(acc[m][2 * i], a[m], b0, b1);
          mma_16816(acc[m][2 * i + 1], a[m], b2, b3);
        }
      }
    }
  }
  cp_async_wait<0>();
  __syncthreads();

  // Sum the four warps' accumulators. C fragment: c0, c1 at (row g, cols 2 tig, +1), c2, c3 at
  // row g + 8.
  float* red = reinterpret_cast<float*>(smem);
  const int g = lane / 4, tig = lane % 4;
#pragma unroll
  for (int m = 0; m < MT; ++m)
#pragma unroll
    for (int s = 0; s < 8; ++s) {
      float* row0 = red + (warp * 16 * MT + 16 * m + g) * kRedStride + 8 * s + 2 * tig;
      *reinterpret_cast<float2*>(row0) = make_float2(acc[m][s][0], acc[m][s][1]);
      *reinterpret_cast<float2*>(row0 + 8 * kRedStride) = make_float2(acc[m][s][2], acc[m][s][3]);
    }
  __syncthreads();
  for (int e = tid; e < 16 * MT * kTileN; e += kThreads) {
    const int r = e / kTileN, col = e % kTileN;
    if (r >= p.t) break;
    float v = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) v += red[(w * 16 * MT + r) * kRedStride + col];
    const size_t n = size_t(strip) * kTileN + col;
    if (p.splits == 1)
      store(static_cast<Out*>(p.c) + size_t(r) * p.n + n, v);
    else
      p.partial[(size_t(split) * p.t + r) * p.n + n] = v;
  }
}

template <typename Out>
__global__ void reduce_kernel(const float* partial, Out* c, int splits, size_t count) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count;
       i += size_t(gridDim.x) * blockDim.x) {
    float v = 0.0f;
    for (int s = 0; s < splits; ++s) v += partial[size_t(s) * count + i];
    store(c + i, v);
  }
}

template <int MT, typename Out>
void launch(const Params& p, cudaStream_t stream) {
  // Above 48 KB of dynamic shared memory needs an opt-in, once per instantiation.
  static const cudaError_t opt_in = cudaFuncSetAttribute(
      gemm_kernel<MT, Out>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes(MT));
  check(opt_in, "cudaFuncSetAttribute (marlin)");
  const dim3 grid(p.n / kTileN, p.splits);
  gemm_kernel<MT, Out><<<grid, kThreads, smem_bytes(MT), stream>>>(p);
  check(cudaGetLastError(), "marlin gemm kernel launch");
  if (p.splits > 1) {
    const size_t count = size_t(p.t) * p.n;
    const int blocks = int(std::min<size_t>((count + 255) / 256, 4096));
    reduce_kernel<Out>
        <<<blocks, 256, 0, stream>>>(p.partial, static_cast<Out*>(p.c), p.splits, count);
    check(cudaGetLastError(), "marlin reduce kernel launch");
  }
}

template <typename Out>
void launch_tokens(const Params& p, cudaStream_t stream) {
  switch ((p.t + 15) / 16) {
    case 1:
      return launch<1, Out>(p, stream);
    case 2:
      return launch<2, Out>(p, stream);
    case 3:
      return launch<3, Out>(p, stream);
    default:
      return launch<4, Out>(p, stream);
  }
}

}  // namespace

int choose_splits(int64_t k, int64_t n, int64_t t, int sms) {
  const int64_t strips = n / kTileN;
  const int64_t stages = (k + kStageK - 1) / kStageK;
  // As many blocks as are resident at once, never more: a second wave of a few blocks would
  // run at one block's latency-bound speed while the rest of the GPU idles.
  const int64_t target = int64_t(blocks_per_sm(int((t + 15) / 16))) * sms;
  int64_t splits = std::max<int64_t>(1, target / strips);
  // The partial sums (written and read back) should cost no more than the weights themselves.
  splits = std::min(splits, std::max<int64_t>(1, k / (8 * std::max<int64_t>(t, 1))));
  return int(std::clamp<int64_t>(splits, 1, stages));
}

size_t partial_bytes(int64_t k, int64_t n, int64_t T) {
  const int sms = sm_count();
  size_t most = 0;
  for (int64_t t : {std::min<int64_t>(T, kMaxTokens), T % kMaxTokens}) {
    if (t <= 0) continue;
    const int s = choose_splits(k, n, t, sms);
    if (s > 1) most = std::max(most, size_t(s) * size_t(t) * size_t(n) * sizeof(float));
  }
  return most;
}

void gemm(const MarlinWeight& w, const __half* a, void* c, bool c_is_f32, int64_t T, void* partial,
          size_t partial_avail, cudaStream_t stream) {
  if (T <= 0) return;
  if (!marlin_supported(w.k, w.n, w.group) || !w.qweight || !w.scales)
    throw Error("marlin gemm: weight {" + std::to_string(w.k) + ", " + std::to_string(w.n) +
                "} group " + std::to_string(w.group) + " is not a repacked Marlin weight");
  if (reinterpret_cast<uintptr_t>(a) % 16 != 0)
    throw Error("marlin gemm: activations must be 16-byte aligned");
  const size_t need = partial_bytes(w.k, w.n, T);
  if (need > partial_avail)
    throw Error("marlin gemm: weight {" + std::to_string(w.k) + ", " + std::to_string(w.n) +
                "} with " + std::to_string(T) + " tokens needs " + std::to_string(need) +
                " bytes of workspace, got " + std::to_string(partial_avail));
  const int sms = sm_count();
  const size_t out_size = c_is_f32 ? sizeof(float) : sizeof(__half);
  for (int64_t t0 = 0; t0 < T; t0 += kMaxTokens) {
    Params p;
    p.qweight = static_cast<const uint8_t*>(w.qweight.get());
    p.scales = static_cast<const uint8_t*>(w.scales.get());
    p.a = a + t0 * w.k;
    p.c = static_cast<uint8_t*>(c) + size_t(t0) * w.n * out_size;
    p.partial = static_cast<float*>(partial);
    p.k = int(w.k);
    p.n = int(w.n);
    p.t = int(std::min<int64_t>(kMaxTokens, T - t0));
    p.group = w.group;
    p.splits = choose_splits(w.k, w.n, p.t, sms);
    p.total_stages = int((w.k + kStageK - 1) / kStageK);
    if (c_is_f32)
      launch_tokens<float>(p, stream);
    else
      launch_tokens<__half>(p, stream);
  }
}

}  // namespace kt::cuda::marlin
