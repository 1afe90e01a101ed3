#pragma once
// Parameters of a Mixture-of-Experts router, shared by the graph IR and every backend. One
// description covers every gating variant of the supported architectures (gguf.md §6):
//   probs    = gate(logits)                       softmax | sigmoid | logits | sqrt(softplus)
//   scores   = probs + bias                       (bias: selection only, DeepSeek-V3)
//   groups   : keep the n_group_used best of n_group consecutive groups (score: max or the
//              sum of the top two), the other experts cannot be chosen
//   ids      = top-k of scores
//   weights  = probs[ids] (SoftmaxWeight: softmax over the selected logits)
//              / max(sum, eps) or / (sum + eps) when norm, then * scale
namespace kt::tensor {

enum class MoeGating {
  Softmax,        // softmax over all experts (Mixtral, Qwen MoE, DeepSeek-V2)
  Sigmoid,        // independent sigmoids (DeepSeek-V3)
  SoftmaxWeight,  // select on the logits, softmax over the selected ones
  SqrtSoftplus,   // sqrt(softplus(logits))
};

enum class MoeGroupScore {
  Max,      // a group counts as its best expert (HF DeepSeek-V2 group_limited_greedy)
  Top2Sum,  // sum of its two best (DeepSeek-V3 noaux_tc, llama.cpp for every file)
};

struct MoeRouting {
  int k = 0;  // experts per token
  MoeGating gating = MoeGating::Softmax;
  int n_group = 1;       // groups of consecutive experts (1: no group limit)
  int n_group_used = 1;  // groups kept per token
  MoeGroupScore group_score = MoeGroupScore::Top2Sum;
  bool norm = false;  // renormalise the selected weights to sum 1
  // llama.cpp divides by max(sum, 6.103515625e-5); HF DeepSeek-V3 by (sum + 1e-20).
  float norm_eps = 6.103515625e-5f;
  bool norm_eps_additive = false;
  float scale = 1.0f;  // routed scaling factor, after the normalisation
};

}  // namespace kt::tensor
