#pragma once
// A loaded model: metadata and weights (a GGUF file, memory-mapped, or a Hugging Face folder
// converted in memory), the architecture that builds its forward graph, and its tokenizer.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "inject/plan.h"
#include "models/architecture.h"
#include "models/chat_template.h"
#include "models/tokenizer.h"
#include "tensor/gguf.h"

namespace kt::engine {

// How Model::load places the model (inject/, README "Placement rules").
struct LoadOptions {
  // KTransformers' --model_path: a Hugging Face folder whose tokenizer.json and
  // tokenizer_config.json replace what the weights file carries.
  std::string tokenizer_dir;
  // --optimize_rule_path: a YAML rule file, or the name of a shipped one
  // ("DeepSeek-V3-Chat-cpu.yaml"); empty = the shipped file for the architecture.
  std::string rule_path;
  int gpu_count = 0;  // CUDA devices present (the frontend asks the CUDA backend)
  // The physical GPU behind each cuda:N of the rules; empty: cuda:N is GPU N. Mapping cuda:1
  // onto GPU 0 ({0, 0}) runs a two-GPU rule file on one GPU, hand-offs included (tests, and
  // previews of a pipeline's cost).
  std::vector<int> device_map;
  tensor::Device default_device = tensor::Device::cpu();  // for modules no rule matches
  // `kt plan`: accept a plan that places modules on GPUs this machine lacks. Such a model can
  // be inspected, not run.
  bool preview_only = false;
};

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
  // As above, placed by rules: the module tree is built and the rules are checked before any
  // weight is read, and the Plan is applied to every step graph. Throws kt::Error for rule
  // errors (file:line) and for a plan that needs a GPU when gpu_count is 0.
  static Model load(const std::string& path, const LoadOptions& opt);

  const inject::Plan& plan() const;  // the placement in force
  const models::ModuleTree& module_tree() const;

  size_t weight_bytes() const;  // bytes of all tensors over all splits
};

}  // namespace kt::engine
