#include "models/hf_import.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "models/hf_names.h"
#include "models/tokenizer.h"
#include "models/tokenizer_export.h"
#include "tensor/error.h"
#include "tensor/fp16.h"
#include "tensor/safetensors.h"

namespace kt::models {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using tensor::DType;

struct ArchInfo {
  std::string gguf;  // GGUF architecture
  bool permute_qk;   // llama-family: HF rotate-half rows -> GGUF adjacent pairs
};

ArchInfo arch_for(const std::string& model_type, const std::string& where) {
  if (model_type == "llama" || model_type == "mistral" || model_type == "mixtral")
    return {"llama", true};
  if (model_type == "qwen2") return {"qwen2", false};
  if (model_type == "qwen2_moe") return {"qwen2moe", false};
  if (model_type == "qwen3_moe") return {"qwen3moe", false};
  if (model_type == "deepseek_v2" || model_type == "deepseek_v3" || model_type == "kimi_k2")
    return {"deepseek2", false};
  if (model_type == "gemma3_text") return {"gemma3", false};
  throw Error(where + ": model_type \"" + model_type +
              "\" is not supported (llama, mistral, mixtral, qwen2, qwen2_moe, qwen3_moe, "
              "deepseek_v2, deepseek_v3, kimi_k2, gemma3_text)");
}

// Reads config values that may be absent or null.
struct Config {
  json j;
  std::string path;
  bool has(const char* k) const { return j.contains(k) && !j[k].is_null(); }
  int64_t integer(const char* k) const {
    if (!has(k) || !j[k].is_number_integer())
      throw Error(path + ": missing or non-integer \"" + k + "\"");
    return j[k].get<int64_t>();
  }
  int64_t integer(const char* k, int64_t def) const { return has(k) ? integer(k) : def; }
  double number(const char* k, double def) const {
    if (!has(k)) return def;
    if (!j[k].is_number()) throw Error(path + ": \"" + k + "\" is not a number");
    return j[k].get<double>();
  }
};

// rope_scaling (older configs) or rope_parameters (newer transformers), as one object. Models
// with per-layer-type ropes (Gemma 3: {full_attention: {...}, sliding_attention: {...}}) give
// the full-attention one: the GGUF rope keys describe the global layers.
json rope_settings(const Config& c) {
  json r = json::object();
  if (c.has("rope_scaling") && c.j["rope_scaling"].is_object())
    r = c.j["rope_scaling"];
  else if (c.has("rope_parameters") && c.j["rope_parameters"].is_object())
    r = c.j["rope_parameters"];
  if (r.contains("full_attention") && r["full_attention"].is_object()) return r["full_attention"];
  return r;
}

// Gemma 3 keys as llama.cpp's converter writes them, plus the local rope base under
// rope.freq_base_swa; settings that GGUF gemma3 cannot express are refused.
void write_gemma3_metadata(tensor::GgufWriter& w, const Config& c, const std::string& p) {
  const int64_t E = c.integer("hidden_size"), H = c.integer("num_attention_heads");
  const int64_t D = c.integer("head_dim", 256), n_layer = c.integer("num_hidden_layers");
  w.set_u32(p + "attention.key_length", uint32_t(D));
  w.set_u32(p + "attention.value_length", uint32_t(D));
  w.set_u32(p + "attention.sliding_window", uint32_t(c.integer("sliding_window")));
  double local_theta = c.number("rope_local_base_freq", 10000.0);
  if (c.has("rope_parameters") && c.j["rope_parameters"].contains("sliding_attention"))
    local_theta = c.j["rope_parameters"]["sliding_attention"].value("rope_theta", local_theta);
  w.set_f32(p + "rope.freq_base_swa", float(local_theta));
  auto refuse = [&](const std::string& what) {
    throw Error(c.path + ": " + what + " cannot be expressed in a gemma3 GGUF file");
  };
  if (c.has("final_logit_softcapping")) refuse("final_logit_softcapping");
  if (c.has("attn_logit_softcapping")) refuse("attn_logit_softcapping");
  // The softmax scale is implied: 1/sqrt(head_dim), or 1/sqrt(E/H) for the 62-layer 27B.
  const double qpas = c.number("query_pre_attn_scalar", double(D));
  if (qpas != double(n_layer == 62 ? E / H : D))
    refuse("query_pre_attn_scalar " + std::to_string(qpas));
  if (c.has("layer_types") && c.j["layer_types"].is_array()) {
    const json& types = c.j["layer_types"];
    for (size_t l = 0; l < types.size(); ++l)
      if (types[l] != ((l + 1) % 6 ? "sliding_attention" : "full_attention"))
        refuse("layer_types other than five sliding layers then one full");
  }
}

double yarn_get_mscale(double scale, double m) {
  return scale <= 1.0 ? 1.0 : 0.1 * m * std::log(scale) + 1.0;
}

void write_metadata(tensor::GgufWriter& w, const Config& c, const ArchInfo& a,
                    const std::string& name, int64_t n_vocab) {
  const std::string p = a.gguf + ".";
  w.set_string("general.architecture", a.gguf);
  w.set_string("general.name", name);
  const int64_t E = c.integer("hidden_size"), H = c.integer("num_attention_heads");
  w.set_u32(p + "context_length", uint32_t(c.integer("max_position_embeddings", 4096)));
  w.set_u32(p + "embedding_length", uint32_t(E));
  w.set_u32(p + "block_count", uint32_t(c.integer("num_hidden_layers")));
  w.set_u32(p + "feed_forward_length", uint32_t(c.integer("intermediate_size")));
  w.set_u32(p + "attention.head_count", uint32_t(H));
  w.set_u32(p + "attention.head_count_kv", uint32_t(c.integer("num_key_value_heads", H)));
  w.set_f32(p + "attention.layer_norm_rms_epsilon", float(c.number("rms_norm_eps", 1e-6)));
  w.set_u32(p + "vocab_size", uint32_t(n_vocab));
  const json rope = rope_settings(c);
  const double theta =
      c.has("rope_theta") ? c.number("rope_theta", 10000.0) : rope.value("rope_theta", 10000.0);
  w.set_f32(p + "rope.freq_base", float(theta));

  if (a.gguf == "deepseek2") {
    const int64_t Dn = c.integer("qk_nope_head_dim"), Dr = c.integer("qk_rope_head_dim");
    w.set_u32(p + "attention.key_length", uint32_t(Dn + Dr));  // legacy (attn_kv_b) layout
    w.set_u32(p + "attention.value_length", uint32_t(c.integer("v_head_dim")));
    w.set_u32(p + "rope.dimension_count", uint32_t(Dr));
    if (c.has("q_lora_rank"))
      w.set_u32(p + "attention.q_lora_rank", uint32_t(c.integer("q_lora_rank")));
    w.set_u32(p + "attention.kv_lora_rank", uint32_t(c.integer("kv_lora_rank")));
    w.set_u32(p + "leading_dense_block_count", uint32_t(c.integer("first_k_dense_replace", 0)));
    w.set_u32(p + "expert_count", uint32_t(c.integer("n_routed_experts")));
    w.set_u32(p + "expert_used_count", uint32_t(c.integer("num_experts_per_tok")));
    w.set_u32(p + "expert_shared_count", uint32_t(c.integer("n_shared_experts", 0)));
    w.set_u32(p + "expert_feed_forward_length", uint32_t(c.integer("moe_intermediate_size")));
    w.set_f32(p + "expert_weights_scale", float(c.number("routed_scaling_factor", 1.0)));
    w.set_bool(p + "expert_weights_norm", c.j.value("norm_topk_prob", false));
    const std::string model_type = c.j.value("model_type", "");
    const std::string scoring =
        c.j.value("scoring_func", model_type == "deepseek_v2" ? "softmax" : "sigmoid");
    w.set_u32(p + "expert_gating_func", scoring == "sigmoid" ? 2 : 1);
    w.set_u32(p + "expert_group_count", uint32_t(c.integer("n_group", 1)));
    w.set_u32(p + "expert_group_used_count", uint32_t(c.integer("topk_group", 1)));
    // HF DeepSeek-V2 scores a group by its best expert; V3 (noaux_tc) by its best two.
    const std::string method =
        c.j.value("topk_method", model_type == "deepseek_v2" ? "greedy" : "noaux_tc");
    w.set_string(p + "expert_group_scoring", method == "group_limited_greedy" ? "max" : "top2_sum");
  } else if (a.gguf == "gemma3") {
    write_gemma3_metadata(w, c, p);
  } else {
    const int64_t head_dim = c.integer("head_dim", E / H);
    if (head_dim != E / H) {
      w.set_u32(p + "attention.key_length", uint32_t(head_dim));
      w.set_u32(p + "attention.value_length", uint32_t(head_dim));
    }
    w.set_u32(p + "rope.dimension_count", uint32_t(head_dim));
    const int64_t n_expert = c.integer("num_local_experts", c.integer("num_experts", 0));
    if (n_expert > 0) {
      w.set_u32(p + "expert_count", uint32_t(n_expert));
      w.set_u32(p + "expert_used_count", uint32_t(c.integer("num_experts_per_tok")));
      if (c.has("moe_intermediate_size"))
        w.set_u32(p + "expert_feed_forward_length", uint32_t(c.integer("moe_intermediate_size")));
      if (c.has("shared_expert_intermediate_size"))
        w.set_u32(p + "expert_shared_feed_forward_length",
                  uint32_t(c.integer("shared_expert_intermediate_size")));
      // Mixtral always renormalises; Qwen MoE says so in norm_topk_prob.
      w.set_bool(p + "expert_weights_norm", c.j.value("norm_topk_prob", a.permute_qk));
    }
  }

  const std::string type = rope.value("rope_type", rope.value("type", std::string("default")));
  if (type == "linear") {
    w.set_string(p + "rope.scaling.type", "linear");
    w.set_f32(p + "rope.scaling.factor", float(rope.value("factor", 1.0)));
  } else if (type == "yarn") {
    const double s = rope.value("factor", 1.0);
    w.set_string(p + "rope.scaling.type", "yarn");
    w.set_f32(p + "rope.scaling.factor", float(s));
    w.set_u32(p + "rope.scaling.original_context_length",
              uint32_t(rope.value("original_max_position_embeddings", 4096)));
    w.set_f32(p + "rope.scaling.yarn_beta_fast", float(rope.value("beta_fast", 32.0)));
    w.set_f32(p + "rope.scaling.yarn_beta_slow", float(rope.value("beta_slow", 1.0)));
    const double mscale = rope.value("mscale", 1.0), mscale_all = rope.value("mscale_all_dim", 0.0);
    // DeepSeek's HF code multiplies cos/sin by mscale(s, mscale) / mscale(s, mscale_all_dim)
    // and the softmax scale by mscale(s, mscale_all_dim)^2 (stored as llama.cpp does).
    w.set_f32(p + "rope.scaling.yarn_log_multiplier", float(0.1 * mscale_all));
    w.set_f32(p + "rope.scaling.attn_factor",
              float(yarn_get_mscale(s, mscale) / yarn_get_mscale(s, mscale_all)));
  } else if (type != "default" && type != "none") {
    throw Error(c.path + ": rope scaling type \"" + type + "\" is not supported");
  }
}

// f32 copy of a safetensors tensor.
std::vector<float> to_f32(const tensor::SafetensorsTensor& t, const std::string& file) {
  size_t n = 1;
  for (int64_t d : t.shape) n *= size_t(d);
  std::vector<float> out(n);
  switch (t.dtype) {
    case tensor::StDType::F32:
      std::memcpy(out.data(), t.data, n * 4);
      break;
    case tensor::StDType::F16: {
      const auto* p = reinterpret_cast<const uint16_t*>(t.data);
      for (size_t i = 0; i < n; ++i) out[i] = tensor::fp16_to_fp32(p[i]);
      break;
    }
    case tensor::StDType::BF16: {
      const auto* p = reinterpret_cast<const uint16_t*>(t.data);
      for (size_t i = 0; i < n; ++i) out[i] = tensor::bf16_to_fp32(p[i]);
      break;
    }
    default:
      throw Error(file + ": tensor " + t.name + " has dtype " + tensor::st_dtype_name(t.dtype) +
                  " (F32, F16 or BF16 expected)");
  }
  return out;
}

// HF llama rows are in rotate-half order per head; GGUF llama wants adjacent pairs: new row
// 2i = old row i, new row 2i+1 = old row i + D/2 (llama.cpp's LlamaModel.permute).
std::vector<float> permute_rows(const std::vector<float>& w, int64_t rows, int64_t cols,
                                int64_t n_head) {
  std::vector<float> out(w.size());
  const int64_t D = rows / n_head;
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t i = 0; i < D / 2; ++i) {
      std::memcpy(&out[size_t((h * D + 2 * i) * cols)], &w[size_t((h * D + i) * cols)], cols * 4);
      std::memcpy(&out[size_t((h * D + 2 * i + 1) * cols)], &w[size_t((h * D + i + D / 2) * cols)],
                  cols * 4);
    }
  return out;
}

