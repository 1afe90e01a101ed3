#include "models/hf_export.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>
#include <vector>

#include "models/hf_names.h"
#include "models/hparams.h"
#include "tensor/error.h"
#include "tensor/safetensors.h"

namespace kt::models {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// GGUF llama rows are in adjacent-pair order per head; HF wants rotate-half: old row i = new
// row 2i, old row i + D/2 = new row 2i + 1 (gguf.md section 5, the inverse of hf_import).
std::vector<float> unpermute_rows(const std::vector<float>& w, int64_t rows, int64_t cols,
                                  int64_t n_head) {
  std::vector<float> out(w.size());
  const int64_t D = rows / n_head;
  const size_t row_bytes = size_t(cols) * sizeof(float);
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t i = 0; i < D / 2; ++i) {
      std::memcpy(&out[size_t((h * D + i) * cols)], &w[size_t((h * D + 2 * i) * cols)], row_bytes);
      std::memcpy(&out[size_t((h * D + i + D / 2) * cols)], &w[size_t((h * D + 2 * i + 1) * cols)],
                  row_bytes);
    }
  return out;
}

// The float as the shortest decimal that reads back to it (1e-05, not 9.99999974737875e-06),
// so that config.json looks like a published one and re-import yields the same f32.
double tidy(float f) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, f);
  *r.ptr = '\0';
  return std::strtod(buf, nullptr);
}

std::vector<float> to_f32(const tensor::Tensor& t) {
  std::vector<float> out(size_t(t.numel()));
  for (int64_t r = 0; r < t.rows(); ++r)
    tensor::dequantize_row(t.dtype(),
                           static_cast<const uint8_t*>(t.data()) + size_t(r) * t.row_bytes(),
                           out.data() + r * t.ne(0), t.ne(0));
  return out;
}

json make_config(const tensor::GgufFile& f, const HParams& hp, bool tied, bool qkv_bias) {
  const std::string a = hp.arch + ".";
  json c;
  c["architectures"] = {"LlamaForCausalLM"};
  c["model_type"] = "llama";
  c["hidden_size"] = hp.n_embd;
  c["intermediate_size"] = hp.n_ff;
  c["num_hidden_layers"] = hp.n_layer;
  c["num_attention_heads"] = hp.n_head;
  c["num_key_value_heads"] = hp.n_head_kv;
  c["head_dim"] = hp.head_dim;
  c["max_position_embeddings"] = hp.n_ctx_train;
  c["rms_norm_eps"] = tidy(hp.rms_eps);
  c["rope_theta"] = tidy(hp.rope.freq_base);
  const std::string scaling(f.get_string(a + "rope.scaling.type", "none"));
  if (scaling == "linear")
    c["rope_scaling"] = {{"rope_type", "linear"},
                         {"factor", tidy(f.get_f32(a + "rope.scaling.factor"))}};
  c["vocab_size"] = hp.n_vocab;
  c["tie_word_embeddings"] = tied;
  c["hidden_act"] = "silu";
  c["attention_bias"] = qkv_bias;
  c["mlp_bias"] = false;
  c["torch_dtype"] = "float32";
  for (const char* k : {"bos", "eos", "pad"})
    if (auto v = f.find(std::string("tokenizer.ggml.") + k + "_token_id"))
      c[std::string(k) + "_token_id"] = v->as_u32();
  return c;
}

}  // namespace

HfExportInfo export_hf_folder(const tensor::GgufFile& meta, const WeightSet& weights,
                              const std::string& dir) {
  const std::string arch(meta.get_string("general.architecture"));
  if (arch != "llama")
    throw Error(meta.name() + ": general.architecture is \"" + arch +
                "\"; Hugging Face export supports llama only");
  const HParams hp = HParams::from_gguf(meta);
  if (meta.get_u32("llama.expert_count", 0) > 0)
    throw Error(meta.name() +
                ": llama.expert_count > 0 (Mixtral-style experts); Hugging Face "
                "export supports dense llama only");
  if (hp.rope.n_rot != hp.head_dim)
    throw Error(meta.name() + ": llama.rope.dimension_count " + std::to_string(hp.rope.n_rot) +
                " differs from the head size " + std::to_string(hp.head_dim) +
                " (partial RoPE has no Llama config field)");
  const std::string scaling(meta.get_string("llama.rope.scaling.type", "none"));
  if (scaling != "none" && scaling != "linear")
    throw Error(meta.name() + ": llama.rope.scaling.type \"" + scaling +
                "\" is not supported by Hugging Face export (none, linear)");

  // HF order: embedding, layers by number, final norm, lm_head (the JSON header sorts by name,
  // the data section follows this order).
  struct Item {
    int group, layer;
    std::string hf;
    std::string gguf;
  };
  std::vector<Item> items;
  for (const auto& [name, t] : weights.all()) {
    const std::optional<std::string> hf = gguf_to_hf_name(name);
    if (!hf || t.n_dims() > 2)
      throw Error(weights.source() + ": tensor " + name + " " + t.shape_str() +
                  " has no Hugging Face Llama counterpart");
    int layer = -1;
    if (name.rfind("blk.", 0) == 0) layer = std::atoi(name.c_str() + 4);
    const int group = name == "token_embd.weight" ? 0
                      : layer >= 0                ? 1
                      : name == "output.weight"   ? 3
                                                  : 2;
    items.push_back({group, layer, *hf, name});
  }
  std::sort(items.begin(), items.end(), [](const Item& x, const Item& y) {
    return std::tie(x.group, x.layer, x.hf) < std::tie(y.group, y.layer, y.hf);
  });

  HfExportInfo info;
  info.tied = !weights.has("output.weight");
  bool qkv_bias = false;
  std::vector<std::vector<float>> keep;  // the writer points at these until write()
  tensor::SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (const Item& it : items) {
    const tensor::Tensor& t = weights.get(it.gguf);
    std::vector<float> data = to_f32(t);
    const int64_t rows = t.n_dims() == 2 ? t.ne(1) : 1, cols = t.ne(0);
    const bool is_q = it.gguf.find(".attn_q.") != std::string::npos;
    const bool is_k = it.gguf.find(".attn_k.") != std::string::npos;
    if (is_q || is_k) {
      const bool bias = t.n_dims() == 1;
      qkv_bias = qkv_bias || bias;
      // A bias is one column of rows; a weight has cols columns.
      data = unpermute_rows(data, bias ? cols : rows, bias ? 1 : cols,
                            is_q ? hp.n_head : hp.n_head_kv);
    }
    std::vector<int64_t> shape =
        t.n_dims() == 2 ? std::vector<int64_t>{rows, cols} : std::vector<int64_t>{cols};
    keep.push_back(std::move(data));
    const size_t nbytes = keep.back().size() * sizeof(float);
    w.add_tensor(it.hf, tensor::StDType::F32, std::move(shape), keep.back().data(), nbytes);
    info.bytes += nbytes;
    ++info.n_tensors;
  }

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create the folder: " + ec.message());
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  std::ofstream cfg(cfg_path);
  cfg << make_config(meta, hp, info.tied, qkv_bias).dump(2) << "\n";
  if (!cfg.flush()) throw Error(cfg_path + ": cannot write");
  w.write((fs::path(dir) / "model.safetensors").string());
  return info;
}

}  // namespace kt::models
