// `kt perplexity`: llama.cpp-compatible perplexity of a text, and KL divergence of a model
// against log-probs saved from a reference model (engine/perplexity.h).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "backends/cpu/thread_pool.h"
#include "engine/model.h"
#include "engine/perplexity.h"
#include "frontends/cli/commands.h"
#include "tensor/error.h"

namespace kt::cli {
namespace {

struct PerplexityCli {
  std::string model, text_file, kl_base, save_logits;
  int64_t n_ctx = 512;
  int64_t chunks = -1;
  int threads = 0;
  uint32_t top_k = 256;
  bool ctx_given = false;
};

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot read the text file");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void run_ppl(const PerplexityCli& c, const engine::Model& m, cpu::ThreadPool& pool) {
  if (!m.tokenizer) throw Error(c.model + ": the model carries no tokenizer to read the text with");
  const std::string text = read_text(c.text_file);
  const std::vector<int32_t> tokens = engine::perplexity_tokens(*m.tokenizer, text);
  const int32_t bos = m.tokenizer->add_bos() ? m.tokenizer->bos_id() : -1;
  engine::PerplexityOptions opt;
  opt.n_ctx = c.n_ctx;
  opt.max_chunks = c.chunks;
  opt.top_k = c.top_k;
  const int64_t n_chunks = int64_t(tokens.size()) / c.n_ctx;
  std::fprintf(
      stderr, "perplexity: %zu tokens; %lld chunks of %lld, scoring the last %lld tokens of each\n",
      tokens.size(), (long long)(c.chunks < 0 ? n_chunks : std::min(n_chunks, c.chunks)),
      (long long)c.n_ctx, (long long)(c.n_ctx - 1 - c.n_ctx / 2));
  const auto t0 = std::chrono::steady_clock::now();
  const engine::PerplexityResult r = engine::perplexity(
      *m.arch, pool, tokens, bos, opt, c.save_logits, [&](const engine::PerplexityResult& p) {
        if (p.n_chunks == 1)
          std::fprintf(stderr, "perplexity: %.2f seconds per chunk\n", seconds_since(t0));
        std::printf("[%lld]%.4f,", (long long)p.n_chunks, p.chunk_ppl.back());
        std::fflush(stdout);
      });
  std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", r.ppl(), r.ppl_error());
  std::fprintf(stderr, "perplexity: %lld tokens scored in %.1fs\n", (long long)r.nll.count,
               seconds_since(t0));
  if (!c.save_logits.empty())
    std::fprintf(stderr, "saved the log-probs (top %u per token) to %s\n", c.top_k,
                 c.save_logits.c_str());
}

void run_kl(const PerplexityCli& c, const engine::Model& m, cpu::ThreadPool& pool) {
  engine::LogProbReader base(c.kl_base);
  const engine::LogProbHeader& h = base.header();
  if (c.ctx_given && c.n_ctx != int64_t(h.n_ctx))
    throw Error(c.kl_base + ": saved with a context of " + std::to_string(h.n_ctx) + ", -c says " +
                std::to_string(c.n_ctx) + " (leave -c out in KL mode)");
  std::fprintf(stderr, "kl-divergence: %u chunks of %u tokens, top %u reference log-probs each\n",
               h.n_chunk, h.n_ctx, h.top_k);
  std::printf("chunk        PPL     ln(PPL(Q)/PPL(base))    KL divergence       Same top\n");
  const engine::KlResult r =
      engine::kl_divergence(*m.arch, pool, base, c.chunks, 2048, [](const engine::KlResult& k) {
        std::printf("%5lld %10.4f    %10.5f           %10.6f ± %8.6f  %7.3f%%\n",
                    (long long)k.n_chunks, k.ppl(), k.nll.mean() - k.nll_base.mean(), k.kld.mean(),
                    k.kld.error(), 100.0 * k.same_top_fraction());
        std::fflush(stdout);
      });
  std::printf("\n====== Perplexity statistics ======\n");
  std::printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", r.ppl(),
              r.ppl() * r.nll.error());
  std::printf("Mean PPL(base)                : %10.6f ± %10.6f\n", r.ppl_base(),
              r.ppl_base() * r.nll_base.error());
  std::printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f\n", r.nll.mean() - r.nll_base.mean());
  std::printf("\n====== KL divergence statistics ======\n");
  std::printf("Mean    KLD: %10.6f ± %10.6f\n", r.kld.mean(), r.kld.error());
  std::printf("Maximum KLD: %10.6f\n", r.kld_max());
  std::printf("99.9%%   KLD: %10.6f\n", r.kld_percentile(0.999));
  std::printf("99.0%%   KLD: %10.6f\n", r.kld_percentile(0.99));
  std::printf("Median  KLD: %10.6f\n", r.kld_percentile(0.5));
  std::printf("Minimum KLD: %10.6f\n", r.kld_percentile(0.0));
  std::printf("Same top p: %6.3f ± %5.3f %%\n", 100.0 * r.same_top_fraction(),
              100.0 * r.same_top_error());
  std::printf("(%lld tokens scored)\n", (long long)r.kld.count);
}

