#include "engine/perplexity.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "engine/session.h"
#include "tensor/error.h"

namespace kt::engine {
namespace {

// Logits (rows of n_vocab) at positions n/2 .. n-2 of one chunk of n tokens, evaluated from an
// empty cache with the first token replaced by bos (when >= 0). The last token is not fed: its
// logits would predict past the chunk.
std::vector<float> scored_logits(Session& s, std::span<const int32_t> chunk, int32_t bos,
                                 int64_t batch) {
  std::vector<int32_t> ids(chunk.begin(), chunk.end());
  if (bos >= 0) ids[0] = bos;
  const size_t n = ids.size(), first = n / 2;
  s.reset();
  s.eval(std::span<const int32_t>(ids.data(), first), batch);
  return s.eval_all(std::span<const int32_t>(ids.data() + first, n - 1 - first), batch);
}

int64_t chunk_count(int64_t available, int64_t max_chunks) {
  return max_chunks < 0 ? available : std::min(available, max_chunks);
}

}  // namespace

double RunningStat::error() const {
  if (count < 2) return 0.0;
  const double m = mean(), var = sum2 / double(count) - m * m;
  return var > 0 ? std::sqrt(var / double(count - 1)) : 0.0;
}

double PerplexityResult::ppl() const {
  return std::exp(nll.mean());
}

std::vector<int32_t> perplexity_tokens(const models::Tokenizer& tok, const std::string& text) {
  return tok.encode(text, /*add_special=*/true, /*parse_special=*/false);
}

PerplexityResult perplexity(const models::Architecture& arch, cpu::ThreadPool& pool,
                            std::span<const int32_t> tokens, int32_t bos,
                            const PerplexityOptions& opt, const std::string& save_path,
                            const std::function<void(const PerplexityResult&)>& on_chunk) {
  const int64_t n_ctx = opt.n_ctx, n_vocab = arch.hparams().n_vocab;
  if (n_ctx < 3)
    throw Error("perplexity: context " + std::to_string(n_ctx) +
                " too small (at least 3 tokens, the second half is scored)");
  if (int64_t(tokens.size()) < n_ctx)
    throw Error("perplexity: the text has " + std::to_string(tokens.size()) +
                " tokens, fewer than one chunk of " + std::to_string(n_ctx) +
                " (give a longer text or a smaller -c)");
  if (bos >= n_vocab) throw Error("perplexity: BOS id " + std::to_string(bos) + " out of range");
  for (int32_t t : tokens)
    if (t < 0 || t >= n_vocab)
      throw Error("perplexity: token id " + std::to_string(t) + " is outside the vocabulary of " +
                  std::to_string(n_vocab));

  PerplexityResult res;
  res.n_text_tokens = int64_t(tokens.size());
  res.n_chunks_total = chunk_count(int64_t(tokens.size()) / n_ctx, opt.max_chunks);
  if (res.n_chunks_total < 1) throw Error("perplexity: --chunks must be at least 1");
  const int64_t first = n_ctx / 2, n_score = n_ctx - 1 - first;

  std::unique_ptr<LogProbWriter> save;
  LogProbHeader h;
  h.n_vocab = uint32_t(n_vocab);
  h.n_ctx = uint32_t(n_ctx);
  h.n_chunk = uint32_t(res.n_chunks_total);
  h.top_k = std::clamp<uint32_t>(opt.top_k, 1, uint32_t(n_vocab));
  h.bos = bos;
  if (!save_path.empty())
    save = std::make_unique<LogProbWriter>(save_path, h,
                                           tokens.first(size_t(res.n_chunks_total * n_ctx)));

  Session s(arch, pool, n_ctx);
  for (int64_t c = 0; c < res.n_chunks_total; ++c) {
    const std::span<const int32_t> chunk = tokens.subspan(size_t(c * n_ctx), size_t(n_ctx));
    const std::vector<float> logits = scored_logits(s, chunk, bos, opt.batch);
    for (int64_t j = 0; j < n_score; ++j) {
      const std::span<const float> row(logits.data() + j * n_vocab, size_t(n_vocab));
      const int32_t next = chunk[size_t(first + j + 1)];
      res.nll.add(log_sum_exp(row) - row[size_t(next)]);
      if (save) save->write(make_record(row, next, h.top_k));
    }
    ++res.n_chunks;
    res.chunk_ppl.push_back(res.ppl());
    if (on_chunk) on_chunk(res);
  }
  if (save) save->finish();
  return res;
}

double KlResult::ppl() const {
  return std::exp(nll.mean());
}
double KlResult::ppl_base() const {
  return std::exp(nll_base.mean());
}

double KlResult::same_top_fraction() const {
  return kld.count ? double(same_top) / double(kld.count) : 0.0;
}

double KlResult::same_top_error() const {
  const double p = same_top_fraction();
  return kld.count > 1 ? std::sqrt(p * (1 - p) / double(kld.count - 1)) : 0.0;
}

double KlResult::kld_max() const {
  return kld_values.empty() ? 0.0 : *std::max_element(kld_values.begin(), kld_values.end());
}

double KlResult::kld_percentile(double fraction) const {
  if (kld_values.empty()) return 0.0;
  std::vector<float> v = kld_values;
  std::sort(v.begin(), v.end());
  if (fraction <= 0) return v.front();
  if (fraction >= 1) return v.back();
  const double p = fraction * double(v.size() - 1);
  const size_t i = size_t(p);
  const double f = p - double(i);
  return (1 - f) * v[i] + f * v[std::min(i + 1, v.size() - 1)];
}

KlResult kl_divergence(const models::Architecture& arch, cpu::ThreadPool& pool, LogProbReader& base,
                       int64_t max_chunks, int64_t batch,
                       const std::function<void(const KlResult&)>& on_chunk) {
  const LogProbHeader& h = base.header();
  const int64_t n_vocab = arch.hparams().n_vocab;
  if (int64_t(h.n_vocab) != n_vocab)
    throw Error(base.path() + ": saved from a model with a vocabulary of " +
                std::to_string(h.n_vocab) + " tokens, this model has " + std::to_string(n_vocab) +
                " (KL needs the same tokenizer)");
  const int64_t n_ctx = h.n_ctx, first = h.first_scored(), n_score = h.scored_per_chunk();
  KlResult res;
  res.n_chunks_total = chunk_count(h.n_chunk, max_chunks);
  if (res.n_chunks_total < 1) throw Error("kl-divergence: --chunks must be at least 1");
  std::vector<uint8_t> in_top(size_t(n_vocab), 0);
  const float neg_inf = -std::numeric_limits<float>::infinity();

  Session s(arch, pool, n_ctx);
  for (int64_t c = 0; c < res.n_chunks_total; ++c) {
    const std::span<const int32_t> chunk(base.tokens().data() + c * n_ctx, size_t(n_ctx));
    const std::vector<float> logits = scored_logits(s, chunk, h.bos, batch);
    for (int64_t j = 0; j < n_score; ++j) {
      const LogProbRecord r = base.read();
      const std::span<const float> row(logits.data() + j * n_vocab, size_t(n_vocab));
      const double lse = log_sum_exp(row);
      const int32_t next = chunk[size_t(first + j + 1)];
      res.nll.add(lse - row[size_t(next)]);
      res.nll_base.add(-double(r.logp_next));
      // KL over the reference's top_k tokens and "any other token" (logprob_file.h); model
      // log-probs rounded to f32 like the saved ones, so a model against itself gives 0.
      double kl = 0;
      for (size_t k = 0; k < r.ids.size(); ++k) {
        const float lq = float(double(row[r.ids[k]]) - lse);
        kl += std::exp(double(r.logps[k])) * (double(r.logps[k]) - lq);
        in_top[r.ids[k]] = 1;
      }
      if (r.logp_rest != neg_inf) {
        const float mx = *std::max_element(row.begin(), row.end());
        double rest = 0;
        for (int64_t i = 0; i < n_vocab; ++i)
          if (!in_top[size_t(i)]) rest += std::exp(double(row[size_t(i)]) - mx);
        const float lq_rest = rest > 0 ? float(std::log(rest) + mx - lse) : neg_inf;
        kl += std::exp(double(r.logp_rest)) * (double(r.logp_rest) - lq_rest);
      }
      for (uint32_t id : r.ids) in_top[id] = 0;
      res.kld.add(kl);
      res.kld_values.push_back(float(kl));
      const auto top = std::max_element(row.begin(), row.end()) - row.begin();
      if (!r.ids.empty() && uint32_t(top) == r.ids[0]) ++res.same_top;
    }
    ++res.n_chunks;
    if (on_chunk) on_chunk(res);
  }
  return res;
}

}  // namespace kt::engine
