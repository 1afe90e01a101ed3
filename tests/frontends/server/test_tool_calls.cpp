// Tool-call parsing for the OpenAI server: format detection on the real chat templates, splitting
// replies into content and tool_calls, and the streaming hold-back around begin markers.
//
// The sample replies below were produced by rendering an assistant turn with two tool calls
// (get_weather {"city": "Paris", "unit": "celsius"}, get_time {"tz": "Europe/Paris"}; arguments
// once as objects, once as JSON strings) through the real templates in testdata/templates/ and
// the DeepSeek-V3 tokenizer_config.json with Python jinja2 3.1 (HF-style tojson: json.dumps,
// ensure_ascii=False, keys unsorted), then cutting out the assistant's part after the generation
// prompt and before the end-of-turn token (<|im_end|> / <｜end▁of▁sentence｜>), which a server
// stops on. Content before the calls ("Let me check.") is pasted in where a template does not
// render it with tool calls (the R1 templates).
#include "frontends/server/tool_calls.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using kt::server::detect_tool_call_format;
using kt::server::new_tool_call_id;
using kt::server::parse_tool_calls;
using kt::server::ParsedReply;
using kt::server::partial_marker_suffix;
using kt::server::tool_call_start;
using kt::server::ToolCallFormat;

constexpr size_t npos = std::string_view::npos;

// Begin markers as the tests know them (copied from the template files; checked against them).
constexpr std::string_view kDsCallsBegin = "<｜tool▁calls▁begin｜>";
constexpr std::string_view kDsCallBegin = "<｜tool▁call▁begin｜>";
constexpr std::string_view kDsSep = "<｜tool▁sep｜>";

// ---- samples (see the header comment for how they were produced) -----------------------------

// Qwen3-0.6B template, arguments as objects (the generation prompt ends "<|im_start|>assistant\n";
// the model writes its think block itself).
constexpr std::string_view kQwen3 =
    "<think>\n\n</think>\n\nLet me check.\n<tool_call>\n{\"name\": \"get_weather\", "
    "\"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call>\n<tool_call>\n"
    "{\"name\": \"get_time\", \"arguments\": {\"tz\": \"Europe/Paris\"}}\n</tool_call>";

// Qwen2.5-7B-Instruct template, arguments as JSON strings, no content.
constexpr std::string_view kQwen25StringArgs =
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Paris\\\", "
    "\\\"unit\\\": \\\"celsius\\\"}\"}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", "
    "\"arguments\": \"{\\\"tz\\\": \\\"Europe/Paris\\\"}\"}\n</tool_call>";

// DeepSeek-V3.1 template, arguments as objects, after "<｜Assistant｜><think></think>".
constexpr std::string_view kV31 =
    "Let me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": "
    "\"Paris\", \"unit\": "
    "\"celsius\"}<｜tool▁call▁end｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>"
    "{\"tz\": \"Europe/Paris\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>";

// DeepSeek-V3.1 template, arguments as strings (the template's tojson quotes them).
constexpr std::string_view kV31StringArgs =
    "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>\"{\\\"city\\\": "
    "\\\"Paris\\\", \\\"unit\\\": "
    "\\\"celsius\\\"}\"<｜tool▁call▁end｜><｜tool▁call▁begin｜>get_time"
    "<｜tool▁sep｜>\"{\\\"tz\\\": \\\"Europe/Paris\\\"}\"<｜tool▁call▁end｜><｜tool▁calls▁end｜>";

// llama-cpp-deepseek-r1 and R1-Distill-Qwen-32B templates, arguments as objects (the DeepSeek-V3
// tokenizer_config template, which inserts arguments strings verbatim, renders the same from
// string arguments), with content pasted in front.
constexpr std::string_view kV3 =
    "Let me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n"
    "```json\n{\"city\": \"Paris\", \"unit\": \"celsius\"}\n```<｜tool▁call▁end｜>\n"
    "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{\"tz\": \"Europe/Paris\"}\n"
    "```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";

