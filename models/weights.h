#pragma once
// The weights of a model by GGUF tensor name, as tensors viewing the memory-mapped file(s).
// One place answers "which tensor, which shape" so that a missing or misshaped weight is
// reported by name and file before anything runs.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tensor/gguf.h"
#include "tensor/tensor.h"

namespace kt::models {

class WeightSet {
 public:
  // Views every tensor of the file; the file stays mapped while any tensor is alive.
  static WeightSet from_gguf(std::shared_ptr<const tensor::GgufFile> file);
  // Views the tensors of every split of one model (gguf.md 1.7), in split order; source() names
  // the first. Throws kt::Error naming both files when a tensor appears in two of them.
  static WeightSet from_gguf(const std::vector<std::shared_ptr<const tensor::GgufFile>>& files);

  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws kt::Error "FILE: missing tensor NAME" when absent.
  const tensor::Tensor& get(const std::string& name) const;
  // As get(), also checking the shape (ggml order, trailing 1s ignored).
  const tensor::Tensor& get(const std::string& name, const std::vector<int64_t>& shape) const;
  const tensor::Tensor* find(const std::string& name) const;
  const std::map<std::string, tensor::Tensor>& all() const { return tensors_; }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::map<std::string, tensor::Tensor> tensors_;
};

}  // namespace kt::models
