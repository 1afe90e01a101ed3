// GEMV and F16 dequantization for the plain float weight types (F32, F16, BF16), read 8
// elements (one 16- or 32-byte load) at a time; K must be a multiple of 8.
#include "backends/cuda/matmul_internal.cuh"

namespace kt::cuda::mm {

using tensor::DType;

bool gemv_float(DType type, const GemvArgs& a, cudaStream_t s) {
  switch (type) {
    case DType::F32:
      launch_gemv<DecF32>(a, s);
      return true;
    case DType::F16:
      launch_gemv<DecF16>(a, s);
      return true;
    case DType::BF16:
      launch_gemv<DecBF16>(a, s);
      return true;
    default:
      return false;
  }
}

bool dequant_float(DType type, const uint8_t* w, size_t row_stride, size_t batch_stride,
                   int64_t rows_per_batch, int64_t rows, int64_t K, __half* out, cudaStream_t s) {
  switch (type) {
    case DType::F32:
      launch_dequant_f16<DecF32>(w, row_stride, batch_stride, rows_per_batch, rows, K, out, s);
      return true;
    case DType::F16:
      launch_dequant_f16<DecF16>(w, row_stride, batch_stride, rows_per_batch, rows, K, out, s);
      return true;
    case DType::BF16:
      launch_dequant_f16<DecBF16>(w, row_stride, batch_stride, rows_per_batch, rows, K, out, s);
      return true;
    default:
      return false;
  }
}

}  // namespace kt::cuda::mm
