// Perplexity and KL divergence (engine/perplexity.h): the figures equal a hand computation from
// Session::eval_all with llama.cpp's chunking, a model against its own saved log-probs gives
// KL 0, Q8_0 against F32 a small positive KL, and bad input fails with kt::Error.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "backends/cpu/thread_pool.h"
#include "engine/model.h"
#include "engine/perplexity.h"
#include "engine/session.h"
#include "models/llama2c.h"
#include "tensor/error.h"

namespace kt::engine {
namespace {

namespace fs = std::filesystem;

const std::string kLlamaFixture = std::string(KT_SOURCE_DIR) + "/tests/fixtures/hf/llama";
const std::string kText = std::string(KT_SOURCE_DIR) + "/tests/fixtures/text/tinystories.txt";
const std::string kStoriesDir = std::string(KT_TESTDATA_DIR) + "/stories260K";

class Perplexity : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kt_ppl_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
  cpu::ThreadPool pool_{2};
};

// A fixed pseudo-random token sequence over the vocabulary.
std::vector<int32_t> sequence(size_t n, int32_t vocab) {
  std::vector<int32_t> t(n);
  uint32_t x = 12345;
  for (auto& v : t) {
    x = x * 1103515245u + 12345u;
    v = int32_t((x >> 8) % uint32_t(vocab));
  }
  return t;
}

std::string read(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST_F(Perplexity, EqualsHandComputationFromEvalAll) {
  const Model m = Model::load(kLlamaFixture);
  const int64_t V = m.arch->hparams().n_vocab, n_ctx = 16;
  // Three whole chunks and a partial one that must be dropped.
  const std::vector<int32_t> tokens = sequence(3 * n_ctx + 5, int32_t(V));
  const int32_t bos = 1;
  PerplexityOptions opt;
  opt.n_ctx = n_ctx;
  opt.batch = 5;  // several forward passes per half chunk
  const PerplexityResult r = perplexity(*m.arch, pool_, tokens, bos, opt);

  // By hand: every chunk from an empty cache, first token replaced by BOS, all logits in one
  // pass, positions n_ctx/2 .. n_ctx-2 scored against the next token. (kt's passes are cut
  // differently, so the f32 logits agree to rounding, not bit for bit.)
  Session s(*m.arch, pool_, n_ctx);
  double sum = 0, sum2 = 0;
  int count = 0;
  std::vector<double> running;
  for (int c = 0; c < 3; ++c) {
    std::vector<int32_t> ids(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx);
    ids[0] = bos;
    s.reset();
    const std::vector<float> l = s.eval_all(ids);
    for (int64_t j = n_ctx / 2; j < n_ctx - 1; ++j) {
      const float* row = l.data() + j * V;
      double mx = row[0], z = 0;
      for (int64_t i = 0; i < V; ++i) mx = std::max<double>(mx, row[i]);
      for (int64_t i = 0; i < V; ++i) z += std::exp(row[i] - mx);
      const double nll = mx + std::log(z) - row[tokens[size_t(c * n_ctx + j + 1)]];
      sum += nll, sum2 += nll * nll, ++count;
    }
    running.push_back(std::exp(sum / count));
  }
  ASSERT_EQ(count, 3 * 7);
  const double mean = sum / count, ppl = std::exp(mean);
  const double se = std::sqrt((sum2 / count - mean * mean) / (count - 1)) * ppl;
  EXPECT_EQ(r.n_chunks, 3);
  EXPECT_EQ(r.nll.count, count);
  EXPECT_NEAR(r.ppl(), ppl, 1e-5 * ppl);
  EXPECT_NEAR(r.ppl_error(), se, 1e-4 * se);
  ASSERT_EQ(r.chunk_ppl.size(), 3u);
  for (int c = 0; c < 3; ++c)
    EXPECT_NEAR(r.chunk_ppl[size_t(c)], running[size_t(c)], 1e-5 * running[size_t(c)]);

  opt.max_chunks = 2;
  EXPECT_EQ(perplexity(*m.arch, pool_, tokens, bos, opt).nll.count, 2 * 7);
}

TEST_F(Perplexity, ModelAgainstItsOwnLogProbsHasZeroKl) {
  const Model m = Model::load(kLlamaFixture);
  const std::vector<int32_t> tokens = sequence(100, int32_t(m.arch->hparams().n_vocab));
  PerplexityOptions opt;
  opt.n_ctx = 32;
  opt.top_k = 20;  // a tail is kept as one "other" outcome
  const std::string saved = path("self.klb");
  const PerplexityResult p = perplexity(*m.arch, pool_, tokens, 1, opt, saved);
  LogProbReader base(saved);
  EXPECT_EQ(base.header().n_chunk, 3u);
  EXPECT_EQ(base.header().top_k, 20u);
  const KlResult k = kl_divergence(*m.arch, pool_, base);
  EXPECT_EQ(k.kld.count, 3 * 15);
  EXPECT_LT(std::abs(k.kld.mean()), 1e-6);
  EXPECT_LT(k.kld_max(), 1e-6);
  EXPECT_EQ(k.same_top_fraction(), 1.0);
  EXPECT_NEAR(k.ppl(), p.ppl(), 1e-9 * p.ppl());
  EXPECT_NEAR(k.ppl_base(), p.ppl(), 1e-5 * p.ppl());
}

TEST_F(Perplexity, TopKIsALowerBoundOfTheExactKl) {
  // Two different models over one vocabulary: the llama and mistral fixtures.
  const Model a = Model::load(kLlamaFixture);
  const Model b = Model::load(std::string(KT_SOURCE_DIR) + "/tests/fixtures/hf/mistral");
  ASSERT_EQ(a.arch->hparams().n_vocab, b.arch->hparams().n_vocab);
  const std::vector<int32_t> tokens = sequence(64, int32_t(a.arch->hparams().n_vocab));
  PerplexityOptions opt;
  opt.n_ctx = 32;
  opt.top_k = 1u << 20;  // clamped to the vocabulary: exact
  perplexity(*a.arch, pool_, tokens, 1, opt, path("all.klb"));
  opt.top_k = 8;
  perplexity(*a.arch, pool_, tokens, 1, opt, path("top8.klb"));
  LogProbReader all(path("all.klb")), top8(path("top8.klb"));
  EXPECT_EQ(all.header().top_k, uint32_t(a.arch->hparams().n_vocab));
  const KlResult exact = kl_divergence(*b.arch, pool_, all);
  const KlResult bound = kl_divergence(*b.arch, pool_, top8);
  EXPECT_GT(exact.kld.mean(), 0.0);
  EXPECT_LE(bound.kld.mean(), exact.kld.mean() + 1e-9);
  EXPECT_GT(bound.kld.mean(), 0.0);
  EXPECT_NEAR(bound.ppl_base(), exact.ppl_base(), 1e-9 * exact.ppl_base());
}

TEST_F(Perplexity, BadInputIsAnError) {
  const Model m = Model::load(kLlamaFixture);
  PerplexityOptions opt;
  opt.n_ctx = 64;
  const std::vector<int32_t> short_text = sequence(63, 256);
  EXPECT_THROW(perplexity(*m.arch, pool_, short_text, 1, opt), Error);
  opt.n_ctx = 2;
  EXPECT_THROW(perplexity(*m.arch, pool_, sequence(10, 256), 1, opt), Error);
  opt.n_ctx = 16;
  EXPECT_THROW(perplexity(*m.arch, pool_, std::vector<int32_t>(20, 999), 1, opt), Error);

  try {
    LogProbReader r(path("missing.klb"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.klb"), std::string::npos) << e.what();
  }
  // A file that is not ours, and one cut short.
  std::ofstream(path("junk.klb")) << "not a log-prob file at all, but long enough to have a header";
  EXPECT_THROW(LogProbReader(path("junk.klb")), Error);
  perplexity(*m.arch, pool_, sequence(40, 256), 1, opt, path("ok.klb"));
  fs::resize_file(path("ok.klb"), fs::file_size(path("ok.klb")) - 4);
  EXPECT_THROW(LogProbReader(path("ok.klb")), Error);
}

class PerplexityStories : public Perplexity {
 protected:
  void SetUp() override {
    if (!fs::exists(kStoriesDir + "/stories260K.bin"))
      GTEST_SKIP() << "no " << kStoriesDir << " (shared test data absent)";
    Perplexity::SetUp();
  }
  std::string convert(tensor::DType type, const std::string& name) {
    models::Llama2cImportOptions o;
    o.type = type;
    models::convert_llama2c_to_gguf(kStoriesDir + "/stories260K.bin", kStoriesDir + "/tok512.bin",
                                    path(name), o);
    return path(name);
  }
};

TEST_F(PerplexityStories, Q8_0AgainstF32HasSmallPositiveKl) {
  const Model f32 = Model::load(convert(tensor::DType::F32, "f32.gguf"));
  const Model q8 = Model::load(convert(tensor::DType::Q8_0, "q8.gguf"));
  const std::vector<int32_t> tokens = perplexity_tokens(*f32.tokenizer, read(kText));
  ASSERT_EQ(tokens.front(), f32.tokenizer->bos_id());
  PerplexityOptions opt;
  opt.n_ctx = 128;
  opt.max_chunks = 4;
  const PerplexityResult p =
      perplexity(*f32.arch, pool_, tokens, f32.tokenizer->bos_id(), opt, path("f32.klb"));
  // A TinyStories model on a TinyStories-like text: low perplexity.
  EXPECT_GT(p.ppl(), 1.5);
  EXPECT_LT(p.ppl(), 8.0);
  LogProbReader base(path("f32.klb"));
  const KlResult k = kl_divergence(*q8.arch, pool_, base);
  EXPECT_EQ(k.n_chunks, 4);
  EXPECT_GT(k.kld.mean(), 1e-6);
  EXPECT_LT(k.kld.mean(), 0.01);
  EXPECT_LE(k.kld_percentile(0.99), k.kld_max());
  EXPECT_GT(k.same_top_fraction(), 0.95);
  EXPECT_NEAR(std::log(k.ppl() / k.ppl_base()), 0.0, 0.02);
}

TEST_F(PerplexityStories, MismatchedVocabularyIsAnError) {
  const Model stories = Model::load(convert(tensor::DType::F32, "f32.gguf"));
  const Model llama = Model::load(kLlamaFixture);  // 256 tokens against 512
  PerplexityOptions opt;
  opt.n_ctx = 16;
  perplexity(*llama.arch, pool_, sequence(32, 256), 1, opt, path("llama.klb"));
  LogProbReader base(path("llama.klb"));
  try {
    kl_divergence(*stories.arch, pool_, base);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("llama.klb"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("vocabulary"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kt::engine
