#pragma once
// The tile of the fast attention path (attention.h), as a template over a tier's SIMD vector
// type V, included once by each of attention_scalar.cpp, attention_avx2.cpp and
// attention_avx512.cpp (each compiled for its instruction set). V provides: the register type
// T, lanes W, zero(), load(p), store(p, x), set1(f), mul(a, b), fma(a, b, c) = a·b + c and
// hsum(x). Every function here is a template on V or static, so the tiers' copies never mix at
// link time; loops are written out rather than left to std algorithms, whose instantiations the
// tiers would share.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "backends/cpu/attention.h"

namespace kt::cpu::attn {

// Most keys per block; the block's K rows (kBlockBytes) stay in cache while every query row of
// the tile is scored against them.
constexpr int64_t kMaxBlockKeys = 64;
constexpr int64_t kBlockBytes = 64 * 1024;
// Query rows handled together: they share each key and value load.
constexpr int kRows = 4;

static inline int64_t block_keys(int64_t dk) {
  return std::clamp<int64_t>(kBlockBytes / (int64_t(sizeof(float)) * dk), 8, kMaxBlockKeys);
}

// NR query rows of one token (so one causal key range) against keys [j0, j1) of one kv head:
// scores, online-softmax update of (m, l), then acc = acc·exp(m_old - m) + Σ_j p_j · v_j.
template <class V, int NR>
void rows_block(const AttentionParams& p, const float* const* q, float* const* acc,
                float* const* ml, const float* kh, const float* vh, int64_t j0, int64_t j1) {
  using T = typename V::T;
  constexpr int64_t W = V::W;
  const int64_t n = j1 - j0;
  float s[NR][kMaxBlockKeys];
  const int64_t dk = p.dk, dk_v = dk / W * W;
  // Two keys at a time: 2·NR independent FMA chains hide the FMA latency, and each q load
  // serves both keys.
  int64_t j = 0;
  for (; j + 2 <= n; j += 2) {
    const float* k0 = kh + (j0 + j) * p.k_s;
    const float* k1 = k0 + p.k_s;
    T a0[NR], a1[NR];
    for (int r = 0; r < NR; ++r) a0[r] = a1[r] = V::zero();
    for (int64_t d = 0; d < dk_v; d += W) {
      const T kv0 = V::load(k0 + d), kv1 = V::load(k1 + d);
      for (int r = 0; r < NR; ++r) {
        const T qv = V::load(q[r] + d);
        a0[r] = V::fma(qv, kv0, a0[r]);
        a1[r] = V::fma(qv, kv1, a1[r]);
      }
    }
    for (int r = 0; r < NR; ++r) {
      float x0 = V::hsum(a0[r]), x1 = V::hsum(a1[r]);
      for (int64_t d = dk_v; d < dk; ++d) {
        x0 += q[r][d] * k0[d];
        x1 += q[r][d] * k1[d];
      }
      s[r][j] = x0 * p.scale;
      s[r][j + 1] = x1 * p.scale;
    }
  }
  for (; j < n; ++j) {
    const float* kr = kh + (j0 + j) * p.k_s;
    T a[NR];
    for (int r = 0; r < NR; ++r) a[r] = V::zero();
    for (int64_t d = 0; d < dk_v; d += W) {
      const T kv = V::load(kr + d);
      for (int r = 0; r < NR; ++r) a[r] = V::fma(V::load(q[r] + d), kv, a[r]);
    }
    for (int r = 0; r < NR; ++r) {
      float x = V::hsum(a[r]);
      for (int64_t d = dk_v; d < dk; ++d) x += q[r][d] * kr[d];
      s[r][j] = x * p.scale;
    }
  }
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  float c[NR];
  for (int r = 0; r < NR; ++r) {
    float& m = ml[r][0];
    float& l = ml[r][1];
    float m_new = m;
    for (int64_t jj = 0; jj < n; ++jj) m_new = s[r][jj] > m_new ? s[r][jj] : m_new;
    if (m_new == kNegInf) {  // every score so far -inf: nothing to add (as softmax's zeros)
      c[r] = 1.0f;
      for (int64_t jj = 0; jj < n; ++jj) s[r][jj] = 0.0f;
      continue;
    }
    c[r] = std::exp(m - m_new);  // 0 on the first block (m = -inf)
    float sum = 0.0f;
    for (int64_t jj = 0; jj < n; ++jj) {
      s[r][jj] = std::exp(s[r][jj] - m_new);
      sum += s[r][jj];
    }
    l = l * c[r] + sum;
    m = m_new;
  }
  // Register chunks of every row's acc, kept in registers over the block's keys: two chunks
  // at a time (2·NR independent FMA chains), then one.
  const int64_t dv = p.dv, dv_v = dv / W * W;
  int64_t d = 0;
  for (; d + 2 * W <= dv_v; d += 2 * W) {
    T a0[NR], a1[NR];
    for (int r = 0; r < NR; ++r) {
      a0[r] = V::mul(V::load(acc[r] + d), V::set1(c[r]));
      a1[r] = V::mul(V::load(acc[r] + d + W), V::set1(c[r]));
    }
    for (int64_t jj = 0; jj < n; ++jj) {
      const float* vr = vh + (j0 + jj) * p.v_s + d;
      const T v0 = V::load(vr), v1 = V::load(vr + W);
      for (int r = 0; r < NR; ++r) {
        const T pj = V::set1(s[r][jj]);
        a0[r] = V::fma(pj, v0, a0[r]);
        a1[r] = V::fma(pj, v1, a1[r]);
      }
    }
    for (int r = 0; r < NR; ++r) {
      V::store(acc[r] + d, a0[r]);
      V::store(acc[r] + d + W, a1[r]);
    }
  }
  for (; d < dv_v; d += W) {
    T a[NR];
    for (int r = 0; r < NR; ++r) a[r] = V::mul(V::load(acc[r] + d), V::set1(c[r]));
    for (int64_t jj = 0; jj < n; ++jj) {
      const T vv = V::load(vh + (j0 + jj) * p.v_s + d);
      for (int r = 0; r < NR; ++r) a[r] = V::fma(V::set1(s[r][jj]), vv, a[r]);
    }
    for (int r = 0; r < NR; ++r) V::store(acc[r] + d, a[r]);
  }
  for (d = dv_v; d < dv; ++d)
    for (int r = 0; r < NR; ++r) {
      float x = acc[r][d] * c[r];
      for (int64_t jj = 0; jj < n; ++jj) x += s[r][jj] * vh[(j0 + jj) * p.v_s + d];
      acc[r][d] = x;
    }
}

template <class V>
void tile(const AttentionParams& p, const AttentionTile& t) {
  const int64_t G = p.hq / p.hkv;
  const float* kh = p.k + t.kvh * p.k_h;
  const float* vh = p.v + t.kvh * p.v_h;
  auto first = [&](int64_t tt) {
    return p.window > 0 ? std::max<int64_t>(0, p.pos_offset + tt - p.window + 1) : int64_t(0);
  };
  auto last = [&](int64_t tt) { return p.pos_offset + tt; };  // inclusive
  auto acc_row = [&](int64_t tt, int64_t g) { return t.acc + (tt - t.t0) * t.acc_t + g * t.acc_g; };
  auto ml_row = [&](int64_t tt, int64_t g) { return t.ml + 2 * ((tt - t.t0) * G + g); };
  for (int64_t tt = t.t0; tt < t.t1; ++tt)
    for (int64_t g = 0; g < G; ++g) {
      float* a = acc_row(tt, g);
      for (int64_t d = 0; d < p.dv; ++d) a[d] = 0.0f;
      ml_row(tt, g)[0] = -std::numeric_limits<float>::infinity();
      ml_row(tt, g)[1] = 0.0f;
    }
  // first() and last() grow with t: the tile's keys are those of its first and last queries.
  const int64_t lo = std::max(t.s0, first(t.t0)), hi = std::min(t.s1, last(t.t1 - 1) + 1);
  const int64_t bk = block_keys(p.dk);
  for (int64_t jb = lo; jb < hi; jb += bk) {
    const int64_t je = std::min(jb + bk, hi);
    for (int64_t tt = t.t0; tt < t.t1; ++tt) {
      const int64_t j0 = std::max(jb, first(tt)), j1 = std::min(je, last(tt) + 1);
      if (j0 >= j1) continue;
      for (int64_t g0 = 0; g0 < G; g0 += kRows) {
        const int nr = int(std::min<int64_t>(kRows, G - g0));
        const float* q[kRows];
        float* acc[kRows];
        float* ml[kRows];
        for (int r = 0; r < nr; ++r) {
          const int64_t g = g0 + r;
          q[r] = p.q + tt * p.q_t + (t.kvh * G + g) * p.q_h;
          acc[r] = acc_row(tt, g);
          ml[r] = ml_row(tt, g);
        }
        switch (nr) {
          case 4:
            rows_block<V, 4>(p, q, acc, ml, kh, vh, j0, j1);
            break;
          case 3:
            rows_block<V, 3>(p, q, acc, ml, kh, vh, j0, j1);
            break;
          case 2:
            rows_block<V, 2>(p, q, acc, ml, kh, vh, j0, j1);
            break;
          default:
            rows_block<V, 1>(p, q, acc, ml, kh, vh, j0, j1);
            break;
        }
      }
    }
  }
}

}  // namespace kt::cpu::attn