// R1-Distill-Qwen-32B template, arguments as strings (tojson quotes them inside the fence).
constexpr std::string_view kV3StringArgs =
    "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
    "\"{\\\"city\\\": \\\"Paris\\\", \\\"unit\\\": \\\"celsius\\\"}\"\n```<｜tool▁call▁end｜>\n"
    "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n\"{\\\"tz\\\": "
    "\\\"Europe/Paris\\\"}\"\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";

constexpr std::string_view kWeatherCompact = R"({"city":"Paris","unit":"celsius"})";
constexpr std::string_view kTimeCompact = R"({"tz":"Europe/Paris"})";
constexpr std::string_view kWeatherString = R"({"city": "Paris", "unit": "celsius"})";
constexpr std::string_view kTimeString = R"({"tz": "Europe/Paris"})";

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string testdata(const std::string& rel) {
  return std::string(KT_TESTDATA_DIR) + "/" + rel;
}

void expect_two_calls(const ParsedReply& r, std::string_view weather_args,
                      std::string_view time_args) {
  ASSERT_EQ(r.calls.size(), 2u);
  EXPECT_EQ(r.calls[0].name, "get_weather");
  EXPECT_EQ(r.calls[0].arguments, weather_args);
  EXPECT_EQ(r.calls[1].name, "get_time");
  EXPECT_EQ(r.calls[1].arguments, time_args);
  for (const auto& c : r.calls) {
    EXPECT_TRUE(c.id.starts_with("call_")) << c.id;
    EXPECT_GT(c.id.size(), 5u);
    EXPECT_TRUE(nlohmann::json::parse(c.arguments).is_object()) << c.arguments;
  }
  EXPECT_NE(r.calls[0].id, r.calls[1].id);
}

// ---- detection -------------------------------------------------------------------------------

struct TemplateCase {
  const char* file;
  ToolCallFormat want;
};

TEST(ToolCallFormat, DetectsRealTemplates) {
  const TemplateCase cases[] = {
      {"Qwen-Qwen3-0.6B.jinja", ToolCallFormat::kHermes},
      {"Qwen-Qwen2.5-7B-Instruct.jinja", ToolCallFormat::kHermes},
      {"deepseek-ai-DeepSeek-V3.1.jinja", ToolCallFormat::kDeepSeekV31},
      {"llama-cpp-deepseek-r1.jinja", ToolCallFormat::kDeepSeekV3},
      {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", ToolCallFormat::kDeepSeekV3},
      // Templates with other tool formats (or none) that this parser does not handle.
      {"google-gemma-2-2b-it.jinja", ToolCallFormat::kNone},
      {"meta-llama-Llama-3.1-8B-Instruct.jinja", ToolCallFormat::kNone},
      {"meta-llama-Llama-3.2-3B-Instruct.jinja", ToolCallFormat::kNone},
      {"microsoft-Phi-3.5-mini-instruct.jinja", ToolCallFormat::kNone},
      {"mistralai-Mistral-Nemo-Instruct-2407.jinja", ToolCallFormat::kNone},
      {"moonshotai-Kimi-K2.jinja", ToolCallFormat::kNone},
  };
  int found = 0;
  for (const auto& c : cases) {
    auto src = read_text(testdata(std::string("templates/") + c.file));
    if (!src) continue;
    ++found;
    EXPECT_EQ(detect_tool_call_format(*src), c.want) << c.file;
    if (c.want == ToolCallFormat::kDeepSeekV3 || c.want == ToolCallFormat::kDeepSeekV31) {
      // The markers the samples use are byte-exact those of the template.
      EXPECT_NE(src->find(kDsCallsBegin), npos) << c.file;
      EXPECT_NE(src->find(kDsCallBegin), npos) << c.file;
      EXPECT_NE(src->find(kDsSep), npos) << c.file;
    }
  }
  if (found == 0) GTEST_SKIP() << "no templates under " << KT_TESTDATA_DIR;
}

TEST(ToolCallFormat, DetectsDeepSeekV3TokenizerConfig) {
  auto text = read_text(testdata("tokenizers/deepseek_v3/tokenizer_config.json"));
  if (!text) GTEST_SKIP() << "no deepseek_v3 tokenizer_config.json";
  auto cfg = nlohmann::json::parse(*text);
  ASSERT_TRUE(cfg.contains("chat_template"));
  const auto src = cfg["chat_template"].get<std::string>();
  EXPECT_EQ(detect_tool_call_format(src), ToolCallFormat::kDeepSeekV3);
  EXPECT_NE(src.find(kDsCallsBegin), npos);
}

TEST(ToolCallFormat, DetectsFromSnippets) {
  EXPECT_EQ(detect_tool_call_format(""), ToolCallFormat::kNone);
  EXPECT_EQ(detect_tool_call_format("{{ messages }}"), ToolCallFormat::kNone);
  EXPECT_EQ(detect_tool_call_format("within <tool_call></tool_call> XML tags"),
            ToolCallFormat::kHermes);
  EXPECT_EQ(detect_tool_call_format(
                "'<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>' + name"),
            ToolCallFormat::kDeepSeekV3);
  EXPECT_EQ(detect_tool_call_format("'<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + "
                                    "tool['function']['name'] + '<｜tool▁sep｜>'"),
            ToolCallFormat::kDeepSeekV31);
  EXPECT_EQ(kt::server::tool_call_format_name(ToolCallFormat::kDeepSeekV31), "deepseek_v3.1");
}

// ---- parsing ---------------------------------------------------------------------------------

TEST(ParseToolCalls, HermesQwen3ObjectArguments) {
  auto r = parse_tool_calls(kQwen3, ToolCallFormat::kHermes);
  EXPECT_EQ(r.content, "<think>\n\n</think>\n\nLet me check.");
  expect_two_calls(r, kWeatherCompact, kTimeCompact);
}

TEST(ParseToolCalls, HermesStringArgumentsKeptAsString) {
  auto r = parse_tool_calls(kQwen25StringArgs, ToolCallFormat::kHermes);
  EXPECT_EQ(r.content, "");
  expect_two_calls(r, kWeatherString, kTimeString);
}

TEST(ParseToolCalls, HermesSingleCallAndOrderKept) {
  auto r = parse_tool_calls(
      "Sure.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"z\": 1, \"a\": [true, null], "
      "\"m\": {\"y\": \"é\"}}}\n</tool_call>",
      ToolCallFormat::kHermes);
  EXPECT_EQ(r.content, "Sure.");
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].name, "f");
  EXPECT_EQ(r.calls[0].arguments, R"({"z":1,"a":[true,null],"m":{"y":"é"}})");
}

