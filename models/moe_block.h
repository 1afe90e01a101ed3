#pragma once
// The Mixture-of-Experts FFN block, written once for every architecture (gguf.md §6): the
// router (ffn_gate_inp, optional selection bias exp_probs_b), the routed experts
// (ffn_{gate,up,down}_exps stacked {in, out, X}) combined by their weights, and an optional
// shared expert (ffn_{gate,up,down}_shexp), either added as is (DeepSeek) or scaled by
// sigmoid(ffn_gate_inp_shexp · x) (Qwen2-MoE).
#include <cstdint>

#include "models/decoder.h"
#include "tensor/moe_routing.h"

namespace kt::models {

enum class SharedExpert { None, Plain, Gated };

struct MoeSpec {
  int64_t n_expert = 0;  // routed experts (X)
  int64_t n_ff = 0;      // routed expert FFN width
  tensor::MoeRouting routing;
  bool select_bias = false;  // exp_probs_b.bias present (checked per layer)
  SharedExpert shared = SharedExpert::None;
  int64_t n_ff_shared = 0;

  // Reads %s.expert_count, expert_used_count, expert_feed_forward_length (default n_ff),
  // expert_gating_func (absent or 0: softmax), expert_weights_norm (default norm_default),
  // expert_weights_scale (absent or 0: 1), expert_group_count, expert_group_used_count and
  // expert_group_scoring ("max" or "top2_sum", the default). Shared-expert fields are left to
  // the architecture. Throws kt::Error naming the file and key for an impossible value.
  static MoeSpec from_gguf(const tensor::GgufFile& f, const HParams& hp, bool norm_default);
};

// Checks layer l's router, experts and shared expert by name and shape.
void check_moe_weights(const WeightSet& w, int64_t l, int64_t n_embd, const MoeSpec& m);
// h: the normed hidden state {E, T}; returns the FFN output {E, T}.
tensor::NodeId moe_ffn(tensor::Graph& g, const WeightSet& w, int64_t l, tensor::NodeId h,
                       const MoeSpec& m);

}  // namespace kt::models
