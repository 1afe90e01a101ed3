#include "backends/cuda/weight_store.h"

#include <vector>

#include "backends/cuda/device.h"
#include "backends/cuda/memory.h"
#include "tensor/error.h"
#include "tensor/quants.h"

namespace kt::cuda {

using tensor::DType;
using tensor::Tensor;

namespace {

tensor::Shape shape_of(const Tensor& t) {
  return tensor::Shape(t.shape().begin(), t.shape().begin() + t.n_dims());
}

}  // namespace

const Tensor& WeightStore::get(const Tensor& w, WeightForm form, const std::string& name,
                               cudaStream_t stream) {
  const Key key{w.data(), int(w.dtype()), form};
  if (auto it = tensors_.find(key); it != tensors_.end()) return it->second;
  if (!w.is_contiguous()) throw Error(name + ": weight " + w.str() + " is not contiguous");
  Tensor dev;
  if (form == WeightForm::F32 && w.dtype() != DType::F32) {
    // Small tensors (norms, biases, router biases): converted on the host once.
    Tensor f = Tensor::zeros(DType::F32, shape_of(w));
    tensor::dequantize_row(w.dtype(), w.data(), f.data_as<float>(), w.numel());
    dev = upload(f, device_, stream, name);
  } else {
    dev = upload(w, device_, stream, name);
  }
  bytes_ += dev.nbytes();
  return tensors_.emplace(key, std::move(dev)).first->second;
}

const MarlinWeight& WeightStore::marlin(const Tensor& w, const std::string& name,
                                        cudaStream_t stream) {
  const Key key{w.data(), int(w.dtype()), WeightForm::Marlin};
  if (auto it = marlins_.find(key); it != marlins_.end()) return it->second;
  try {
    MarlinWeight m = marlin_repack(w, 128, stream);
    bytes_ += m.bytes();
    return marlins_.emplace(key, std::move(m)).first->second;
  } catch (const Error& e) {
    throw Error(name + ": " + e.what());
  }
}

}  // namespace kt::cuda
