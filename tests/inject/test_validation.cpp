// Rule files are checked before any weight is read; every error names the file and line.
#include <gtest/gtest.h>

#include "inject/plan.h"
#include "synthetic.h"
#include "tensor/error.h"

namespace kt::inject {
namespace {

using tensor::Device;
using testing::Attn;
using testing::Ffn;
using testing::make_model;

models::ModuleTree tree() {
  return make_model("", "deepseek2", 3, Attn::Mla, Ffn::MoeShared, 1).tree();
}

// The message of the error building the plan throws; "" when it builds.
std::string error_of(const std::string& yaml, int gpus = 1) {
  try {
    Plan::build(tree(), parse_rules(yaml, "r.yaml"), {Device::cpu(), gpus});
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_HAS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

TEST(Validation, UnknownReplaceClass) {
  EXPECT_HAS(error_of("- match: {name: x}\n  replace:\n    class: KNoSuch\n"),
             "r.yaml:3: unknown replace class \"KNoSuch\"");
}

TEST(Validation, UnknownMatchClass) {
  EXPECT_HAS(error_of("- match:\n    class: torch.nn.Linearr\n  replace: {class: default}\n"),
             "r.yaml:2: unknown module class \"torch.nn.Linearr\"");
}

TEST(Validation, UnknownOp) {
  EXPECT_HAS(error_of(R"(- match: {name: experts}
  replace:
    class: KTransformersExperts
    kwargs:
      generate_op: KExpertsGPU
)"),
             "r.yaml:5: unknown generate_op \"KExpertsGPU\"");
}

TEST(Validation, OperatorKtLacks) {
  EXPECT_HAS(error_of(R"(- match: {name: q_proj}
  replace:
    class: KTransformersLinear
    kwargs: {generate_op: KLinearFP8}
)"),
             "r.yaml:4: operator \"KLinearFP8\"");
}

TEST(Validation, UnknownDeviceAndKwarg) {
  const std::string e = error_of(R"(- match: {name: experts}
  replace:
    class: default
    kwargs:
      generate_device: "gpu0"
      generat_device: cpu
)");
  EXPECT_HAS(e, "r.yaml:5: generate_device: unknown device \"gpu0\"");
  EXPECT_HAS(e, "r.yaml:6: unknown kwarg \"generat_device\"");
  EXPECT_HAS(e, "2 error(s)");  // all errors at once
}

TEST(Validation, InvalidRegex) {
  EXPECT_HAS(
      error_of("- match:\n    name: \"^model\\\\.layers\\\\.(\"\n  replace: {class: default}\n"),
      "r.yaml:2: invalid regular expression");
  // Python-only syntax is reported, not misread.
  EXPECT_HAS(error_of("- match: {name: \"(?P<n>x)\"}\n  replace: {class: default}\n"),
             "r.yaml:1: invalid regular expression");
}

TEST(Validation, OpNotAvailableOnTheDevice) {
  EXPECT_HAS(error_of(R"(- match: {name: "mlp\\.experts$"}
  replace:
    class: KTransformersExperts
    kwargs:
      generate_device: "cuda:0"
      generate_op: KExpertsCPU
)"),
             "r.yaml:6: KExpertsCPU (experts_fused) does not run on cuda:0");
  EXPECT_HAS(error_of(R"(- match: {name: "q_a_proj$"}
  replace:
    class: KTransformersLinear
    kwargs: {generate_device: cpu, generate_op: KLinearMarlin}
)"),
             "KLinearMarlin (linear_marlin) does not run on cpu");
}

TEST(Validation, CudaWithoutAGpu) {
  const std::string yaml = R"(- match: {name: "self_attn$"}
  replace: {class: KDeepseekV2Attention, kwargs: {generate_device: "cuda:1"}}
)";
  EXPECT_HAS(error_of(yaml, 0), "r.yaml:2: generate_device cuda:1: no CUDA GPU is present");
  EXPECT_HAS(error_of(yaml, 1), "only 1 CUDA GPU(s) present");
  EXPECT_EQ(error_of(yaml, 2), "");  // a fake second GPU makes it valid
}

TEST(Validation, OperatorOfTheWrongKind) {
  EXPECT_HAS(error_of(R"(- match: {name: "self_attn$"}
  replace: {class: KTransformersExperts}
)"),
             "r.yaml:2: KTransformersExperts (an operator for Experts modules) cannot replace "
             "model.layers.0.self_attn (DeepseekV2Attention)");
  EXPECT_HAS(error_of(R"(- match: {name: "experts$"}
  replace: {class: KTransformersExperts, kwargs: {generate_op: KLinearTorch}}
)"),
             "generate_op KLinearTorch is a Linear operator");
}

TEST(Validation, RuleThatMatchesNothingIsAWarning) {
  const Plan p = Plan::build(tree(), parse_rules(R"(- match: {name: "^model\\.layers\\.9\\."}
  replace: {class: default}
)",
                                                 "r.yaml"));
  ASSERT_EQ(p.warnings().size(), 1u);
  EXPECT_HAS(p.warnings()[0], "r.yaml:1: rule matches no module");
}

TEST(Validation, MalformedFiles) {
  auto parse_error = [](const std::string& yaml) {
    try {
      parse_rules(yaml, "r.yaml");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_HAS(parse_error("- match: {name: [x\n"), "r.yaml:");
  EXPECT_HAS(parse_error("- match: {name: [x\n"), "YAML syntax error");
  EXPECT_HAS(parse_error("match: {name: x}\n"), "r.yaml:1: a rule file must be a list of rules");
  EXPECT_HAS(parse_error("- replace: {class: default}\n"), "r.yaml:1: rule without match");
  EXPECT_HAS(parse_error("- match: {}\n  replace: {class: default}\n"),
             "match needs a name (regex) or a class");
  EXPECT_HAS(parse_error("- match: {name: x}\n  replace: {class: default}\n  recursive: maybe\n"),
             "r.yaml:3: recursive must be true or false");
  EXPECT_HAS(parse_error("- match: {name: x}\n  replace: {class: default}\n  recurse: false\n"),
             "r.yaml:3: unknown rule key \"recurse\"");
  EXPECT_THROW(load_rules("/no/such/rules.yaml"), Error);
}

}  // namespace
}  // namespace kt::inject
