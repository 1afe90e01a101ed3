#pragma once
// The device copies of a model's weights. A weight is uploaded once, the first time a GPU node
// asks for it, in the form that node's kernel reads: its GGUF blocks as they are (matmuls,
// embedding rows), F32 (norm weights, biases: small, and the element-wise kernels read F32),
// or repacked for the Marlin int4 GEMM. Host tensors are keyed by their address, which the
// memory-mapped file keeps stable for the model's life.
#include <cuda_runtime.h>

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "backends/cuda/marlin.h"
#include "tensor/tensor.h"

namespace kt::cuda {

enum class WeightForm { Raw, F32, Marlin };

class WeightStore {
 public:
  explicit WeightStore(int device = 0) : device_(device) {}

  // The device form of host weight `w` (named `name` in errors), uploading it on first use.
  // Throws kt::Error naming the weight when the device memory runs out.
  const tensor::Tensor& get(const tensor::Tensor& w, WeightForm form, const std::string& name,
                            cudaStream_t stream);
  const MarlinWeight& marlin(const tensor::Tensor& w, const std::string& name, cudaStream_t stream);

  // Page-locks host weights where they lie (a memory-mapped file), so that streaming them to
  // the GPU runs at PCIe speed instead of through a bounce buffer. Best effort: a range the
  // system refuses stays pageable (slower, still correct).
  void pin_host(std::vector<std::pair<const void*, size_t>> ranges);
  ~WeightStore();

  size_t bytes() const { return bytes_; }  // device memory held
  size_t pinned_bytes() const { return pinned_bytes_; }
  size_t count() const { return tensors_.size() + marlins_.size(); }

 private:
  using Key = std::tuple<const void*, int, WeightForm>;
  int device_;
  std::map<Key, tensor::Tensor> tensors_;
  std::map<Key, MarlinWeight> marlins_;
  size_t bytes_ = 0;
  std::map<const void*, size_t> pinned_;  // page-aligned start -> length
  size_t pinned_bytes_ = 0;
};

}  // namespace kt::cuda
