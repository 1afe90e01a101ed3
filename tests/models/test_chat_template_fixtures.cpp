// Renders every template in ../shared/testdata (templates/*.jinja and the chat_template of the
// tokenizer_config.json files) for every conversation of tests/fixtures/chat_template and
// compares with what Python jinja2 produced (scripts/gen_chat_template_fixtures.py): the text
// byte for byte, or, where jinja2 raised, an error carrying the same message.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "models/chat_template.h"
#include "tensor/error.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using kt::models::ChatTemplate;

const fs::path kFixtures = fs::path(KT_SOURCE_DIR) / "tests/fixtures/chat_template";

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The generator's fixed clock: 2024-07-26 12:00:00.
std::tm fixed_now() {
  std::tm t{};
  t.tm_year = 2024 - 1900;
  t.tm_mon = 6;
  t.tm_mday = 26;
  t.tm_hour = 12;
  std::time_t secs = timegm(&t);
  gmtime_r(&secs, &t);
  return t;
}

// Fixtures name templates relative to the repo root ("../shared/testdata/..."); tests read
// them from KT_TESTDATA_DIR so that a relocated test-data folder still works.
fs::path testdata_path(const std::string& rel) {
  const std::string prefix = "../shared/testdata/";
  std::string tail = rel.rfind(prefix, 0) == 0 ? rel.substr(prefix.size()) : rel;
  return fs::path(KT_TESTDATA_DIR) / tail;
}

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  if (!fs::exists(kFixtures)) return names;
  for (const auto& e : fs::directory_iterator(kFixtures)) {
    std::string n = e.path().filename().string();
    if (e.path().extension() == ".json" && n != "conversations.json") {
      names.push_back(e.path().stem().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

class ChatTemplateFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ChatTemplateFixture, MatchesJinja2) {
  if (!fs::exists(fs::path(KT_TESTDATA_DIR) / "templates")) {
    GTEST_SKIP() << "test data not found at " << KT_TESTDATA_DIR;
  }
  json fixture = json::parse(read_file(kFixtures / (GetParam() + ".json")));
  json conversations = json::parse(read_file(kFixtures / "conversations.json"));
  std::string rel = fixture["template"].get<std::string>();
  fs::path path = testdata_path(rel);
  ASSERT_TRUE(fs::exists(path)) << path;

  std::optional<ChatTemplate> tmpl;
  if (path.extension() == ".json") {
    tmpl = ChatTemplate::from_tokenizer_config(path.string());
    // The special tokens kt reads from tokenizer_config.json are those transformers passes.
    EXPECT_EQ(tmpl->variables().dump(), fixture["variables"].dump());
  } else {
    tmpl.emplace(read_file(path), rel);
    for (const auto& [k, v] : fixture["variables"].items()) tmpl->set_variable(k, v);
  }
  tmpl->set_clock(fixed_now);

  int matched = 0;
  for (const auto& c : fixture["cases"]) {
    std::string conv_name = c["conversation"].get<std::string>();
    auto conv = std::find_if(conversations.begin(), conversations.end(),
                             [&](const json& x) { return x["name"] == conv_name; });
    ASSERT_NE(conv, conversations.end()) << conv_name;
    SCOPED_TRACE(GetParam() + " / " + conv_name);
    json tools = conv->contains("tools") ? (*conv)["tools"] : json(nullptr);
    json extra = conv->contains("extra") ? (*conv)["extra"] : json::object();
    bool agp = (*conv)["add_generation_prompt"].get<bool>();
    if (c.contains("expected")) {
      try {
        std::string out = tmpl->render((*conv)["messages"], tools, agp, extra);
        EXPECT_EQ(out, c["expected"].get<std::string>());
        matched += out == c["expected"].get<std::string>();
      } catch (const kt::Error& e) {
        ADD_FAILURE() << "unexpected error: " << e.what();
      }
    } else {
      std::string want = c["error"]["message"].get<std::string>();
      try {
        std::string out = tmpl->render((*conv)["messages"], tools, agp, extra);
        ADD_FAILURE() << "expected error '" << want << "', got output:\n" << out;
      } catch (const kt::Error& e) {
        // "template NAME, line L: MESSAGE" with jinja2's message.
        std::string msg = e.what();
        std::string name = path.extension() == ".json" ? path.string() + ":chat_template" : rel;
        EXPECT_EQ(msg.rfind("template " + name + ", line ", 0), 0u) << msg;
        bool same = msg.size() >= want.size() &&
                    msg.compare(msg.size() - want.size(), want.size(), want) == 0;
        EXPECT_TRUE(same) << "got: " << msg << "\nwant (" << c["error"]["type"] << "): " << want;
        matched += same;
      }
    }
  }
  EXPECT_EQ(matched, static_cast<int>(fixture["cases"].size()));
}

INSTANTIATE_TEST_SUITE_P(Templates, ChatTemplateFixture, ::testing::ValuesIn(fixture_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           for (auto& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

TEST(ChatTemplateFixtures, AllPresent) {
  // 11 templates in testdata/templates plus 3 tokenizer_config.json files.
  EXPECT_EQ(fixture_names().size(), 14u);
}

}  // namespace
