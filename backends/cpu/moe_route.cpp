#include "backends/cpu/moe_route.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backends/cpu/ops.h"
#include "tensor/error.h"

namespace kt::cpu {

using tensor::MoeGating;
using tensor::MoeGroupScore;
using tensor::MoeRouting;

void moe_gate(const float* logits, int64_t X, const MoeRouting& r, float* probs) {
  switch (r.gating) {
    case MoeGating::Softmax:
      std::copy_n(logits, X, probs);
      softmax(probs, X);
      break;
    case MoeGating::Sigmoid:
      sigmoid(logits, probs, X);
      break;
    case MoeGating::SoftmaxWeight:
      std::copy_n(logits, X, probs);
      break;
    case MoeGating::SqrtSoftplus:
      for (int64_t i = 0; i < X; ++i) {
        const float x = logits[i];
        const float sp = x > 20.0f ? x : std::log1p(std::exp(x));
        probs[i] = std::sqrt(sp);
      }
      break;
  }
}

void moe_select(const float* logits, const float* bias, int64_t X, const MoeRouting& r,
                int32_t* ids) {
  std::vector<float> s(static_cast<size_t>(X));
  moe_gate(logits, X, r, s.data());
  if (bias)
    for (int64_t i = 0; i < X; ++i) s[size_t(i)] += bias[i];
  if (r.n_group > 1) {
    const int64_t per = X / r.n_group;
    std::vector<float> group(static_cast<size_t>(r.n_group));
    for (int g = 0; g < r.n_group; ++g) {
      const float* gs = s.data() + g * per;
      if (r.group_score == MoeGroupScore::Max) {
        group[size_t(g)] = *std::max_element(gs, gs + per);
      } else {
        int32_t best[2];
        float val[2];
        top_k(gs, per, 2, best, val);
        group[size_t(g)] = val[0] + val[1];
      }
    }
    std::vector<int32_t> kept(static_cast<size_t>(r.n_group_used));
    top_k(group.data(), r.n_group, r.n_group_used, kept.data(), nullptr);
    std::vector<bool> keep(static_cast<size_t>(r.n_group), false);
    for (int32_t g : kept) keep[size_t(g)] = true;
    for (int64_t i = 0; i < X; ++i)
      if (!keep[size_t(i / per)]) s[size_t(i)] = -std::numeric_limits<float>::infinity();
  }
  top_k(s.data(), X, r.k, ids, nullptr);
}

void moe_weights(const float* logits, const int32_t* ids, int64_t X, const MoeRouting& r,
                 float* weights) {
  std::vector<float> p(static_cast<size_t>(X));
  moe_gate(logits, X, r, p.data());
  for (int j = 0; j < r.k; ++j) {
    if (ids[j] < 0 || ids[j] >= X)
      throw Error("expert id " + std::to_string(ids[j]) + " outside [0, " + std::to_string(X) +
                  ")");
    weights[j] = p[size_t(ids[j])];
  }
  if (r.gating == MoeGating::SoftmaxWeight) softmax(weights, r.k);
  if (r.norm) {
    float sum = 0.0f;
    for (int j = 0; j < r.k; ++j) sum += weights[j];
    const float d = r.norm_eps_additive ? sum + r.norm_eps : std::max(sum, r.norm_eps);
    for (int j = 0; j < r.k; ++j) weights[j] /= d;
  }
  if (r.scale != 1.0f)
    for (int j = 0; j < r.k; ++j) weights[j] *= r.scale;
}

}  // namespace kt::cpu
