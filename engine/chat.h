#pragma once
// A conversation with a model: the message history rendered through the model's chat
// template, the KV cache reused for the part of the prompt that did not change since the last
// turn, and a streamed reply with timing.
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "backends/cpu/thread_pool.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/session.h"

namespace kt::engine {

struct ChatOptions {
  SamplerParams sampler;
  int64_t max_new_tokens = 1000;
  int64_t n_ctx = 4096;
  int64_t chunk_size = 512;  // prefill chunk (KTransformers' --chunk_size)
  bool force_think = false;  // start every reply inside "<think>\n" (R1-style models)
};

struct TurnStats {
  int64_t prompt_tokens = 0;  // the whole rendered conversation
  int64_t reused_tokens = 0;  // of those, already in the KV cache
  int64_t generated_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
  std::string stop;  // "eos", "length", "context"
  double prefill_tok_s() const;
  double decode_tok_s() const;
};

class Chat {
 public:
  // The model must have a tokenizer and a chat template (Model::load provides both when the
  // files carry a tokenizer); throws kt::Error otherwise.
  Chat(const Model& model, cpu::ThreadPool& pool, ChatOptions opt);

  // Adds the user's message, streams the reply's text to on_text as it is decoded (never a
  // broken UTF-8 character), adds the reply to the history and returns the turn's figures.
  TurnStats send(const std::string& user, const std::function<void(std::string_view)>& on_text);
  // Continues `text` as plain text, BOS first, outside the conversation: for base
  // (pre-trained) models, which know no chat format. The history is left as it is.
  TurnStats complete(const std::string& text, const std::function<void(std::string_view)>& on_text);
  void set_system(const std::string& system);  // replaces the system message; clears
  void clear();                                // forgets the conversation (keeps the system)
  const nlohmann::ordered_json& history() const { return messages_; }

 private:
  std::vector<int32_t> prompt_tokens() const;
  // Evaluates prompt (reusing the cached prefix it shares) and samples the reply into *reply.
  TurnStats generate(const std::vector<int32_t>& prompt,
                     const std::function<void(std::string_view)>& on_text, std::string* reply);

  const Model& model_;
  ChatOptions opt_;
  Session session_;
  Sampler sampler_;
  nlohmann::ordered_json messages_ = nlohmann::ordered_json::array();
  std::string system_;
  std::vector<int32_t> cached_;  // the tokens the session's KV cache holds, in order
};

}  // namespace kt::engine