TEST(ParseToolCalls, HermesMissingArgumentsIsEmptyObject) {
  auto r = parse_tool_calls("<tool_call>{\"name\": \"ping\"}</tool_call>", ToolCallFormat::kHermes);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].arguments, "{}");
  EXPECT_EQ(r.content, "");
}

TEST(ParseToolCalls, HermesMalformedStaysContent) {
  const std::string_view bad[] = {
      // bad JSON
      "Let me see.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": }\n"
      "</tool_call>",
      // missing name
      "<tool_call>\n{\"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
      // name not a string, arguments not an object
      "<tool_call>\n{\"name\": 3, \"arguments\": {}}\n</tool_call>",
      "<tool_call>\n{\"name\": \"f\", \"arguments\": [1, 2]}\n</tool_call>",
      "<tool_call>\n{\"name\": \"f\", \"arguments\": \"not json\"}\n</tool_call>",
      // not an object at all
      "<tool_call>\n[\"f\"]\n</tool_call>",
      "<tool_call>\n</tool_call>",
  };
  for (auto text : bad) {
    ParsedReply r;
    ASSERT_NO_THROW(r = parse_tool_calls(text, ToolCallFormat::kHermes));
    EXPECT_TRUE(r.calls.empty()) << text;
    EXPECT_EQ(r.content, text);
  }
}

TEST(ParseToolCalls, HermesMalformedNextToValidCall) {
  auto r = parse_tool_calls(
      "Hi.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {oops}}\n</tool_call>\n<tool_call>\n"
      "{\"name\": \"b\", \"arguments\": {}}\n</tool_call>",
      ToolCallFormat::kHermes);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].name, "b");
  EXPECT_EQ(r.content, "Hi.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {oops}}\n</tool_call>");
}

