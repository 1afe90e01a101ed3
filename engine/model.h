#pragma once
// A loaded model: metadata and weights (a GGUF file, memory-mapped, or a Hugging Face folder
// converted in memory), the architecture that builds its forward graph, and its tokenizer.
#include <memory>
#include <optional>
#include <string>

#include "models/architecture.h"
#include "models/tokenizer.h"
#include "tensor/gguf.h"

namespace kt::engine {

struct Model {
  std::shared_ptr<const tensor::GgufFile> file;
  std::unique_ptr<models::Architecture> arch;
  std::optional<models::Tokenizer> tokenizer;  // absent when the files carry none

  // path: a .gguf file, or a folder with config.json + *.safetensors (+ tokenizer.json).
  // Throws kt::Error naming the path and what is wrong or unsupported.
  static Model load(const std::string& path);
};

}  // namespace kt::engine
