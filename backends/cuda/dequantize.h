#pragma once
// GPU dequantization of GGUF blocks into f32, used when a weight placed on the GPU is
// converted for a dense kernel. Pointers are device pointers; n is the element count.
#include <cstdint>

#include "tensor/dtype.h"

namespace kt::cuda {

// True when dequantize_on_device supports the type.
bool can_dequantize(tensor::DType type);

// Launches on `stream` (a cudaStream_t; nullptr = default stream). Throws kt::Error for an
// unsupported type, an n that is not a multiple of the block size, or a CUDA failure.
void dequantize_on_device(tensor::DType type, const void* src, float* dst, int64_t n,
                          void* stream = nullptr);

}  // namespace kt::cuda
