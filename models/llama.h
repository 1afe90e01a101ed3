#pragma once
// Llama-family decoder (Llama 2/3, Mistral, TinyLlama, llama2.c stories): pre-norm blocks of
// grouped-query attention with RoPE and a SwiGLU MLP. GGUF files of this architecture store
// Q/K rows permuted for adjacent-pair RoPE (llama.cpp's converter), so the rope is Adjacent.
#include "models/architecture.h"

namespace kt::models {

class Llama : public Architecture {
 public:
  Llama(HParams hp, WeightSet weights);
  const HParams& hparams() const override { return hp_; }
  std::vector<CacheSpec> cache_specs() const override;
  StepGraph build_step(int64_t n_tokens, int64_t pos, int64_t n_ctx, int64_t n_out) const override;

 private:
  HParams hp_;
  WeightSet w_;
  bool tied_output_;  // no output.weight: the logits reuse token_embd
};

}  // namespace kt::models
