#pragma once
// The MoE router of one token (gguf.md §6): gating, optional selection bias, group-limited
// selection and the weights of the chosen experts. Plain reference code: a router is a few
// hundred values per token, nothing next to the expert matrix products.
#include <cstdint>

#include "tensor/moe_routing.h"

namespace kt::cpu {

// probs[X] from the router logits[X] by r.gating (SoftmaxWeight: the logits themselves).
void moe_gate(const float* logits, int64_t X, const tensor::MoeRouting& r, float* probs);

// ids[r.k] of the selected experts, best first (ties to the lower id). bias may be null.
void moe_select(const float* logits, const float* bias, int64_t X, const tensor::MoeRouting& r,
                int32_t* ids);

// weights[r.k] of the experts ids[r.k]; throws kt::Error for an id outside [0, X).
void moe_weights(const float* logits, const int32_t* ids, int64_t X, const tensor::MoeRouting& r,
                 float* weights);

}  // namespace kt::cpu
