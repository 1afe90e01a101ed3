// Sampler semantics: greedy, truncations, penalties, determinism and the sampled distribution.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "engine/sampler.h"
#include "tensor/error.h"

namespace kt::engine {
namespace {

SamplerParams plain(float temperature) {
  SamplerParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}

std::map<int32_t, int> histogram(Sampler& s, const std::vector<float>& logits, int draws) {
  std::map<int32_t, int> h;
  for (int i = 0; i < draws; ++i) ++h[s.sample(logits.data(), int64_t(logits.size()))];
  return h;
}

TEST(Sampler, GreedyTakesArgmaxLowestIdOnTies) {
  Sampler s(plain(0.0f));
  const std::vector<float> l = {1.0f, 3.0f, 3.0f, -2.0f};
  EXPECT_EQ(s.sample(l.data(), 4), 1);
}

TEST(Sampler, SameSeedSameTokensAndResetRestarts) {
  const std::vector<float> l = {0.1f, 0.2f, 0.3f, 0.0f, -0.1f, 0.25f};
  Sampler a(plain(1.0f)), b(plain(1.0f));
  std::vector<int32_t> sa, sb;
  for (int i = 0; i < 200; ++i) {
    sa.push_back(a.sample(l.data(), 6));
    sb.push_back(b.sample(l.data(), 6));
  }
  EXPECT_EQ(sa, sb);
  a.reset();
  std::vector<int32_t> again;
  for (int i = 0; i < 200; ++i) again.push_back(a.sample(l.data(), 6));
  EXPECT_EQ(again, sa);
  SamplerParams other = plain(1.0f);
  other.seed = 12345;
  Sampler c(other);
  std::vector<int32_t> sc;
  for (int i = 0; i < 200; ++i) sc.push_back(c.sample(l.data(), 6));
  EXPECT_NE(sc, sa);
}

TEST(Sampler, DrawsFollowTheSoftmaxAtTemperature) {
  const std::vector<float> l = {0.0f, 1.0f, 2.0f};
  for (float temp : {1.0f, 0.5f}) {
    Sampler s(plain(temp));
    const int draws = 40000;
    auto h = histogram(s, l, draws);
    double z = 0;
    for (float x : l) z += std::exp(x / temp);
    for (int i = 0; i < 3; ++i) {
      const double p = std::exp(l[i] / temp) / z;
      const double sd = std::sqrt(p * (1 - p) / draws);
      EXPECT_NEAR(double(h[i]) / draws, p, 5 * sd) << "token " << i << " temp " << temp;
    }
  }
}

TEST(Sampler, TopKTopPMinPTruncate) {
  // Probabilities at temperature 1: about 0.64, 0.24, 0.09, 0.03.
  const std::vector<float> l = {3.0f, 2.0f, 1.0f, 0.0f};
  SamplerParams k1 = plain(5.0f);
  k1.top_k = 1;
  Sampler s1(k1);
  EXPECT_EQ(histogram(s1, l, 500).size(), 1u);

  SamplerParams tp = plain(1.0f);
  tp.top_p = 0.8f;  // 0.64 + 0.24 reaches 0.8: tokens 0 and 1 only
  Sampler s2(tp);
  auto h2 = histogram(s2, l, 3000);
  EXPECT_EQ(h2.size(), 2u);
  EXPECT_GT(h2[1], 0);

  SamplerParams mp = plain(1.0f);
  mp.min_p = 0.3f;  // keeps p >= 0.3 * 0.64 = 0.19: tokens 0 and 1
  Sampler s3(mp);
  auto h3 = histogram(s3, l, 3000);
  EXPECT_EQ(h3.size(), 2u);
  EXPECT_EQ(h3.count(2), 0u);
}

TEST(Sampler, PenaltiesFollowLlamaCppSemantics) {
  SamplerParams p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  // Token 0 leads with 3.0; once seen, 3.0 / 2 = 1.5 < 2.0 so token 1 wins.
  const std::vector<float> l = {3.0f, 2.0f, -1.0f};
  EXPECT_EQ(s.sample(l.data(), 3), 0);
  s.accept(0);
  EXPECT_EQ(s.sample(l.data(), 3), 1);
  // With all three seen: 1.5, 1.0, and the negative logit multiplied to -2.0.
  s.accept(1);
  s.accept(2);
  EXPECT_EQ(s.sample(l.data(), 3), 0);
  Sampler only0(p);
  only0.accept(0);
  const std::vector<float> neg = {-1.0f, -1.5f};  // -2.0 vs -1.5 once token 0 is penalised
  EXPECT_EQ(only0.sample(neg.data(), 2), 1);

  SamplerParams f = plain(0.0f);
  f.frequency_penalty = 0.6f;
  f.presence_penalty = 0.1f;
  f.penalty_last_n = 3;
  Sampler t(f);
  for (int i = 0; i < 2; ++i) t.accept(0);  // 3.0 - 2*0.6 - 0.1 = 1.7 < 2.0
  EXPECT_EQ(t.sample(l.data(), 3), 1);
  for (int i = 0; i < 3; ++i) t.accept(2);  // token 0 falls out of the last 3
  EXPECT_EQ(t.sample(l.data(), 3), 0);
}

TEST(Sampler, NanLogitsAreNeverDrawnAndBadInputIsAnError) {
  const std::vector<float> l = {NAN, 0.0f, NAN, 0.0f};
  Sampler s(plain(1.0f));
  auto h = histogram(s, l, 500);
  EXPECT_EQ(h.count(0) + h.count(2), 0u);
  const std::vector<float> all_nan = {NAN, NAN};
  EXPECT_THROW(s.sample(all_nan.data(), 2), Error);
  EXPECT_THROW(s.sample(l.data(), 0), Error);
}

}  // namespace
}  // namespace kt::engine
