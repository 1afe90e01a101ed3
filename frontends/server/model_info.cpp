// Facts about the served model for /v1/models and Ollama's /api/show and /api/tags, read from
// the model's files.
#include <cstdio>
#include <map>

#include "frontends/server/routes.h"
#include "tensor/dtype.h"

namespace kt::server {

uint64_t model_parameter_count(const engine::Model& m) {
  uint64_t n = 0;
  for (const auto& f : m.splits)
    for (const tensor::GgufTensorInfo& t : f->tensors()) n += uint64_t(t.n_elements());
  return n;
}

std::string parameter_size_label(uint64_t n) {
  char buf[32];
  if (n >= 1000000000ull)
    std::snprintf(buf, sizeof buf, "%.1fB", double(n) / 1e9);
  else if (n >= 1000000ull)
    std::snprintf(buf, sizeof buf, "%.0fM", double(n) / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.0fK", double(n) / 1e3);
  return buf;
}

std::string quantization_label(const engine::Model& m) {
  // The type holding the most parameters among the 2-D weights (the embedding and norms aside,
  // this is what "Q4_K_M" files are made of).
  std::map<std::string, uint64_t> by_type;
  for (const auto& f : m.splits)
    for (const tensor::GgufTensorInfo& t : f->tensors())
      if (t.n_dims >= 2)
        by_type[std::string(tensor::dtype_name(t.type))] += uint64_t(t.n_elements());
  std::string best = "unknown";
  uint64_t most = 0;
  for (const auto& [name, n] : by_type)
    if (n > most) best = name, most = n;
  return best;
}

}  // namespace kt::server
