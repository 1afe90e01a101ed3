#include "inject/ops.h"

#include <algorithm>

#include "tensor/error.h"

namespace kt::inject {
namespace {

struct ClassEntry {
  const char* name;
  OpKind kind;
  std::vector<const char*> aliases;  // KTransformers' class names (last path component)
};

// KTransformers' replace classes (reference §1.3, shipped rule files §2.4) by kt operator.
const std::vector<ClassEntry> kClasses = {
    {"default", OpKind::Default, {}},
    {"Linear", OpKind::Linear, {"KTransformersLinear"}},
    {"Experts", OpKind::Experts, {"KTransformersExperts", "KTransformersExpertsV2"}},
    {"MoE",
     OpKind::MoE,
     {"KDeepseekV2MoE", "KDeepseekV3MoE", "KDeepseekV3MoEV2", "KQwen2MoeSparseMoeBlock",
      "KQwen2MoeSparseMoeBlockV2", "KQwen3MoeSparseMoeBlockV2", "KMistralSparseMoEBlock"}},
    {"Attention",
     OpKind::Attention,
     {"KDeepseekV2Attention", "KLlamaAttention", "KQwen2MoeAttention", "KQwen3MoeAttention",
      "flashinfer_attn"}},
    {"RoPE",
     OpKind::RoPE,
     {"RotaryEmbedding", "RotaryEmbeddingV2", "RotaryEmbeddingV3", "RotaryEmbeddingV4",
      "YarnRotaryEmbedding", "YarnRotaryEmbeddingV3", "DynamicNTKScalingRotaryEmbedding",
      "KQwen3MoeRotaryEmbedding"}},
    {"MoEGate", OpKind::Gate, {"KMoEGate", "KMoEGateQwen2Moe"}},
    {"RMSNorm",
     OpKind::Norm,
     {"RMSNorm", "KQwen2MoeRMSNorm", "KQwen3MoeRMSNorm", "DeepseekV3RMSNormTorch"}},
    {"MLP", OpKind::MLP, {"kDeepseekV3MLP", "KQwen2MoeMLP"}},
    {"Model", OpKind::Model, {"KDeepseekV2Model", "KQwen2MoeModel", "KLlamaModel"}},
};

struct OpEntry {
  OpVariantInfo info;
  std::vector<const char*> aliases;
};

// Operator variants. Experts: fused = one dispatch over all experts from quantized blocks
// (KTransformers' C++ KExpertsCPU); reference = expert by expert, the path the fused kernel
// is tested against (KExpertsTorch plays that role there). Linear: GGUF-block GEMV on the CPU
// (KLinearCPUInfer), dequantized dense GEMM (KLinearTorch), Marlin int4 on the GPU.
const std::vector<OpEntry> kOps = {
    {{"experts_fused", OpKind::Experts, true, false, tensor::OpVariant::Fused, "KExpertsCPU"},
     {"KExpertsCPU"}},
    {{"experts_reference", OpKind::Experts, true, true, tensor::OpVariant::Reference,
      "KExpertsTorch"},
     {"KExpertsTorch"}},
    {{"experts_marlin", OpKind::Experts, false, true, tensor::OpVariant::Auto, "KExpertsMarlin"},
     {"KExpertsMarlin"}},
    {{"linear_gguf", OpKind::Linear, true, false, tensor::OpVariant::Auto, "KLinearCPUInfer"},
     {"KLinearCPUInfer"}},
    {{"linear_dense", OpKind::Linear, true, true, tensor::OpVariant::Auto, "KLinearTorch"},
     {"KLinearTorch"}},
    {{"linear_marlin", OpKind::Linear, false, true, tensor::OpVariant::Marlin, "KLinearMarlin"},
     {"KLinearMarlin", "VLinearMarlin"}},
};

// KTransformers operators kt does not have, and what to use instead.
const std::vector<std::pair<const char*, const char*>> kMissing = {
    {"KExpertsCPUW8A8", "KExpertsCPU (experts_fused)"},
    {"KLinearFP8", "KLinearMarlin or KLinearTorch"},
    {"KLinearQ8", "KLinearTorch"},
    {"KLinearIPEXLLM", "KLinearTorch (kt has no Intel XPU backend)"},
    {"KLinearTorchW8A8A2", "KLinearTorch (kt has no Ascend NPU backend)"},
    {"KMoEGateIPEXLLM", "KMoEGate"},
    {"KDeepseekV2AttentionW8A8A2", "KDeepseekV2Attention"},
    {"KQwen3NextSparseMoeBlockV2", "(kt does not support Qwen3-Next)"},
    {"KGlm4MoeMoE", "(kt does not support GLM-4.5)"},
    {"KSmallthinkerMoeBlock", "(kt does not support SmallThinker)"},
    {"CPUInferKVCache", "(kt keeps the KV cache with the attention)"},
};

std::string last_component(const std::string& s) {
  const size_t dot = s.rfind('.');
  return dot == std::string::npos ? s : s.substr(dot + 1);
}

void check_missing(const std::string& leaf, const std::string& written) {
  for (const auto& [name, instead] : kMissing)
    if (leaf == name)
      throw Error("operator \"" + written + "\" (KTransformers' " + name +
                  ") is not available in kt; use " + instead);
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

}  // namespace

const char* kind_name(OpKind k) {
  switch (k) {
    case OpKind::Default:
      return "default";
    case OpKind::Linear:
      return "Linear";
    case OpKind::Experts:
      return "Experts";
    case OpKind::MoE:
      return "MoE";
    case OpKind::Attention:
      return "Attention";
    case OpKind::RoPE:
      return "RoPE";
    case OpKind::Gate:
      return "MoEGate";
    case OpKind::Norm:
      return "RMSNorm";
    case OpKind::MLP:
      return "MLP";
    case OpKind::Model:
      return "Model";
  }
  return "?";
}

std::optional<ReplaceClass> resolve_replace_class(const std::string& written) {
  const std::string leaf = last_component(written);
  for (const ClassEntry& c : kClasses) {
    if (leaf == c.name) return ReplaceClass{c.name, c.kind, ""};
    for (const char* a : c.aliases)
      if (leaf == a) return ReplaceClass{c.name, c.kind, ""};
  }
  // An operator variant named as the class: KTransformers constructs it directly.
  if (auto op = resolve_op(written)) return ReplaceClass{kind_name(op->kind), op->kind, op->name};
  check_missing(leaf, written);
  return std::nullopt;
}

std::optional<OpVariantInfo> resolve_op(const std::string& written) {
  const std::string leaf = last_component(written);
  for (const OpEntry& o : kOps) {
    if (leaf == o.info.name) return o.info;
    for (const char* a : o.aliases)
      if (leaf == a) return o.info;
  }
  check_missing(leaf, written);
  return std::nullopt;
}

bool kind_fits(OpKind kind, const std::string& cls, const std::string& path) {
  switch (kind) {
    case OpKind::Default:
      return true;
    case OpKind::Linear:
      return cls == "Linear";
    case OpKind::Experts:
      return ends_with(path, ".experts");
    case OpKind::MoE:
      return ends_with(cls, "MoE") || ends_with(cls, "SparseMoeBlock");
    case OpKind::Attention:
      return ends_with(cls, "Attention");
    case OpKind::RoPE:
      return ends_with(cls, "RotaryEmbedding");
    // Qwen2-MoE's router is a plain Linear that KMoEGateQwen2Moe replaces.
    case OpKind::Gate:
      return cls == "MoEGate" || ends_with(path, ".gate");
    case OpKind::Norm:
      return ends_with(cls, "RMSNorm");
    case OpKind::MLP:
      return ends_with(cls, "MLP");
    case OpKind::Model:
      return ends_with(cls, "Model");
  }
  return false;
}

std::string known_replace_classes() {
  std::string s;
  for (const ClassEntry& c : kClasses) {
    s += (s.empty() ? "" : ", ") + std::string(c.name);
    for (const char* a : c.aliases) s += std::string(", ") + a;
  }
  return s;
}

std::string known_ops() {
  std::string s;
  for (const OpEntry& o : kOps) {
    s += (s.empty() ? "" : ", ") + o.info.name;
    for (const char* a : o.aliases) s += std::string(", ") + a;
  }
  return s;
}

}  // namespace kt::inject
