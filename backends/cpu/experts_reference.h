#pragma once
// The expert-indexed matrix product (the graph's MatMulExperts) expert by expert: the pairs of
// each expert gathered and multiplied with one matmul() call per expert. This is the operator
// variant a placement rule selects with KExpertsTorch / experts_reference (tensor::OpVariant::
// Reference), and the path matmul_experts() (the fused variant) is compared against.
#include <cstdint>
#include <vector>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/thread_pool.h"
#include "tensor/tensor.h"

namespace kt::cpu {

// w {K, N, E}, x {K, T} or {K, k·T} (one row per pair), ids I32 {k, T} -> F32 {N, k, T}.
// Throws kt::Error for an expert id outside [0, E).
tensor::Tensor matmul_experts_reference(ThreadPool& pool, const tensor::Tensor& w,
                                        const tensor::Tensor& x, const tensor::Tensor& ids,
                                        Isa isa = best_isa());

}  // namespace kt::cpu
