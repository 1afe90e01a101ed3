// Real vocab-only GGUF files from llama.cpp (shared/testdata/vocab) parse and read correctly.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tensor/gguf.h"

namespace kt::tensor {
namespace {

namespace fs = std::filesystem;

fs::path vocab_dir() {
  return fs::path(KT_TESTDATA_DIR) / "vocab";
}

#define SKIP_WITHOUT_VOCAB()                                                                 \
  if (!fs::is_directory(vocab_dir())) {                                                      \
    GTEST_SKIP() << "test data folder " << vocab_dir() << " is absent; see testdata/README"; \
  }

TEST(GgufVocab, EveryFileParses) {
  SKIP_WITHOUT_VOCAB();
  int n = 0;
  for (const auto& entry : fs::directory_iterator(vocab_dir())) {
    if (entry.path().extension() != ".gguf") continue;
    SCOPED_TRACE(entry.path().string());
    const GgufFile f = GgufFile::open(entry.path().string());
    EXPECT_EQ(f.version(), 3u);
    EXPECT_TRUE(f.tensors().empty());  // vocab-only
    EXPECT_FALSE(f.get_string("tokenizer.ggml.model").empty());
    EXPECT_GT(f.get_strings("tokenizer.ggml.tokens").size(), 1000u);
    // Every value is readable and printable.
    for (size_t i = 0; i < f.kv_count(); ++i) EXPECT_FALSE(f.kv(i).to_string().empty());
    ++n;
  }
  EXPECT_GE(n, 5);
}

TEST(GgufVocab, DeepseekLlmFacts) {
  SKIP_WITHOUT_VOCAB();
  const GgufFile f = GgufFile::open((vocab_dir() / "ggml-vocab-deepseek-llm.gguf").string());
  EXPECT_EQ(f.kv_count(), 23u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "deepseek-llm");
  EXPECT_EQ(f.get_u32("llama.vocab_size"), 102400u);
  EXPECT_EQ(f.get_u32("tokenizer.ggml.bos_token_id"), 100000u);
  EXPECT_EQ(f.get_u32("tokenizer.ggml.eos_token_id"), 100001u);
  EXPECT_TRUE(f.get_bool("tokenizer.ggml.add_bos_token"));
  EXPECT_FALSE(f.get_bool("tokenizer.ggml.add_eos_token"));
  EXPECT_FLOAT_EQ(f.get_f32("llama.attention.layer_norm_rms_epsilon"), 1e-6f);

  const auto tokens = f.get_strings("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 102400u);
  EXPECT_EQ(tokens[0], "!");
  EXPECT_EQ(tokens[1], "\"");
  const std::vector<int32_t> types = f.get_array("tokenizer.ggml.token_type").as_i32_array();
  EXPECT_EQ(types.size(), 102400u);
  EXPECT_EQ(types[0], 1);  // normal
  const auto merges = f.get_strings("tokenizer.ggml.merges");
  ASSERT_EQ(merges.size(), 99757u);
  EXPECT_EQ(merges[0], "\xC4\xA0 \xC4\xA0");  // "Ġ Ġ"
}

TEST(GgufVocab, LlamaSpmFacts) {
  SKIP_WITHOUT_VOCAB();
  const GgufFile f = GgufFile::open((vocab_dir() / "ggml-vocab-llama-spm.gguf").string());
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
  const auto tokens = f.get_strings("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 32000u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[2], "</s>");
  EXPECT_EQ(f.get_array("tokenizer.ggml.scores").as_f32_array().size(), 32000u);
  EXPECT_EQ(f.get_u32("tokenizer.ggml.bos_token_id"), 1u);
}

TEST(GgufVocab, OtherFiles) {
  SKIP_WITHOUT_VOCAB();
  const GgufFile coder = GgufFile::open((vocab_dir() / "ggml-vocab-deepseek-coder.gguf").string());
  EXPECT_EQ(coder.get_string("tokenizer.ggml.pre"), "deepseek-coder");
  EXPECT_EQ(coder.get_strings("tokenizer.ggml.tokens").size(), 32256u);
  const GgufFile gpt2 = GgufFile::open((vocab_dir() / "ggml-vocab-gpt-2.gguf").string());
  EXPECT_EQ(gpt2.get_string("general.architecture"), "gpt2");
  EXPECT_EQ(gpt2.get_strings("tokenizer.ggml.tokens").size(), 50257u);
  const GgufFile phi3 = GgufFile::open((vocab_dir() / "ggml-vocab-phi-3.gguf").string());
  EXPECT_EQ(phi3.get_string("general.architecture"), "phi3");
  EXPECT_EQ(phi3.get_u32("tokenizer.ggml.eos_token_id"), 32000u);
}

}  // namespace
}  // namespace kt::tensor
