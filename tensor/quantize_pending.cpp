// TEMPORARY during parallel development: replaced by quantize_legacy.cpp and
// quantize_kquants.cpp. Must not survive into a submission.
#include "tensor/error.h"
#include "tensor/quants.h"

namespace kt::tensor {
#define KT_PENDING(name) \
  size_t name(const float*, void*, int64_t) { throw Error(#name " pending"); }
KT_PENDING(quantize_row_q4_0)
KT_PENDING(quantize_row_q4_1)
KT_PENDING(quantize_row_q5_0)
KT_PENDING(quantize_row_q5_1)
KT_PENDING(quantize_row_iq4_nl)
KT_PENDING(quantize_row_q2_K)
KT_PENDING(quantize_row_q3_K)
KT_PENDING(quantize_row_q4_K)
KT_PENDING(quantize_row_q5_K)
KT_PENDING(quantize_row_q6_K)
KT_PENDING(quantize_row_iq4_xs)
}  // namespace kt::tensor
