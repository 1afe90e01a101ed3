#include "backends/cpu/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "tensor/error.h"

namespace kt::cpu {

void add(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void mul(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

void scale(const float* x, float s, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * s;
}

void axpy(float s, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += s * x[i];
}

void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
  // Sum in double: hidden sizes reach 7168 and activations can be large after many layers.
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
  const float r = float(1.0 / std::sqrt(ss / double(n) + double(eps)));
  if (w) {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * r * w[i];
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * r;
  }
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  const float m = *std::max_element(x, x + n);
  if (m == -std::numeric_limits<float>::infinity()) {
    std::fill(x, x + n, 0.0f);
    return;
  }
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += x[i];
  }
  const float inv = float(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void silu(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void sigmoid(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

void swiglu(const float* gate, const float* up, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void gelu(const float* x, float* y, int64_t n) {
  // No lookup table (ggml uses an f16 one): the exact formula is the reference.
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
  }
}

namespace {

// YaRN: the dimension index at which the rotation completes n_rot turns over the original
// context; dims below the "fast" one extrapolate, dims above the "slow" one interpolate.
float yarn_corr_dim(int n_rot, int n_ctx_orig, float n_turns, float base) {
  return n_rot * std::log(n_ctx_orig / (n_turns * 2.0f * float(M_PI))) / (2.0f * std::log(base));
}

float yarn_ramp(float low, float high, int i0) {
  const float y = (i0 / 2 - low) / std::max(0.001f, high - low);
  return 1.0f - std::min(1.0f, std::max(0.0f, y));
}

}  // namespace

void rope_cos_sin(const RopeParams& p, int64_t pos, float* cos_out, float* sin_out) {
  const int half = p.n_rot / 2;
  float low = 0.0f, high = 0.0f;
  if (p.ext_factor != 0.0f) {
    low =
        std::max(0.0f, std::floor(yarn_corr_dim(p.n_rot, p.n_ctx_orig, p.beta_fast, p.freq_base)));
    high = std::min(float(p.n_rot - 1),
                    std::ceil(yarn_corr_dim(p.n_rot, p.n_ctx_orig, p.beta_slow, p.freq_base)));
  }
  for (int i = 0; i < half; ++i) {
    const int i0 = 2 * i;
    // theta in double: positions reach 10^5 and base^(-i0/n_rot) spans many orders.
    const double theta_extrap = double(pos) * std::pow(double(p.freq_base), -double(i0) / p.n_rot);
    const double theta_interp = p.freq_scale * theta_extrap;
    double theta = theta_interp;
    float mscale = p.attn_factor;
    if (p.ext_factor != 0.0f) {
      const float mix = yarn_ramp(low, high, i0) * p.ext_factor;
      theta = theta_interp * (1.0 - mix) + theta_extrap * mix;
      // ggml applies the YaRN magnitude correction inside the rope when extrapolating.
      mscale *= 1.0f + 0.1f * std::log(1.0f / p.freq_scale);
    }
    cos_out[i] = float(std::cos(theta)) * mscale;
    sin_out[i] = float(std::sin(theta)) * mscale;
  }
}

void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const RopeParams& p) {
  if (p.n_rot <= 0 || p.n_rot % 2 != 0 || p.n_rot > head_dim)
    throw Error("rope: n_rot " + std::to_string(p.n_rot) + " must be even and at most head_dim " +
                std::to_string(head_dim));
  const int half = p.n_rot / 2;
  std::vector<float> c(half), s(half);
  rope_cos_sin(p, pos, c.data(), s.data());
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int i = 0; i < half; ++i) {
      const int a = p.pairing == RopePairing::Adjacent ? 2 * i : i;
      const int b = p.pairing == RopePairing::Adjacent ? 2 * i + 1 : i + half;
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * c[i] - x1 * s[i];
      v[b] = x0 * s[i] + x1 * c[i];
    }
  }
}

void get_rows(tensor::DType type, const void* table, int64_t n_vocab, int64_t row_len,
              const int32_t* ids, int64_t n_ids, float* out) {
  const size_t rs = tensor::row_size(type, row_len);
  for (int64_t i = 0; i < n_ids; ++i) {
    if (ids[i] < 0 || ids[i] >= n_vocab)
      throw Error("token id " + std::to_string(ids[i]) + " is outside the vocabulary of " +
                  std::to_string(n_vocab));
    tensor::dequantize_row(type, static_cast<const uint8_t*>(table) + size_t(ids[i]) * rs,
                           out + i * row_len, row_len);
  }
}

void top_k(const float* x, int64_t n, int k, int32_t* idx, float* val) {
  if (k < 0 || k > n)
    throw Error("top_k: k=" + std::to_string(k) + " outside [0, " + std::to_string(n) + "]");
  // Routers pick few of up to 256 experts: a partial sort of indices is the simple fast way.
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [x](int32_t a, int32_t b) {
    // NaN sorts last so that a broken logit never wins a slot silently ahead of real ones.
    const bool na = std::isnan(x[a]), nb = std::isnan(x[b]);
    if (na != nb) return nb;
    return x[a] > x[b] || (x[a] == x[b] && a < b);
  });
  for (int i = 0; i < k; ++i) {
    idx[i] = order[i];
    if (val) val[i] = x[order[i]];
  }
}

}  // namespace kt::cpu
