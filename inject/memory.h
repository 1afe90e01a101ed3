#pragma once
// What a Plan puts where, before anything is loaded: the weight bytes and KV-cache bytes per
// device, so a user sees whether it fits in VRAM and RAM.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "inject/plan.h"
#include "models/architecture.h"
#include "models/module_tree.h"

namespace kt::inject {

struct DeviceBytes {
  tensor::Device device;
  uint64_t weights = 0;
  uint64_t kv_cache = 0;
};

// tensor_bytes: GGUF tensor name -> bytes in the file. Weights land on their module's
// generate_device (where KTransformers loads them too); a layer's KV cache (CacheSpec
// "blk.N.*", F32 rows as kt's Session allocates them) on the generate_device of that layer's
// self_attn. Devices in order: cpu first, then cuda:0, cuda:1, ...
std::vector<DeviceBytes> memory_by_device(const Plan& plan, const models::ModuleTree& tree,
                                          const std::map<std::string, uint64_t>& tensor_bytes,
                                          const std::vector<models::CacheSpec>& caches,
                                          int64_t n_ctx);

}  // namespace kt::inject
