// Tokenizer -> GGUF tokenizer.* metadata -> Tokenizer::from_gguf must encode and decode exactly
// as the source tokenizer, so that `kt convert` output stands alone.
#include "models/tokenizer_export.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "models/chat_template.h"
#include "models/hf_import.h"
#include "models/tokenizer.h"
#include "tensor/gguf.h"
#include "tensor/gguf_writer.h"

namespace kt::models {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The texts of a llama.cpp vocab test set (the .inp file; see test_tokenizer_vocab.cpp).
std::vector<std::string> vocab_texts(const std::string& name) {
  std::string inp =
      slurp(fs::path(KT_TESTDATA_DIR) / "vocab" / ("ggml-vocab-" + name + ".gguf.inp"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t pos = 0;
  for (size_t hit; (hit = inp.find(sep, pos)) != std::string::npos; pos = hit + sep.size())
    texts.push_back(inp.substr(pos, hit - pos));
  return texts;
}

tensor::GgufFile round_trip(tensor::GgufWriter& w) {
  w.set_string("general.architecture", "llama");
  return tensor::GgufFile::from_memory("export.gguf", w.to_bytes());
}

// Encodes (with and without special-token parsing and BOS/EOS) and decodes each text with both
// tokenizers and expects identical results.
void expect_same(const Tokenizer& want, const Tokenizer& got, const std::vector<std::string>& texts,
                 const std::string& what) {
  ASSERT_EQ(want.vocab_size(), got.vocab_size()) << what;
  for (const std::string& t : texts) {
    for (bool special : {false, true}) {
      std::vector<int32_t> a = want.encode(t, special, special);
      std::vector<int32_t> b = got.encode(t, special, special);
      EXPECT_EQ(a, b) << what << ": text \"" << t << "\" parse_special=" << special;
      EXPECT_EQ(want.decode(a), got.decode(b)) << what << ": text \"" << t << "\"";
    }
  }
  // GGUF cannot say "no EOS": llama.cpp's gpt2 default (11) then applies, which only changes
  // which token ends generation, not the encoding.
  const bool ids_comparable = want.eos_id() >= 0;
  if (ids_comparable) {
    EXPECT_EQ(want.eos_id(), got.eos_id()) << what;
  }
  EXPECT_EQ(want.add_bos(), got.add_bos()) << what;
  EXPECT_EQ(want.add_eos(), got.add_eos()) << what;
  for (int32_t id = 0; id < int32_t(want.vocab_size()); ++id) {
    ASSERT_EQ(want.token_type(id), got.token_type(id)) << what << ": id " << id;
    if (ids_comparable) {
      ASSERT_EQ(want.is_eog(id), got.is_eog(id)) << what << ": id " << id;
    }
  }
}

// Strings built around the tokenizer's own special tokens, so parse_special is exercised.
std::vector<std::string> special_texts(const Tokenizer& tok) {
  std::vector<std::string> out;
  std::string all;
  int n = 0;
  for (int32_t id = 0; id < int32_t(tok.vocab_size()) && n < 40; ++id) {
    if (!tok.is_special(id)) continue;
    ++n;
    out.push_back("Hi " + tok.token_text(id) + "there\n" + tok.token_text(id));
    all += tok.token_text(id) + " x";
  }
  out.push_back(all);
  return out;
}

struct Case {
  const char* dir;
  const char* vectors;
  const char* pre;
};

class TokenizerExportHf : public ::testing::TestWithParam<Case> {};

TEST_P(TokenizerExportHf, GgufEncodesLikeHf) {
  const Case& c = GetParam();
  const fs::path dir = fs::path(KT_TESTDATA_DIR) / "tokenizers" / c.dir;
  const fs::path inp =
      fs::path(KT_TESTDATA_DIR) / "vocab" / (std::string("ggml-vocab-") + c.vectors + ".gguf.inp");
  if (!fs::exists(dir / "tokenizer.json") || !fs::exists(inp))
    GTEST_SKIP() << "test data absent: " << dir << " / " << inp;

  const Tokenizer hf = Tokenizer::from_hf(dir.string());
  const ChatTemplate tmpl =
      ChatTemplate::from_tokenizer_config((dir / "tokenizer_config.json").string());
  tensor::GgufWriter w;
  write_tokenizer_metadata(hf, tmpl, w);
  const tensor::GgufFile f = round_trip(w);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), c.pre);
  EXPECT_EQ(f.get_string("tokenizer.chat_template"), tmpl.source());
  EXPECT_FALSE(tmpl.source().empty());
  EXPECT_EQ(ChatTemplate::from_gguf(f).source(), tmpl.source());

  const Tokenizer gg = Tokenizer::from_gguf(f);
  EXPECT_EQ(gg.pre_name(), c.pre);
  std::vector<std::string> texts = vocab_texts(c.vectors);
  ASSERT_GT(texts.size(), 10u);
  for (std::string& s : special_texts(hf)) texts.push_back(std::move(s));
  expect_same(hf, gg, texts, c.dir);
}

INSTANTIATE_TEST_SUITE_P(Shared, TokenizerExportHf,
                         ::testing::Values(Case{"qwen3", "qwen2", "qwen2"},
                                           Case{"llama3", "llama-bpe", "llama-bpe"},
                                           Case{"deepseek_v3", "deepseek-r1-qwen", "deepseek-v3"}),
                         [](const auto& info) { return std::string(info.param.dir); });

// A GGUF tokenizer (already named by tokenizer.ggml.pre) survives a second round trip.
TEST(TokenizerExport, GgufRoundTripIsStable) {
  const fs::path dir = fs::path(KT_TESTDATA_DIR) / "tokenizers" / "qwen3";
  if (!fs::exists(dir / "tokenizer.json")) GTEST_SKIP() << "test data absent: " << dir;
  tensor::GgufWriter w1;
  write_tokenizer_metadata(Tokenizer::from_hf(dir.string()), w1);
  const Tokenizer once = Tokenizer::from_gguf(round_trip(w1));
  tensor::GgufWriter w2;
  write_tokenizer_metadata(once, w2);
  const tensor::GgufFile f2 = round_trip(w2);
  EXPECT_FALSE(f2.has("tokenizer.chat_template"));
  expect_same(once, Tokenizer::from_gguf(f2), {"Hello world 123 <|im_start|>x"}, "twice");
}

// What `kt convert` writes (import_hf_folder's writer) carries the fixture's byte-level
// tokenizer.
TEST(TokenizerExport, HfImportWritesTokenizer) {
  const fs::path dir = fs::path(KT_SOURCE_DIR) / "tests" / "fixtures" / "hf" / "llama";
  HfImport imp = import_hf_folder(dir.string(), QuantRecipe{});
  const tensor::GgufFile f = tensor::GgufFile::from_memory("convert.gguf", imp.writer.to_bytes());
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "gpt-2");
  const Tokenizer hf = Tokenizer::from_hf(dir.string());
  expect_same(hf, Tokenizer::from_gguf(f), vocab_texts("gpt-2"), "fixtures/hf/llama");
}

}  // namespace
}  // namespace kt::models
