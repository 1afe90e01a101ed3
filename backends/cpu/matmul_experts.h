#pragma once
// The expert-indexed matrix product of an MoE layer (the graph's MatMulExperts), as ONE
// thread-pool dispatch: every (slot, token) pair p = t·n_slots + j is multiplied by the weight
// matrix of its expert ids[p]:
//
//   y[p][n] = Σ_i W_{ids[p]}[n][i] · x[src(p)][i],  src(p) = p (per-slot input) or t (shared)
//
// Inside the dispatch: each distinct source row is quantized once (to the weights'
// vec_dot_type), the pairs are grouped by expert, and work items (stack, expert, token tile,
// row tile) are handed out dynamically, so an expert's rows are read once per token tile with
// the multi-row kernels. Calling matmul once per expert instead costs a dispatch and an
// activation quantization per expert and leaves most threads idle on small experts.
//
// Several weight stacks that read the same activations (an MoE layer's gate and up
// projections) can go in one call: they share the quantized rows and the dispatch.
//
// The float results are bit-identical to matmul() on each expert's rows (same kernel calls:
// token tiles and groups of kVecDotMaxRows counted from the expert's first pair, in pair
// order) and therefore do not depend on the thread count.
#include <cstddef>
#include <cstdint>
#include <span>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/thread_pool.h"
#include "tensor/dtype.h"

namespace kt::cpu {

// One stack of expert weight matrices, a 3-D ggml tensor {k, n_rows, n_experts}, and the
// place its products go.
struct ExpertStack {
  tensor::DType wtype = tensor::DType::F32;
  const void* w = nullptr;   // row n of expert e at byte e·expert_stride + n·row_stride
  size_t row_stride = 0;     // >= row_size(wtype, k) (ggml nb1)
  size_t expert_stride = 0;  // ggml nb2
  int64_t n_rows = 0;
  float* y = nullptr;    // the n_rows outputs of pair p at y + p·y_stride
  int64_t y_stride = 0;  // >= n_rows
};

// The pairs and where their activations are.
struct ExpertRouting {
  const int32_t* ids = nullptr;  // ids[t·n_slots + j], each in [0, n_experts)
  int64_t n_slots = 0;           // experts per token (top-k)
  int64_t n_tokens = 0;
  int64_t n_experts = 0;
  // Activation rows of k floats, x_stride floats apart: n_slots·n_tokens rows (one per pair)
  // when per_slot, else n_tokens rows shared by a token's slots.
  const float* x = nullptr;
  int64_t x_stride = 0;
  bool per_slot = false;
};

// Computes every stack for every pair. All stacks must have the same row length k and
// activation type (tensor::type_traits(wtype).vec_dot_type). Throws kt::Error for an expert id
// out of range, stacks that cannot share activations, or what matmul() rejects.
void matmul_experts(ThreadPool& pool, std::span<const ExpertStack> stacks, int64_t k,
                    const ExpertRouting& route, Isa isa = best_isa());

// Whether two weight types can go in one matmul_experts call (same activation type).
bool experts_share_activations(tensor::DType a, tensor::DType b);

}  // namespace kt::cpu
