#include "models/module_tree.h"

#include <algorithm>
#include <regex>
#include <set>

namespace kt::models {
namespace {

// GGUF per-layer tensor stems and the module under model.layers.N that owns them. "{moe}" and
// "{shared}" stand for the architecture's names of the MoE block and its shared expert.
const std::vector<std::pair<std::string, std::string>> kLayerOwners = {
    {"attn_norm", "input_layernorm"},
    {"ffn_norm", "post_attention_layernorm"},  // Gemma: pre_feedforward_layernorm
    {"post_attention_norm", "post_attention_layernorm"},
    {"post_ffw_norm", "post_feedforward_layernorm"},
    {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},
    {"attn_output", "self_attn.o_proj"},
    {"attn_qkv", "self_attn.qkv_proj"},
    {"attn_q_norm", "self_attn.q_norm"},
    {"attn_k_norm", "self_attn.k_norm"},
    {"attn_q_a", "self_attn.q_a_proj"},
    {"attn_q_a_norm", "self_attn.q_a_layernorm"},
    {"attn_q_b", "self_attn.q_b_proj"},
    {"attn_kv_a_mqa", "self_attn.kv_a_proj_with_mqa"},
    {"attn_kv_a_norm", "self_attn.kv_a_layernorm"},
    {"attn_kv_b", "self_attn.kv_b_proj"},
    // The MLA file layout (and DeepSeek2's load-time split) keeps kv_b_proj as two halves.
    {"attn_k_b", "self_attn.kv_b_proj"},
    {"attn_v_b", "self_attn.kv_b_proj"},
    {"ffn_gate_inp", "{moe}.gate"},
    {"exp_probs_b", "{moe}.gate"},
    {"ffn_gate_exps", "{moe}.experts"},
    {"ffn_up_exps", "{moe}.experts"},
    {"ffn_down_exps", "{moe}.experts"},
    {"ffn_gate_shexp", "mlp.{shared}.gate_proj"},
    {"ffn_up_shexp", "mlp.{shared}.up_proj"},
    {"ffn_down_shexp", "mlp.{shared}.down_proj"},
    {"ffn_gate_inp_shexp", "mlp.shared_expert_gate"},
    {"ffn_gate", "mlp.gate_proj"},
    {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},
};

// The order children are listed in (HF's declaration order); unknown names go last.
const std::vector<std::string> kChildOrder = {
    "model",
    "lm_head",
    "embed_tokens",
    "layers",
    "norm",
    "input_layernorm",
    "self_attn",
    "post_attention_layernorm",
    "pre_feedforward_layernorm",
    "mlp",
    "block_sparse_moe",
    "post_feedforward_layernorm",
    "q_proj",
    "q_a_proj",
    "q_a_layernorm",
    "q_b_proj",
    "k_proj",
    "v_proj",
    "qkv_proj",
    "kv_a_proj_with_mqa",
    "kv_a_layernorm",
    "kv_b_proj",
    "o_proj",
    "q_norm",
    "k_norm",
    "rotary_emb",
    "gate",
    "experts",
    "shared_experts",
    "shared_expert",
    "shared_expert_gate",
    "gate_proj",
    "up_proj",
    "down_proj",
};

std::string strip_suffix(const std::string& name) {
  for (const char* s : {".weight", ".bias"}) {
    const std::string suf(s);
    if (name.size() > suf.size() && name.compare(name.size() - suf.size(), suf.size(), suf) == 0)
      return name.substr(0, name.size() - suf.size());
  }
  return name;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
    s.replace(p, from.size(), to);
  return s;
}

std::string last_component(const std::string& path) {
  const size_t dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

bool is_number(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

size_t child_rank(const std::string& name) {
  auto it = std::find(kChildOrder.begin(), kChildOrder.end(), name);
  return size_t(it - kChildOrder.begin());
}

void sort_children(Module& m) {
  std::stable_sort(m.children.begin(), m.children.end(), [](const Module& a, const Module& b) {
    const std::string x = last_component(a.path), y = last_component(b.path);
    if (is_number(x) && is_number(y)) return std::stoll(x) < std::stoll(y);
    return child_rank(x) < child_rank(y);
  });
  for (Module& c : m.children) sort_children(c);
}

bool has_prefix(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}

}  // namespace

ModuleTree ModuleTree::build(const HParams& hp, const std::vector<std::string>& tensor_names) {
  ModuleTree t;
  auto any = [&](const std::string& stem) {
    return std::any_of(tensor_names.begin(), tensor_names.end(),
                       [&](const std::string& n) { return n.find(stem) != std::string::npos; });
  };
  const bool experts = any("_exps");
  const std::string& a = hp.arch;
  if (a == "llama") {
    // GGUF files say "llama" for Mixtral too; its experts tell them apart.
    t.prefix_ = experts ? "Mixtral" : "Llama";
    if (experts) t.moe_ = "block_sparse_moe", t.moe_class_ = "MixtralSparseMoeBlock";
  } else if (a == "qwen2") {
    t.prefix_ = "Qwen2";
  } else if (a == "qwen2moe") {
    t.prefix_ = "Qwen2Moe", t.moe_class_ = "Qwen2MoeSparseMoeBlock", t.shared_ = "shared_expert";
  } else if (a == "qwen3moe") {
    t.prefix_ = "Qwen3Moe", t.moe_class_ = "Qwen3MoeSparseMoeBlock";
  } else if (a == "deepseek2") {
    // V3/R1 files carry the router's correction bias (noaux_tc routing); V2 files do not.
    t.prefix_ = any("exp_probs_b") ? "DeepseekV3" : "DeepseekV2";
    t.moe_class_ = t.prefix_ + "MoE", t.shared_ = "shared_experts";
  } else if (a == "gemma3") {
    t.prefix_ = "Gemma3", t.gemma_ = true;
  } else {
    t.prefix_ = a;  // make_architecture rejects it first; keep the tree well-formed anyway
  }
  if (t.shared_.empty()) t.shared_ = "shared_expert";
  // DeepSeek's modeling files name the YaRN variant, which every V2/V3 config selects.
  t.rope_class_ = t.prefix_ + (a == "deepseek2" ? "YarnRotaryEmbedding" : "RotaryEmbedding");

  static const std::regex exps_re(R"(^blk\.(\d+)\.ffn_\w+_exps)");
  for (const std::string& n : tensor_names) {
    std::smatch m;
    if (std::regex_search(n, m, exps_re)) t.moe_layers_[std::stoll(m[1])] = true;
  }
  t.root_.cls = t.prefix_ + "ForCausalLM";
  // The skeleton every decoder has, tensors or not (rotary embeddings hold none in GGUF).
  t.ensure("model.embed_tokens");
  for (int64_t l = 0; l < hp.n_layer; ++l)
    t.ensure("model.layers." + std::to_string(l) + ".self_attn.rotary_emb");
  t.ensure("model.norm");
  t.ensure("lm_head");
  for (const std::string& n : tensor_names) t.ensure(t.module_of(n)).tensors.push_back(n);
  sort_children(t.root_);
  return t;
}

std::string ModuleTree::module_of(const std::string& gguf_name) const {
  const std::string n = strip_suffix(gguf_name);
  if (n == "token_embd") return "model.embed_tokens";
  if (n == "output_norm") return "model.norm";
  if (n == "output") return "lm_head";
  static const std::regex blk_re(R"(^blk\.(\d+)\.(\w+)$)");
  std::smatch m;
  if (!std::regex_match(n, m, blk_re)) return "model";
  const std::string layer = "model.layers." + m[1].str();
  const std::string stem = m[2];
  if (gemma_ && stem == "ffn_norm") return layer + ".pre_feedforward_layernorm";
  for (const auto& [from, to] : kLayerOwners)
    if (stem == from)
      return layer + "." + replace_all(replace_all(to, "{moe}", moe_), "{shared}", shared_);
  return layer;
}

Module& ModuleTree::ensure(const std::string& path) {
  Module* m = &root_;
  size_t begin = 0;
  while (begin < path.size()) {
    size_t end = path.find('.', begin);
    if (end == std::string::npos) end = path.size();
    const std::string sub = path.substr(0, end);
    auto it = std::find_if(m->children.begin(), m->children.end(),
                           [&](const Module& c) { return c.path == sub; });
    if (it == m->children.end()) {
      m->children.push_back(Module{sub, class_of(sub), {}, {}});
      m = &m->children.back();
    } else {
      m = &*it;
    }
    begin = end + 1;
  }
  return *m;
}

std::string ModuleTree::class_of(const std::string& path) const {
  const std::string p = prefix_;
  if (path == "model") return p == "Gemma3" ? "Gemma3TextModel" : p + "Model";
  if (path == "model.embed_tokens") return "Embedding";
  if (path == "model.layers") return "ModuleList";
  if (path == "lm_head") return "Linear";
  static const std::regex layer_re(R"(^model\.layers\.(\d+)(\.(.+))?$)");
  std::smatch m;
  if (!std::regex_match(path, m, layer_re)) return p + "RMSNorm";  // model.norm
  if (!m[2].matched) return p + "DecoderLayer";
  const std::string rest = m[3], leaf = last_component(rest);
  const bool moe = moe_layers_.count(std::stoll(m[1])) != 0;
  if (rest == "self_attn") return p + "Attention";
  if (leaf == "rotary_emb") return rope_class_;
  if (rest == moe_) return moe ? moe_class_ : p + "MLP";
  if (rest == moe_ + ".experts") return "ModuleList";
  if (rest == moe_ + ".gate") return has_prefix(p, "Deepseek") ? "MoEGate" : "Linear";
  if (rest == "mlp.shared_experts" || rest == "mlp.shared_expert") return p + "MLP";
  if (leaf.find("norm") != std::string::npos) return p + "RMSNorm";
  return "Linear";  // projections, shared_expert_gate
}

void ModuleTree::walk(const std::function<bool(const Module&)>& visit) const {
  std::function<void(const Module&)> go = [&](const Module& m) {
    if (!visit(m)) return;
    for (const Module& c : m.children) go(c);
  };
  go(root_);
}

const Module* ModuleTree::find(const std::string& path) const {
  const Module* found = nullptr;
  walk([&](const Module& m) {
    if (m.path == path) found = &m;
    return !found && (m.path.empty() || has_prefix(path, m.path + "."));
  });
  return found;
}

size_t ModuleTree::size() const {
  size_t n = 0;
  walk([&](const Module&) { return ++n, true; });
  return n;
}

const std::vector<std::string>& ModuleTree::known_classes() {
  static const std::vector<std::string> classes = [] {
    std::set<std::string> s = {"Module",
                               "Linear",
                               "Embedding",
                               "ModuleList",
                               "MoEGate",
                               "MixtralSparseMoeBlock",
                               "Qwen2MoeSparseMoeBlock",
                               "Qwen3MoeSparseMoeBlock",
                               "DeepseekV2MoE",
                               "DeepseekV3MoE",
                               "DeepseekV2YarnRotaryEmbedding",
                               "DeepseekV3YarnRotaryEmbedding",
                               "Gemma3TextModel"};
    for (const char* p : {"Llama", "Mixtral", "Qwen2", "Qwen2Moe", "Qwen3Moe", "DeepseekV2",
                          "DeepseekV3", "Gemma3"})
      for (const char* suffix : {"ForCausalLM", "Model", "DecoderLayer", "Attention", "MLP",
                                 "RMSNorm", "RotaryEmbedding"})
        s.insert(std::string(p) + suffix);
    return std::vector<std::string>(s.begin(), s.end());
  }();
  return classes;
}

}  // namespace kt::models