TEST(ParseToolCalls, HermesUnterminatedFinalCall) {
  // The model stopped at EOS before </tool_call>.
  auto r = parse_tool_calls(
      "Checking.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n</tool_call>\n"
      "<tool_call>\n{\"name\": \"b\", \"arguments\": {\"y\": 2}}\n",
      ToolCallFormat::kHermes);
  ASSERT_EQ(r.calls.size(), 2u);
  EXPECT_EQ(r.calls[1].name, "b");
  EXPECT_EQ(r.calls[1].arguments, R"({"y":2})");
  EXPECT_EQ(r.content, "Checking.");

  // Cut inside the JSON: not a call, everything stays content.
  const std::string_view cut = "Checking.\n<tool_call>\n{\"name\": \"b\", \"argum";
  auto c = parse_tool_calls(cut, ToolCallFormat::kHermes);
  EXPECT_TRUE(c.calls.empty());
  EXPECT_EQ(c.content, cut);
}

TEST(ParseToolCalls, DeepSeekV31ObjectArguments) {
  auto r = parse_tool_calls(kV31, ToolCallFormat::kDeepSeekV31);
  EXPECT_EQ(r.content, "Let me check.");
  expect_two_calls(r, kWeatherCompact, kTimeCompact);
}

TEST(ParseToolCalls, DeepSeekV31StringArguments) {
  auto r = parse_tool_calls(kV31StringArgs, ToolCallFormat::kDeepSeekV31);
  EXPECT_EQ(r.content, "");
  expect_two_calls(r, kWeatherString, kTimeString);
}

TEST(ParseToolCalls, DeepSeekV3ObjectArguments) {
  auto r = parse_tool_calls(kV3, ToolCallFormat::kDeepSeekV3);
  EXPECT_EQ(r.content, "Let me check.");
  expect_two_calls(r, kWeatherCompact, kTimeCompact);
}

TEST(ParseToolCalls, DeepSeekV3StringArguments) {
  auto r = parse_tool_calls(kV3StringArgs, ToolCallFormat::kDeepSeekV3);
  EXPECT_EQ(r.content, "");
  expect_two_calls(r, kWeatherString, kTimeString);
}

TEST(ParseToolCalls, DeepSeekEitherShapeUnderEitherFormat) {
  // A mis-detected generation still parses: the call shape is read from the text.
  expect_two_calls(parse_tool_calls(kV3, ToolCallFormat::kDeepSeekV31), kWeatherCompact,
                   kTimeCompact);
  expect_two_calls(parse_tool_calls(kV31, ToolCallFormat::kDeepSeekV3), kWeatherCompact,
                   kTimeCompact);
}

TEST(ParseToolCalls, DeepSeekSingleCallsAndTrailingText) {
  auto r = parse_tool_calls(
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
      "{\n  \"city\": \"Paris\"\n}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>\nDone.",
      ToolCallFormat::kDeepSeekV3);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].name, "get_weather");
  EXPECT_EQ(r.calls[0].arguments, R"({"city":"Paris"})");
  EXPECT_EQ(r.content, "\nDone.");

  // V3 shape without the fence; V3.1 call of a function named "function".
  auto n = parse_tool_calls(
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n{\"a\": 1}"
      "<｜tool▁call▁end｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>{\"b\": 2}<｜tool▁call▁end｜>"
      "<｜tool▁calls▁end｜>",
      ToolCallFormat::kDeepSeekV3);
  ASSERT_EQ(n.calls.size(), 2u);
  EXPECT_EQ(n.calls[0].name, "f");
  EXPECT_EQ(n.calls[0].arguments, R"({"a":1})");
  EXPECT_EQ(n.calls[1].name, "function");
  EXPECT_EQ(n.calls[1].arguments, R"({"b":2})");
  EXPECT_EQ(n.content, "");

  // A bare call without the section marker.
  auto b = parse_tool_calls("ok <｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{}<｜tool▁call▁end｜>",
                            ToolCallFormat::kDeepSeekV31);
  ASSERT_EQ(b.calls.size(), 1u);
  EXPECT_EQ(b.calls[0].name, "get_time");
  EXPECT_EQ(b.calls[0].arguments, "{}");
  EXPECT_EQ(b.content, "ok");
}

