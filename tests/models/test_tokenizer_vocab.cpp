// llama.cpp's tokenizer test vectors (shared/testdata/vocab, format in shared/reference/gguf.md
// section 9): every string encodes to exactly the ids that Hugging Face `tokenizers` gave, with
// add_special = false and parse_special = false, and decodes back to the string. Sets whose
// GGUF file is absent run against the model's tokenizer.json.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/pretokenizer.h"
#include "models/tokenizer.h"
#include "tensor/gguf.h"

namespace kt::models {
namespace {

namespace fs = std::filesystem;

fs::path testdata() {
  return fs::path(KT_TESTDATA_DIR);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Vector {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<Vector> load_vectors(const std::string& name) {
  fs::path base = testdata() / "vocab" / ("ggml-vocab-" + name + ".gguf");
  std::string inp = slurp(base.string() + ".inp");
  std::string outp = slurp(base.string() + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t pos = 0;
  while (true) {
    size_t hit = inp.find(sep, pos);
    if (hit == std::string::npos) break;
    texts.push_back(inp.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  std::vector<Vector> out;
  std::istringstream lines(outp);
  std::string line;
  for (const std::string& t : texts) {
    if (!std::getline(lines, line)) break;
    Vector v{t, {}};
    std::istringstream ids(line);
    int32_t id;
    while (ids >> id) v.ids.push_back(id);
    out.push_back(std::move(v));
  }
  EXPECT_EQ(out.size(), texts.size()) << name << ": .out has fewer lines than .inp has tests";
  return out;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    s += ' ';
    s += std::to_string(id);
  }
  return s;
}

void check_vectors(const Tokenizer& tok, const std::string& name) {
  std::vector<Vector> vectors = load_vectors(name);
  ASSERT_EQ(vectors.size(), 46u) << name;
  int failures = 0;
  for (const Vector& v : vectors) {
    std::vector<int32_t> got = tok.encode(v.text, /*add_special=*/false, /*parse_special=*/false);
    if (got != v.ids) {
      ++failures;
      ADD_FAILURE() << name << ": encode of \"" << v.text << "\"\n  expected" << show(v.ids)
                    << "\n  got     " << show(got);
      continue;
    }
    EXPECT_EQ(tok.decode(got), v.text) << name << ": decode of the ids of \"" << v.text << "\"";
  }
  EXPECT_EQ(failures, 0) << name;
}

#define REQUIRE_FILE(p)                                              \
  do {                                                               \
    if (!fs::exists(p)) GTEST_SKIP() << "test data absent: " << (p); \
  } while (0)

class GgufVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufVectors, EncodeExactAndRoundTrip) {
  fs::path gguf = testdata() / "vocab" / ("ggml-vocab-" + GetParam() + ".gguf");
  REQUIRE_FILE(gguf);
  Tokenizer tok = Tokenizer::from_gguf(tensor::GgufFile::open(gguf.string()));
  check_vectors(tok, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Vocab, GgufVectors,
                         ::testing::Values("gpt-2", "deepseek-llm", "deepseek-coder", "llama-spm",
                                           "phi-3"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s) {
                             if (c == '-') c = '_';
                           }
                           return s;
                         });

struct JsonSet {
  const char* vectors;
  const char* tokenizer;
};

class JsonVectors : public ::testing::TestWithParam<JsonSet> {};

TEST_P(JsonVectors, EncodeExactAndRoundTrip) {
  fs::path dir = testdata() / "tokenizers" / GetParam().tokenizer;
  REQUIRE_FILE(dir / "tokenizer.json");
  Tokenizer tok = Tokenizer::from_hf(dir.string());
  check_vectors(tok, GetParam().vectors);
}

INSTANTIATE_TEST_SUITE_P(Vocab, JsonVectors,
                         ::testing::Values(JsonSet{"qwen2", "qwen3"},
                                           JsonSet{"deepseek-r1-qwen", "qwen3"},
                                           JsonSet{"llama-bpe", "llama3"}),
                         [](const auto& info) {
                           std::string s = info.param.vectors;
                           for (char& c : s) {
                             if (c == '-') c = '_';
                           }
                           return s;
                         });

// The built-in split sequences for tokenizer.ggml.pre must cut text exactly as the Split
// patterns in the models' own tokenizer.json files do.
TEST(PreTokenizerPresets, MatchTokenizerJson) {
  fs::path inp = testdata() / "vocab" / "ggml-vocab-gpt-2.gguf.inp";
  REQUIRE_FILE(inp);
  struct Case {
    const char* preset;
    const char* dir;
  };
  std::vector<std::string> texts;
  for (const Vector& v : load_vectors("gpt-2")) texts.push_back(v.text);
  texts.push_back(
      "3.14159 \uFF13\uFF14 \u5341\u4E8C \u65E5\u672C\u8A9E\u306E\u30C6\u30AD\u30B9\u30C8\r\n\r\n  "
      "x\t\ty 'S 'LL");
  int compared = 0;
  for (Case c :
       {Case{"qwen2", "qwen3"}, Case{"llama-bpe", "llama3"}, Case{"deepseek-v3", "deepseek_v3"}}) {
    fs::path json_path = testdata() / "tokenizers" / c.dir / "tokenizer.json";
    if (!fs::exists(json_path)) continue;
    nlohmann::json j = nlohmann::json::parse(slurp(json_path));
    PreTokenizer from_json;
    for (const auto& step : j["pre_tokenizer"]["pretokenizers"]) {
      if (step["type"] == "Split") from_json.add_regex(step["pattern"]["Regex"].get<std::string>());
    }
    ASSERT_GT(from_json.steps(), 0u) << c.dir;
    PreTokenizer preset = PreTokenizer::from_name(c.preset, "test");
    for (const std::string& t : texts) {
      std::vector<std::string_view> a, b;
      preset.split(t, a);
      from_json.split(t, b);
      EXPECT_EQ(a, b) << c.preset << ": \"" << t << "\"";
    }
    ++compared;
  }
  if (compared == 0) GTEST_SKIP() << "no tokenizer.json in " << testdata();
}

}  // namespace
}  // namespace kt::models
