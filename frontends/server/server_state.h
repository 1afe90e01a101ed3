#pragma once
// What every route shares: the options, the loaded model and its single generator, the fair
// queue in front of it, and the counters.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "backends/cpu/thread_pool.h"
#include "engine/generator.h"
#include "engine/model.h"
#include "engine/scheduler.h"
#include "frontends/server/metrics.h"
#include "frontends/server/tool_calls.h"

namespace kt::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 10002;
  std::string api_key;              // required (Bearer) on all but /health and the UI when set
  bool web = true;                  // serve the chat UI at /web
  int64_t n_ctx = 4096;             // positions of the KV cache (--cache_lens)
  int64_t max_new_tokens = -1;      // cap and default for a request's tokens; < 0: the context
  int64_t max_prompt_tokens = 0;    // longest prompt accepted; 0: n_ctx - 1
  size_t max_body_bytes = 8 << 20;  // larger request bodies get 413
  size_t max_queue = 32;            // requests waiting besides the running one; more get 503
  int http_threads = 64;            // connections served at once (waiting ones included)
  int64_t chunk_size = 512;         // prefill chunk
  std::string model_name;           // the id clients use; default: the model file's name
  std::string chat_template_file;   // replaces the model's chat template
};

struct ServerState {
  ServerState(const ServerOptions& o, engine::Model& m, cpu::ThreadPool& pool, double load_s);

  ServerOptions opt;
  engine::Model& model;
  engine::Generator generator;
  engine::FairQueue queue;
  Metrics metrics;
  std::string model_id;
  int64_t created = 0;  // unix seconds when the server started
  double load_seconds = 0;
  ToolCallFormat tool_format = ToolCallFormat::kNone;

  const models::Tokenizer& tokenizer() const { return *model.tokenizer; }
  int64_t max_prompt_tokens() const;
  // Accepts the served id, the id with Ollama's ":latest", and absent names.
  bool is_served_model(const std::string& name) const;
};

}  // namespace kt::server
