// Chat sessions on a real (tiny) model: history through the template, KV-cache reuse across
// turns, streamed text equal to the recorded reply, and a deterministic greedy answer.
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/chat.h"
#include "models/llama2c.h"
#include "tensor/error.h"

namespace kt::engine {
namespace {

namespace fs = std::filesystem;

class ChatOnStories : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dir = std::string(KT_TESTDATA_DIR) + "/stories260K";
    if (!fs::exists(dir + "/stories260K.bin")) return;
    path_ =
        (fs::temp_directory_path() / ("kt_chat_" + std::to_string(::getpid()) + ".gguf")).string();
    models::convert_llama2c_to_gguf(dir + "/stories260K.bin", dir + "/tok512.bin", path_);
  }
  static void TearDownTestSuite() {
    if (!path_.empty()) fs::remove(path_);
  }
  void SetUp() override {
    if (path_.empty()) GTEST_SKIP() << "shared test data absent";
  }
  static ChatOptions greedy(int n) {
    ChatOptions o;
    o.sampler.temperature = 0;
    o.max_new_tokens = n;
    o.n_ctx = 512;
    return o;
  }
  static inline std::string path_;
};

TEST_F(ChatOnStories, TurnsReuseTheCacheAndStreamTheRecordedReply) {
  const Model m = Model::load(path_);
  ASSERT_TRUE(m.chat_template.has_value());
  EXPECT_TRUE(m.chat_template->is_fallback());  // stories260K has no template: ChatML
  cpu::ThreadPool pool(2);
  Chat chat(m, pool, greedy(12));
  std::string streamed;
  TurnStats a = chat.send("Once upon a time", [&](std::string_view s) { streamed += s; });
  EXPECT_EQ(a.reused_tokens, 0);
  EXPECT_EQ(a.generated_tokens, 12);
  EXPECT_EQ(a.stop, "length");
  ASSERT_EQ(chat.history().size(), 2u);
  EXPECT_EQ(chat.history()[1]["content"].get<std::string>(), streamed);

  streamed.clear();
  TurnStats b = chat.send("Lily", [&](std::string_view s) { streamed += s; });
  // The whole first exchange is a prefix of the second prompt (up to the reply's end).
  EXPECT_GT(b.reused_tokens, a.prompt_tokens);
  EXPECT_EQ(chat.history().size(), 4u);

  // The same conversation from scratch gives the same second answer: reuse changes nothing.
  Chat fresh(m, pool, greedy(12));
  fresh.send("Once upon a time", [](std::string_view) {});
  std::string again;
  fresh.send("Lily", [&](std::string_view s) { again += s; });
  EXPECT_EQ(again, streamed);

  chat.clear();
  EXPECT_TRUE(chat.history().empty());
}

TEST_F(ChatOnStories, PromptLongerThanTheContextIsRejectedAndForgotten) {
  const Model m = Model::load(path_);
  cpu::ThreadPool pool(1);
  ChatOptions o = greedy(4);
  o.n_ctx = 16;
  Chat chat(m, pool, o);
  EXPECT_THROW(chat.send(std::string(400, 'a'), [](std::string_view) {}), Error);
  EXPECT_TRUE(chat.history().empty());
}

}  // namespace
}  // namespace kt::engine

namespace kt::engine {
namespace {

// `kt chat` on every architecture: the HF fixtures carry a 256-byte tokenizer, so a whole
// conversation (ChatML fallback template, two turns with cache reuse) runs on each.
class ChatOnFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ChatOnFixture, TwoTurnsRun) {
  const Model m = Model::load(std::string(KT_SOURCE_DIR) + "/tests/fixtures/hf/" + GetParam());
  ASSERT_TRUE(m.tokenizer && m.chat_template);
  cpu::ThreadPool pool(2);
  ChatOptions o;
  o.sampler.temperature = 0;
  o.max_new_tokens = 6;
  o.n_ctx = 256;
  Chat chat(m, pool, o);
  const TurnStats a = chat.send("hello", [](std::string_view) {});
  // No token of a 256-byte vocabulary ends generation: every turn runs to its limit.
  EXPECT_EQ(a.generated_tokens, 6);
  EXPECT_EQ(a.stop, "length");
  const TurnStats b = chat.send("again", [](std::string_view) {});
  EXPECT_GT(b.reused_tokens, 0);
  EXPECT_EQ(chat.history().size(), 4u);
}

INSTANTIATE_TEST_SUITE_P(Architectures, ChatOnFixture,
                         ::testing::Values("llama", "mistral", "mixtral", "qwen2", "qwen3moe",
                                           "qwen2moe", "deepseek2lite", "deepseek2", "deepseek3",
                                           "gemma3"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace kt::engine
