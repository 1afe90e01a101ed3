#include "engine/chat.h"

#include <chrono>

#include "tensor/error.h"

namespace kt::engine {

using Clock = std::chrono::steady_clock;

double TurnStats::prefill_tok_s() const {
  const int64_t n = prompt_tokens - reused_tokens;
  return prefill_seconds > 0 ? double(n) / prefill_seconds : 0.0;
}

double TurnStats::decode_tok_s() const {
  return decode_seconds > 0 ? double(generated_tokens) / decode_seconds : 0.0;
}

Chat::Chat(const Model& model, cpu::ThreadPool& pool, ChatOptions opt)
    : model_(model), opt_(opt), session_(*model.arch, pool, opt.n_ctx), sampler_(opt.sampler) {
  if (!model.tokenizer)
    throw Error("the model has no tokenizer: give a folder with tokenizer.json");
  if (!model.chat_template) throw Error("the model has no chat template");
}

void Chat::set_system(const std::string& system) {
  system_ = system;
  clear();
}

void Chat::clear() {
  messages_ = nlohmann::ordered_json::array();
  if (!system_.empty()) messages_.push_back({{"role", "system"}, {"content", system_}});
}

std::vector<int32_t> Chat::prompt_tokens() const {
  std::string prompt = model_.chat_template->render(messages_, nullptr, true);
  if (opt_.force_think) prompt += "<think>\n";
  return model_.tokenizer->encode_chat_prompt(prompt);
}

TurnStats Chat::send(const std::string& user,
                     const std::function<void(std::string_view)>& on_text) {
  messages_.push_back({{"role", "user"}, {"content", user}});
  std::vector<int32_t> prompt;
  try {
    prompt = prompt_tokens();
  } catch (...) {
    messages_.erase(messages_.end() - 1);  // a template error leaves the history as it was
    throw;
  }
  if (int64_t(prompt.size()) >= session_.n_ctx()) {
    messages_.erase(messages_.end() - 1);
    throw Error("the conversation (" + std::to_string(prompt.size()) +
                " tokens) does not fit the context of " + std::to_string(session_.n_ctx()) +
                " tokens: /clear it or raise the context size");
  }
  std::string reply = opt_.force_think ? "<think>\n" : "";  // the prompt ends inside it
  if (opt_.force_think) on_text(reply);
  TurnStats st = generate(prompt, on_text, &reply);
  messages_.push_back({{"role", "assistant"}, {"content", reply}});
  return st;
}

TurnStats Chat::complete(const std::string& text,
                         const std::function<void(std::string_view)>& on_text) {
  const models::Tokenizer& tok = *model_.tokenizer;
  const std::vector<int32_t> prompt =
      tok.encode(text, /*add_special=*/true, /*parse_special=*/true);
  if (prompt.empty()) throw Error("nothing to continue: the text has no tokens");
  if (int64_t(prompt.size()) >= session_.n_ctx())
    throw Error("the text (" + std::to_string(prompt.size()) +
                " tokens) does not fit the context of " + std::to_string(session_.n_ctx()) +
                " tokens: raise the context size");
  std::string reply;
  return generate(prompt, on_text, &reply);
}

TurnStats Chat::generate(const std::vector<int32_t>& prompt,
                         const std::function<void(std::string_view)>& on_text,
                         std::string* reply_out) {
  TurnStats st;
  st.prompt_tokens = int64_t(prompt.size());
  // Keep the cached prefix that the new prompt shares; at least one token is evaluated so that
  // there are logits to sample from.
  size_t keep = 0;
  while (keep < cached_.size() && keep < prompt.size() && cached_[keep] == prompt[keep]) ++keep;
  if (keep == prompt.size()) --keep;
  session_.truncate(int64_t(keep));
  cached_.resize(keep);
  st.reused_tokens = int64_t(keep);

  const models::Tokenizer& tok = *model_.tokenizer;
  sampler_.reset();
  for (int32_t t : prompt) sampler_.accept(t);
  auto t0 = Clock::now();
  std::vector<float> logits = session_.eval(
      std::span<const int32_t>(prompt.data() + keep, prompt.size() - keep), opt_.chunk_size);
  cached_.insert(cached_.end(), prompt.begin() + int64_t(keep), prompt.end());
  st.prefill_seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  models::StreamDecoder decoder(tok, /*render_special=*/false);
  std::string& reply = *reply_out;  // appended to
  t0 = Clock::now();
  st.stop = "length";
  for (int64_t i = 0; i < opt_.max_new_tokens; ++i) {
    const int32_t next = sampler_.sample(logits.data(), int64_t(logits.size()));
    if (tok.is_eog(next)) {
      st.stop = "eos";
      break;
    }
    sampler_.accept(next);
    ++st.generated_tokens;
    const std::string text = decoder.push(next);
    reply += text;
    if (!text.empty()) on_text(text);
    if (session_.n_past() >= session_.n_ctx()) {
      st.stop = "context";
      break;
    }
    logits = session_.eval(std::span<const int32_t>(&next, 1));
    cached_.push_back(next);
  }
  const std::string rest = decoder.flush();
  reply += rest;
  if (!rest.empty()) on_text(rest);
  st.decode_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return st;
}

}  // namespace kt::engine
