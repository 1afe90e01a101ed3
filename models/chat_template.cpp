#include "models/chat_template.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include "models/jinja_parser.h"
#include "tensor/error.h"
#include "tensor/gguf.h"

namespace kt::models {

namespace {

// transformers' former default template, used by llama.cpp and others for models without one.
constexpr const char* kChatML =
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// Gemma 3's turn format for files that carry no template (the PyPI Gemma 3 270M GGUF has
// none): the text-only part of google/gemma-3-*-it's template. A system message is prefixed
// to the first user turn, the assistant's role is "model", turns end with <end_of_turn>.
constexpr const char* kGemma =
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if message['role'] == 'assistant' -%}{%- set role = 'model' -%}"
    "{%- else -%}{%- set role = message['role'] -%}{%- endif -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}"
    "{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}";

std::string error_message(const std::string& name, const jinja::TemplateError& e) {
  std::string where = "template " + name;
  if (e.line() > 0) where += ", line " + std::to_string(e.line());
  return where + ": " + e.what();
}

// A special token in tokenizer_config.json: a string, or an AddedToken object {content, ...}.
std::optional<std::string> token_text(const nlohmann::ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  return std::nullopt;
}

}  // namespace

ChatTemplate::ChatTemplate(std::string source, std::string name)
    : name_(std::move(name)), source_(std::move(source)) {
  try {
    auto tmpl = jinja::parse_template(source_);
    jinja::validate(*tmpl);
    tmpl_ = std::move(tmpl);
  } catch (const jinja::TemplateError& e) {
    throw Error(error_message(name_, e));
  }
}

ChatTemplate ChatTemplate::chatml(std::string name) {
  return ChatTemplate(kChatML, std::move(name));
}

ChatTemplate ChatTemplate::fallback(const std::string& why) {
  return builtin(kChatML, "chatml", why);
}

ChatTemplate ChatTemplate::builtin(const char* source, const std::string& name,
                                   const std::string& why) {
  ChatTemplate t(source, name);
  t.warning_ = why + "; using the " + (name == "chatml" ? "ChatML" : name) + " template";
  std::cerr << "kt: warning: " << t.warning_ << "\n";
  return t;
}

void ChatTemplate::set_variable(const std::string& key, nlohmann::ordered_json value) {
  variables_[key] = std::move(value);
}

ChatTemplate ChatTemplate::from_gguf(const tensor::GgufFile& gguf) {
  auto key = gguf.find("tokenizer.chat_template");
  const std::string arch(gguf.get_string("general.architecture", ""));
  const std::string why = gguf.name() + " has no tokenizer.chat_template";
  // A family whose chat format is known gets it rather than ChatML, which its vocabulary
  // does not have special tokens for (llama.cpp picks built-in formats the same way).
  ChatTemplate t =
      key ? ChatTemplate(std::string(key->as_string()), gguf.name() + ":tokenizer.chat_template")
      : arch.starts_with("gemma") ? builtin(kGemma, "gemma (built-in)", why)
                                  : fallback(why);
  auto tokens = gguf.find("tokenizer.ggml.tokens");
  if (!tokens || !tokens->is_array()) return t;
  auto strings = tokens->as_strings();
  const std::pair<const char*, const char*> kSpecial[] = {
      {"tokenizer.ggml.bos_token_id", "bos_token"},
      {"tokenizer.ggml.eos_token_id", "eos_token"},
      {"tokenizer.ggml.unknown_token_id", "unk_token"},
      {"tokenizer.ggml.padding_token_id", "pad_token"},
  };
  for (const auto& [id_key, var] : kSpecial) {
    auto id = gguf.find(id_key);
    if (!id) continue;
    uint64_t i = id->as_u64();
    if (i < strings.size()) t.variables_[var] = std::string(strings[i]);
  }
  return t;
}

ChatTemplate ChatTemplate::from_tokenizer_config(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open");
  std::stringstream ss;
  ss << f.rdbuf();
  nlohmann::ordered_json cfg;
  try {
    cfg = nlohmann::ordered_json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": invalid JSON (" + e.what() + ")");
  }
  if (!cfg.is_object()) throw Error(path + ": expected a JSON object");

  std::optional<ChatTemplate> t;
  auto it = cfg.find("chat_template");
  if (it == cfg.end() || it->is_null()) {
    t = fallback(path + " has no chat_template");
  } else if (it->is_string()) {
    t = ChatTemplate(it->get<std::string>(), path + ":chat_template");
  } else if (it->is_array()) {
    for (const auto& entry : *it) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
          entry["template"].is_string()) {
        t = ChatTemplate(entry["template"].get<std::string>(), path + ":chat_template[default]");
      }
    }
    if (!t) throw Error(path + ": chat_template is a list without a \"default\" template");
  } else {
    throw Error(path + ": chat_template must be a string or a list of {name, template}");
  }

  // transformers passes the tokenizer's special_tokens_map: the set special tokens only.
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                          "cls_token", "mask_token"}) {
    auto v = cfg.find(key);
    if (v == cfg.end()) continue;
    if (auto text = token_text(*v)) t->variables_[key] = *text;
  }
  auto extra = cfg.find("additional_special_tokens");
  if (extra != cfg.end() && extra->is_array() && !extra->empty()) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& v : *extra) {
      if (auto text = token_text(v)) list.push_back(*text);
    }
    t->variables_["additional_special_tokens"] = std::move(list);
  }
  return std::move(*t);
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages,
                                 const nlohmann::ordered_json& tools, bool add_generation_prompt,
                                 const nlohmann::ordered_json& extra) const {
  if (!messages.is_array()) throw Error("template " + name_ + ": messages must be a JSON array");
  if (!tools.is_null() && !tools.is_array()) {
    throw Error("template " + name_ + ": tools must be null or a JSON array");
  }
  if (!extra.is_object()) throw Error("template " + name_ + ": extra variables must be an object");
  using jinja::Value;
  // The variables transformers passes: messages, tools, documents, add_generation_prompt,
  // then the special tokens and caller's keyword arguments.
  std::vector<std::pair<std::string, Value>> vars;
  vars.emplace_back("messages", Value::from_json(messages));
  vars.emplace_back("tools", tools.is_null() ? Value::none() : Value::from_json(tools));
  vars.emplace_back("documents", Value::none());
  vars.emplace_back("add_generation_prompt", Value(add_generation_prompt));
  auto set = [&](const std::string& k, const nlohmann::ordered_json& v) {
    for (auto& kv : vars) {
      if (kv.first == k) {
        kv.second = Value::from_json(v);
        return;
      }
    }
    vars.emplace_back(k, Value::from_json(v));
  };
  for (const auto& [k, v] : variables_.items()) set(k, v);
  for (const auto& [k, v] : extra.items()) set(k, v);

  jinja::Interp interp(*tmpl_, limits_, clock_);
  try {
    return interp.render(vars);
  } catch (const jinja::TemplateError& e) {
    throw Error(error_message(name_, e));
  } catch (const std::bad_alloc&) {
    throw Error("template " + name_ + ": out of memory while rendering");
  } catch (const std::length_error&) {
    throw Error("template " + name_ + ": output too large");
  }
}

}  // namespace kt::models
