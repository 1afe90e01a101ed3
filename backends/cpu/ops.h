#pragma once
// Element-wise and row-wise f32 operations of the forward pass (everything that is not a
// matrix product). Plain loops written so the compiler vectorises them; they are cheap next
// to the matrix products and are the reference for any future SIMD or GPU version.
#include <cstdint>

#include "tensor/dtype.h"
#include "tensor/rope_params.h"

namespace kt::cpu {

void add(const float* a, const float* b, float* y, int64_t n);
void mul(const float* a, const float* b, float* y, int64_t n);
void scale(const float* x, float s, float* y, int64_t n);
// y += s * x
void axpy(float s, const float* x, float* y, int64_t n);

// y = x / sqrt(mean(x^2) + eps) * w  (w may be null: no weight). One row of n.
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);

// In place, numerically stable (max subtracted). An all -inf row becomes all zeros.
void softmax(float* x, int64_t n);
void silu(const float* x, float* y, int64_t n);
void sigmoid(const float* x, float* y, int64_t n);
// y = silu(gate) * up, the SwiGLU of gated MLPs.
void swiglu(const float* gate, const float* up, float* y, int64_t n);
// y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): the tanh GELU of Gemma's gated MLP.
void gelu(const float* x, float* y, int64_t n);

using tensor::RopePairing;
using tensor::RopeParams;

// cos/sin of each rotated pair at position pos: out arrays of n_rot/2.
void rope_cos_sin(const RopeParams& p, int64_t pos, float* cos_out, float* sin_out);
// Rotates n_heads heads of head_dim values (contiguous) at position pos, in place.
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const RopeParams& p);

// Embedding lookup: dequantizes rows ids[i] of a [n_vocab, row_len] table of any readable type
// into out[i*row_len]. Throws kt::Error for an id outside [0, n_vocab).
void get_rows(tensor::DType type, const void* table, int64_t n_vocab, int64_t row_len,
              const int32_t* ids, int64_t n_ids, float* out);

// Indices and values of the k largest entries, in descending order; ties go to the lower index
// (what torch.topk returns for routers in practice). k <= n.
void top_k(const float* x, int64_t n, int k, int32_t* idx, float* val);

}  // namespace kt::cpu
