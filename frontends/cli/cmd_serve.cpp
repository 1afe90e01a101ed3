// `kt serve`: the OpenAI- and Ollama-compatible HTTP server with the web chat UI. Accepts
// KTransformers' server arguments (--model_path, --gguf_path, --optimize_rule_path, --port,
// --web True, --cache_lens, ...).
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "backends/cpu/thread_pool.h"
#include "engine/model.h"
#include "frontends/cli/commands.h"
#include "frontends/cli/gpu_count.h"
#include "frontends/cli/progress.h"
#include "frontends/server/server.h"
#include "tensor/error.h"

namespace kt::cli {
namespace {

struct ServeCli {
  std::string model, model_path, gguf_path, rule_path, type = "auto", web = "true";
  int threads = 0;
  double max_body_mb = 8;
  server::ServerOptions opt;
};

// KTransformers writes booleans as True/False.
bool parse_bool(const std::string& flag, const std::string& v) {
  std::string s = v;
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  throw Error(flag + ": expected true or false, got '" + v + "'");
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot read the chat template file");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void run_serve(ServeCli& c) {
  server::ServerOptions& o = c.opt;
  o.web = parse_bool("--web", c.web);
  o.max_body_bytes = size_t(c.max_body_mb * 1024 * 1024);
  if (c.type != "auto" && c.type != "transformers" && c.type != "gguf" && c.type != "ktransformers")
    throw Error("--type: expected transformers, gguf or ktransformers, got '" + c.type + "'");
  // --type transformers: the weights are the Hugging Face folder itself.
  std::string weights = !c.model.empty()                                     ? c.model
                        : (!c.gguf_path.empty() && c.type != "transformers") ? c.gguf_path
                                                                             : c.model_path;
  if (weights.empty())
    throw Error("give a model: -m FILE.gguf|HF_FOLDER, or --gguf_path (+ --model_path)");
  const std::string tok_dir = weights == c.gguf_path && !c.model_path.empty() ? c.model_path : "";

  // Signals go to one waiting thread (set before any other thread starts), which stops the
  // server cleanly.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  const auto t0 = std::chrono::steady_clock::now();
  std::fprintf(stderr, "loading %s ...\n", weights.c_str());
  engine::LoadOptions lo;
  lo.tokenizer_dir = tok_dir;
  lo.rule_path = c.rule_path;
  lo.gpu_count = cuda_gpu_count();
  engine::Model model = engine::Model::load(weights, lo);
  if (!model.tokenizer) throw Error(weights + ": the model has no tokenizer; give --model_path");
  if (!o.chat_template_file.empty()) {
    models::ChatTemplate t(read_text(o.chat_template_file), o.chat_template_file);
    if (model.chat_template)
      for (const auto& [k, v] : model.chat_template->variables().items()) t.set_variable(k, v);
    model.chat_template = std::move(t);
  }
  show_upload_progress(model);
  for (const std::string& w : model.plan().warnings())
    std::fprintf(stderr, "warning: %s\n", w.c_str());
  const int threads = c.threads > 0 ? c.threads : cpu::default_cpu_threads();
  cpu::ThreadPool pool(threads);
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  server::ServerState state(o, model, pool, load_s);
  server::Server srv(state);
  srv.bind();
  const models::HParams& hp = model.arch->hparams();
  std::fprintf(stderr,
               "loaded %s (%s, %.2f GiB) in %.1fs; %d CPU threads, context %lld, template %s, "
               "rules %s\n",
               state.model_id.c_str(), hp.arch.c_str(),
               double(model.weight_bytes()) / double(1 << 30), load_s, threads, (long long)o.n_ctx,
               model.chat_template ? model.chat_template->name().c_str() : "-",
               model.plan().source().c_str());
  std::fprintf(stderr, "kt serve: http://%s:%d  (OpenAI: /v1, Ollama: /api%s%s)\n", o.host.c_str(),
               srv.port(), o.web ? ", chat UI: /web/index.html#/chat" : "",
               o.api_key.empty() ? "" : "; API key required");
  std::fflush(stderr);

  std::thread stopper([&srv, sigs] {
    int sig = 0;
    sigwait(&sigs, &sig);
    std::fprintf(stderr, "kt serve: stopping (signal %d)\n", sig);
    srv.stop();
  });
  srv.listen();
  // listen() also returns when stop() came from elsewhere: wake the signal thread.
  pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto c = std::make_shared<ServeCli>();
  server::ServerOptions& o = c->opt;
  CLI::App* cmd =
      app.add_subcommand("serve", "OpenAI- and Ollama-compatible HTTP server with a web chat UI");
  cmd->add_option("-m,--model", c->model, "GGUF file or Hugging Face model folder");
  cmd->add_option("--model_path", c->model_path,
                  "HF folder: tokenizer and config (KTransformers); the weights with --type "
                  "transformers or without --gguf_path");
  cmd->add_option("--gguf_path", c->gguf_path, "GGUF weights (file or folder of splits)");
  cmd->add_option("--optimize_rule_path", c->rule_path,
                  "YAML placement rules or a shipped file's name (default: the architecture's)");
  cmd->add_option("--type", c->type,
                  "transformers: --model_path holds safetensors weights; gguf/ktransformers: "
                  "weights from --gguf_path")
      ->capture_default_str();
  cmd->add_option("--host", o.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o.port, "Port (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--web", c->web, "Serve the chat UI at /web (true/false)")->capture_default_str();
  cmd->add_option("--api_key", o.api_key,
                  "Require 'Authorization: Bearer KEY' on everything but /health and the UI");
  cmd->add_option("--cpu_infer,-t,--threads", c->threads,
                  "CPU threads (default: physical cores minus 2)");
  cmd->add_option("--max_new_tokens", o.max_new_tokens,
                  "Most tokens per answer, and the default when a request gives none (-1: until "
                  "the context is full)")
      ->capture_default_str();
  cmd->add_option("--cache_lens,-c,--ctx", o.n_ctx, "Context size in tokens (KV cache positions)")
      ->check(CLI::Range(int64_t(2), int64_t(1) << 24))
      ->capture_default_str();
  cmd->add_option("--max_prompt_tokens", o.max_prompt_tokens,
                  "Longest prompt accepted (0: the context minus one)")
      ->capture_default_str();
  cmd->add_option("--max_body_mb", c->max_body_mb, "Largest request body in MiB")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max_queue", o.max_queue,
                  "Requests that may wait while one generates; more get 503 + Retry-After")
      ->capture_default_str();
  cmd->add_option("--http_threads", o.http_threads, "Connections served at once")
      ->check(CLI::Range(4, 4096))
      ->capture_default_str();
  cmd->add_option("--chunk_size", o.chunk_size, "Prefill chunk in tokens")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--model_name,--alias", o.model_name,
                  "Model id clients see (default: the file or folder name)");
  cmd->add_option("--chat_template", o.chat_template_file,
                  "Jinja chat template file replacing the model's");
  cmd->callback([c] { run_serve(*c); });
}

}  // namespace kt::cli
