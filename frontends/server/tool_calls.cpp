#include "frontends/server/tool_calls.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <utility>

namespace kt::server {
namespace {

// ordered_json keeps the model's key order when arguments are re-serialized.
using ojson = nlohmann::ordered_json;

// Markers, byte-exact from the templates (｜ is U+FF5C, ▁ is U+2581).
constexpr std::string_view kHermesBegin = "<tool_call>";
constexpr std::string_view kHermesEnd = "</tool_call>";
constexpr std::string_view kDsCallsBegin = "<｜tool▁calls▁begin｜>";
constexpr std::string_view kDsCallsEnd = "<｜tool▁calls▁end｜>";
constexpr std::string_view kDsCallBegin = "<｜tool▁call▁begin｜>";
constexpr std::string_view kDsCallEnd = "<｜tool▁call▁end｜>";
constexpr std::string_view kDsSep = "<｜tool▁sep｜>";

constexpr std::array<std::string_view, 1> kHermesMarkers = {kHermesBegin};
constexpr std::array<std::string_view, 2> kDsMarkers = {kDsCallsBegin, kDsCallBegin};

std::vector<std::string_view> begin_markers(ToolCallFormat fmt) {
  switch (fmt) {
    case ToolCallFormat::kHermes:
      return {kHermesMarkers.begin(), kHermesMarkers.end()};
    case ToolCallFormat::kDeepSeekV3:
    case ToolCallFormat::kDeepSeekV31:
      return {kDsMarkers.begin(), kDsMarkers.end()};
    case ToolCallFormat::kNone:
      break;
  }
  return {};
}

bool contains(std::string_view s, std::string_view what) {
  return s.find(what) != std::string_view::npos;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool all_space(std::string_view s) {
  return trim(s).empty();
}

size_t skip_space(std::string_view s, size_t pos) {
  while (pos < s.size() && is_space(s[pos])) ++pos;
  return pos;
}

std::optional<ojson> parse_json(std::string_view s) {
  ojson j = ojson::parse(s.begin(), s.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

// The JSON text of an object for ToolCall::arguments, or nullopt if `a` is not usable as one.
// null (or absent) means no arguments.
std::optional<std::string> arguments_text(const ojson* a) {
  if (a == nullptr || a->is_null()) return std::string("{}");
  if (a->is_object()) return a->dump(-1, ' ', false, ojson::error_handler_t::replace);
  if (a->is_string()) {
    const auto& s = a->get_ref<const std::string&>();
    auto inner = parse_json(s);
    if (inner && inner->is_object()) return s;
  }
  return std::nullopt;
}

// A function name: non-empty, no whitespace or control characters.
bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  return std::none_of(name.begin(), name.end(),
                      [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
}

std::optional<ToolCall> make_call(std::string_view name, const ojson* args) {
  if (!valid_name(name)) return std::nullopt;
  auto text = arguments_text(args);
  if (!text) return std::nullopt;
  return ToolCall{new_tool_call_id(), std::string(name), std::move(*text)};
}

// A span of the reply taken by the tool calls: removed from content.
struct Span {
  size_t begin, end;
};

// Joins the text outside the spans (sorted, disjoint). See parse_tool_calls for the rules.
std::string content_outside(std::string_view text, const std::vector<Span>& spans) {
  if (spans.empty()) return std::string(text);
  std::string out(text.substr(0, spans.front().begin));
  for (size_t i = 0; i < spans.size(); ++i) {
    size_t from = spans[i].end;
    size_t to = i + 1 < spans.size() ? spans[i + 1].begin : text.size();
    std::string_view piece = text.substr(from, to - from);
    if (!all_space(piece)) out.append(piece);
  }
  while (!out.empty() && is_space(out.back())) out.pop_back();
  return out;
}

// ---- Hermes ----------------------------------------------------------------------------------

// Body of one <tool_call>: {"name": ..., "arguments": ...} ("parameters" accepted for arguments).
std::optional<ToolCall> parse_hermes_body(std::string_view body) {
  auto j = parse_json(trim(body));
  if (!j || !j->is_object()) return std::nullopt;
  auto name = j->find("name");
  if (name == j->end() || !name->is_string()) return std::nullopt;
  const ojson* args = nullptr;
  if (auto a = j->find("arguments"); a != j->end()) {
    args = &*a;
  } else if (auto p = j->find("parameters"); p != j->end()) {
    args = &*p;
  }
  return make_call(name->get_ref<const std::string&>(), args);
}

ParsedReply parse_hermes(std::string_view text) {
  ParsedReply r;
  std::vector<Span> spans;
  size_t pos = 0;
  while (true) {
    size_t b = text.find(kHermesBegin, pos);
    if (b == std::string_view::npos) break;
    size_t body = b + kHermesBegin.size();
    size_t e = text.find(kHermesEnd, body);
    size_t next = text.find(kHermesBegin, body);
    size_t body_end, span_end;
    if (e != std::string_view::npos && (next == std::string_view::npos || e < next)) {
      body_end = e;
      span_end = e + kHermesEnd.size();
    } else {  // unterminated: the body runs to the next call or the end of the reply
      body_end = next == std::string_view::npos ? text.size() : next;
      span_end = body_end;
    }
    if (auto call = parse_hermes_body(text.substr(body, body_end - body))) {
      r.calls.push_back(std::move(*call));
      spans.push_back({b, span_end});
    }
    pos = span_end;
  }
  r.content = content_outside(text, spans);
  return r;
}

// ---- DeepSeek --------------------------------------------------------------------------------

// Strips a ```json ... ``` fence (either end may be missing) around the arguments.
std::string_view strip_fence(std::string_view s) {
  s = trim(s);
  if (s.starts_with("```")) {
    size_t nl = s.find('\n');
    // "```json{...}" without a newline: drop the fence and a language tag made of letters.
    if (nl == std::string_view::npos) {
      size_t i = 3;
      while (i < s.size() && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z'))) ++i;
      s.remove_prefix(i);
    } else {
      s.remove_prefix(nl + 1);
    }
  }
  s = trim(s);
  if (s.ends_with("```")) s.remove_suffix(3);
  return trim(s);
}

std::optional<ToolCall> ds_call(std::string_view name, std::string_view args_text) {
  auto args = parse_json(strip_fence(args_text));
  if (!args) return std::nullopt;
  return make_call(trim(name), &*args);
}

// Body between <｜tool▁call▁begin｜> and <｜tool▁call▁end｜>, in either shape:
//   V3:   function<｜tool▁sep｜>NAME\n```json\nARGS\n```
//   V3.1: NAME<｜tool▁sep｜>ARGS
std::optional<ToolCall> parse_ds_body(std::string_view body) {
  size_t sep = body.find(kDsSep);
  if (sep == std::string_view::npos) return std::nullopt;
  std::string_view head = trim(body.substr(0, sep));
  std::string_view rest = body.substr(sep + kDsSep.size());
  if (head == "function") {
    // V3 shape unless what follows the separator is already the arguments (a V3.1 call of a
    // function that happens to be named "function").
    std::string_view r = trim(rest);
    if (!r.empty() && r.front() != '{' && r.front() != '"' && r.front() != '`') {
      size_t name_end = r.find_first_of("\n`{");
      if (name_end == std::string_view::npos) return std::nullopt;
      return ds_call(r.substr(0, name_end), r.substr(name_end));
    }
  }
  return ds_call(head, rest);
}

ParsedReply parse_deepseek(std::string_view text) {
  constexpr size_t npos = std::string_view::npos;
  ParsedReply r;
  std::vector<Span> spans;
  size_t pos = 0;
  while (true) {
    size_t s = tool_call_start(text.substr(pos), ToolCallFormat::kDeepSeekV3);
    if (s == npos) break;
    s += pos;
    const bool section = text.substr(s).starts_with(kDsCallsBegin);
    size_t cur = section ? s + kDsCallsBegin.size() : s;
    std::vector<Span> call_spans;
    while (true) {
      size_t w = skip_space(text, cur);
      if (!text.substr(w).starts_with(kDsCallBegin)) break;
      size_t body = w + kDsCallBegin.size();
      // The call ends at its end marker or, unterminated, at the next marker or the reply's end.
      size_t limit = std::min({text.find(kDsCallBegin, body), text.find(kDsCallsEnd, body),
                               text.find(kDsCallsBegin, body), text.size()});
      size_t e = text.find(kDsCallEnd, body);
      size_t body_end = e < limit ? e : limit;
      size_t call_end = e < limit ? e + kDsCallEnd.size() : limit;
      if (auto call = parse_ds_body(text.substr(body, body_end - body))) {
        r.calls.push_back(std::move(*call));
        call_spans.push_back({w, call_end});
      }
      cur = call_end;
    }
    size_t after = cur;
    size_t w = skip_space(text, cur);
    const bool closed = section && text.substr(w).starts_with(kDsCallsEnd);
    if (closed) after = w + kDsCallsEnd.size();
    if (section && !call_spans.empty()) {
      // Valid calls take the section markers with them; malformed ones stay in content.
      spans.push_back({s, s + kDsCallsBegin.size()});
      spans.insert(spans.end(), call_spans.begin(), call_spans.end());
      if (closed) spans.push_back({w, after});
    } else {
      spans.insert(spans.end(), call_spans.begin(), call_spans.end());
    }
    pos = std::max(after, s + 1);
  }
  r.content = content_outside(text, spans);
  return r;
}

uint64_t mix64(uint64_t x) {  // splitmix64's finalizer: a bijection on 64-bit values
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

uint64_t process_salt() {
  uint64_t salt =
      static_cast<uint64_t>(std::chrono::high_resolution_clock::now().time_since_epoch().count());
  try {
    std::random_device rd;
    salt ^= (static_cast<uint64_t>(rd()) << 32) ^ rd();
  } catch (...) {
    // No entropy source: the clock alone still gives ids that never repeat within the process.
  }
  return salt;
}

}  // namespace

ToolCallFormat detect_tool_call_format(std::string_view src) {
  if (contains(src, kDsCallsBegin) || contains(src, kDsCallBegin)) {
    std::string function_sep = std::string("function") + std::string(kDsSep);
    if (contains(src, "```json") || contains(src, function_sep)) return ToolCallFormat::kDeepSeekV3;
    if (contains(src, kDsSep)) return ToolCallFormat::kDeepSeekV31;
    return ToolCallFormat::kDeepSeekV3;
  }
  if (contains(src, kHermesBegin)) return ToolCallFormat::kHermes;
  return ToolCallFormat::kNone;
}

std::string_view tool_call_format_name(ToolCallFormat fmt) {
  switch (fmt) {
    case ToolCallFormat::kHermes:
      return "hermes";
    case ToolCallFormat::kDeepSeekV3:
      return "deepseek_v3";
    case ToolCallFormat::kDeepSeekV31:
      return "deepseek_v3.1";
    case ToolCallFormat::kNone:
      break;
  }
  return "none";
}

ParsedReply parse_tool_calls(std::string_view text, ToolCallFormat fmt) {
  switch (fmt) {
    case ToolCallFormat::kHermes:
      return parse_hermes(text);
    case ToolCallFormat::kDeepSeekV3:
    case ToolCallFormat::kDeepSeekV31:
      return parse_deepseek(text);
    case ToolCallFormat::kNone:
      break;
  }
  return ParsedReply{std::string(text), {}};
}

size_t tool_call_start(std::string_view text, ToolCallFormat fmt) {
  size_t best = std::string_view::npos;
  for (std::string_view m : begin_markers(fmt)) best = std::min(best, text.find(m));
  return best;
}

size_t partial_marker_suffix(std::string_view text, ToolCallFormat fmt) {
  size_t best = 0;
  for (std::string_view m : begin_markers(fmt)) {
    for (size_t len = std::min(text.size(), m.size() - 1); len > best; --len) {
      if (m.starts_with(text.substr(text.size() - len))) {
        best = len;
        break;
      }
    }
  }
  return best;
}

std::string new_tool_call_id() {
  static const uint64_t salt = process_salt();
  static std::atomic<uint64_t> counter{0};
  uint64_t v = mix64(counter.fetch_add(1, std::memory_order_relaxed) + salt);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "call_";
  for (int shift = 60; shift >= 0; shift -= 4) id.push_back(kHex[(v >> shift) & 0xf]);
  return id;
}

}  // namespace kt::server
