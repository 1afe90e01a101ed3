#pragma once
// A loaded model: metadata and weights (a GGUF file, memory-mapped, or a Hugging Face folder
// converted in memory), the architecture that builds its forward graph, and its tokenizer.
#include <memory>
#include <optional>
#include <string>

#include "models/architecture.h"
#include "models/chat_template.h"
#include "models/tokenizer.h"
#include "tensor/gguf.h"

namespace kt::engine {

struct Model {
  std::shared_ptr<const tensor::GgufFile> file;
  std::unique_ptr<models::Architecture> arch;
  std::optional<models::Tokenizer> tokenizer;         // absent when the files carry none
  std::optional<models::ChatTemplate> chat_template;  // with the tokenizer; ChatML if none

  // path: a .gguf file, or a folder with config.json + *.safetensors (+ tokenizer.json).
  // tokenizer_dir (KTransformers' --model_path): a Hugging Face folder whose tokenizer.json and
  // tokenizer_config.json replace what the weights file carries. Throws kt::Error naming the
  // path and what is wrong or unsupported.
  static Model load(const std::string& path, const std::string& tokenizer_dir = "");
};

}  // namespace kt::engine
