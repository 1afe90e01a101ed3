// `kt plan` through the binary: the shipped rules' placement as text and JSON, the two-GPU
// rules' split of weights and KV cache between cuda:0 and cuda:1, and a broken rule file
// reported with its file and line before anything is loaded.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
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

nlohmann::json plan_json(const std::string& args) {
  int status = -1;
  const std::string out = run(kKt + " plan --json " + args + " 2>/dev/null", &status);
  EXPECT_EQ(status, 0) << out;
  const size_t brace = out.find('{');
  if (status != 0 || brace == std::string::npos) return nlohmann::json::object();
  return nlohmann::json::parse(out.substr(brace));
}

// Bytes of one kind ("weight_bytes", "kv_cache_bytes") per device in a plan's JSON.
std::map<std::string, uint64_t> bytes_by_device(const nlohmann::json& plan, const char* kind) {
  std::map<std::string, uint64_t> m;
  for (const auto& d : plan.value("memory", nlohmann::json::array()))
    m[d.at("device").get<std::string>()] = d.at(kind).get<uint64_t>();
  return m;
}

// DeepSeek-V2-Lite's 27 layers (a tiny synthetic copy: real layer count and tensor names), with
// the shipped two-GPU rules: layers 0-13 and their KV cache on cuda:0, 14-26 with the final norm
// and LM head on cuda:1, routed experts in RAM. Nothing is lost or counted twice in the split.
TEST(KtPlan, TwoGpuRulesSplitWeightsAndKvCacheAtTheTransferLayer) {
  const std::string vocab = std::string(KT_TESTDATA_DIR) + "/vocab/ggml-vocab-deepseek-llm.gguf";
  if (!fs::exists(vocab)) GTEST_SKIP() << vocab << " is absent";
  const fs::path model =
      fs::temp_directory_path() / ("kt_plan_v2lite_" + std::to_string(::getpid()) + ".gguf");
  int status = -1;
  const std::string made = run(kKt + " synth --shape deepseek-v2-lite --tiny --type q8_0 -t 2 " +
                                   "--vocab " + vocab + " -o " + model.string(),
                               &status);
  ASSERT_EQ(status, 0) << made;
  const nlohmann::json one = plan_json("-m " + model.string() +
                                       " --optimize_rule_path DeepSeek-V2-Lite-Chat.yaml --gpus 1");
  const nlohmann::json two =
      plan_json("-m " + model.string() +
                " --optimize_rule_path DeepSeek-V2-Lite-Chat-multi-gpu.yaml --gpus 2");
  std::string refused =
      run(kKt + " plan -m " + model.string() +
              " --optimize_rule_path DeepSeek-V2-Lite-Chat-multi-gpu.yaml --gpus 1",
          &status);
  fs::remove(model);
  EXPECT_NE(status, 0);
  EXPECT_NE(refused.find("transfer_map[14] cuda:1: only 1 CUDA GPU(s) present"), std::string::npos)
      << refused;

  auto kv1 = bytes_by_device(one, "kv_cache_bytes"), kv2 = bytes_by_device(two, "kv_cache_bytes");
  auto w1 = bytes_by_device(one, "weight_bytes"), w2 = bytes_by_device(two, "weight_bytes");
  ASSERT_TRUE(kv2.count("cuda:0") && kv2.count("cuda:1")) << two.dump();
  // The KV cache is the same per layer: 14 of 27 layers' worth on cuda:0, 13 on cuda:1.
  EXPECT_EQ(kv2["cuda:0"] + kv2["cuda:1"], kv1["cuda:0"]);
  EXPECT_EQ(kv2["cuda:0"] * 13, kv2["cuda:1"] * 14);
  EXPECT_EQ(kv2["cpu"], 0u);
  // Weights: the routed experts (and the embedding table) stay in RAM as with one GPU; the GPU
  // weights are divided, none lost, and cuda:1 holds the LM head besides its layers.
  EXPECT_EQ(w2["cpu"], w1["cpu"]);
  EXPECT_EQ(w2["cuda:0"] + w2["cuda:1"], w1["cuda:0"]);
  EXPECT_GT(w2["cuda:0"], 0u);
  EXPECT_GT(w2["cuda:1"], w2["cuda:0"]);
  bool lm_head_on_1 = false;
  for (const auto& m : two.at("modules"))
    if (m.at("path") == "lm_head") lm_head_on_1 = m.at("generate").at("device") == "cuda:1";
  EXPECT_TRUE(lm_head_on_1) << two.dump();
}

}  // namespace
