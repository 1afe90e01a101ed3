#include "backends/cuda/weight_store.h"

#include <algorithm>
#include <cstdint>
#include <utility>
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

void WeightStore::pin_host(std::vector<std::pair<const void*, size_t>> ranges) {
  // Page-aligned, sorted and merged across small gaps: the expert stacks of a GGUF file lie
  // close together, and pages shared by neighbours must be registered once.
  constexpr uintptr_t kPage = 4096, kGap = uintptr_t(64) << 20;
  std::vector<std::pair<uintptr_t, uintptr_t>> r;
  for (const auto& [p, n] : ranges) {
    const uintptr_t b = reinterpret_cast<uintptr_t>(p) & ~(kPage - 1);
    const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + n + kPage - 1) & ~(kPage - 1);
    r.emplace_back(b, e);
  }
  std::sort(r.begin(), r.end());
  std::vector<std::pair<uintptr_t, uintptr_t>> merged;
  for (const auto& x : r)
    if (!merged.empty() && x.first <= merged.back().second + kGap)
      merged.back().second = std::max(merged.back().second, x.second);
    else
      merged.push_back(x);
  for (const auto& [b, e] : merged) {
    bool covered = false;
    for (const auto& [start, len] : pinned_) {
      const uintptr_t s = reinterpret_cast<uintptr_t>(start);
      covered |= b < s + len && s < e;  // overlaps a registered range: leave it pageable
    }
    if (covered) continue;
    void* p = reinterpret_cast<void*>(b);
    if (cudaHostRegister(p, e - b, cudaHostRegisterReadOnly) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    pinned_[p] = e - b;
    pinned_bytes_ += e - b;
  }
}

WeightStore::~WeightStore() {
  for (const auto& [p, len] : pinned_) cudaHostUnregister(const_cast<void*>(p));
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
