#pragma once
// Token sampler: turns the logits of one step into the next token id. The chain follows
// llama.cpp's default order: repetition/frequency/presence penalties over the recent tokens,
// then top-k, top-p, min-p, temperature, and a draw from the remaining distribution with a
// seeded generator (same seed and inputs, same tokens). Temperature 0 is greedy.
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

namespace kt::engine {

struct SamplerParams {
  float temperature = 0.8f;        // <= 0: greedy (argmax after penalties)
  int top_k = 40;                  // <= 0: off
  float top_p = 0.95f;             // >= 1: off
  float min_p = 0.05f;             // <= 0: off; keeps tokens with p >= min_p * p_max
  float repeat_penalty = 1.0f;     // 1: off; divides positive logits, multiplies negative ones
  float frequency_penalty = 0.0f;  // subtracts count * value
  float presence_penalty = 0.0f;   // subtracts value once for any token seen
  int penalty_last_n = 64;         // how many recent tokens the penalties look at; 0: none
  uint64_t seed = 0xC0FFEE;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p);

  // Picks a token from n_vocab logits (not modified). Throws kt::Error when n_vocab < 1.
  int32_t sample(const float* logits, int64_t n_vocab);
  // Records a token that is now part of the context (prompt tokens too) for the penalties.
  void accept(int32_t token);
  // Forgets the history and restarts the random sequence from the seed.
  void reset();

  const SamplerParams& params() const { return params_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
    float p;
  };
  void apply_penalties(std::vector<Candidate>& c) const;

  SamplerParams params_;
  std::mt19937_64 rng_;
  std::deque<int32_t> recent_;
  std::vector<Candidate> scratch_;
};

}  // namespace kt::engine
