// GEMV and F16 dequantization for the K-quants (Q4_K, Q5_K, Q6_K), straight from the
// 256-element super-blocks.
#include "backends/cuda/matmul_internal.cuh"

namespace kt::cuda::mm {

using tensor::DType;

bool gemv_kquant(DType type, const GemvArgs& a, cudaStream_t s) {
  switch (type) {
    case DType::Q4_K:
      launch_gemv<DecQ4_K>(a, s);
      return true;
    case DType::Q5_K:
      launch_gemv<DecQ5_K>(a, s);
      return true;
    case DType::Q6_K:
      launch_gemv<DecQ6_K>(a, s);
      return true;
    default:
      return false;
  }
}

bool dequant_kquant(DType type, const uint8_t* w, size_t row_stride, size_t batch_stride,
                    int64_t rows_per_batch, int64_t rows, int64_t K, __half* out, cudaStream_t s) {
  switch (type) {
    case DType::Q4_K:
      launch_dequant_f16<DecQ4_K>(w, row_stride, batch_stride, rows_per_batch, rows, K, out, s);
      return true;
    case DType::Q5_K:
      launch_dequant_f16<DecQ5_K>(w, row_stride, batch_stride, rows_per_batch, rows, K, out, s);
      return true;
    case DType::Q6_K:
      launch_dequant_f16<DecQ6_K>(w, row_stride, batch_stride, rows_per_batch, rows, K, out, s);
      return true;
    default:
      return false;
  }
}

}  // namespace kt::cuda::mm
