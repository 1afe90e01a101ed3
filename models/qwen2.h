#pragma once
// Qwen2 (dense): the llama block with Q/K/V biases, rotate-half RoPE (no row permutation in
// the files), an optional output.bias and often tied embeddings.
#include "models/architecture.h"

namespace kt::models {

class Qwen2 : public Architecture {
 public:
  Qwen2(const tensor::GgufFile& f, HParams hp, WeightSet weights);
  const HParams& hparams() const override { return hp_; }
  std::vector<CacheSpec> cache_specs() const override;
  StepGraph build_step(int64_t n_tokens, int64_t pos, int64_t n_ctx, int64_t n_out) const override;

 private:
  HParams hp_;
  WeightSet w_;
};

}  // namespace kt::models
