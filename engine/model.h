#pragma once
// A loaded model: metadata and weights (a GGUF file, memory-mapped, or a Hugging Face folder
// converted in memory), the architecture that builds its forward graph, and its tokenizer.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/architecture.h"
#include "models/chat_template.h"
#include "models/tokenizer.h"
#include "tensor/gguf.h"

namespace kt::engine {

struct Model {
  std::shared_ptr<const tensor::GgufFile> file;  // metadata (the first split of a split model)
  // Every file the weights come from, in split order (splits[0] == file).
  std::vector<std::shared_ptr<const tensor::GgufFile>> splits;
  std::unique_ptr<models::Architecture> arch;
  std::optional<models::Tokenizer> tokenizer;         // absent when the files carry none
  std::optional<models::ChatTemplate> chat_template;  // with the tokenizer; ChatML if none

  // path: a .gguf file; any split of a split model ("name-00001-of-00003.gguf": every split is
  // opened and their tensors merged, metadata from the first); a folder holding one split
  // model's files; or a folder with config.json + *.safetensors (+ tokenizer.json).
  // tokenizer_dir (KTransformers' --model_path): a Hugging Face folder whose tokenizer.json and
  // tokenizer_config.json replace what the weights file carries. Throws kt::Error naming the
  // path and what is wrong or unsupported.
  static Model load(const std::string& path, const std::string& tokenizer_dir = "");

  size_t weight_bytes() const;  // bytes of all tensors over all splits
};

}  // namespace kt::engine
