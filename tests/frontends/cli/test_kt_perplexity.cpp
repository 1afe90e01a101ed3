// `kt perplexity` and `kt convert --to-hf` through the binary, on stories260K: llama.cpp-style
// output, KL of Q8_0 against saved F32 log-probs, KL 0 for the exported HF folder, and bad
// requests named.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace {

namespace fs = std::filesystem;

std::string run(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = pclose(p);
  return out;
}

const std::string kStories = std::string(KT_TESTDATA_DIR) + "/stories260K";
const std::string kText = std::string(KT_SOURCE_DIR) + "/tests/fixtures/text/tinystories.txt";

class KtPerplexity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kStories + "/stories260K.bin")) GTEST_SKIP() << "no " << kStories;
    dir_ = fs::temp_directory_path() / ("kt_ppl_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    for (const char* type : {"f32", "q8_0"}) {
      int status = -1;
      const std::string log = run(kt_ + " convert " + kStories + "/stories260K.bin --tokenizer " +
                                      kStories + "/tok512.bin -o " + path(type) + " -t " + type,
                                  &status);
      ASSERT_EQ(status, 0) << log;
    }
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string path(const std::string& type) const { return (dir_ / (type + ".gguf")).string(); }
  const std::string kt_ = std::string(KT_BINARY_DIR) + "/kt";
  fs::path dir_;
};

TEST_F(KtPerplexity, PerplexityThenKlAgainstSavedLogProbs) {
  int status = -1;
  const std::string base = (dir_ / "f32.klb").string();
  std::string out = run(kt_ + " perplexity -m " + path("f32") + " -f " + kText +
                            " -c 128 --chunks 3 -t 2 --save-logits " + base,
                        &status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("[1]"), std::string::npos) << out;
  EXPECT_NE(out.find("[3]"), std::string::npos) << out;
  EXPECT_EQ(out.find("[4]"), std::string::npos) << out;
  EXPECT_NE(out.find("Final estimate: PPL = "), std::string::npos) << out;

  out = run(kt_ + " perplexity -m " + path("q8_0") + " --kl-base " + base + " -t 2", &status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("Mean    KLD:"), std::string::npos) << out;
  EXPECT_NE(out.find("99.0%   KLD:"), std::string::npos) << out;
  EXPECT_NE(out.find("Maximum KLD:"), std::string::npos) << out;
  EXPECT_NE(out.find("Same top p:"), std::string::npos) << out;

  // The same model as a Hugging Face folder (no tokenizer needed: the tokens are in the file).
  const std::string hf = (dir_ / "hf").string();
  out = run(kt_ + " convert " + path("f32") + " --to-hf -o " + hf, &status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_TRUE(fs::exists(hf + "/config.json"));
  out = run(kt_ + " perplexity -m " + hf + " --kl-base " + base + " -t 2", &status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("Mean    KLD:   0.000000"), std::string::npos) << out;
  EXPECT_NE(out.find("Same top p: 100.000"), std::string::npos) << out;
}

TEST_F(KtPerplexity, BadRequestsNameTheProblem) {
  int status = -1;
  std::string out =
      run(kt_ + " perplexity -m " + path("f32") + " -f " + (dir_ / "nope.txt").string(), &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("nope.txt"), std::string::npos) << out;

  out = run(kt_ + " perplexity -m " + path("f32") + " -f " + kText + " -c 4096", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("fewer than one chunk"), std::string::npos) << out;

  out = run(kt_ + " perplexity -m " + path("f32") + " -f " + kText + " --kl-base x.klb", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("excludes"), std::string::npos) << out;

  out = run(kt_ + " perplexity -m " + path("f32") + " --kl-base " + (dir_ / "x.klb").string(),
            &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("x.klb"), std::string::npos) << out;

  out = run(kt_ + " convert " + KT_SOURCE_DIR + "/tests/fixtures/hf/qwen2 --to-hf -o " +
                (dir_ / "q").string(),
            &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("qwen2"), std::string::npos) << out;
}

}  // namespace
