#include "backends/cpu/attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backends/cpu/ops.h"
#include "tensor/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KT_ATTN_PAUSE() _mm_pause()
#else
#define KT_ATTN_PAUSE() ((void)0)
#endif

namespace kt::cpu {
namespace {

// Fewest keys a piece of a split key sequence gets: below this the merge costs more than the
// parallelism gains.
constexpr int64_t kMinSplitKeys = 32;
// Query rows (tokens × heads of one key/value head) per tile: enough to reuse each key block
// many times, few enough that tiles outnumber threads in prefill.
constexpr int64_t kTileRows = 64;
// Below this many multiply-adds the whole call runs on the calling thread.
constexpr int64_t kSerialWork = 1 << 16;

int64_t first_key(const AttentionParams& p, int64_t t) {
  return p.window > 0 ? std::max<int64_t>(0, p.pos_offset + t - p.window + 1) : 0;
}

// All threads of one ThreadPool::run call meet here (the pool runs them concurrently).
class SpinBarrier {
 public:
  explicit SpinBarrier(int n) : n_(n) {}
  void wait() {
    const int phase = phase_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
      count_.store(0, std::memory_order_relaxed);
      phase_.fetch_add(1, std::memory_order_acq_rel);
      return;
    }
    while (phase_.load(std::memory_order_acquire) == phase) KT_ATTN_PAUSE();
  }

 private:
  int n_;
  std::atomic<int> count_{0};
  std::atomic<int> phase_{0};
};

AttentionTileFn tile_fn(Isa isa) {
  if (!isa_supported(isa))
    throw Error(std::string("attention: instruction set ") + isa_name(isa) +
                " is not supported by this CPU");
  switch (isa) {
    case Isa::Avx512:
      return attention_tile_avx512();
    case Isa::Avx2:
      return attention_tile_avx2();
    case Isa::Reference:
      break;
  }
  return attention_tile_scalar();
}

// Grow-only scratch of the calling thread: the split pieces' partial rows and (m, l) pairs.
thread_local std::vector<float> t_partial, t_ml;

}  // namespace

void check_attention(const AttentionParams& p) {
  auto bad = [](const std::string& why) { throw Error("attention: " + why); };
  if (p.dk <= 0 || p.dv <= 0) bad("head sizes must be positive");
  if (p.hkv <= 0 || p.hq <= 0 || p.hq % p.hkv != 0)
    bad("query heads " + std::to_string(p.hq) + " not a multiple of key/value heads " +
        std::to_string(p.hkv));
  if (p.n_q < 0 || p.pos_offset < 0 || p.pos_offset + p.n_q > p.n_kv)
    bad("queries at [" + std::to_string(p.pos_offset) + ", " +
        std::to_string(p.pos_offset + p.n_q) + ") extend past the " + std::to_string(p.n_kv) +
        " keys");
  if (p.window < 0) bad("negative window");
  if (p.n_q > 0 && (!p.q || !p.k || !p.v || !p.o)) bad("missing q, k, v or output");
}

void attention_ref(const AttentionParams& p, ThreadPool& pool) {
  check_attention(p);
  const int64_t group = p.hq / p.hkv;
  pool.parallel_for(p.hq * p.n_q, 1, [&](int64_t b, int64_t e, int) {
    std::vector<float> scores(size_t(p.n_kv));
    for (int64_t job = b; job < e; ++job) {
      const int64_t h = job % p.hq, t = job / p.hq, kvh = h / group;
      const int64_t last = p.pos_offset + t;  // causal: keys [first, last]
      const int64_t first = first_key(p, t);
      const float* qv = p.q + t * p.q_t + h * p.q_h;
      for (int64_t s = first; s <= last; ++s) {
        const float* kv = p.k + s * p.k_s + kvh * p.k_h;
        float acc = 0.0f;
        for (int64_t d = 0; d < p.dk; ++d) acc += qv[d] * kv[d];
        scores[size_t(s)] = acc * p.scale;
      }
      softmax(scores.data() + first, last - first + 1);
      float* o = p.o + t * p.o_t + h * p.o_h;
      std::fill(o, o + p.dv, 0.0f);
      for (int64_t s = first; s <= last; ++s)
        axpy(scores[size_t(s)], p.v + s * p.v_s + kvh * p.v_h, o, p.dv);
    }
  });
}

