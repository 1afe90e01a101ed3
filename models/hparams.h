#pragma once
// Hyper-parameters of a decoder-only transformer, read from GGUF metadata (`%s.*` keys, where
// %s is general.architecture). Architecture files add what is specific to them.
#include <cstdint>
#include <string>

#include "tensor/gguf.h"
#include "tensor/rope_params.h"

namespace kt::models {

struct HParams {
  std::string arch;  // general.architecture
  std::string name;  // general.name (may be empty)
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;  // per head, keys and values
  int64_t n_ff = 0;
  int64_t n_ctx_train = 0;
  float rms_eps = 1e-5f;
  tensor::RopeParams rope;

  // Reads the common keys; n_vocab falls back to the token list or the embedding rows.
  // Throws kt::Error naming the file and key for a missing or impossible value.
  static HParams from_gguf(const tensor::GgufFile& f);
};

}  // namespace kt::models
