#pragma once
// Chat requests to prompt tokens: the OpenAI-style messages checked (roles, content as text or
// text parts), rendered through the model's chat template with the request's tools, and
// tokenized with BOS added only when the template did not write it.
#include <cstdint>
#include <vector>

#include "frontends/server/json_fields.h"
#include "frontends/server/server_state.h"

namespace kt::server {

// Messages as the template wants them: content flattened to a string where it was a list of
// text parts. Throws ApiError 400 naming the message index and field at fault.
json normalize_messages(const json& messages);

// Renders and tokenizes. tools: null or the request's array. Template errors (a template's
// raise_exception, say "roles must alternate") are 400s with the template's message.
std::vector<int32_t> chat_prompt_tokens(const ServerState& s, const json& messages,
                                        const json& tools, bool add_generation_prompt = true);
std::string render_chat(const ServerState& s, const json& messages, const json& tools,
                        bool add_generation_prompt = true);

}  // namespace kt::server
