// `kt plan` through the binary: the shipped rules' placement as text and JSON, and a broken
// rule file reported with its file and line before anything is loaded.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
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

const std::string kKt = std::string(KT_BINARY_DIR) + "/kt";
const std::string kModel = std::string(KT_SOURCE_DIR) + "/tests/fixtures/hf/deepseek2lite";

TEST(KtPlan, HybridRulesPutExpertsOnTheCpuAndTheRestOnTheGpu) {
  int status = -1;
  const std::string out =
      run(kKt + " plan -m " + kModel + " --optimize_rule_path DeepSeek-V2-Lite-Chat.yaml --gpus 1",
          &status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("model.layers.{1-2}.mlp.experts"), std::string::npos) << out;
  EXPECT_NE(out.find("experts_fused@cpu"), std::string::npos) << out;
  EXPECT_NE(out.find("@cuda:0"), std::string::npos) << out;
}

TEST(KtPlan, JsonListsModulesAndBytesPerDevice) {
  int status = -1;
  const std::string out = run(kKt + " plan -m " + kModel + " --json 2>/dev/null", &status);
  ASSERT_EQ(status, 0) << out;
  const auto j = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_NE(j.dump().find("experts"), std::string::npos);
  EXPECT_NE(j.dump().find("cpu"), std::string::npos);
}

TEST(KtPlan, GpuRulesWithoutAGpuAndBrokenRulesAreRejectedWithFileAndLine) {
  int status = -1;
  std::string out =
      run(kKt + " plan -m " + kModel + " --optimize_rule_path DeepSeek-V2-Lite-Chat.yaml --gpus 0",
          &status);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(out.find("DeepSeek-V2-Lite-Chat.yaml:"), std::string::npos) << out;
  const fs::path bad =
      fs::temp_directory_path() / ("kt_bad_rule_" + std::to_string(::getpid()) + ".yaml");
  {
    std::ofstream f(bad);
    f << "- match:\n    name: \"^model\\\\.layers\\\\.(0|1\\\\.mlp\"\n  replace:\n    class: "
         "default\n";
  }
  out = run(kKt + " plan -m " + kModel + " --optimize_rule_path " + bad.string(), &status);
  fs::remove(bad);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(out.find(bad.filename().string() + ":2:"), std::string::npos) << out;
  EXPECT_NE(out.find("invalid regular expression"), std::string::npos) << out;
}

}  // namespace
