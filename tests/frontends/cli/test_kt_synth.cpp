// `kt synth` and `kt bench -m` end to end through the binary, on a tiny synthetic model:
// the file lists the Q4_K_M mix, the benchmark runs and emits well-formed JSON (figures are
// not checked), and bad requests fail naming what is wrong.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

namespace {

namespace fs = std::filesystem;

std::string run(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = pclose(p);
  return out;
}

class KtSynth : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(vocab_)) GTEST_SKIP() << "no " << vocab_;
    dir_ = fs::temp_directory_path() / ("kt_synth_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  const std::string kt_ = std::string(KT_BINARY_DIR) + "/kt";
  const std::string vocab_ = std::string(KT_TESTDATA_DIR) + "/vocab/ggml-vocab-llama-spm.gguf";
  fs::path dir_;
};

TEST_F(KtSynth, TinyQ4KMThenBench) {
  const std::string out = (dir_ / "q3.gguf").string();
  int status = -1;
  const std::string log = run(kt_ + " synth --shape qwen3-30b-a3b:2 --tiny --type q4_k_m --vocab " +
                                  vocab_ + " -o " + out + " -t 2 2>&1",
                              &status);
  ASSERT_EQ(status, 0) << log;
  const std::string info = run(kt_ + " gguf " + out + " 2>&1", &status);
  ASSERT_EQ(status, 0) << info;
  EXPECT_NE(info.find("\"qwen3moe\""), std::string::npos) << info;
  // The Q4_K_M mix: Q4_K by default, Q6_K for the head and ffn_down of the "more bits" layers.
  auto type_of = [&](const std::string& tensor, const std::string& type) {
    return std::regex_search(info, std::regex(tensor + R"(\s+)" + type + " "));
  };
  EXPECT_TRUE(type_of(R"(blk\.1\.ffn_down_exps\.weight)", "Q6_K")) << info;
  EXPECT_TRUE(type_of(R"(blk\.0\.attn_q\.weight)", "Q4_K")) << info;
  EXPECT_TRUE(type_of(R"(blk\.0\.ffn_gate_inp\.weight)", "F32")) << info;
  EXPECT_TRUE(type_of(R"( output\.weight)", "Q6_K")) << info;
  EXPECT_NE(info.find("tokenizer.ggml.tokens"), std::string::npos) << info;

  const std::string bench =
      run(kt_ + " bench -m " + out + " -p 8 -n 4 -r 2 -t 1,2 --bw-gib 0.0625 --json 2>/dev/null",
          &status);
  ASSERT_EQ(status, 0) << bench;
  const auto doc = nlohmann::json::parse(bench);
  EXPECT_EQ(doc["arch"], "qwen3moe");
  EXPECT_EQ(doc["file_type"], "Q4_K_M");
  EXPECT_GT(doc["decode_bytes"]["experts"].get<double>(), 0.0);
  EXPECT_LT(doc["decode_bytes"]["weights"].get<double>(), doc["size_bytes"].get<double>());
  ASSERT_EQ(doc["results"].size(), 2u);
  for (const auto& r : doc["results"]) {
    EXPECT_EQ(r["pp_tok_s"]["samples"].size(), 2u);
    EXPECT_GT(r["tg_tok_s"]["mean"].get<double>(), 0.0);
    EXPECT_GT(r["bound_tok_s"].get<double>(), 0.0);
  }
}

TEST_F(KtSynth, BadRequestsNameTheProblem) {
  int status = -1;
  const std::string o = " -o " + (dir_ / "x.gguf").string();
  std::string msg = run(kt_ + " synth --shape gpt-5 --vocab " + vocab_ + o + " 2>&1", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(msg.find("gpt-5"), std::string::npos) << msg;
  msg = run(kt_ + " synth --shape mixtral-8x7b:1 --type q3_z --vocab " + vocab_ + o + " 2>&1",
            &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(msg.find("q3_z"), std::string::npos) << msg;
  msg =
      run(kt_ + " synth --shape mixtral-8x7b:1 --vocab /nonexistent/v.gguf" + o + " 2>&1", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(msg.find("/nonexistent/v.gguf"), std::string::npos) << msg;
  msg = run(kt_ + " bench 2>&1", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(msg.find("-m MODEL"), std::string::npos) << msg;
  msg = run(kt_ + " bench -m /nonexistent/m.gguf 2>&1", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(msg.find("/nonexistent/m.gguf"), std::string::npos) << msg;
}

}  // namespace
