#pragma once
// Tensor: a typed, strided view of up to four dimensions over storage that it shares.
// Dimension order follows ggml/GGUF: ne[0] is the innermost, contiguous dimension (a row),
// so a torch [out, in] weight is {in, out}. Quantized types are addressed by whole rows:
// ne[0] is a multiple of the block size and nb[0] is the size of one block.
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"

namespace kt::tensor {

constexpr int kMaxDims = 4;
using Shape = std::vector<int64_t>;  // innermost first, at most kMaxDims entries

// Owns (or keeps alive) the bytes under one or more tensors.
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device;
  std::shared_ptr<void> owner;  // releases the bytes (free, munmap, cudaFree) when last user goes
};

class Tensor {
 public:
  Tensor() = default;

  // Allocates zeroed, 64-byte aligned CPU memory.
  static Tensor zeros(DType type, const Shape& shape);
  // Wraps bytes owned elsewhere (a memory-mapped file, a device buffer); `keep` keeps them alive.
  static Tensor wrap(DType type, const Shape& shape, void* data, Device device = Device::cpu(),
                     std::shared_ptr<void> keep = nullptr);

  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device : Device::cpu(); }
  int n_dims() const { return n_dims_; }
  int64_t ne(int i) const { return ne_[i]; }
  size_t nb(int i) const { return nb_[i]; }
  const std::array<int64_t, kMaxDims>& shape() const { return ne_; }
  int64_t numel() const { return ne_[0] * ne_[1] * ne_[2] * ne_[3]; }
  int64_t rows() const { return ne_[1] * ne_[2] * ne_[3]; }
  size_t row_bytes() const { return row_size(dtype_, ne_[0]); }
  size_t nbytes() const;  // bytes spanned by the view
  bool is_contiguous() const;
  bool defined() const { return data_ != nullptr || numel() == 0; }

  void* data() const { return data_; }
  template <typename T>
  T* data_as() const {
    return static_cast<T*>(data_);
  }
  // Start of row (i1, i2, i3).
  void* row(int64_t i1, int64_t i2 = 0, int64_t i3 = 0) const;

  // Same bytes, new shape (contiguous tensors only; element count must match).
  Tensor reshape(const Shape& shape) const;
  // Elements [begin, end) along dim; for quantized types along dim 0, block aligned.
  Tensor slice(int dim, int64_t begin, int64_t end) const;
  // Swaps two dimensions (a strided view; quantized tensors cannot move dim 0).
  Tensor transpose(int d0, int d1) const;

  std::string shape_str() const;  // "{4096, 14336}"
  std::string str() const;        // "Q4_K {4096, 14336} cpu"

 private:
  void set_shape(const Shape& shape);
  void set_contiguous_strides();

  DType dtype_ = DType::F32;
  int n_dims_ = 1;
  std::array<int64_t, kMaxDims> ne_{0, 1, 1, 1};
  std::array<size_t, kMaxDims> nb_{0, 0, 0, 0};
  void* data_ = nullptr;
  std::shared_ptr<Storage> storage_;
};

}  // namespace kt::tensor
