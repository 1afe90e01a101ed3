// GEMV and F16 dequantization for the legacy 32-element quants (Q4_0, Q5_0, Q8_0), and the
// type dispatch of the whole family.
#include <string>

#include "backends/cuda/device.h"
#include "backends/cuda/matmul_internal.cuh"
#include "tensor/error.h"

namespace kt::cuda::mm {

using tensor::DType;

bool gemv_legacy(DType type, const GemvArgs& a, cudaStream_t s) {
  switch (type) {
    case DType::Q4_0:
      launch_gemv<DecQ4_0>(a, s);
      return true;
    case DType::Q5_0:
      launch_gemv<DecQ5_0>(a, s);
      return true;
    case DType::Q8_0:
      launch_gemv<DecQ8_0>(a, s);
      return true;
    default:
      return false;
  }
}

bool dequant_legacy(DType type, const uint8_t* w, size_t row_stride, size_t batch_stride,
                    int64_t rows_per_batch, int64_t rows, int64_t K, __half* out, cudaStream_t s) {
  switch (type) {
    case DType::Q4_0:
      launch_dequant_f16<DecQ4_0>(w, row_stride, batch_stride, rows_per_batch, rows, K, out, s);
      return true;
    case DType::Q5_0:
      launch_dequant_f16<DecQ5_0>(w, row_stride, batch_stride, rows_per_batch, rows, K, out, s);
      return true;
    case DType::Q8_0:
      launch_dequant_f16<DecQ8_0>(w, row_stride, batch_stride, rows_per_batch, rows, K, out, s);
      return true;
    default:
      return false;
  }
}

bool gemv_supported(DType type) {
  switch (type) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::Q4_0:
    case DType::Q5_0:
    case DType::Q8_0:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

int64_t k_granularity(DType type) {
  const int64_t bs = tensor::type_traits(type).block_size;
  return bs == 1 ? 8 : bs;
}

void gemv(DType type, const GemvArgs& a, cudaStream_t s) {
  if (a.N == 0 || a.T == 0 || a.batches == 0) return;
  if (!gemv_float(type, a, s) && !gemv_legacy(type, a, s) && !gemv_kquant(type, a, s))
    throw Error(std::string("no CUDA GEMV for weight type ") + tensor::dtype_name(type));
  check(cudaGetLastError(), "GEMV kernel launch");
}

void dequant_f16(DType type, const uint8_t* w, size_t row_stride, size_t batch_stride,
                 int64_t rows_per_batch, int64_t rows, int64_t K, __half* out, cudaStream_t s) {
  if (rows == 0 || K == 0) return;
  if (rows * K >= (int64_t(1) << 31))
    throw Error("F16 dequantization of " + std::to_string(rows) + " rows of " + std::to_string(K) +
                " elements at once is too large");
  if (!dequant_float(type, w, row_stride, batch_stride, rows_per_batch, rows, K, out, s) &&
      !dequant_legacy(type, w, row_stride, batch_stride, rows_per_batch, rows, K, out, s) &&
      !dequant_kquant(type, w, row_stride, batch_stride, rows_per_batch, rows, K, out, s))
    throw Error(std::string("no CUDA F16 dequantization for weight type ") +
                tensor::dtype_name(type));
  check(cudaGetLastError(), "dequantize-to-F16 kernel launch");
}

}  // namespace kt::cuda::mm
