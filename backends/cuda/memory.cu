#include "backends/cuda/memory.h"

#include <algorithm>
#include <cstdio>

#include "backends/cuda/device.h"
#include "tensor/error.h"

namespace kt::cuda {

using tensor::DType;
using tensor::Shape;
using tensor::Tensor;

namespace {

size_t bytes_of(DType type, const Shape& shape) {
  int64_t rows = 1;
  for (size_t i = 1; i < shape.size(); ++i) rows *= shape[i];
  return tensor::row_size(type, shape.empty() ? 1 : shape[0]) * size_t(rows);
}

std::string mib(size_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", double(b) / (1 << 20));
  return buf;
}

}  // namespace

void device_memory(size_t* free_bytes, size_t* total_bytes) {
  check(cudaMemGetInfo(free_bytes, total_bytes), "cudaMemGetInfo");
}

std::shared_ptr<void> device_alloc(size_t bytes, int dev, const std::string& what) {
  check(cudaSetDevice(dev), "cudaSetDevice");
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes ? bytes : 1);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw Error("out of GPU memory on cuda:" + std::to_string(dev) + ": " +
                (what.empty() ? std::string("an allocation") : what) + " needs " + mib(bytes) +
                ", " + mib(free_b) + " of " + mib(total_b) + " free");
  }
  return std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
}

Tensor device_empty(DType type, const Shape& shape, int dev, const std::string& what) {
  const size_t bytes = bytes_of(type, shape);
  std::shared_ptr<void> mem = device_alloc(bytes, dev, what);
  return Tensor::wrap(type, shape, mem.get(), tensor::Device::cuda(dev), mem);
}

Tensor device_zeros(DType type, const Shape& shape, int dev, const std::string& what) {
  Tensor t = device_empty(type, shape, dev, what);
  check(cudaMemset(t.data(), 0, bytes_of(type, shape)), "cudaMemset");
  return t;
}

Tensor pinned_empty(DType type, const Shape& shape) {
  const size_t bytes = bytes_of(type, shape);
  void* p = nullptr;
  check(cudaMallocHost(&p, bytes ? bytes : 1), "cudaMallocHost");
  return Tensor::wrap(type, shape, p, tensor::Device::cpu(),
                      std::shared_ptr<void>(p, [](void* q) { cudaFreeHost(q); }));
}

Tensor upload(const Tensor& host, int dev, cudaStream_t stream, const std::string& what) {
  if (!host.is_contiguous()) throw Error("upload: " + host.str() + " is not contiguous");
  Shape shape(host.shape().begin(), host.shape().begin() + host.n_dims());
  Tensor t = device_empty(host.dtype(), shape, dev, what);
  check(cudaMemcpyAsync(t.data(), host.data(), host.nbytes(), cudaMemcpyHostToDevice, stream),
        "cudaMemcpyAsync (upload)");
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (upload)");
  return t;
}

Tensor download(const Tensor& d, cudaStream_t stream) {
  if (!d.is_contiguous()) throw Error("download: " + d.str() + " is not contiguous");
  Shape shape(d.shape().begin(), d.shape().begin() + d.n_dims());
  Tensor h = Tensor::zeros(d.dtype(), shape);
  check(cudaMemcpyAsync(h.data(), d.data(), d.nbytes(), cudaMemcpyDeviceToHost, stream),
        "cudaMemcpyAsync (download)");
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (download)");
  return h;
}

double measure_device_bandwidth(int dev, size_t bytes) {
  std::shared_ptr<void> a = device_alloc(bytes, dev, "bandwidth test");
  std::shared_ptr<void> b = device_alloc(bytes, dev, "bandwidth test");
  cudaEvent_t e0, e1;
  check(cudaEventCreate(&e0), "cudaEventCreate");
  check(cudaEventCreate(&e1), "cudaEventCreate");
  float best = 1e30f;
  for (int i = 0; i < 5; ++i) {
    cudaEventRecord(e0);
    cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(e1);
    check(cudaEventSynchronize(e1), "bandwidth test");
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    if (i > 0) best = std::min(best, ms);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return 2.0 * double(bytes) / (double(best) / 1e3);
}

}  // namespace kt::cuda
