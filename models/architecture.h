#pragma once
// An architecture turns hyper-parameters and weights into the graph of one forward step.
// Every architecture exposes the same interface so the engine can drive any of them: the
// per-position KV-cache layout it needs, and a builder for the step graph.
#include <memory>
#include <string>
#include <vector>

#include "models/hparams.h"
#include "models/module_tree.h"
#include "models/weights.h"
#include "tensor/graph.h"

namespace kt::models {

// One cache tensor per layer and kind; shape of the rows one position adds ({D, H}).
struct CacheSpec {
  std::string name;  // "blk.3.k"
  std::vector<int64_t> row_shape;
};

// The graph of one step and the handles the engine feeds and reads.
struct StepGraph {
  tensor::Graph graph;
  tensor::NodeId tokens = -1;          // Input I32 {T}: token ids
  tensor::NodeId positions = -1;       // Input I32 {T}: absolute positions
  tensor::NodeId out_rows = -1;        // Input I32 {R}: which of the T tokens need logits
  std::vector<tensor::NodeId> caches;  // Inputs F32 {row_shape..., n_ctx}, cache_specs() order
  tensor::NodeId logits = -1;          // F32 {V, R}
};

class Architecture {
 public:
  virtual ~Architecture() = default;
  virtual const HParams& hparams() const = 0;
  virtual std::vector<CacheSpec> cache_specs() const = 0;
  // Step of n_tokens new tokens at positions [pos, pos + n_tokens), caches holding n_ctx
  // positions, logits for n_out of the tokens (chosen by the out_rows input).
  virtual StepGraph build_step(int64_t n_tokens, int64_t pos, int64_t n_ctx,
                               int64_t n_out) const = 0;
  // The modules under Hugging Face names that placement rules match (models/module_tree.h),
  // given the GGUF names of the model's tensors. The generic tree fits every architecture so
  // far; one with modules the tensors do not reveal overrides it.
  virtual ModuleTree module_tree(const std::vector<std::string>& tensor_names) const {
    return ModuleTree::build(hparams(), tensor_names);
  }
};

// Picks the architecture named by general.architecture; throws kt::Error naming it when kt
// does not support it, or naming the tensor that is missing or misshaped.
std::unique_ptr<Architecture> make_architecture(const tensor::GgufFile& f, WeightSet weights);

}  // namespace kt::models
