#include "frontends/server/server_state.h"

#include <ctime>
#include <filesystem>

namespace kt::server {

namespace {

std::string default_model_id(const engine::Model& m) {
  std::filesystem::path p(m.file ? m.file->name() : "model");
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // "folder/"
  std::string id = p.extension() == ".gguf" ? p.stem().string() : p.filename().string();
  return id.empty() ? "model" : id;
}

}  // namespace

ServerState::ServerState(const ServerOptions& o, engine::Model& m, cpu::ThreadPool& pool,
                         double load_s)
    : opt(o),
      model(m),
      generator(m, pool, o.n_ctx, o.chunk_size),
      queue(o.max_queue),
      model_id(o.model_name.empty() ? default_model_id(m) : o.model_name),
      created(int64_t(std::time(nullptr))),
      load_seconds(load_s) {
  if (m.chat_template) tool_format = detect_tool_call_format(m.chat_template->source());
}

int64_t ServerState::max_prompt_tokens() const {
  const int64_t most = opt.n_ctx - 1;
  return opt.max_prompt_tokens > 0 ? std::min(opt.max_prompt_tokens, most) : most;
}

bool ServerState::is_served_model(const std::string& name) const {
  return name.empty() || name == model_id || name == model_id + ":latest";
}

}  // namespace kt::server
