#pragma once
// GPU causal attention for the graph's Attention node: flash-attention style for prefill (key
// blocks streamed through shared memory with an online softmax, no score matrix in memory) and
// split-K flash-decoding for one or a few queries over a long cache (partial results merged).
// GQA/MQA, separate key and value head sizes, sliding windows, and MLA's shared latent rows
// (no v input: v is the first n.v_dim floats of every k row).
#include "backends/cuda/launch.h"
#include "tensor/graph.h"

namespace kt::cuda {

// q {Dk, Hq, T} contiguous F32. k and v are the KV caches, {D, Hkv, n_ctx} F32, rows strided
// as the Tensor says; v == nullptr for attention_shared_kv. The number of keys is
// *ctx.d_pos + T and query t sits at position *ctx.d_pos + t (the values of n.pos_offset and of
// k's dim 2 are not read, so that a captured graph replays at any position). out {Dv, Hq, T}.
void launch_attention(const tensor::Node& n, const tensor::Tensor& q, const tensor::Tensor& k,
                      const tensor::Tensor* v, const tensor::Tensor& out, const LaunchContext& ctx);

// Scratch the launch needs for T queries over at most n_ctx keys (split-K partials).
size_t attention_workspace_bytes(const tensor::Node& n, const tensor::Tensor& q, int64_t n_ctx);

}  // namespace kt::cuda
