#pragma once
// Device and pinned host memory as kt tensors. A device tensor is a Tensor whose storage is a
// cudaMalloc'd block (Device::cuda(i)); it frees itself when its last view goes. Allocation
// failures throw kt::Error with the size asked for and what the device has free, so that the
// caller can name the module that did not fit.
#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "tensor/tensor.h"

namespace kt::cuda {

// Uninitialised device memory of that type and shape on device `dev`. `what` names the
// allocation in the error message ("blk.3.ffn_down_exps.weight", "KV cache").
tensor::Tensor device_empty(tensor::DType type, const tensor::Shape& shape, int dev = 0,
                            const std::string& what = "");
tensor::Tensor device_zeros(tensor::DType type, const tensor::Shape& shape, int dev = 0,
                            const std::string& what = "");
// Raw device block of `bytes` (256-byte aligned), freed with its owner.
std::shared_ptr<void> device_alloc(size_t bytes, int dev = 0, const std::string& what = "");
// Page-locked host memory (fast, asynchronous transfers), as a CPU tensor.
tensor::Tensor pinned_empty(tensor::DType type, const tensor::Shape& shape);

// A contiguous copy of a host tensor on the device (synchronous on `stream`).
tensor::Tensor upload(const tensor::Tensor& host, int dev = 0, cudaStream_t stream = nullptr,
                      const std::string& what = "");
// A contiguous host copy of a device tensor (synchronises `stream`).
tensor::Tensor download(const tensor::Tensor& dev_tensor, cudaStream_t stream = nullptr);

// Device memory bandwidth in bytes/s: a device-to-device copy of `bytes` (read + write
// counted), best of a few runs. The bound of all-GPU decode.
double measure_device_bandwidth(int dev = 0, size_t bytes = size_t(1) << 30);

// Free and total bytes of the current device.
void device_memory(size_t* free_bytes, size_t* total_bytes);

}  // namespace kt::cuda
