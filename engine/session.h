#pragma once
// A Session is one conversation's state on a loaded model: the KV cache and how many
// positions it holds. eval() feeds tokens (prefill in chunks, or one token when decoding) and
// returns the logits of the last one.
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include <memory>

#include "backends/cpu/thread_pool.h"
#include "engine/step_executor.h"
#include "models/architecture.h"
#include "tensor/tensor.h"

namespace kt::engine {

class Session {
 public:
  // n_ctx: positions the cache holds (prompt plus generated tokens). When arch is a Model's
  // planned architecture whose plan uses a GPU, steps run on its hybrid executor and each
  // layer's KV cache lives on the device of that layer's attention.
  Session(const models::Architecture& arch, cpu::ThreadPool& pool, int64_t n_ctx);

  // Appends tokens to the context, in chunks of at most chunk_size, and returns the logits
  // (n_vocab floats) after the last one. Throws kt::Error when the context would overflow or
  // a token id is outside the vocabulary; the session is unchanged then.
  std::vector<float> eval(std::span<const int32_t> tokens, int64_t chunk_size = 512);
  // As eval(), returning the logits after every token: tokens.size() rows of n_vocab floats
  // (perplexity, log-prob comparisons).
  std::vector<float> eval_all(std::span<const int32_t> tokens, int64_t chunk_size = 512);

  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return n_ctx_; }
  void reset() { n_past_ = 0; }
  // Forgets every position from n on (a conversation rewound to a shared prefix).
  void truncate(int64_t n) { n_past_ = std::clamp<int64_t>(n, 0, n_past_); }

  StepExecutor& executor() { return *exec_; }

 private:
  std::vector<float> run(std::span<const int32_t> tokens, int64_t chunk_size, bool all_logits);

  const models::Architecture& arch_;
  cpu::ThreadPool& pool_;
  std::shared_ptr<StepExecutor> exec_;
  int64_t n_ctx_;
  int64_t n_past_ = 0;
  std::vector<tensor::Tensor> caches_;  // in the architecture's cache_specs() order
};

}  // namespace kt::engine
