#pragma once
// Shared between the Marlin files: the packed layout (written by marlin_repack.cu, read by
// marlin_kernel.cu) and the split-K plan (needed by the kernel and by the workspace sizing).
//
// Layout of the int4 weights, for W {K, N} (N rows of K inputs):
//   qweight: [N/64 strips][K/16 k-tiles][32 lanes][4 words], 512 bytes per (strip, k-tile).
//   Lane l of a warp loads its 16 bytes with one vector load; word i covers outputs
//   16i .. 16i+15 of the strip (two m16n8k16 B fragments). Nibble j (bits 4j..4j+3) of a word
//   holds input k = 16 kt + 2 (l % 4) + 8 ((j & 3) & 1) + (j >> 2) and output
//   n = 64 strip + 16 i + 8 ((j & 3) >> 1) + l / 4, stored as q + 8 (q in -8..7). This order
//   makes the magic-number dequantisation of nibbles (0,4), (1,5), (2,6), (3,7) yield exactly the
//   half2 pairs b0, b1 of fragment 2i and b0, b1 of fragment 2i+1.
//   scales: [K/group][N/64 strips][8][8] FP16, entry [g][strip][r][s] being the scale of output
//   64 strip + 8 s + r: lane l loads the 16 bytes at r = l / 4, its eight fragment columns.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backends/cuda/marlin.h"

namespace kt::cuda::marlin {

constexpr int kTileN = 64;       // outputs per strip (one warp's fragment width)
constexpr int kTileBytes = 512;  // one k16 x n64 tile of int4
constexpr int kStageK = 128;     // inputs per pipeline stage
constexpr int kStageTiles = kStageK / 16;
constexpr int kWarps = 4;  // split K inside a block, summed at the end
constexpr int kThreads = 32 * kWarps;
constexpr int kMaxTokens = 64;  // tokens per launch; more are done in chunks

// Per count of 16-token M tiles (1..4): blocks resident per SM (enforced by __launch_bounds__)
// and cp.async pipeline depth, chosen together so the rings fit 228 KB of shared memory per SM.
// Few tokens mean small stages, so deeper rings keep more weight bytes in flight.
constexpr int blocks_per_sm(int mt) {
  return mt <= 1 ? 4 : mt == 2 ? 3 : 2;
}
constexpr int stages(int mt) {
  return mt <= 1 ? 6 : mt == 2 ? 5 : 4;
}

// Nibble j of word i of lane l in k-tile kt of a strip: which (k, n) inside the strip tile.
inline int packed_k(int kt, int lane, int j) {
  return 16 * kt + 2 * (lane % 4) + 8 * (j & 1) + (j >> 2);
}
inline int packed_n(int i, int lane, int j) {
  return 16 * i + 8 * ((j & 3) >> 1) + lane / 4;
}

// Multiprocessors of the current device (132 when it cannot be asked, e.g. no GPU).
int sm_count();
// Blocks along K for one launch of t tokens (<= kMaxTokens).
int choose_splits(int64_t k, int64_t n, int64_t t, int sms);
// Bytes of F32 partial sums marlin_gemm needs for T tokens (0 when no launch splits K).
size_t partial_bytes(int64_t k, int64_t n, int64_t T);

// c {N, T} = w · a, a FP16 {K, T}; c is F32 when c_is_f32, else FP16. `partial` holds the
// split-K sums (partial_bytes). Throws kt::Error on a bad shape or a short workspace.
void gemm(const MarlinWeight& w, const __half* a, void* c, bool c_is_f32, int64_t T, void* partial,
          size_t partial_avail, cudaStream_t stream);

}  // namespace kt::cuda::marlin
