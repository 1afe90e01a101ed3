#pragma once
// Reads a Hugging Face model folder (config.json + *.safetensors with the per-expert names
// published on the Hub) and produces the equivalent GGUF: llama.cpp's metadata keys and tensor
// names and layouts (Q/K rows permuted for llama-family RoPE, experts stacked into 3-D
// tensors), each tensor in the type the recipe picks. Used by `kt convert` to write a file and
// by the loader to run an HF folder directly (the same bytes, kept in memory).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/quant_recipe.h"
#include "tensor/gguf_writer.h"

namespace kt::models {

struct HfImport {
  tensor::GgufWriter writer;                  // metadata and tensors, ready to write
  std::vector<std::vector<uint8_t>> buffers;  // the tensor bytes the writer points at
  std::string arch;                           // GGUF architecture name
};

// progress(done, total) is called after each tensor (for a progress bar); may be empty.
// Throws kt::Error naming the folder, file, key or tensor at fault (unsupported model_type,
// missing config key, unknown tensor name, missing expert, bad dtype).
HfImport import_hf_folder(const std::string& dir, QuantRecipe recipe,
                          const std::function<void(size_t, size_t)>& progress = {});

}  // namespace kt::models