TEST(ParseToolCalls, DeepSeekMalformedStaysContent) {
  const std::string_view bad[] = {
      // bad JSON in the fence
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
      "{\"city\": Paris}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
      // no name
      "Hm.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜><｜tool▁sep｜>{\"city\": \"Paris\"}"
      "<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
      // no separator
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather {\"city\": \"Paris\"}"
      "<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
      // arguments not an object
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>[1]<｜tool▁call▁end｜>"
      "<｜tool▁calls▁end｜>",
      // a name with spaces in it
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get the weather<｜tool▁sep｜>{}"
      "<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
      // section begin and nothing else
      "<｜tool▁calls▁begin｜>",
  };
  for (auto text : bad) {
    for (auto fmt : {ToolCallFormat::kDeepSeekV3, ToolCallFormat::kDeepSeekV31}) {
      ParsedReply r;
      ASSERT_NO_THROW(r = parse_tool_calls(text, fmt));
      EXPECT_TRUE(r.calls.empty()) << text;
      EXPECT_EQ(r.content, text);
    }
  }
}

TEST(ParseToolCalls, DeepSeekMalformedNextToValidCall) {
  const std::string_view bad_call = "<｜tool▁call▁begin｜>a<｜tool▁sep｜>{nope}<｜tool▁call▁end｜>";
  const std::string text = "Pre." + std::string(kDsCallsBegin) + std::string(bad_call) +
                           "<｜tool▁call▁begin｜>b<｜tool▁sep｜>{\"k\": \"v\"}<｜tool▁call▁end｜>"
                           "<｜tool▁calls▁end｜>";
  auto r = parse_tool_calls(text, ToolCallFormat::kDeepSeekV31);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].name, "b");
  EXPECT_EQ(r.calls[0].arguments, R"({"k":"v"})");
  EXPECT_EQ(r.content, "Pre." + std::string(bad_call));
}

TEST(ParseToolCalls, DeepSeekUnterminatedFinalCall) {
  // V3: stopped after the closing fence, before <｜tool▁call▁end｜> and <｜tool▁calls▁end｜>.
  auto r = parse_tool_calls(
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
      "{\"city\": \"Paris\"}\n```",
      ToolCallFormat::kDeepSeekV3);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].arguments, R"({"city":"Paris"})");
  EXPECT_EQ(r.content, "");

  // V3.1: second call unterminated.
  auto s = parse_tool_calls(
      "x<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>a<｜tool▁sep｜>{}<｜tool▁call▁end｜>"
      "<｜tool▁call▁begin｜>b<｜tool▁sep｜>{\"q\": \"1\"}",
      ToolCallFormat::kDeepSeekV31);
  ASSERT_EQ(s.calls.size(), 2u);
  EXPECT_EQ(s.calls[1].name, "b");
  EXPECT_EQ(s.calls[1].arguments, R"({"q":"1"})");
  EXPECT_EQ(s.content, "x");

  // Cut inside the JSON: content is the whole text.
  const std::string_view cut = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>a<｜tool▁sep｜>{\"q\":";
  auto c = parse_tool_calls(cut, ToolCallFormat::kDeepSeekV31);
  EXPECT_TRUE(c.calls.empty());
  EXPECT_EQ(c.content, cut);
}

TEST(ParseToolCalls, NoCallsContentIsText) {
  const std::string_view texts[] = {
      "",
      "Hello, world.\n",
      "  leading and trailing space  \n\n",
      "a < b and <tool_response> and <tool and </tool_call> but no call",
      "<｜tool▁sep｜> and <｜tool▁call▁end｜> alone <｜tool",
      "<think>\nMaybe call a tool?\n</think>\n\nNo.",
  };
  for (auto text : texts) {
    for (auto fmt : {ToolCallFormat::kNone, ToolCallFormat::kHermes, ToolCallFormat::kDeepSeekV3,
                     ToolCallFormat::kDeepSeekV31}) {
      auto r = parse_tool_calls(text, fmt);
      EXPECT_EQ(r.content, text);
      EXPECT_TRUE(r.calls.empty());
    }
  }
  // kNone never parses calls, whatever the text holds.
  auto r = parse_tool_calls(kQwen3, ToolCallFormat::kNone);
  EXPECT_EQ(r.content, kQwen3);
  EXPECT_TRUE(r.calls.empty());
}

