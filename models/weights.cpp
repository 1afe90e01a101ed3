#include "models/weights.h"

#include <algorithm>

#include "tensor/error.h"
#include "tensor/graph.h"

namespace kt::models {

WeightSet WeightSet::from_gguf(std::shared_ptr<const tensor::GgufFile> file) {
  return from_gguf(std::vector<std::shared_ptr<const tensor::GgufFile>>{std::move(file)});
}

WeightSet WeightSet::from_gguf(const std::vector<std::shared_ptr<const tensor::GgufFile>>& files) {
  WeightSet w;
  if (files.empty()) throw Error("no GGUF files to take weights from");
  w.source_ = files.front()->name();
  std::map<std::string, const tensor::GgufFile*> owner;  // which split each tensor came from
  for (const auto& file : files) {
    for (const tensor::GgufTensorInfo& t : file->tensors()) {
      int n = int(t.n_dims);
      while (n > 1 && t.ne[size_t(n - 1)] == 1) --n;  // trailing 1s are not dimensions
      tensor::Shape shape(t.ne.begin(), t.ne.begin() + std::max(1, n));
      const std::string name(t.name);
      if (auto [it, fresh] = owner.emplace(name, file.get()); !fresh)
        throw Error(file->name() + ": tensor " + name + " is also in " + it->second->name() +
                    " (duplicate tensor across split files)");
      w.tensors_.emplace(
          name,
          tensor::Tensor::wrap(t.type, shape, const_cast<uint8_t*>(t.data), tensor::Device::cpu(),
                               std::const_pointer_cast<tensor::GgufFile>(file)));
    }
  }
  return w;
}

const tensor::Tensor* WeightSet::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const tensor::Tensor& WeightSet::get(const std::string& name) const {
  const tensor::Tensor* t = find(name);
  if (!t) throw Error(source_ + ": missing tensor " + name);
  return *t;
}

const tensor::Tensor& WeightSet::get(const std::string& name,
                                     const std::vector<int64_t>& shape) const {
  const tensor::Tensor& t = get(name);
  bool ok = true;
  for (int i = 0; i < tensor::kMaxDims; ++i) {
    const int64_t want = size_t(i) < shape.size() ? shape[size_t(i)] : 1;
    ok = ok && t.ne(i) == want;
  }
  if (!ok)
    throw Error(source_ + ": tensor " + name + " has shape " + t.shape_str() + ", expected " +
                tensor::shape_str(shape));
  return t;
}

}  // namespace kt::models
