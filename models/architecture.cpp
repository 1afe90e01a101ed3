#include "models/architecture.h"

#include "models/deepseek2.h"
#include "models/gemma3.h"
#include "models/llama.h"
#include "models/qwen2.h"
#include "models/qwen2moe.h"
#include "models/qwen3moe.h"
#include "tensor/error.h"

namespace kt::models {

std::unique_ptr<Architecture> make_architecture(const tensor::GgufFile& f, WeightSet weights) {
  HParams hp = HParams::from_gguf(f);
  const std::string arch = hp.arch;
  if (arch == "llama") return std::make_unique<Llama>(f, std::move(hp), std::move(weights));
  if (arch == "qwen2") return std::make_unique<Qwen2>(f, std::move(hp), std::move(weights));
  if (arch == "qwen2moe") return std::make_unique<Qwen2Moe>(f, std::move(hp), std::move(weights));
  if (arch == "qwen3moe") return std::make_unique<Qwen3Moe>(f, std::move(hp), std::move(weights));
  if (arch == "deepseek2") return std::make_unique<DeepSeek2>(f, std::move(hp), std::move(weights));
  if (arch == "gemma3") return std::make_unique<Gemma3>(f, std::move(hp), std::move(weights));
  throw Error(
      f.name() + ": architecture \"" + arch +
      "\" is not supported yet (supported: llama, qwen2, qwen2moe, qwen3moe, deepseek2, gemma3)");
}

}  // namespace kt::models
