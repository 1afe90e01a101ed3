#include "models/quant_recipe.h"

#include <cctype>
#include <regex>

#include "tensor/error.h"

namespace kt::models {

using tensor::DType;

QuantRecipe parse_recipe(const std::string& text) {
  std::string t;
  for (char c : text) t += char(std::tolower(static_cast<unsigned char>(c)));
  if (t == "f32") return QuantRecipe::F32;
  if (t == "f16") return QuantRecipe::F16;
  if (t == "bf16") return QuantRecipe::BF16;
  if (t == "q8_0") return QuantRecipe::Q8_0;
  if (t == "q6_k") return QuantRecipe::Q6_K;
  if (t == "q4_k_m") return QuantRecipe::Q4_K_M;
  throw Error("unknown output type \"" + text + "\" (f32, f16, bf16, q8_0, q6_k, q4_k_m)");
}

const char* recipe_name(QuantRecipe r) {
  switch (r) {
    case QuantRecipe::F32:
      return "F32";
    case QuantRecipe::F16:
      return "F16";
    case QuantRecipe::BF16:
      return "BF16";
    case QuantRecipe::Q8_0:
      return "Q8_0";
    case QuantRecipe::Q6_K:
      return "Q6_K";
    case QuantRecipe::Q4_K_M:
      return "Q4_K_M";
  }
  return "?";
}

uint32_t recipe_file_type(QuantRecipe r) {
  switch (r) {
    case QuantRecipe::F32:
      return 0;
    case QuantRecipe::F16:
      return 1;
    case QuantRecipe::BF16:
      return 32;
    case QuantRecipe::Q8_0:
      return 7;
    case QuantRecipe::Q6_K:
      return 18;
    case QuantRecipe::Q4_K_M:
      return 15;
  }
  return 0;
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// llama.cpp's use_more_bits: the first and last eighth of the layers, and every third one
// in between, get the bigger type.
bool use_more_bits(int i, int n) {
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

// When rows do not fit the chosen type's blocks (llama.cpp's tensor_type_fallback).
DType fallback(DType t, int64_t ne0) {
  auto fits = [&](DType d) { return ne0 % tensor::type_traits(d).block_size == 0; };
  if (fits(t)) return t;
  switch (t) {
    case DType::Q4_K:
      t = DType::Q5_0;
      break;
    case DType::Q5_K:
      t = DType::Q5_1;
      break;
    case DType::Q6_K:
      t = DType::Q8_0;
      break;
    case DType::Q2_K:
    case DType::Q3_K:
      t = DType::Q4_0;
      break;
    case DType::IQ4_XS:
      t = DType::IQ4_NL;
      break;
    default:
      break;
  }
  return fits(t) ? t : DType::F16;
}

int layer_of(const std::string& name) {
  static const std::regex re(R"(^blk\.(\d+)\.)");
  std::smatch m;
  return std::regex_search(name, m, re) ? std::stoi(m[1]) : -1;
}

}  // namespace

DType choose_type(QuantRecipe r, const std::string& name, int n_dims, int64_t ne0,
                  const RecipeContext& ctx, int attn_v_index) {
  // Kept as they are: vectors, norms, routers (llama.cpp's tensor_allows_quantization).
  if (n_dims < 2 || !ends_with(name, ".weight") || ends_with(name, "_norm.weight") ||
      name.find("ffn_gate_inp") != std::string::npos)
    return DType::F32;
  switch (r) {
    case QuantRecipe::F32:
      return DType::F32;
    case QuantRecipe::F16:
      return DType::F16;
    case QuantRecipe::BF16:
      return DType::BF16;
    case QuantRecipe::Q8_0:
      return fallback(DType::Q8_0, ne0);
    case QuantRecipe::Q6_K:
      return fallback(DType::Q6_K, ne0);
    case QuantRecipe::Q4_K_M:
      break;
  }
  DType t = DType::Q4_K;
  const bool mixtral_like = ctx.n_expert == 8;
  if (name == "output.weight" || (name == "token_embd.weight" && ctx.tied_output)) {
    t = ne0 % 256 == 0 ? DType::Q6_K : DType::Q8_0;
    return fallback(t, ne0);
  } else if (name == "token_embd.weight") {
    t = DType::Q4_K;
  } else if (name.find("attn_v.weight") != std::string::npos ||
             name.find("attn_qkv.weight") != std::string::npos ||
             name.find("attn_kv_b.weight") != std::string::npos) {
    t = mixtral_like ? DType::Q8_0
                     : (use_more_bits(attn_v_index, ctx.n_attn_v) ? DType::Q6_K : DType::Q4_K);
  } else if (name.find("attn_k.weight") != std::string::npos) {
    t = mixtral_like ? DType::Q8_0 : DType::Q4_K;
  } else if (name.find("ffn_down") != std::string::npos) {
    const int layer = layer_of(name);
    t = layer >= 0 && use_more_bits(layer, int(ctx.n_layer)) ? DType::Q6_K : DType::Q4_K;
  } else if (name.find("attn_output.weight") != std::string::npos) {
    t = mixtral_like ? DType::Q5_K : DType::Q4_K;
  }
  return fallback(t, ne0);
}

}  // namespace kt::models
