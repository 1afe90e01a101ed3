#pragma once
// Parameters of rotary position embeddings, shared by the graph IR and every backend.
namespace kt::tensor {

// How the rotated dimensions of a head are paired.
enum class RopePairing {
  Adjacent,   // (x[2i], x[2i+1]): ggml NORM, GPT-J; llama and deepseek2 GGUF files
  SplitHalf,  // (x[i], x[i + n_rot/2]): ggml NEOX, rotate-half; qwen2/qwen3moe, HF llama
};

struct RopeParams {
  int n_rot = 0;  // rotated dimensions per head (even, <= head_dim); the rest pass through
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;  // 1 / linear scaling factor
  RopePairing pairing = RopePairing::Adjacent;
  // YaRN (ext_factor > 0 enables the ramp between interpolation and extrapolation).
  float ext_factor = 0.0f;
  float attn_factor = 1.0f;  // multiplies cos/sin (YaRN mscale)
  float beta_fast = 32.0f;
  float beta_slow = 1.0f;
  int n_ctx_orig = 0;  // original training context, needed by YaRN
};

}  // namespace kt::tensor
