// A real trained model end to end: Karpathy's stories260K (llama2.c) imported to GGUF (and from
// there exported to a Hugging Face folder), loaded, and decoded greedily from BOS must tell
// exactly the story its author published.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "backends/cpu/thread_pool.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "models/architecture.h"
#include "models/hf_export.h"
#include "models/llama2c.h"
#include "models/tokenizer.h"
#include "tensor/error.h"
#include "tensor/gguf.h"

namespace kt::engine {
namespace {

namespace fs = std::filesystem;

const std::string kStoriesDir = std::string(KT_TESTDATA_DIR) + "/stories260K";
// From ../shared/testdata/README.md.
const std::string kExpected =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
    "park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.";

// Greedy from BOS on `arch`, decoded with `tok`.
std::string greedy_story(const models::Architecture& arch, const models::Tokenizer& tok,
                         int n_tokens) {
  cpu::ThreadPool pool(2);
  Session session(arch, pool, 256);
  SamplerParams sp;
  sp.temperature = 0.0f;
  Sampler sampler(sp);
  std::vector<int32_t> out;
  int32_t next = tok.bos_id();
  for (int i = 0; i < n_tokens; ++i) {
    const std::vector<float> logits = session.eval(std::span<const int32_t>(&next, 1));
    next = sampler.sample(logits.data(), int64_t(logits.size()));
    if (tok.is_eog(next)) break;
    out.push_back(next);
  }
  return tok.decode(out);
}

std::string greedy_story(const std::string& gguf_path, int n_tokens) {
  auto file = std::make_shared<const tensor::GgufFile>(tensor::GgufFile::open(gguf_path));
  auto arch = models::make_architecture(*file, models::WeightSet::from_gguf(file));
  return greedy_story(*arch, models::Tokenizer::from_gguf(*file), n_tokens);
}

class Stories260K : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kStoriesDir + "/stories260K.bin"))
      GTEST_SKIP() << "no " << kStoriesDir << " (shared test data absent)";
    dir_ = fs::temp_directory_path() / ("kt_stories_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  fs::path dir_;
};

TEST_F(Stories260K, ImportedGgufTellsThePublishedGreedyStory) {
  const std::string gguf = (dir_ / "stories260K.gguf").string();
  models::convert_llama2c_to_gguf(kStoriesDir + "/stories260K.bin", kStoriesDir + "/tok512.bin",
                                  gguf);
  const std::string story = greedy_story(gguf, 100);
  ASSERT_GE(story.size(), kExpected.size()) << story;
  EXPECT_EQ(story.substr(0, kExpected.size()), kExpected) << story;
}

// The third container: GGUF -> Hugging Face folder (config.json + safetensors, Q/K rows back in
// rotate-half order) -> loaded as a folder. The folder has no tokenizer; the GGUF's decodes.
TEST_F(Stories260K, HfFolderExportTellsTheSameStory) {
  const std::string gguf = (dir_ / "stories260K.gguf").string();
  models::convert_llama2c_to_gguf(kStoriesDir + "/stories260K.bin", kStoriesDir + "/tok512.bin",
                                  gguf);
  const Model g = Model::load(gguf);
  const std::string hf = (dir_ / "stories260K-hf").string();
  const models::HfExportInfo info =
      models::export_hf_folder(*g.file, models::WeightSet::from_gguf(g.splits), hf);
  EXPECT_TRUE(info.tied);  // llama2.c shares the classifier with the embedding
  const Model h = Model::load(hf);
  EXPECT_FALSE(h.tokenizer.has_value());
  const std::string story = greedy_story(*h.arch, *g.tokenizer, 100);
  ASSERT_GE(story.size(), kExpected.size()) << story;
  EXPECT_EQ(story.substr(0, kExpected.size()), kExpected) << story;
}

TEST_F(Stories260K, Q8_0ImportStillStartsTheStory) {
  const std::string gguf = (dir_ / "stories260K-q8_0.gguf").string();
  models::Llama2cImportOptions opt;
  opt.type = tensor::DType::Q8_0;
  models::convert_llama2c_to_gguf(kStoriesDir + "/stories260K.bin", kStoriesDir + "/tok512.bin",
                                  gguf, opt);
  EXPECT_EQ(greedy_story(gguf, 8).substr(0, 16), "Once upon a time");
}

TEST_F(Stories260K, TruncatedCheckpointIsRejectedByName) {
  const fs::path cut = dir_ / "cut.bin";
  fs::copy_file(kStoriesDir + "/stories260K.bin", cut);
  fs::resize_file(cut, 100000);
  try {
    models::convert_llama2c_to_gguf(cut.string(), kStoriesDir + "/tok512.bin",
                                    (dir_ / "x.gguf").string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cut.bin"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kt::engine