void attention(const AttentionParams& p, ThreadPool& pool, Isa isa, int key_splits) {
  check_attention(p);
  const AttentionTileFn tile = tile_fn(isa);
  if (p.n_q == 0) return;
  const int64_t G = p.hq / p.hkv, T = p.n_q;
  const int nth = pool.size();

  // Tiles: a block of tb queries × all G query heads of one key/value head.
  const int64_t tb = std::clamp<int64_t>(kTileRows / G, 1, T);
  const int64_t n_tb = (T + tb - 1) / tb;
  const int64_t n_tiles = p.hkv * n_tb;
  // Keys the largest tile sees (its first query's first key to its last query's key).
  const int64_t span = p.pos_offset + T - first_key(p, std::max<int64_t>(0, T - tb));
  const int64_t work = T * p.hq * std::min(span, p.n_kv) * (p.dk + p.dv);
  const bool serial = nth == 1 || (work < kSerialWork && key_splits <= 0);
  int64_t n_split = 1;
  if (key_splits > 0) {
    n_split = key_splits;
  } else if (!serial && n_tiles < 2 * int64_t(nth)) {
    // Too few tiles for the threads (decode): cut each tile's keys into pieces as well, as
    // many items as threads (all pieces cost the same: more would take a second round).
    n_split = std::clamp<int64_t>((nth + n_tiles - 1) / n_tiles, 1,
                                  std::max<int64_t>(1, span / kMinSplitKeys));
  }
  const int64_t n_items = n_tiles * n_split;
  const int64_t rows = p.hkv * T * G;  // every (query, head), ordered (kvh, t, g)

  t_ml.resize(size_t(n_split * rows * 2));
  if (n_split > 1) t_partial.resize(size_t(n_split * rows * p.dv));
  float* const partial = t_partial.data();
  float* const ml_all = t_ml.data();

  // Item i: the late (largest) query blocks first, so that the dynamic hand-out ends evenly.
  auto run_item = [&](int64_t i) {
    const int64_t c = i % n_split, rest = i / n_split;
    const int64_t kvh = rest % p.hkv, tbi = n_tb - 1 - rest / p.hkv;
    AttentionTile a;
    a.kvh = kvh;
    a.t0 = tbi * tb;
    a.t1 = std::min(T, a.t0 + tb);
    const int64_t lo = first_key(p, a.t0), hi = p.pos_offset + a.t1;
    a.s0 = lo + (hi - lo) * c / n_split;
    a.s1 = lo + (hi - lo) * (c + 1) / n_split;
    const int64_t row0 = (kvh * T + a.t0) * G;  // first row of the tile
    a.ml = ml_all + 2 * (c * rows + row0);
    if (n_split == 1) {  // accumulate in place, then normalise
      a.acc = p.o + a.t0 * p.o_t + kvh * G * p.o_h;
      a.acc_t = p.o_t;
      a.acc_g = p.o_h;
    } else {
      a.acc = partial + (c * rows + row0) * p.dv;
      a.acc_t = G * p.dv;
      a.acc_g = p.dv;
    }
    tile(p, a);
    if (n_split > 1) return;
    for (int64_t t = a.t0; t < a.t1; ++t)
      for (int64_t g = 0; g < G; ++g) {
        const float l = a.ml[2 * ((t - a.t0) * G + g) + 1];
        float* o = p.o + t * p.o_t + (kvh * G + g) * p.o_h;
        const float inv = l > 0.0f ? 1.0f / l : 0.0f;
        for (int64_t d = 0; d < p.dv; ++d) o[d] *= inv;
      }
  };

  // Row r's columns [d0, d1): o = Σ_c exp(m_c - M) acc_c / Σ_c exp(m_c - M) l_c.
  auto merge = [&](int64_t r, int64_t d0, int64_t d1) {
    const int64_t kvh = r / (T * G), t = r / G % T, g = r % G;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t c = 0; c < n_split; ++c) m = std::max(m, ml_all[2 * (c * rows + r)]);
    float* o = p.o + t * p.o_t + (kvh * G + g) * p.o_h;
    std::fill(o + d0, o + d1, 0.0f);
    if (m == -std::numeric_limits<float>::infinity()) return;
    float l = 0.0f;
    for (int64_t c = 0; c < n_split; ++c) {
      const float w = std::exp(ml_all[2 * (c * rows + r)] - m);
      if (w == 0.0f) continue;
      l += w * ml_all[2 * (c * rows + r) + 1];
      axpy(w, partial + (c * rows + r) * p.dv + d0, o + d0, d1 - d0);
    }
    const float inv = 1.0f / l;
    for (int64_t d = d0; d < d1; ++d) o[d] *= inv;
  };
  // Merge units: rows × column pieces, so that a few rows still occupy every thread.
  const int64_t pieces =
      std::clamp<int64_t>((nth + rows - 1) / rows, 1, std::max<int64_t>(1, p.dv / 64));
  auto merge_unit = [&](int64_t u) {
    const int64_t r = u / pieces, k = u % pieces;
    merge(r, p.dv * k / pieces, p.dv * (k + 1) / pieces);
  };
  const int64_t n_units = n_split > 1 ? rows * pieces : 0;

  if (serial) {
    for (int64_t i = 0; i < n_items; ++i) run_item(i);
    for (int64_t u = 0; u < n_units; ++u) merge_unit(u);
    return;
  }
  SpinBarrier barrier(nth);
  std::atomic<int64_t> next{0};
  pool.run([&](int ith, int n) {
    for (;;) {
      const int64_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= n_items) break;
      run_item(i);
    }
    if (n_units == 0) return;
    barrier.wait();
    for (int64_t u = n_units * ith / n; u < n_units * (ith + 1) / n; ++u) merge_unit(u);
  });
}

}  // namespace kt::cpu
