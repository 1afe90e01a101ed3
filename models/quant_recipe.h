#pragma once
// Which GGUF type each tensor gets when a model is converted: plain types (F32, F16, BF16,
// Q8_0, Q6_K) and llama.cpp's Q4_K_M mix (gguf.md section 8).
#include <cstdint>
#include <string>

#include "tensor/dtype.h"

namespace kt::models {

enum class QuantRecipe { F32, F16, BF16, Q8_0, Q6_K, Q4_K_M };

// "f32", "f16", "bf16", "q8_0", "q6_k", "q4_k_m" (case-insensitive); throws kt::Error naming
// the text otherwise.
QuantRecipe parse_recipe(const std::string& text);
const char* recipe_name(QuantRecipe r);
uint32_t recipe_file_type(QuantRecipe r);  // general.file_type

// Facts about the model the Q4_K_M rules look at.
struct RecipeContext {
  int64_t n_layer = 0;
  int64_t n_expert = 0;
  int n_attn_v = 0;  // attn_v-like tensors (attn_v, attn_qkv, attn_kv_b) in the file
  bool tied_output = false;
};

// The type of tensor `name` of shape {ne0, ne1, ...} (ne0 = row length). attn_v_index counts
// attn_v-like tensors seen so far in file order (the caller increments it after each one).
tensor::DType choose_type(QuantRecipe r, const std::string& name, int n_dims, int64_t ne0,
                          const RecipeContext& ctx, int attn_v_index);

}  // namespace kt::models
