#include "tensor/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "tensor/error.h"

namespace kt::tensor {

void Tensor::set_shape(const Shape& shape) {
  if (shape.empty() || shape.size() > size_t(kMaxDims))
    throw Error("tensor shape must have 1 to 4 dimensions, got " + std::to_string(shape.size()));
  ne_ = {1, 1, 1, 1};
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) throw Error("negative tensor dimension " + std::to_string(shape[i]));
    ne_[i] = shape[i];
  }
  n_dims_ = int(shape.size());
  const TypeTraits& tr = type_traits(dtype_);
  if (ne_[0] % tr.block_size != 0)
    throw Error("row length " + std::to_string(ne_[0]) + " is not a multiple of the " + tr.name +
                " block size " + std::to_string(tr.block_size));
}

void Tensor::set_contiguous_strides() {
  const TypeTraits& tr = type_traits(dtype_);
  nb_[0] = tr.type_size;
  nb_[1] = row_size(dtype_, ne_[0]);
  nb_[2] = nb_[1] * size_t(ne_[1]);
  nb_[3] = nb_[2] * size_t(ne_[2]);
}

Tensor Tensor::zeros(DType type, const Shape& shape) {
  Tensor t;
  t.dtype_ = type;
  t.set_shape(shape);
  t.set_contiguous_strides();
  const size_t bytes = t.nbytes();
  const size_t alloc = (bytes + 63) / 64 * 64;
  void* p = alloc ? std::aligned_alloc(64, alloc) : nullptr;
  if (alloc && !p) throw Error("out of memory allocating " + std::to_string(bytes) + " bytes");
  if (p) std::memset(p, 0, alloc);
  t.storage_ = std::make_shared<Storage>();
  t.storage_->data = p;
  t.storage_->bytes = bytes;
  t.storage_->owner = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  t.data_ = p;
  return t;
}

Tensor Tensor::wrap(DType type, const Shape& shape, void* data, Device device,
                    std::shared_ptr<void> keep) {
  Tensor t;
  t.dtype_ = type;
  t.set_shape(shape);
  t.set_contiguous_strides();
  t.storage_ = std::make_shared<Storage>();
  t.storage_->data = data;
  t.storage_->bytes = t.nbytes();
  t.storage_->device = device;
  t.storage_->owner = std::move(keep);
  t.data_ = data;
  return t;
}

size_t Tensor::nbytes() const {
  if (numel() == 0) return 0;
  // Extent of the view: last element's offset plus one block.
  size_t last = (size_t(ne_[0] / type_traits(dtype_).block_size) - 1) * nb_[0];
  for (int i = 1; i < kMaxDims; ++i) last += size_t(ne_[i] - 1) * nb_[i];
  return last + nb_[0];
}

bool Tensor::is_contiguous() const {
  const TypeTraits& tr = type_traits(dtype_);
  size_t expect = tr.type_size;
  if (nb_[0] != expect) return false;
  expect = row_size(dtype_, ne_[0]);
  for (int i = 1; i < kMaxDims; ++i) {
    if (ne_[i] != 1 && nb_[i] != expect) return false;
    expect *= size_t(ne_[i]);
  }
  return true;
}

void* Tensor::row(int64_t i1, int64_t i2, int64_t i3) const {
  return static_cast<uint8_t*>(data_) + size_t(i1) * nb_[1] + size_t(i2) * nb_[2] +
         size_t(i3) * nb_[3];
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (!is_contiguous()) throw Error("reshape of a non-contiguous tensor " + str());
  Tensor t = *this;
  t.set_shape(shape);
  if (t.numel() != numel())
    throw Error("reshape " + shape_str() + " -> " + t.shape_str() + " changes the element count");
  t.set_contiguous_strides();
  return t;
}

Tensor Tensor::slice(int dim, int64_t begin, int64_t end) const {
  if (dim < 0 || dim >= kMaxDims) throw Error("slice: bad dimension " + std::to_string(dim));
  if (begin < 0 || end < begin || end > ne_[dim])
    throw Error("slice [" + std::to_string(begin) + ", " + std::to_string(end) + ") outside " +
                shape_str() + " along dim " + std::to_string(dim));
  Tensor t = *this;
  size_t offset;
  if (dim == 0) {
    const int64_t bs = type_traits(dtype_).block_size;
    if (begin % bs != 0 || end % bs != 0)
      throw Error("slice of a " + std::string(dtype_name(dtype_)) +
                  " row must be block aligned (block size " + std::to_string(bs) + ")");
    offset = size_t(begin / bs) * nb_[0];
  } else {
    offset = size_t(begin) * nb_[dim];
  }
  t.ne_[dim] = end - begin;
  t.data_ = static_cast<uint8_t*>(data_) + offset;
  return t;
}

Tensor Tensor::transpose(int d0, int d1) const {
  if (d0 < 0 || d1 < 0 || d0 >= kMaxDims || d1 >= kMaxDims)
    throw Error("transpose: bad dimensions");
  if ((d0 == 0 || d1 == 0) && d0 != d1 && type_traits(dtype_).is_quantized)
    throw Error("cannot transpose the row dimension of a quantized tensor");
  Tensor t = *this;
  std::swap(t.ne_[d0], t.ne_[d1]);
  std::swap(t.nb_[d0], t.nb_[d1]);
  t.n_dims_ = std::max({n_dims_, d0 + 1, d1 + 1});
  return t;
}

std::string Tensor::shape_str() const {
  std::string s = "{";
  for (int i = 0; i < n_dims_; ++i) {
    if (i) s += ", ";
    s += std::to_string(ne_[i]);
  }
  return s + "}";
}

std::string Tensor::str() const {
  return std::string(dtype_name(dtype_)) + " " + shape_str() + " " + device().str();
}

}  // namespace kt::tensor
