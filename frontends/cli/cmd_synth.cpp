// `kt synth`: a GGUF with a real model's shapes, metadata and tokenizer and random weights,
// for benchmarks without downloading (or owning) the real weights.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "backends/cpu/thread_pool.h"
#include "frontends/cli/commands.h"
#include "frontends/cli/progress.h"
#include "models/synth.h"

namespace kt::cli {
namespace {

struct SynthCliOptions {
  std::string shape;
  std::string type = "q4_k_m";
  std::string vocab;
  std::string output;
  int threads = 0;
  bool tiny = false;
  bool legacy_kv_b = false;
  uint64_t seed = 1;
};

void run_synth(const SynthCliOptions& o) {
  models::SynthOptions opt;
  opt.shape = models::synth_shape(o.shape);
  opt.recipe = models::parse_recipe(o.type);
  opt.vocab = o.vocab;
  opt.tiny = o.tiny;
  opt.legacy_kv_b = o.legacy_kv_b;
  opt.seed = o.seed;
  cpu::ThreadPool pool(o.threads > 0 ? o.threads : cpu::physical_cores());
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<ProgressBar> bar;
  const models::SynthStats st =
      models::write_synth(opt, pool, o.output, [&](uint64_t done, uint64_t total) {
        if (!bar) bar = std::make_unique<ProgressBar>("generating + writing", size_t(total));
        bar->update(size_t(done));
      });
  if (bar) bar->finish();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "wrote %s: %s%s %s, %lld tensors, %.2f B parameters, %.2f GiB in %.1f s\n",
               o.output.c_str(), opt.shape.name.c_str(), o.tiny ? " (tiny)" : "",
               models::recipe_name(opt.recipe), static_cast<long long>(st.n_tensors),
               double(st.n_params) * 1e-9, double(st.n_bytes) / double(1ull << 30), s);
}

}  // namespace

void add_synth_command(CLI::App& app) {
  auto o = std::make_shared<SynthCliOptions>();
  std::string shapes;
  for (const std::string& s : models::synth_shape_names())
    shapes += (shapes.empty() ? "" : ", ") + s;
  CLI::App* cmd = app.add_subcommand(
      "synth",
      "Write a GGUF with a real model's shapes, metadata and tokenizer and random weights "
      "(for benchmarks)");
  cmd->add_option("--shape", o->shape,
                  "Model shape, optionally truncated: NAME[:LAYERS] (" + shapes + ")")
      ->required();
  cmd->add_option("--type", o->type, "f32, f16, bf16, q8_0, q6_k or q4_k_m (llama.cpp's mix)")
      ->capture_default_str();
  cmd->add_option("--vocab", o->vocab,
                  "GGUF whose tokenizer is copied (e.g. ggml-vocab-deepseek-llm.gguf)")
      ->required();
  cmd->add_option("-o,--output", o->output, "GGUF file to write")->required();
  cmd->add_option("-t,--threads", o->threads, "Threads (default: all physical cores)");
  cmd->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  cmd->add_flag("--tiny", o->tiny,
                "Shrink the model for tests (hidden 256, <= 4 heads, <= 16 experts, the "
                "tokenizer's own vocabulary), keeping its keys, tensors and type mix");
  cmd->add_flag("--legacy-kv-b", o->legacy_kv_b,
                "DeepSeek: write attn_kv_b (old converters) instead of attn_k_b + attn_v_b");
  cmd->callback([o] { run_synth(*o); });
}

}  // namespace kt::cli