TEST(ParseToolCalls, IdsAreUnique) {
  std::set<std::string> ids;
  size_t n = 0;
  for (int i = 0; i < 200; ++i) {
    for (auto [text, fmt] :
         {std::pair{kQwen3, ToolCallFormat::kHermes}, std::pair{kV3, ToolCallFormat::kDeepSeekV3},
          std::pair{kV31, ToolCallFormat::kDeepSeekV31}}) {
      for (const auto& c : parse_tool_calls(text, fmt).calls) {
        ids.insert(c.id);
        ++n;
      }
    }
  }
  for (int i = 0; i < 10000; ++i, ++n) ids.insert(new_tool_call_id());
  EXPECT_EQ(ids.size(), n);
  for (const auto& id : ids) {
    ASSERT_EQ(id.size(), 21u) << id;
    ASSERT_TRUE(id.starts_with("call_")) << id;
  }
}

// ---- streaming -------------------------------------------------------------------------------

TEST(ToolCallStream, PartialMarkerSuffix) {
  EXPECT_EQ(partial_marker_suffix("", ToolCallFormat::kHermes), 0u);
  EXPECT_EQ(partial_marker_suffix("abc", ToolCallFormat::kHermes), 0u);
  EXPECT_EQ(partial_marker_suffix("abc<", ToolCallFormat::kHermes), 1u);
  EXPECT_EQ(partial_marker_suffix("abc<tool_c", ToolCallFormat::kHermes), 7u);
  EXPECT_EQ(partial_marker_suffix("<tool_call", ToolCallFormat::kHermes), 10u);
  EXPECT_EQ(partial_marker_suffix("abc<tool_call>", ToolCallFormat::kHermes), 0u);
  EXPECT_EQ(partial_marker_suffix("abc<tool_x", ToolCallFormat::kHermes), 0u);
  EXPECT_EQ(partial_marker_suffix("abc<", ToolCallFormat::kNone), 0u);
  // DeepSeek: "<" plus the first two bytes of "｜" (EF BD 9C).
  EXPECT_EQ(partial_marker_suffix("abc<\xEF\xBD", ToolCallFormat::kDeepSeekV3), 3u);
  // A prefix of both "<｜tool▁calls▁begin｜>" and "<｜tool▁call▁begin｜>".
  EXPECT_EQ(partial_marker_suffix("x<｜tool▁call", ToolCallFormat::kDeepSeekV31),
            std::string_view("<｜tool▁call").size());
  // Only a prefix of "<｜tool▁call▁begin｜>".
  EXPECT_EQ(partial_marker_suffix("x<｜tool▁call▁be", ToolCallFormat::kDeepSeekV31),
            std::string_view("<｜tool▁call▁be").size());
  EXPECT_EQ(partial_marker_suffix("x<｜tool▁sep", ToolCallFormat::kDeepSeekV31), 0u);
}

TEST(ToolCallStream, Start) {
  EXPECT_EQ(tool_call_start(kQwen3, ToolCallFormat::kHermes), kQwen3.find("<tool_call>"));
  EXPECT_EQ(tool_call_start(kV31, ToolCallFormat::kDeepSeekV31), 13u);
  EXPECT_EQ(tool_call_start(kV3, ToolCallFormat::kDeepSeekV3), 13u);
  EXPECT_EQ(tool_call_start("no calls", ToolCallFormat::kHermes), npos);
  EXPECT_EQ(tool_call_start(kQwen3, ToolCallFormat::kNone), npos);
  EXPECT_EQ(tool_call_start(kV3, ToolCallFormat::kHermes), npos);
  EXPECT_EQ(tool_call_start("ab<｜tool▁call▁begin｜>f", ToolCallFormat::kDeepSeekV3), 2u);
}

