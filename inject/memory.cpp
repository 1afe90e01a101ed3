#include "inject/memory.h"

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

}  // namespace kt::inject
