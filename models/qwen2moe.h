#pragma once
// Qwen2-MoE (Qwen1.5-MoE, Qwen2-57B-A14B): the Qwen2 attention (Q/K/V biases, rotate-half
// RoPE) and in every layer a routed MoE (softmax over all experts, top-k, not renormalised
// unless expert_weights_norm says so) plus one shared expert scaled by
// sigmoid(ffn_gate_inp_shexp · x).
#include "models/architecture.h"
#include "models/moe_block.h"

namespace kt::models {

class Qwen2Moe : public Architecture {
 public:
  Qwen2Moe(const tensor::GgufFile& f, HParams hp, WeightSet weights);
  const HParams& hparams() const override { return hp_; }
  std::vector<CacheSpec> cache_specs() const override;
  StepGraph build_step(int64_t n_tokens, int64_t pos, int64_t n_ctx, int64_t n_out) const override;

 private:
  HParams hp_;
  WeightSet w_;
  MoeSpec moe_;
};

}  // namespace kt::models
