#include "inject/memory.h"

#include <algorithm>
#include <regex>

namespace kt::inject {
namespace {

// Ordering key: cpu before cuda:0 before cuda:1.
int device_key(const tensor::Device& d) {
  return d.is_cpu() ? -1 : d.index;
}

}  // namespace

std::vector<DeviceBytes> memory_by_device(const Plan& plan, const models::ModuleTree& tree,
                                          const std::map<std::string, uint64_t>& tensor_bytes,
                                          const std::vector<models::CacheSpec>& caches,
                                          int64_t n_ctx) {
  std::map<int, DeviceBytes> by;
  auto slot = [&](const tensor::Device& d) -> DeviceBytes& {
    DeviceBytes& b = by[device_key(d)];
    b.device = d;
    return b;
  };
  slot(tensor::Device::cpu());  // always listed: the CPU holds at least the mapped file
  for (const auto& [name, bytes] : tensor_bytes)
    slot(plan.owner(tree.module_of(name)).generate_device).weights += bytes;
  static const std::regex layer_re(R"(^blk\.(\d+)\.)");
  for (const models::CacheSpec& c : caches) {
    uint64_t n = uint64_t(n_ctx) * sizeof(float);
    for (int64_t d : c.row_shape) n *= uint64_t(d);
    std::smatch m;
    const std::string attn = std::regex_search(c.name, m, layer_re)
                                 ? "model.layers." + m[1].str() + ".self_attn"
                                 : std::string("model");
    slot(plan.owner(attn).generate_device).kv_cache += n;
  }
  std::vector<DeviceBytes> out;
  for (auto& [k, b] : by) out.push_back(b);
  return out;
}

uint64_t gpu_step_buffers(const models::HParams& hp, int64_t chunk, uint64_t largest_streamed) {
  constexpr uint64_t kMiB = 1ull << 20;
  const uint64_t T = uint64_t(std::max<int64_t>(chunk, 1));
  const uint64_t E = uint64_t(std::max<int64_t>(hp.n_embd, 1));
  const uint64_t rows = 32 + 3 * 8;  // hidden-width rows live at once, plus k <= 8 expert rows x3
  const uint64_t arena = 4 * T * E * rows + 4 * uint64_t(std::max<int64_t>(hp.n_vocab, 1));
  const uint64_t workspace = 64 * kMiB + 96 * kMiB;  // dequant chunk + attention partials
  const uint64_t cublas = 32 * kMiB, decode = 16 * kMiB;
  return arena + workspace + cublas + decode + 3 * largest_streamed;
}

}  // namespace kt::inject
