#include "frontends/server/chat_prompt.h"

#include "frontends/server/api_error.h"
#include "tensor/error.h"

namespace kt::server {

json normalize_messages(const json& messages) {
  if (!messages.is_array()) throw bad_request("'messages' must be an array", "messages");
  if (messages.empty()) throw bad_request("'messages' must not be empty", "messages");
  json out = json::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!m.is_object())
      throw bad_request(at + " must be an object, got " + type_name(m), "messages");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string())
      throw bad_request(at + ".role must be a string", "messages");
    const std::string r = role->get<std::string>();
    if (r != "system" && r != "user" && r != "assistant" && r != "tool" && r != "developer" &&
        r != "function")
      throw bad_request(
          at + ".role '" + r + "' is not one of system, developer, user, assistant, tool",
          "messages");
    json n = m;
    if (r == "developer") n["role"] = "system";  // OpenAI's newer name for the system role
    auto content = m.find("content");
    if (content == m.end() || content->is_null()) {
      if (r != "assistant" || !m.contains("tool_calls"))
        throw bad_request(at + ".content is missing", "messages");
      n["content"] = "";
    } else if (content->is_array()) {
      std::string text;
      for (const json& part : *content) {
        if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
          throw bad_request(at + ".content parts must be objects with a 'type'", "messages");
        const std::string type = part["type"].get<std::string>();
        if (type != "text")
          throw ApiError(400, "invalid_request_error",
                         at + ": content of type '" + type + "' is not supported (text only)",
                         "messages");
        if (!part.contains("text") || !part["text"].is_string())
          throw bad_request(at + ": a text part needs a string 'text'", "messages");
        text += part["text"].get<std::string>();
      }
      n["content"] = text;
    } else if (!content->is_string()) {
      throw bad_request(
          at + ".content must be a string or an array of parts, got " + type_name(*content),
          "messages");
    }
    // Templates (Qwen's, DeepSeek's) read arguments as text or as an object; clients send text.
    if (auto calls = n.find("tool_calls"); calls != n.end() && !calls->is_array())
      throw bad_request(at + ".tool_calls must be an array", "messages");
    out.push_back(std::move(n));
  }
  return out;
}

std::string render_chat(const ServerState& s, const json& messages, const json& tools,
                        bool add_generation_prompt) {
  if (!s.model.chat_template) throw bad_request("the model has no chat template");
  try {
    return s.model.chat_template->render(normalize_messages(messages), tools,
                                         add_generation_prompt);
  } catch (const Error& e) {
    throw bad_request(std::string("the chat template refused the conversation: ") + e.what(),
                      "messages");
  }
}

std::vector<int32_t> chat_prompt_tokens(const ServerState& s, const json& messages,
                                        const json& tools, bool add_generation_prompt) {
  return s.tokenizer().encode_chat_prompt(render_chat(s, messages, tools, add_generation_prompt));
}

}  // namespace kt::server
