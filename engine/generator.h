#pragma once
// One request's generation on a single sequence: the prompt evaluated (reusing the KV-cache
// prefix it shares with the previous request), then tokens sampled until an end-of-generation
// token, a stop string, the token limit, the context end, or the caller cancels. Text streams
// out as it becomes final: complete UTF-8 only, and never any part of a stop string (text
// that could still turn into one is held back until it cannot). Optional log-probabilities of
// the generated tokens (with alternatives) and of the prompt tokens (OpenAI's `echo`).
//
// A Generator is not thread-safe: servers run one request at a time on it (engine/scheduler.h
// orders them).
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "backends/cpu/thread_pool.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/session.h"

namespace kt::engine {

// A token and its log-probability under the model (log-softmax of the raw logits, before any
// sampling setting), with the most likely alternatives at that position.
struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // by descending log-prob, ties: lower id first
};

struct GenerateRequest {
  std::vector<int32_t> prompt;  // at least one token
  SamplerParams sampler;
  int64_t max_tokens = -1;        // < 0: until the context is full; 0: evaluate the prompt only
  std::vector<std::string> stop;  // stop strings (empty ones are ignored)
  bool ignore_eos = false;        // keep going past end-of-generation tokens
  int top_logprobs = -1;          // < 0: no log-probs of generated tokens; else alternatives kept
  bool prompt_logprobs = false;   // log-probs of prompt tokens 1..n-1 (the first has none)
  int prompt_top_logprobs = 0;    // alternatives per prompt token
};

// Text that became final since the previous chunk, and the generated tokens whose text is now
// all out (with log-probs when asked).
struct GenerateChunk {
  std::string text;
  std::vector<TokenLogprob> tokens;
  // The prompt's log-probs (GenerateResult::prompt_logprobs), already known at the first chunk.
  const std::vector<TokenLogprob>* prompt_logprobs = nullptr;
};

struct GenerateResult {
  std::string text;                    // everything streamed, stop string excluded
  std::string finish_reason;           // "stop" (end token or stop string), "length", "cancelled"
  std::string stop_word;               // the stop string that matched, if any
  bool hit_eos = false;                // stopped at an end-of-generation token
  std::vector<int32_t> output_ids;     // generated tokens (the stop string's ones included)
  std::vector<TokenLogprob> logprobs;  // of the tokens whose text was streamed
  std::vector<TokenLogprob> prompt_logprobs;  // prompt_logprobs: for prompt[1..]
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;  // of prompt_tokens, reused from the KV cache
  int64_t completion_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
};

class Generator {
 public:
  // The model must have a tokenizer. n_ctx: positions of the KV cache.
  Generator(const Model& model, cpu::ThreadPool& pool, int64_t n_ctx, int64_t chunk_size = 512);

  // on_chunk is called for every non-empty chunk; returning false cancels (finish_reason
  // "cancelled"). Throws kt::Error for a prompt that is empty, holds an id outside the
  // vocabulary or does not fit the context (leaving the generator usable).
  GenerateResult run(const GenerateRequest& req,
                     const std::function<bool(const GenerateChunk&)>& on_chunk);

  int64_t n_ctx() const { return session_.n_ctx(); }
  const Model& model() const { return model_; }

 private:
  const Model& model_;
  Session session_;
  int64_t chunk_size_;
  std::vector<int32_t> cached_;  // the tokens the session's KV cache holds, in order
};

// Log-softmax of one row of logits; the entry for `id` and the `top` best alternatives.
TokenLogprob token_logprob(const float* logits, int64_t n_vocab, int32_t id, int top);

}  // namespace kt::engine