struct PendingStack {
  std::map<int, std::vector<float>> experts;  // expert id -> [out, in] row-major
  int64_t rows = 0, cols = 0;
};

// The folder's tokenizer as tokenizer.* metadata, so the GGUF stands alone. A folder without
// tokenizer.json gets none (as before); one whose tokenizer GGUF cannot express gets a warning
// rather than a failed conversion, since the weights are still good.
void write_tokenizer(tensor::GgufWriter& w, const fs::path& root) {
  if (!fs::exists(root / "tokenizer.json")) return;
  try {
    const Tokenizer tok = Tokenizer::from_hf(root.string());
    const fs::path cfg_path = root / "tokenizer_config.json";
    bool has_template = false;
    if (std::ifstream f(cfg_path); f) {
      json cfg = json::parse(f, nullptr, /*allow_exceptions=*/false);
      has_template =
          cfg.is_object() && cfg.contains("chat_template") && !cfg["chat_template"].is_null();
    }
    // Only a template the model ships: from_tokenizer_config falls back to ChatML otherwise,
    // and baking that into the file would hide that the model has none.
    if (has_template) {
      write_tokenizer_metadata(tok, ChatTemplate::from_tokenizer_config(cfg_path.string()), w);
    } else {
      write_tokenizer_metadata(tok, w);
    }
  } catch (const Error& e) {
    std::cerr << "kt: warning: no tokenizer written to the GGUF: " << e.what() << "\n";
  }
}

}  // namespace

