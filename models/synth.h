#pragma once
// Synthetic models: a GGUF file with the metadata, tensor names, shapes and quantization mix
// of a real model (synth_shape.h), a real tokenizer copied from a vocab GGUF, and random
// weights. Speed depends on shapes and types, not values, so these stand in for the real
// files in benchmarks (`kt bench -m`), and any GGUF reader (kt, llama.cpp) loads them.
//
// Weights are drawn so the model is numerically sane: norms 1, biases 0, linear weights
// N(0, 1/sqrt(fan_in)) so that every projection of a unit-RMS vector stays O(1), embeddings
// N(0, 1), routers like any projection so that tokens spread over the experts.
#include <cstdint>
#include <functional>
#include <string>

#include "backends/cpu/thread_pool.h"
#include "models/quant_recipe.h"
#include "models/synth_shape.h"
#include "tensor/gguf_writer.h"

namespace kt::models {

struct SynthOptions {
  SynthShape shape;
  QuantRecipe recipe = QuantRecipe::Q4_K_M;
  std::string vocab;         // a GGUF whose tokenizer.* keys are copied (vocab-only is fine)
  bool tiny = false;         // tiny_shape(): for tests
  bool legacy_kv_b = false;  // DeepSeek: attn_kv_b instead of attn_k_b + attn_v_b (MLA layout)
  uint64_t seed = 1;
};

struct SynthStats {
  int64_t n_tensors = 0;
  uint64_t n_params = 0;
  uint64_t n_bytes = 0;  // tensor data
};

// Sets up `w` with the metadata and every tensor (made when w.write() reaches it, in
// parallel on `pool`, which must outlive the writer). Throws kt::Error naming the vocab file
// when it cannot be read or has no tokenizer, or more tokens than the shape's vocabulary
// (fewer are padded with [PAD<i>] tokens, as llama.cpp's converter does).
SynthStats plan_synth(const SynthOptions& opt, cpu::ThreadPool& pool, tensor::GgufWriter& w);

// plan_synth() and write to `path`; progress(bytes written, total bytes) after each tensor.
SynthStats write_synth(const SynthOptions& opt, cpu::ThreadPool& pool, const std::string& path,
                       const std::function<void(uint64_t, uint64_t)>& progress = {});

}  // namespace kt::models