void run(const PerplexityCli& c) {
  const auto t0 = std::chrono::steady_clock::now();
  const engine::Model m = engine::Model::load(c.model);
  const int threads = c.threads > 0 ? c.threads : cpu::default_cpu_threads();
  const models::HParams& hp = m.arch->hparams();
  std::fprintf(stderr, "loaded %s (%s, %lld layers, vocab %lld) in %.1fs; %d CPU threads\n",
               c.model.c_str(), hp.arch.c_str(), (long long)hp.n_layer, (long long)hp.n_vocab,
               seconds_since(t0), threads);
  if (c.kl_base.empty() && c.n_ctx > hp.n_ctx_train)
    std::fprintf(stderr, "warning: -c %lld exceeds the trained context of %lld\n",
                 (long long)c.n_ctx, (long long)hp.n_ctx_train);
  cpu::ThreadPool pool(threads);
  if (c.kl_base.empty())
    run_ppl(c, m, pool);
  else
    run_kl(c, m, pool);
}

}  // namespace

void add_perplexity_command(CLI::App& app) {
  auto c = std::make_shared<PerplexityCli>();
  CLI::App* cmd = app.add_subcommand(
      "perplexity",
      "Perplexity of a text as llama.cpp computes it (chunks of -c tokens, second half scored); "
      "with --save-logits / --kl-base, KL divergence of one model against another");
  cmd->add_option("-m,--model", c->model, "GGUF file (or first split), split folder or HF folder")
      ->required();
  auto* f = cmd->add_option("-f,--file", c->text_file, "text to score (UTF-8)");
  auto* ctx = cmd->add_option("-c,--ctx-size", c->n_ctx, "tokens per chunk")->capture_default_str();
  cmd->add_option("--chunks", c->chunks, "at most this many chunks (default: all)");
  cmd->add_option("-t,--threads", c->threads, "CPU threads (default: physical cores minus 2)");
  auto* save = cmd->add_option("--save-logits", c->save_logits,
                               "write the reference log-probs of every scored token here");
  auto* kl = cmd->add_option("--kl-base", c->kl_base,
                             "log-probs saved by --save-logits: report KL divergence against "
                             "them (their tokens and context are used; no -f)");
  cmd->add_option("--top-k", c->top_k,
                  "log-probs kept per token by --save-logits (all of them when >= vocab: exact KL)")
      ->capture_default_str();
  kl->excludes(save)->excludes(f);
  cmd->callback([c, f, kl, ctx] {
    c->ctx_given = ctx->count() > 0;
    if (kl->count() == 0 && f->count() == 0)
      throw Error("perplexity: give the text with -f FILE (or --kl-base FILE)");
    run(*c);
  });
}

}  // namespace kt::cli
