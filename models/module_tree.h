#pragma once
// The module tree of a model under Hugging Face's paths and class names (as KTransformers'
// vendored modeling files spell them: model.layers.3.self_attn.q_proj is a Linear,
// model.layers.3.mlp a DeepseekV2MoE, model.layers.3.mlp.experts the routed experts). The
// placement rules of inject/ match against this tree, so a rule file written for KTransformers
// matches here too; every GGUF tensor belongs to exactly one module, which is how a Plan turns
// into weight bytes per device and node placements.
//
// The routed experts are one leaf module (their GGUF tensors are stacked over experts);
// KTransformers' rules replace them as one unit with `recursive: false` anyway.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "models/hparams.h"

namespace kt::models {

struct Module {
  std::string path;                  // "" for the root, "model.layers.3.mlp.experts"
  std::string cls;                   // "Linear", "DeepseekV2MoE", "ModuleList", ...
  std::vector<std::string> tensors;  // GGUF names of the parameters it owns directly
  std::vector<Module> children;
};

class ModuleTree {
 public:
  // From the architecture's hyper-parameters and the GGUF names of its tensors: which modules
  // exist (MLA or GQA attention, dense or MoE FFN per layer, shared experts) follows from the
  // tensors present, so one builder serves every architecture.
  static ModuleTree build(const HParams& hp, const std::vector<std::string>& tensor_names);

  const Module& root() const { return root_; }
  // The module path that owns a GGUF tensor ("blk.3.ffn_up_exps.weight" ->
  // "model.layers.3.mlp.experts"); also for the names of tensors an architecture derives at
  // load ("blk.3.attn_k_b" -> "model.layers.3.self_attn.kv_b_proj"). Never fails: a name it
  // does not know belongs to its layer ("model.layers.3") or to "model".
  std::string module_of(const std::string& gguf_name) const;
  // Visits every module depth-first, parents before children; returning false skips the
  // children of that module.
  void walk(const std::function<bool(const Module&)>& visit) const;
  size_t size() const;
  const Module* find(const std::string& path) const;  // nullptr when absent

  const std::string& prefix() const { return prefix_; }  // class-name prefix, "DeepseekV3"

  // Every module class name a tree of an architecture kt supports can contain (validation of
  // `match: class:` in rule files).
  static const std::vector<std::string>& known_classes();

 private:
  Module& ensure(const std::string& path);
  std::string class_of(const std::string& path) const;

  Module root_;
  std::string prefix_;       // "Llama", "Mixtral", "Qwen2Moe", "DeepseekV2", ...
  std::string moe_ = "mlp";  // the MoE block's name: "mlp" or Mixtral's "block_sparse_moe"
  std::string moe_class_;    // "DeepseekV2MoE", "Qwen2MoeSparseMoeBlock", ...
  std::string shared_;       // "shared_experts" (DeepSeek) or "shared_expert" (Qwen2-MoE)
  std::string rope_class_;   // "DeepseekV2YarnRotaryEmbedding", "LlamaRotaryEmbedding"
  bool gemma_ = false;       // ffn_norm is Gemma's pre_feedforward_layernorm
  std::map<int64_t, bool> moe_layers_;  // layers with routed experts
};

}  // namespace kt::models