HfImport import_hf_folder(const std::string& dir, QuantRecipe recipe,
                          const std::function<void(size_t, size_t)>& progress) {
  const fs::path root(dir);
  Config c;
  c.path = (root / "config.json").string();
  {
    std::ifstream f(c.path);
    if (!f) throw Error(dir + ": no config.json (not a Hugging Face model folder)");
    try {
      c.j = json::parse(f);
    } catch (const json::exception& e) {
      throw Error(c.path + ": invalid JSON: " + e.what());
    }
  }
  if (!c.j.is_object() || !c.j.contains("model_type") || !c.j["model_type"].is_string())
    throw Error(c.path + ": missing \"model_type\"");
  const std::string model_type = c.j["model_type"].get<std::string>();
  const ArchInfo a = arch_for(model_type, c.path);

  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(root))
    if (e.path().extension() == ".safetensors") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw Error(dir + ": no *.safetensors files");
  std::vector<tensor::SafetensorsFile> sts;
  size_t total = 0;
  for (const auto& f : files) {
    sts.push_back(tensor::SafetensorsFile::open(f));
    total += sts.back().tensors().size();
  }

  HfImport out;
  out.arch = a.gguf;
  const int64_t H = c.integer("num_attention_heads");
  const int64_t Hkv = c.integer("num_key_value_heads", H);
  const tensor::SafetensorsTensor* embd = nullptr;
  bool has_lm_head = false;
  for (const auto& st : sts) {
    if (!embd) embd = st.find("model.embed_tokens.weight");
    has_lm_head = has_lm_head || st.find("lm_head.weight");
  }
  if (!embd) throw Error(dir + ": no model.embed_tokens.weight in the safetensors files");
  write_metadata(out.writer, c, a, root.filename().string(), embd->shape.at(0));
  out.writer.set_u32("general.file_type", recipe_file_type(recipe));
  out.writer.set_u32("general.quantization_version", 2);
  write_tokenizer(out.writer, root);

  RecipeContext ctx;
  ctx.n_layer = c.integer("num_hidden_layers");
  ctx.n_expert =
      c.integer("num_local_experts", c.integer("num_experts", c.integer("n_routed_experts", 0)));
  ctx.tied_output = !has_lm_head;
  // attn_v-like tensors, counted up front for the use_more_bits rule.
  for (const auto& st : sts)
    for (const auto& t : st.tensors())
      if (t.name.find("v_proj.weight") != std::string::npos ||
          t.name.find("kv_b_proj.weight") != std::string::npos)
        ++ctx.n_attn_v;
  int attn_v_index = 0;

  // Adds one tensor (rows of `cols` floats, ggml shape ne) in the recipe's type.
  auto add = [&](const std::string& name, std::vector<float> data, std::vector<int64_t> ne) {
    DType t = choose_type(recipe, name, int(ne.size()), ne[0], ctx, attn_v_index);
    if (name.find("attn_v.weight") != std::string::npos ||
        name.find("attn_kv_b.weight") != std::string::npos)
      ++attn_v_index;
    const int64_t rows = int64_t(data.size()) / ne[0];
    const size_t rs = tensor::row_size(t, ne[0]);
    out.buffers.emplace_back(rs * size_t(rows));
    std::vector<uint8_t>& buf = out.buffers.back();
    for (int64_t r = 0; r < rows; ++r)
      tensor::quantize_row(t, data.data() + r * ne[0], buf.data() + size_t(r) * rs, ne[0]);
    out.writer.add_tensor(name, t, ne, buf.data(), buf.size());
  };

  std::map<std::string, PendingStack> stacks;
  size_t done = 0;
  for (const auto& st : sts) {
    for (const auto& t : st.tensors()) {
      const std::optional<GgufName> g = hf_to_gguf_name(t.name, model_type);
      if (progress) progress(++done, total);
      if (!g) continue;
      if (t.shape.empty() || t.shape.size() > 2)
        throw Error(st.name() + ": tensor " + t.name + " has an unsupported rank " +
                    std::to_string(t.shape.size()));
      std::vector<float> data = to_f32(t, st.name());
      // Gemma's RMSNorm multiplies by (1 + w); GGUF stores 1 + w (llama.cpp's norm_shift).
      if (a.gguf == "gemma3" && t.name.ends_with("norm.weight"))
        for (float& v : data) v += 1.0f;
      const int64_t rows = t.shape.size() == 2 ? t.shape[0] : 1;
      const int64_t cols = t.shape.back();
      if (g->expert >= 0) {
        PendingStack& s = stacks[g->name];
        if (!s.experts.empty() && (s.rows != rows || s.cols != cols))
          throw Error(st.name() + ": expert tensor " + t.name + " differs in shape from its peers");
        s.rows = rows;
        s.cols = cols;
        s.experts[g->expert] = std::move(data);
        continue;
      }
      const bool is_q = g->name.find("attn_q.") != std::string::npos;
      const bool is_k = g->name.find("attn_k.") != std::string::npos;
      if (a.permute_qk && (is_q || is_k))
        data = permute_rows(data, t.shape.size() == 2 ? rows : cols, t.shape.size() == 2 ? cols : 1,
                            is_q ? H : Hkv);
      if (g->name.find("ffn_gate_inp_shexp") != std::string::npos) {
        add(g->name, std::move(data), {cols});  // HF [1, E] -> GGUF {E}
        continue;
      }
      add(g->name, std::move(data),
          t.shape.size() == 2 ? std::vector<int64_t>{cols, rows} : std::vector<int64_t>{cols});
    }
  }
  for (auto& [name, s] : stacks) {
    const int n = int(s.experts.size());
    if (s.experts.rbegin()->first != n - 1)
      throw Error(dir + ": experts of " + name + " are not numbered 0.." + std::to_string(n - 1));
    if (ctx.n_expert > 0 && n != ctx.n_expert)
      throw Error(dir + ": " + name + " has " + std::to_string(n) + " experts, config says " +
                  std::to_string(ctx.n_expert));
    std::vector<float> all;
    all.reserve(size_t(n) * size_t(s.rows * s.cols));
    for (auto& [e, w] : s.experts) all.insert(all.end(), w.begin(), w.end());
    s.experts.clear();
    add(name, std::move(all), {s.cols, s.rows, n});
  }
  return out;
}

}  // namespace kt::models
