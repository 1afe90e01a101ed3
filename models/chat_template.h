#pragma once
// Chat templates: turn a conversation (OpenAI-style messages, optional tool definitions) into
// the prompt text a model was trained on, by running the model's own Jinja2 template. Output
// is byte-identical to Hugging Face transformers' apply_chat_template (jinja2 with
// trim_blocks, lstrip_blocks, loop controls, raise_exception, strftime_now, and a tojson that
// keeps non-ASCII text and key order).
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "models/jinja_eval.h"

namespace kt::tensor {
class GgufFile;
}

namespace kt::models {

class ChatTemplate {
 public:
  // Parses `source`. `name` identifies the template in messages (a file, "GGUF:key", ...).
  // Throws kt::Error "template NAME, line L: what" on a syntax error.
  explicit ChatTemplate(std::string source, std::string name = "chat_template");

  // The GGUF key tokenizer.chat_template; special tokens (bos_token, eos_token, unk_token,
  // pad_token) come from the GGUF vocabulary. Without a template: the family's built-in format
  // where kt knows it (gemma*: Gemma's turns), else ChatML; with a warning either way.
  static ChatTemplate from_gguf(const tensor::GgufFile& gguf);
  // The key chat_template of a Hugging Face tokenizer_config.json: a string, or a list of
  // {name, template} of which "default" is used. Special tokens come from the same file.
  // Without a template: ChatML and a warning. Throws kt::Error on unreadable files.
  static ChatTemplate from_tokenizer_config(const std::string& path);
  // The ChatML fallback (<|im_start|>role\ncontent<|im_end|>\n) used when a model has none.
  static ChatTemplate chatml(std::string name = "chatml");

  // Renders `messages` (array of {role, content, reasoning_content?, tool_calls?, ...}).
  // `tools` is null or an array of tool definitions; `extra` (an object) adds or overrides
  // template variables (bos_token, enable_thinking, date_string, ...). Pass ordered_json to
  // keep key order, which tojson output depends on. Throws kt::Error "template NAME, line L:
  // what" for runtime errors, including a template's raise_exception("message").
  std::string render(const nlohmann::ordered_json& messages,
                     const nlohmann::ordered_json& tools = nullptr,
                     bool add_generation_prompt = true,
                     const nlohmann::ordered_json& extra = nlohmann::ordered_json::object()) const;

  const std::string& name() const { return name_; }
  const std::string& source() const { return source_; }
  bool is_fallback() const { return !warning_.empty(); }
  // Why a built-in template is in use (also printed to stderr once); empty otherwise.
  const std::string& warning() const { return warning_; }

  // Variables every render gets (special tokens from the model); render's `extra` wins.
  const nlohmann::ordered_json& variables() const { return variables_; }
  void set_variable(const std::string& key, nlohmann::ordered_json value);

  // Time source for strftime_now (local time); tests inject a fixed date.
  void set_clock(jinja::Clock clock) { clock_ = std::move(clock); }
  void set_limits(const jinja::RenderLimits& limits) { limits_ = limits; }

 private:
  static ChatTemplate fallback(const std::string& why);
  static ChatTemplate builtin(const char* source, const std::string& name, const std::string& why);

  std::string name_;
  std::string source_;
  std::shared_ptr<const jinja::Template> tmpl_;
  nlohmann::ordered_json variables_ = nlohmann::ordered_json::object();
  std::string warning_;
  jinja::Clock clock_;
  jinja::RenderLimits limits_;
};

}  // namespace kt::models
