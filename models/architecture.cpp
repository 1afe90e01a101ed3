#include "models/architecture.h"

#include "models/llama.h"
#include "tensor/error.h"

namespace kt::models {

std::unique_ptr<Architecture> make_architecture(const tensor::GgufFile& f, WeightSet weights) {
  HParams hp = HParams::from_gguf(f);
  if (hp.arch == "llama") return std::make_unique<Llama>(std::move(hp), std::move(weights));
  throw Error(f.name() + ": architecture \"" + hp.arch +
              "\" is not supported yet (supported: llama)");
}

}  // namespace kt::models
