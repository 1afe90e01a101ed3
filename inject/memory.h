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
  uint64_t buffers = 0;  // GPU step buffers (gpu_step_buffers), 0 for the CPU
};

// What the hybrid executor holds on a GPU besides weights and KV cache, for prefill chunks of
// `chunk` tokens: the activation arena of a prefill step (a few dozen live rows of the hidden
// width per token, the expert rows of its MoE layers, one row of logits), the kernel workspace
// (weights dequantized for cuBLAS in chunks of up to 64 MiB, split-K attention partials), the
// cuBLAS workspace, the staging buffer of streamed expert weights, and the decode step's arena
// and CUDA graph (small). An estimate from the shapes, rounded up.
uint64_t gpu_step_buffers(const models::HParams& hp, int64_t chunk, uint64_t largest_streamed);

// tensor_bytes: GGUF tensor name -> bytes in the file. Weights land on their module's
// generate_device (where KTransformers loads them too); a layer's KV cache (CacheSpec
// "blk.N.*", F32 rows as kt's Session allocates them) on the generate_device of that layer's
// self_attn. Devices in order: cpu first, then cuda:0, cuda:1, ...
std::vector<DeviceBytes> memory_by_device(const Plan& plan, const models::ModuleTree& tree,
                                          const std::map<std::string, uint64_t>& tensor_bytes,
                                          const std::vector<models::CacheSpec>& caches,
                                          int64_t n_ctx);

}  // namespace kt::inject
