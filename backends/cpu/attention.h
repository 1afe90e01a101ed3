#pragma once
// Causal multi-head attention over f32 rows (the executor's Attention op): GQA/MQA (several
// query heads per key/value head), separate key and value head sizes, an optional sliding
// window, any softmax scale, and strided q/k/v/o rows, so that V may be a leading-dims view of
// the K rows (DeepSeek MLA's latent cache serves as both, without a copy).
//
// attention_ref is the plain version (one score row per query, then softmax, then the
// weighted sum of V) that the fast path is tested against. attention() is flash-style: each
// tile of (key/value head × query block) streams the keys in blocks with an online softmax,
// so it needs no per-query scratch the size of the context, and reads each key block once for
// all query rows of the tile; the dot products and V updates run on SIMD registers of the
// chosen tier. When there are fewer tiles than threads (decode, above all MQA with its single
// key/value head) the key sequence is split as well and the partial results are merged.
#include <cstdint>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/thread_pool.h"

namespace kt::cpu {

struct AttentionParams {
  int64_t dk = 0, dv = 0;   // head sizes of q/k and of v/o
  int64_t hq = 0, hkv = 0;  // query heads; key/value heads (query head h reads h / (hq / hkv))
  int64_t n_q = 0;          // queries T
  int64_t n_kv = 0;         // keys S (rows of k and v)
  int64_t pos_offset = 0;   // position of query 0 in the key sequence: query t sees keys
                            // [first, pos_offset + t], first = 0 or (with a window)
  int64_t window = 0;       // > 0: pos_offset + t - window + 1
  float scale = 1.0f;       // applied to q·k before the softmax
  // Row addresses, strides in floats: q row of (query t, head h) at q + t·q_t + h·q_h; key
  // row s of kv head j at k + s·k_s + j·k_h; value row likewise; output row like q's.
  const float* q = nullptr;
  int64_t q_t = 0, q_h = 0;
  const float* k = nullptr;
  int64_t k_s = 0, k_h = 0;
  const float* v = nullptr;
  int64_t v_s = 0, v_h = 0;
  float* o = nullptr;
  int64_t o_t = 0, o_h = 0;
};

// Throws kt::Error when the parameters are inconsistent (heads not a multiple, queries past the
// keys, missing pointers).
void check_attention(const AttentionParams& p);

// The plain reference: parallel over (query, head), scores in double-summed softmax.
void attention_ref(const AttentionParams& p, ThreadPool& pool);

// The fast path on tier isa (which this CPU must support). key_splits > 0 forces the number
// of pieces the key sequence is cut into (tests use it to cover the merge); 0 chooses.
void attention(const AttentionParams& p, ThreadPool& pool, Isa isa = best_isa(),
               int key_splits = 0);

// One tile of the fast path, per tier (attention_{scalar,avx2,avx512}.cpp share the template in
// attention_tile.h): the query rows (t, g) for t in [t0, t1) and the G = hq / hkv heads g of
// key/value head kvh, over the keys in [s0, s1) that each may see. Row (t, g) accumulates
// Σ exp(score - m) · v, unnormalised, at acc + (t - t0)·acc_t + g·acc_g (dv floats), with its
// running max m and sum of exponentials l at ml[2·((t - t0)·G + g)] and the next float. Rows
// that see no key in [s0, s1) end with acc 0, m = -inf, l = 0.
struct AttentionTile {
  int64_t kvh = 0, t0 = 0, t1 = 0, s0 = 0, s1 = 0;
  float* acc = nullptr;
  int64_t acc_t = 0, acc_g = 0;
  float* ml = nullptr;
};
using AttentionTileFn = void (*)(const AttentionParams& p, const AttentionTile& tile);

AttentionTileFn attention_tile_scalar();
AttentionTileFn attention_tile_avx2();
AttentionTileFn attention_tile_avx512();

}  // namespace kt::cpu
