// `kt convert` end to end through the binary: outputs load as GGUF with the requested types,
// bad requests fail with a message naming what is wrong.
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

class KtConvert : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kt_convert_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  const std::string kt_ = std::string(KT_BINARY_DIR) + "/kt";
  fs::path dir_;
};

TEST_F(KtConvert, HfFolderToQ4KM) {
  const std::string out = (dir_ / "llama.gguf").string();
  int status = -1;
  const std::string log = run(
      kt_ + " convert " + KT_SOURCE_DIR + "/tests/fixtures/hf/llama -o " + out + " --type q4_k_m",
      &status);
  ASSERT_EQ(status, 0) << log;
  const std::string info = run(kt_ + " gguf " + out, &status);
  ASSERT_EQ(status, 0) << info;
  EXPECT_NE(info.find("\"llama\""), std::string::npos) << info;
  EXPECT_NE(info.find("general.file_type"), std::string::npos);
  // 64-wide rows cannot hold 256-blocks: llama.cpp's fallbacks (Q5_0, Q8_0) must appear.
  EXPECT_NE(info.find("Q5_0"), std::string::npos) << info;
}

TEST_F(KtConvert, Llama2cCheckpoint) {
  const std::string dir = std::string(KT_TESTDATA_DIR) + "/stories260K";
  if (!fs::exists(dir)) GTEST_SKIP() << "no " << dir;
  const std::string out = (dir_ / "stories.gguf").string();
  int status = -1;
  const std::string log = run(kt_ + " convert " + dir + "/stories260K.bin --tokenizer " + dir +
                                  "/tok512.bin -o " + out + " --type f16",
                              &status);
  ASSERT_EQ(status, 0) << log;
  const std::string info = run(kt_ + " gguf " + out, &status);
  EXPECT_NE(info.find("F16"), std::string::npos) << info;
}

TEST_F(KtConvert, BadRequestsNameTheProblem) {
  int status = -1;
  std::string log = run(kt_ + " convert " + KT_SOURCE_DIR + "/tests/fixtures/hf/llama -o " +
                            (dir_ / "x.gguf").string() + " --type q3_z",
                        &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(log.find("q3_z"), std::string::npos) << log;
  log = run(kt_ + " convert " + dir_.string() + " -o " + (dir_ / "x.gguf").string(), &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(log.find("config.json"), std::string::npos) << log;
}

}  // namespace

namespace {

// `kt chat` reads messages from stdin (one per line, or a """ block), streams answers, prints
// figures after each, and ends at /exit.
TEST_F(KtConvert, ChatReplFromPipedInput) {
  const std::string dir = std::string(KT_TESTDATA_DIR) + "/stories260K";
  if (!fs::exists(dir)) GTEST_SKIP() << "no " << dir;
  const std::string gguf = (dir_ / "s.gguf").string();
  int status = -1;
  run(kt_ + " convert " + dir + "/stories260K.bin --tokenizer " + dir + "/tok512.bin -o " + gguf,
      &status);
  ASSERT_EQ(status, 0);
  const std::string out =
      run("printf 'Once upon a time\\n/clear\\n\"\"\"\\nLily\\nand Tom\\n\"\"\"\\n/exit\\n' | " +
              kt_ + " chat -m " + gguf + " --temperature 0 --max_new_tokens 8 -t 1",
          &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("conversation cleared"), std::string::npos) << out;
  size_t n = 0;
  for (size_t p = out.find("decode 8 tokens"); p != std::string::npos;
       p = out.find("decode 8 tokens", p + 1))
    ++n;
  EXPECT_EQ(n, 2u) << out;
  const std::string bad = run(kt_ + " chat -m " + dir_.string() + "/missing.gguf -p hi", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(bad.find("missing.gguf"), std::string::npos) << bad;
}

}  // namespace
