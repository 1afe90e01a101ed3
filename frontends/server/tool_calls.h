// Tool calls in model output: which format a chat template teaches the model, and how to split a
// reply written in that format into plain content and OpenAI-style `tool_calls`.
//
// Formats (what the templates write for an assistant turn with tool calls, so what the models
// emit):
//   Hermes (Qwen2.5, Qwen3, ...):
//     <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>   (one block per call)
//   DeepSeek V3 / R1:
//     <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{...}\n```
//     <｜tool▁call▁end｜> ... <｜tool▁calls▁end｜>
//   DeepSeek V3.1:
//     <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{...}<｜tool▁call▁end｜> ...
//     <｜tool▁calls▁end｜>
// The DeepSeek parser accepts either call shape under both DeepSeek formats, so a template that
// is detected as the wrong DeepSeek generation still parses.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kt::server {

enum class ToolCallFormat { kNone, kHermes, kDeepSeekV3, kDeepSeekV31 };

// Picks the format from a chat template's source text: Qwen2.5/Qwen3 (and other Hermes-style)
// templates mention "<tool_call>"; DeepSeek V3/R1 templates "<｜tool▁calls▁begin｜>" with
// "<｜tool▁sep｜>" after "function" ("function<｜tool▁sep｜>" and ```json blocks) => kDeepSeekV3;
// DeepSeek V3.1 writes name<｜tool▁sep｜>arguments directly => kDeepSeekV31. Otherwise kNone.
ToolCallFormat detect_tool_call_format(std::string_view template_source);

// "none", "hermes", "deepseek_v3", "deepseek_v3.1" (for logs).
std::string_view tool_call_format_name(ToolCallFormat fmt);

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text of an object
};

struct ParsedReply {
  std::string content;
  std::vector<ToolCall> calls;
};

// Splits a complete reply into plain content and tool calls. Malformed calls (bad JSON, missing
// name) are left in content as text, never an exception. When no call parses, content == text.
// When some do, content is the text outside them (the text before the first call, plus any
// malformed calls or other non-blank text after it), with trailing whitespace removed.
// Arguments given as a JSON object are serialized compactly (key order kept); arguments given
// as a string holding a JSON object are kept as that string. ids: new_tool_call_id().
ParsedReply parse_tool_calls(std::string_view text, ToolCallFormat fmt);

// For streaming: the offset in `text` where a tool-call section begins (npos if none), and the
// length of the longest suffix of `text` that is a proper prefix of the format's begin marker
// (so the server can hold that text back until it knows). For DeepSeek both
// "<｜tool▁calls▁begin｜>" and a bare "<｜tool▁call▁begin｜>" count as begin markers.
size_t tool_call_start(std::string_view text, ToolCallFormat fmt);
size_t partial_marker_suffix(std::string_view text, ToolCallFormat fmt);

// "call_" + 16 hex digits; never repeats within the process (a counter through a bijective mix,
// salted per process so ids differ between runs).
std::string new_tool_call_id();

}  // namespace kt::server
