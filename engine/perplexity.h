#pragma once
// Perplexity as llama.cpp's `llama-perplexity` computes it, so that figures compare directly:
// the text is tokenized once (BOS where the tokenizer adds one, no special-token parsing), cut
// into non-overlapping chunks of n_ctx tokens (a partial last chunk is dropped), each chunk is
// evaluated from an empty cache with its first token replaced by BOS (when the tokenizer adds
// one), and only the second half is scored: the logits at positions n_ctx/2 .. n_ctx-2 against
// the tokens that follow them, n_ctx - 1 - n_ctx/2 tokens per chunk. PPL = exp(mean NLL); its
// error is PPL times the standard error of the mean NLL.
//
// KL mode compares a model against reference log-probs saved from another model on the same
// tokens (engine/logprob_file.h for the format and how KL is computed from it).
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "backends/cpu/thread_pool.h"
#include "engine/logprob_file.h"
#include "models/architecture.h"
#include "models/tokenizer.h"

namespace kt::engine {

struct PerplexityOptions {
  int64_t n_ctx = 512;      // tokens per chunk
  int64_t max_chunks = -1;  // -1: every whole chunk
  int64_t batch = 2048;     // tokens per forward pass (llama.cpp's n_batch)
  uint32_t top_k = 256;     // log-probs kept per scored token when saving (clamped to n_vocab)
};

// Mean and standard error of the mean from running sums (llama.cpp's mean_and_uncertainty).
struct RunningStat {
  double sum = 0, sum2 = 0;
  int64_t count = 0;
  void add(double v) { sum += v, sum2 += v * v, ++count; }
  double mean() const { return count ? sum / double(count) : 0.0; }
  double error() const;  // 0 for fewer than 2 values
};

struct PerplexityResult {
  int64_t n_text_tokens = 0;  // the whole text, BOS included
  int64_t n_chunks = 0;       // chunks evaluated so far
  int64_t n_chunks_total = 0;
  RunningStat nll;                // one value per scored token
  std::vector<double> chunk_ppl;  // running PPL after each chunk
  double ppl() const;
  double ppl_error() const { return ppl() * nll.error(); }
};

// The token ids the text is scored as (llama.cpp: common_tokenize(ctx, text, true)).
std::vector<int32_t> perplexity_tokens(const models::Tokenizer& tok, const std::string& text);

// bos: the token that replaces the first of every chunk, -1 for none. save: when given, the
// reference log-probs of every scored token go there (its header is written here). on_chunk is
// called after every chunk with the figures so far. Throws kt::Error when the text holds fewer
// than n_ctx tokens, n_ctx is below 3, or a token is outside the vocabulary.
PerplexityResult perplexity(const models::Architecture& arch, cpu::ThreadPool& pool,
                            std::span<const int32_t> tokens, int32_t bos,
                            const PerplexityOptions& opt, const std::string& save_path = "",
                            const std::function<void(const PerplexityResult&)>& on_chunk = {});

struct KlResult {
  int64_t n_chunks = 0;
  int64_t n_chunks_total = 0;
  RunningStat nll;                // the model's NLL of each scored token
  RunningStat nll_base;           // the reference's
  RunningStat kld;                // KL(reference || model) per scored token, nats
  int64_t same_top = 0;           // positions where both put the same token first
  std::vector<float> kld_values;  // per scored token, in order

  double ppl() const;
  double ppl_base() const;
  double same_top_fraction() const;
  double same_top_error() const;
  double kld_max() const;
  // Linear interpolation between order statistics, as llama.cpp (fraction in [0, 1]).
  double kld_percentile(double fraction) const;
};

// Evaluates the model on the reference's tokens and chunking (max_chunks limits the chunks,
// -1 for all). Throws kt::Error naming the file when its vocabulary differs from the model's.
KlResult kl_divergence(const models::Architecture& arch, cpu::ThreadPool& pool, LogProbReader& base,
                       int64_t max_chunks = -1, int64_t batch = 2048,
                       const std::function<void(const KlResult&)>& on_chunk = {});

}  // namespace kt::engine
