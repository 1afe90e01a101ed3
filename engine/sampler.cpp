#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

#include "tensor/error.h"

namespace kt::engine {

Sampler::Sampler(const SamplerParams& p) : params_(p), rng_(p.seed) {}

void Sampler::reset() {
  recent_.clear();
  rng_.seed(params_.seed);
}

void Sampler::accept(int32_t token) {
  if (params_.penalty_last_n <= 0) return;
  recent_.push_back(token);
  while (int(recent_.size()) > params_.penalty_last_n) recent_.pop_front();
}

void Sampler::apply_penalties(std::vector<Candidate>& c) const {
  const bool any = params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f ||
                   params_.presence_penalty != 0.0f;
  if (!any || recent_.empty()) return;
  std::unordered_map<int32_t, int> counts;
  for (int32_t t : recent_) ++counts[t];
  for (const auto& [tok, n] : counts) {
    if (tok < 0 || size_t(tok) >= c.size()) continue;  // history from a larger vocabulary
    float& l = c[size_t(tok)].logit;
    l = l > 0 ? l / params_.repeat_penalty : l * params_.repeat_penalty;
    l -= float(n) * params_.frequency_penalty + params_.presence_penalty;
  }
}

int32_t Sampler::sample(const float* logits, int64_t n_vocab) {
  if (n_vocab < 1) throw Error("sampler: empty vocabulary");
  std::vector<Candidate>& c = scratch_;
  c.resize(size_t(n_vocab));
  for (int64_t i = 0; i < n_vocab; ++i) c[size_t(i)] = {int32_t(i), logits[i], 0.0f};
  apply_penalties(c);

  // Greedy: the lowest id wins ties, as argmax does.
  if (params_.temperature <= 0.0f) {
    size_t best = 0;
    for (size_t i = 1; i < c.size(); ++i)
      if (c[i].logit > c[best].logit) best = i;
    return c[best].id;
  }

  // NaN logits can never be drawn.
  c.erase(
      std::remove_if(c.begin(), c.end(), [](const Candidate& x) { return std::isnan(x.logit); }),
      c.end());
  if (c.empty()) throw Error("sampler: every logit is NaN");
  auto by_logit = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  size_t keep = c.size();
  if (params_.top_k > 0 && size_t(params_.top_k) < keep) {
    keep = size_t(params_.top_k);
    std::partial_sort(c.begin(), c.begin() + keep, c.end(), by_logit);
    c.resize(keep);
  } else {
    std::sort(c.begin(), c.end(), by_logit);
  }

  // Probabilities at temperature 1 decide top-p and min-p (llama.cpp applies temperature last).
  auto softmax = [&](float temp) {
    const float mx = c[0].logit;
    double sum = 0.0;
    for (auto& x : c) sum += (x.p = std::exp((x.logit - mx) / temp));
    for (auto& x : c) x.p = float(x.p / sum);
  };
  softmax(1.0f);
  if (params_.top_p < 1.0f) {
    double cum = 0.0;
    size_t n = 0;
    while (n < c.size()) {
      cum += c[n++].p;
      if (cum >= params_.top_p) break;
    }
    c.resize(std::max<size_t>(1, n));
  }
  if (params_.min_p > 0.0f) {
    const float cut = params_.min_p * c[0].p;
    size_t n = 1;
    while (n < c.size() && c[n].p >= cut) ++n;
    c.resize(n);
  }
  softmax(params_.temperature);

  std::uniform_real_distribution<double> uni(0.0, 1.0);
  const double r = uni(rng_);
  double cum = 0.0;
  for (const auto& x : c) {
    cum += x.p;
    if (r < cum) return x.id;
  }
  return c.back().id;  // rounding left r just above the total
}

}  // namespace kt::engine