// Feeds `reply` one byte at a time the way the server does: emit everything before the tool-call
// start if one is seen, else everything but the held-back suffix. Emitted content never shrinks,
// never reaches into a marker, and in the end is everything before the first call.
void check_stream(std::string_view reply, ToolCallFormat fmt) {
  SCOPED_TRACE(std::string(reply));
  const size_t start = tool_call_start(reply, fmt);
  const size_t limit = start == npos ? reply.size() : start;
  size_t emitted = 0;
  for (size_t k = 0; k <= reply.size(); ++k) {
    const std::string_view seen = reply.substr(0, k);
    const size_t s = tool_call_start(seen, fmt);
    const size_t hold = partial_marker_suffix(seen, fmt);
    ASSERT_LE(hold, k);
    if (s != npos) {
      ASSERT_EQ(s, start) << "k=" << k;
    }
    const size_t safe = s != npos ? s : k - hold;
    ASSERT_GE(safe, emitted) << "k=" << k;
    ASSERT_LE(safe, limit) << "k=" << k;
    emitted = safe;
  }
  if (start != npos) {
    EXPECT_EQ(emitted, start);
  } else {
    EXPECT_EQ(emitted, reply.size() - partial_marker_suffix(reply, fmt));
  }
}

TEST(ToolCallStream, EveryCutOfSampleReplies) {
  check_stream(kQwen3, ToolCallFormat::kHermes);
  check_stream(kQwen25StringArgs, ToolCallFormat::kHermes);
  check_stream("a < b <tool_response> <tool_cal> x <tool_call>\n{\"name\": \"f\"}\n</tool_call>",
               ToolCallFormat::kHermes);
  check_stream("no tool call here, just <tags>", ToolCallFormat::kHermes);
  for (auto fmt : {ToolCallFormat::kDeepSeekV3, ToolCallFormat::kDeepSeekV31}) {
    check_stream(kV3, fmt);
    check_stream(kV3StringArgs, fmt);
    check_stream(kV31, fmt);
    check_stream(kV31StringArgs, fmt);
    check_stream("｜ <｜tool▁sep｜> <｜tool▁call <｜tool▁call▁begin｜>f<｜tool▁sep｜>{}", fmt);
    check_stream("plain text ending in <｜tool", fmt);
  }
  check_stream(kQwen3, ToolCallFormat::kNone);
}

// Random replies glued from marker pieces, JSON fragments and text: parsing never throws, text
// without calls comes back whole, and the stream invariants hold.
TEST(ToolCallStream, RandomPieces) {
  const std::string_view pieces[] = {
      "<tool_call>", "</tool_call>", "<tool_", "<", "\n", " ", "x", "é", "｜",
      "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>",
      "<｜tool▁call▁end｜>", "<｜tool▁sep｜>", "<｜tool▁call", "function", "get_weather",
      "```json\n", "```", "{\"name\": \"f\", \"arguments\": {\"a\": 1}}", "{\"a\": [1, \"}\"]}",
      // whole calls
      "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>",
      "<｜tool▁call▁begin｜>f<｜tool▁sep｜>{}<｜tool▁call▁end｜>",
      "<｜tool▁call▁begin｜>function<｜tool▁sep｜>g\n```json\n{}\n```<｜tool▁call▁end｜>",
      "\"{\\\"b\\\": 2}\"", "{", "}", "\"", "\\"};
  std::mt19937 rng(12345);
  std::uniform_int_distribution<size_t> pick(0, std::size(pieces) - 1);
  std::uniform_int_distribution<int> len(0, 12);
  int with_calls = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string text;
    for (int n = len(rng); n > 0; --n) text += pieces[pick(rng)];
    for (auto fmt : {ToolCallFormat::kNone, ToolCallFormat::kHermes, ToolCallFormat::kDeepSeekV3,
                     ToolCallFormat::kDeepSeekV31}) {
      ParsedReply r;
      ASSERT_NO_THROW(r = parse_tool_calls(text, fmt)) << text;
      if (r.calls.empty()) {
        ASSERT_EQ(r.content, text);
      } else {
        ++with_calls;
        ASSERT_NE(tool_call_start(text, fmt), npos) << text;
      }
      for (const auto& c : r.calls) ASSERT_TRUE(nlohmann::json::parse(c.arguments).is_object());
      check_stream(text, fmt);
      if (HasFatalFailure()) return;
    }
  }
  EXPECT_GT(with_calls, 50);  // the pieces do make valid calls now and then
}

}  // namespace
