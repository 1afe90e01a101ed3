#pragma once
// Pieces shared by the decoder-only architectures: the step's inputs and embeddings, the LM
// head, grouped-query attention with a KV cache (optional Q/K/V biases and per-head Q/K
// norms) and the dense SwiGLU FFN. Each architecture file combines them with its own quirks;
// every weight is checked by name and shape before any graph is built.
#include <functional>
#include <string>
#include <vector>

#include "models/architecture.h"

namespace kt::models {

// "blk.3.attn_q.weight"
std::string blk_name(int64_t layer, const std::string& name, const char* suffix = "weight");

// A Weight node for the tensor of that name.
tensor::NodeId weight_node(tensor::Graph& g, const WeightSet& w, const std::string& name);

// token_embd {E, V}, output_norm {E}, output {E, V} (absent: tied to token_embd, when allowed),
// output.bias {V} when present. Throws kt::Error naming the tensor.
void check_output_weights(const WeightSet& w, const HParams& hp, bool allow_tied = true);
// Creates the tokens/positions/out_rows inputs of s and returns the embeddings {E, T}.
tensor::NodeId begin_step(StepGraph& s, const WeightSet& w, int64_t T, int64_t n_out);
// Keeps the out_rows of x {E, T}, applies output_norm and the LM head: sets s.logits.
void finish_step(StepGraph& s, const WeightSet& w, const HParams& hp, tensor::NodeId x);

// Grouped-query attention of layer l: attn_q/k/v {E, D*H(kv)} (+ optional biases),
// attn_output {D*H, E}, optional attn_q_norm/attn_k_norm {D} (required when qk_norm).
void check_gqa_weights(const WeightSet& w, const HParams& hp, int64_t l, bool qk_norm);
std::vector<CacheSpec> gqa_cache_specs(const HParams& hp);
// h: the normed hidden state {E, T}. Appends the layer's k and v cache inputs to s.caches and
// returns the attention output projected back to {E, T}. Uses hp.rope, softmax scale
// 1/sqrt(head_dim) and no window.
tensor::NodeId gqa_attention(StepGraph& s, const WeightSet& w, const HParams& hp, int64_t l,
                             tensor::NodeId h, int64_t T, int64_t pos, int64_t n_ctx);
// What may differ from layer to layer (Gemma: local layers with their own rope base and a
// sliding window, global layers with the file's rope).
struct AttentionParams {
  tensor::RopeParams rope;
  float scale = 1.0f;  // softmax scale
  int64_t window = 0;  // sliding window in positions; 0: all earlier positions
};
tensor::NodeId gqa_attention(StepGraph& s, const WeightSet& w, const HParams& hp, int64_t l,
                             tensor::NodeId h, int64_t T, int64_t pos, int64_t n_ctx,
                             const AttentionParams& a);

// SwiGLU FFN of layer l from ffn_gate/ffn_up {E, F} and ffn_down {F, E}; `suffix` picks
// another set with the same form ("_shexp": the shared expert).
void check_dense_ffn(const WeightSet& w, int64_t l, int64_t E, int64_t F,
                     const std::string& suffix = "");
tensor::NodeId dense_ffn(tensor::Graph& g, const WeightSet& w, int64_t l, tensor::NodeId h,
                         const std::string& suffix = "");

// The step of a pre-norm GQA decoder: x += attention(attn_norm(x)); x += ffn(l, ffn_norm(x))
// per layer, then the LM head. ffn(g, l, h) builds layer l's FFN on the normed state h.
using FfnBuilder = std::function<tensor::NodeId(tensor::Graph&, int64_t, tensor::NodeId)>;
StepGraph gqa_decoder_step(const WeightSet& w, const HParams& hp, int64_t T, int64_t pos,
                           int64_t n_ctx, int64_t n_out, const FfnBuilder& ffn);

}  // namespace kt::models
