// `kt bench ops --quick --json` runs every kernel type and emits well-formed JSON. Figures are
// not checked: speed belongs in benchmarks, not tests.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace {

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

TEST(KtBenchOps, QuickJsonCoversEveryKernelType) {
  int status = -1;
  const std::string out =
      run(std::string(KT_BINARY_DIR) + "/kt bench ops --quick --threads 1 --json", &status);
  ASSERT_EQ(status, 0) << out;
  const auto doc = nlohmann::json::parse(out);
  ASSERT_TRUE(doc.contains("machine"));
  ASSERT_EQ(doc["bandwidth"].size(), 1u);
  EXPECT_GT(doc["bandwidth"][0]["read_gb_s"].get<double>(), 0.0);
  std::set<std::string> types;
  for (const auto& r : doc["results"]) {
    types.insert(r["type"].get<std::string>());
    EXPECT_GT(r["gemv_gb_s"].get<double>(), 0.0);
    EXPECT_GT(r["gemm_gflop_s"].get<double>(), 0.0);
  }
  EXPECT_EQ(types,
            (std::set<std::string>{"F32", "F16", "BF16", "Q4_0", "Q8_0", "Q4_K", "Q5_K", "Q6_K"}));
}

TEST(KtBenchOps, RejectsUnknownTypeAndIsa) {
  int status = -1;
  const std::string kt = std::string(KT_BINARY_DIR) + "/kt";
  run(kt + " bench ops --quick --types q9_Z 2>&1", &status);
  EXPECT_NE(status, 0);
  const std::string msg = run(kt + " bench ops --quick --isa sse9 2>&1", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(msg.find("sse9"), std::string::npos) << msg;
  const std::string iq = run(kt + " bench ops --quick --types iq2_xxs 2>&1", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(iq.find("IQ2_XXS"), std::string::npos) << iq;
}

}  // namespace
