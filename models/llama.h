#pragma once
// Llama-family decoder (Llama 2/3, Mistral, TinyLlama, llama2.c stories, and Mixtral = llama
// with expert_count > 0): pre-norm blocks of grouped-query attention with RoPE and a SwiGLU
// MLP or a routed MoE FFN (softmax, top-k, renormalised). GGUF files of this architecture
// store Q/K rows permuted for adjacent-pair RoPE (llama.cpp's converter), so the rope is
// Adjacent.
#include <optional>

#include "models/architecture.h"
#include "models/moe_block.h"

namespace kt::models {

class Llama : public Architecture {
 public:
  Llama(const tensor::GgufFile& f, HParams hp, WeightSet weights);
  const HParams& hparams() const override { return hp_; }
  std::vector<CacheSpec> cache_specs() const override;
  StepGraph build_step(int64_t n_tokens, int64_t pos, int64_t n_ctx, int64_t n_out) const override;

 private:
  HParams hp_;
  WeightSet w_;
  std::optional<MoeSpec> moe_;  // Mixtral
};

}  // namespace kt::models
