// `kt gguf` end to end: runs the built binary on real and truncated files.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct KtRun {
  int status = -1;
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs `kt ARGS`, capturing stdout through the pipe and stderr through a temp file.
KtRun run_kt(const std::string& args, const fs::path& tmp) {
  const fs::path err = tmp / "stderr.txt";
  const std::string cmd = std::string(KT_BINARY_DIR) + "/kt " + args + " 2>'" + err.string() + "'";
  KtRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.err = slurp(err);
  return r;
}

class GgufCli : public ::testing::Test {
 protected:
  void SetUp() override {
    vocab_ = fs::path(KT_TESTDATA_DIR) / "vocab" / "ggml-vocab-deepseek-llm.gguf";
    if (!fs::exists(vocab_)) GTEST_SKIP() << "test data file " << vocab_ << " is absent";
    tmp_ = fs::temp_directory_path() / ("kt_test_cli_gguf_" + std::to_string(::getpid()));
    fs::create_directories(tmp_);
  }
  void TearDown() override {
    if (!tmp_.empty()) fs::remove_all(tmp_);
  }
  fs::path vocab_;
  fs::path tmp_;
};

TEST_F(GgufCli, PrintsVocabFile) {
  const KtRun r = run_kt("gguf '" + vocab_.string() + "'", tmp_);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("tokenizer.ggml.pre"), std::string::npos);
  EXPECT_NE(r.out.find("deepseek-llm"), std::string::npos);
  EXPECT_NE(r.out.find("[102400 x string]"), std::string::npos);
  EXPECT_NE(r.out.find("version 3"), std::string::npos);
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST_F(GgufCli, JsonOutput) {
  const KtRun r = run_kt("gguf --json '" + vocab_.string() + "'", tmp_);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\"key\": \"tokenizer.ggml.pre\""), std::string::npos);
  EXPECT_NE(r.out.find("\"value\": \"deepseek-llm\""), std::string::npos);
  EXPECT_NE(r.out.find("\"count\": 102400"), std::string::npos);
}

TEST_F(GgufCli, TruncatedFileFailsWithOneLine) {
  const std::string bytes = slurp(vocab_);
  const fs::path bad = tmp_ / "truncated.gguf";
  std::ofstream(bad, std::ios::binary).write(bytes.data(), 5000);
  const KtRun r = run_kt("gguf '" + bad.string() + "'", tmp_);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("kt: error: " + bad.string() + ": ", 0), 0u) << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;  // exactly one line
}

TEST_F(GgufCli, MissingFileFails) {
  const KtRun r = run_kt("gguf '" + (tmp_ / "nope.gguf").string() + "'", tmp_);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("nope.gguf: no such file"), std::string::npos) << r.err;
}

}  // namespace
