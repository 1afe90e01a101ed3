// `kt chat`: the interactive REPL. Accepts KTransformers' local_chat arguments.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "backends/cpu/thread_pool.h"
#include "engine/chat.h"
#include "engine/model.h"
#include "frontends/cli/commands.h"
#include "frontends/cli/gpu_count.h"
#include "frontends/cli/progress.h"
#include "tensor/error.h"

namespace kt::cli {
namespace {

struct ChatCli {
  std::string model, model_path, gguf_path, rule_path, prompt_file, prompt, system;
  int threads = 0;
  bool completion = false;  // continue each message as plain text (base models)
  engine::ChatOptions opt;
};

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot read the prompt file");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// One user message from stdin: a line, or a block between two lines of """. False at EOF.
bool read_message(std::string* out, bool interactive) {
  if (interactive) std::fputs("> ", stdout), std::fflush(stdout);
  std::string line;
  if (!std::getline(std::cin, line)) return false;
  if (line != "\"\"\"") {
    *out = line;
    return true;
  }
  out->clear();
  while (std::getline(std::cin, line) && line != "\"\"\"") {
    if (!out->empty()) *out += "\n";
    *out += line;
  }
  return true;
}

void print_stats(const engine::TurnStats& st) {
  std::fprintf(stderr,
               "\n[prefill %lld tokens (%lld cached) %.1f tok/s | decode %lld tokens %.1f tok/s | "
               "stop: %s]\n",
               (long long)(st.prompt_tokens - st.reused_tokens), (long long)st.reused_tokens,
               st.prefill_tok_s(), (long long)st.generated_tokens, st.decode_tok_s(),
               st.stop.c_str());
}

void run_chat(const ChatCli& c) {
  std::string weights = !c.gguf_path.empty() ? c.gguf_path
                        : !c.model.empty()   ? c.model
                                             : c.model_path;
  if (weights.empty())
    throw Error("give a model: -m FILE.gguf|HF_FOLDER, or --gguf_path (+ --model_path)");
  const auto t0 = std::chrono::steady_clock::now();
  std::fprintf(stderr, "loading %s ...\n", weights.c_str());
  const std::string tok_dir = !c.gguf_path.empty() && !c.model_path.empty() ? c.model_path : "";
  engine::LoadOptions lo;
  lo.tokenizer_dir = tok_dir;
  lo.rule_path = c.rule_path;
  lo.gpu_count = cuda_gpu_count();
  engine::Model model = engine::Model::load(weights, lo);
  show_upload_progress(model);
  for (const std::string& w : model.plan().warnings())
    std::fprintf(stderr, "warning: %s\n", w.c_str());
  const models::HParams& hp = model.arch->hparams();
  const size_t bytes = model.weight_bytes();
  const int threads = c.threads > 0 ? c.threads : cpu::default_cpu_threads();
  std::fprintf(stderr,
               "loaded %s (%s, %lld layers, %.2f GiB of weights) in %.1fs; %d CPU threads, "
               "context %lld, template %s, rules %s\n",
               hp.name.empty() ? weights.c_str() : hp.name.c_str(), hp.arch.c_str(),
               (long long)hp.n_layer, double(bytes) / double(1 << 30),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
               threads, (long long)c.opt.n_ctx,
               model.chat_template ? model.chat_template->name().c_str() : "-",
               model.plan().source().c_str());
  cpu::ThreadPool pool(threads);
  engine::Chat chat(model, pool, c.opt);
  if (!c.system.empty()) chat.set_system(c.system);
  auto stream = [](std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  };

  std::string first = !c.prompt.empty()        ? c.prompt
                      : !c.prompt_file.empty() ? read_file(c.prompt_file)
                                               : "";
  // Completion mode echoes the text it continues, so the output reads as one passage.
  auto turn = [&](const std::string& msg) {
    if (!c.completion) return chat.send(msg, stream);
    stream(msg);
    return chat.complete(msg, stream);
  };
  if (!c.prompt.empty()) {  // one-shot
    print_stats(turn(first));
    return;
  }
  const bool interactive = isatty(STDIN_FILENO) != 0;
  if (interactive) std::fputs("Type a message; \"\"\" for several lines, /clear, /exit.\n", stderr);
  for (;;) {
    std::string msg;
    if (!first.empty()) {
      msg = std::move(first);
      first.clear();
    } else if (!read_message(&msg, interactive)) {
      break;
    }
    if (msg == "/exit" || msg == "/quit") break;
    if (msg == "/clear") {
      chat.clear();
      std::fputs("(conversation cleared)\n", stderr);
      continue;
    }
    if (msg.empty()) continue;
    try {
      print_stats(turn(msg));
    } catch (const Error& e) {
      std::fprintf(stderr, "kt: error: %s\n", e.what());  // the REPL goes on
    }
  }
}

}  // namespace

void add_chat_command(CLI::App& app) {
  auto c = std::make_shared<ChatCli>();
  CLI::App* cmd = app.add_subcommand("chat", "Chat with a model in the terminal");
  cmd->add_option("-m,--model", c->model, "GGUF file or Hugging Face model folder");
  cmd->add_option("--model_path", c->model_path,
                  "HF folder with config and tokenizer (KTransformers); weights from --gguf_path");
  cmd->add_option("--gguf_path", c->gguf_path, "GGUF weights (file)");
  cmd->add_option("--optimize_rule_path", c->rule_path,
                  "YAML placement rules (KTransformers' format) or a shipped file's name; default: "
                  "the shipped rules for the architecture (kt plan shows them)");
  cmd->add_option("--max_new_tokens", c->opt.max_new_tokens, "Most tokens per answer")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--cpu_infer,-t,--threads", c->threads,
                  "CPU threads (default: physical cores minus 2)");
  cmd->add_option("--prompt_file", c->prompt_file, "First message from this file");
  cmd->add_option("-p,--prompt", c->prompt, "Answer this one message and exit");
  cmd->add_option("--system", c->system, "System message");
  cmd->add_flag("--force_think", c->opt.force_think, "Start every answer with <think>");
  cmd->add_flag("--completion", c->completion,
                "Continue each message as plain text, without the chat template (base models)");
  cmd->add_option("--chunk_size", c->opt.chunk_size, "Prefill chunk in tokens")
      ->capture_default_str();
  cmd->add_option("-c,--ctx", c->opt.n_ctx, "Context size in tokens")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--temperature", c->opt.sampler.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top_k", c->opt.sampler.top_k, "")->capture_default_str();
  cmd->add_option("--top_p", c->opt.sampler.top_p, "")->capture_default_str();
  cmd->add_option("--min_p", c->opt.sampler.min_p, "")->capture_default_str();
  cmd->add_option("--repeat_penalty", c->opt.sampler.repeat_penalty, "")->capture_default_str();
  cmd->add_option("--seed", c->opt.sampler.seed, "")->capture_default_str();
  cmd->callback([c] { run_chat(*c); });
}

}  // namespace kt::cli
