#include "engine/generator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <limits>

#include "engine/stop_matcher.h"
#include "tensor/error.h"

namespace kt::engine {

using Clock = std::chrono::steady_clock;

TokenLogprob token_logprob(const float* logits, int64_t n_vocab, int32_t id, int top) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n_vocab; ++i) mx = std::max(mx, logits[i]);
  double sum = 0;
  for (int64_t i = 0; i < n_vocab; ++i) sum += std::exp(double(logits[i]) - mx);
  const float log_z = float(double(mx) + std::log(sum));
  TokenLogprob r;
  r.id = id;
  r.logprob = logits[id] - log_z;
  if (top > 0) {
    const int64_t k = std::min<int64_t>(top, n_vocab);
    std::vector<int32_t> ids(static_cast<size_t>(n_vocab));
    for (int64_t i = 0; i < n_vocab; ++i) ids[size_t(i)] = int32_t(i);
    auto better = [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    };
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), better);
    for (int64_t i = 0; i < k; ++i)
      r.top.emplace_back(ids[size_t(i)], logits[ids[size_t(i)]] - log_z);
  }
  return r;
}

Generator::Generator(const Model& model, cpu::ThreadPool& pool, int64_t n_ctx, int64_t chunk_size)
    : model_(model), session_(*model.arch, pool, n_ctx), chunk_size_(chunk_size) {
  if (!model.tokenizer)
    throw Error("the model has no tokenizer: give a folder with tokenizer.json");
}

GenerateResult Generator::run(const GenerateRequest& req,
                              const std::function<bool(const GenerateChunk&)>& on_chunk) {
  const std::vector<int32_t>& prompt = req.prompt;
  const models::Tokenizer& tok = *model_.tokenizer;
  const int64_t n_vocab = int64_t(tok.vocab_size());
  if (prompt.empty()) throw Error("the prompt has no tokens");
  for (int32_t t : prompt)
    if (t < 0 || t >= n_vocab)
      throw Error("token id " + std::to_string(t) + " is outside the vocabulary (0.." +
                  std::to_string(n_vocab - 1) + ")");
  if (int64_t(prompt.size()) > n_ctx() ||
      (req.max_tokens != 0 && int64_t(prompt.size()) >= n_ctx()))
    throw Error("the prompt (" + std::to_string(prompt.size()) +
                " tokens) does not fit the context of " + std::to_string(n_ctx()) + " tokens");

  GenerateResult res;
  res.prompt_tokens = int64_t(prompt.size());

  // Reuse the cached prefix the prompt shares; at least one token is evaluated so that there
  // are logits to sample from. Prompt log-probs need every position's logits: no reuse then.
  size_t keep = 0;
  if (!req.prompt_logprobs) {
    while (keep < cached_.size() && keep < prompt.size() && cached_[keep] == prompt[keep]) ++keep;
    if (keep == prompt.size()) --keep;
  }
  session_.truncate(int64_t(keep));
  cached_.resize(keep);
  res.cached_tokens = int64_t(keep);

  Sampler sampler(req.sampler);
  for (int32_t t : prompt) sampler.accept(t);

  auto t0 = Clock::now();
  std::vector<float> logits;
  if (req.prompt_logprobs) {
    // Chunk by chunk, so that a long prompt never holds all its logits at once.
    for (size_t start = keep; start < prompt.size(); start += size_t(chunk_size_)) {
      const size_t n = std::min(prompt.size() - start, size_t(chunk_size_));
      std::vector<float> rows =
          session_.eval_all(std::span<const int32_t>(prompt.data() + start, n), chunk_size_);
      cached_.insert(cached_.end(), prompt.begin() + int64_t(start),
                     prompt.begin() + int64_t(start + n));
      for (size_t i = 0; i < n; ++i) {
        const size_t pos = start + i;  // row i predicts prompt[pos + 1]
        if (pos + 1 < prompt.size())
          res.prompt_logprobs.push_back(token_logprob(rows.data() + i * size_t(n_vocab), n_vocab,
                                                      prompt[pos + 1], req.prompt_top_logprobs));
      }
      logits.assign(rows.end() - n_vocab, rows.end());
    }
  } else {
    logits = session_.eval(std::span<const int32_t>(prompt.data() + keep, prompt.size() - keep),
                           chunk_size_);
    cached_.insert(cached_.end(), prompt.begin() + int64_t(keep), prompt.end());
  }
  res.prefill_seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  models::StreamDecoder decoder(tok, /*render_special=*/false);
  StopMatcher stops(req.stop);
  // Generated tokens whose text is not all released yet, with where their text ends in the
  // stream of decoded bytes.
  struct Pending {
    TokenLogprob lp;
    size_t end;
  };
  std::deque<Pending> pending;
  size_t decoded_bytes = 0;
  bool cancelled = false;

  // Hands released text and the tokens it completes to the caller.
  auto release = [&](std::string text, bool all_tokens) {
    GenerateChunk chunk;
    chunk.text = std::move(text);
    chunk.prompt_logprobs = &res.prompt_logprobs;
    while (!pending.empty() && (all_tokens || pending.front().end <= stops.released_bytes())) {
      chunk.tokens.push_back(std::move(pending.front().lp));
      pending.pop_front();
    }
    if (chunk.text.empty() && chunk.tokens.empty()) return;
    res.text += chunk.text;
    if (req.top_logprobs >= 0)
      res.logprobs.insert(res.logprobs.end(), chunk.tokens.begin(), chunk.tokens.end());
    if (!on_chunk(chunk)) cancelled = true;
  };

  t0 = Clock::now();
  res.finish_reason = "length";
  const int64_t limit = req.max_tokens < 0 ? std::numeric_limits<int64_t>::max() : req.max_tokens;
  for (int64_t i = 0; i < limit && !cancelled; ++i) {
    const int32_t next = sampler.sample(logits.data(), n_vocab);
    if (!req.ignore_eos && tok.is_eog(next)) {
      res.finish_reason = "stop";
      res.hit_eos = true;
      break;
    }
    sampler.accept(next);
    res.output_ids.push_back(next);
    ++res.completion_tokens;
    Pending p;
    p.lp.id = next;
    if (req.top_logprobs >= 0) p.lp = token_logprob(logits.data(), n_vocab, next, req.top_logprobs);
    const std::string text = decoder.push(next);
    decoded_bytes += text.size();
    p.end = decoded_bytes;
    pending.push_back(std::move(p));
    StopMatcher::Out out = stops.push(text);
    if (out.stopped) {
      pending.erase(
          std::remove_if(pending.begin(), pending.end(),
                         [&](const Pending& q) { return q.end > stops.released_bytes(); }),
          pending.end());
      release(std::move(out.text), /*all_tokens=*/false);
      res.finish_reason = "stop";
      res.stop_word = out.stop;
      break;
    }
    release(std::move(out.text), false);
    if (session_.n_past() >= n_ctx()) break;  // "length": the context is full
    if (i + 1 < limit && !cancelled) {
      logits = session_.eval(std::span<const int32_t>(&next, 1));
      cached_.push_back(next);
    }
  }
  if (!stops.stopped()) {
    StopMatcher::Out out = stops.push(decoder.flush());
    if (out.stopped) {
      res.finish_reason = "stop";
      res.stop_word = out.stop;
    } else {
      out.text += stops.finish();
    }
    release(std::move(out.text), /*all_tokens=*/!out.stopped);
  }
  if (cancelled) res.finish_reason = "cancelled";
  res.decode_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return res;
}

}  // namespace kt::engine
