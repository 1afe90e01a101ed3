// Split GGUF models (gguf.md 1.7): Model::load accepts the first split, any split or a folder
// holding them, merges their tensors, and gives the same logits as the single file; a missing
// split or a tensor in two splits is an error naming the file.
#include <gtest/gtest.h>

#include <filesystem>

#include "backends/cpu/thread_pool.h"
#include "engine/model.h"
#include "engine/session.h"
#include "models/hf_import.h"
#include "tensor/error.h"
#include "tensor/gguf_split.h"

namespace kt::engine {
namespace {

namespace fs = std::filesystem;

class GgufSplit : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kt_split_" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "splits");
    single_ = (dir_ / "llama.gguf").string();
    models::HfImport imp = models::import_hf_folder(
        std::string(KT_SOURCE_DIR) + "/tests/fixtures/hf/llama", models::QuantRecipe::Q8_0);
    imp.writer.write(single_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<float> logits(const Model& m) {
    cpu::ThreadPool pool(2);
    Session s(*m.arch, pool, 32);
    const std::vector<int32_t> ids = {1, 17, 42, 99, 3, 250, 7, 8, 128, 64};
    return s.eval_all(ids, 4);
  }
  static std::string message_of(const std::string& path) {
    try {
      Model::load(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }

  fs::path dir_;
  std::string single_;
};

TEST_F(GgufSplit, ThreeSplitsGiveTheSameLogitsAsOneFile) {
  const tensor::GgufFile src = tensor::GgufFile::open(single_);
  const std::vector<std::string> paths =
      tensor::write_gguf_splits(src, (dir_ / "splits" / "llama").string(), 3);
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(fs::path(paths[0]).filename(), "llama-00001-of-00003.gguf");
  // Metadata in the first split only; every split holds some tensors.
  for (const std::string& p : paths) {
    const tensor::GgufFile f = tensor::GgufFile::open(p);
    EXPECT_FALSE(f.tensors().empty()) << p;
    EXPECT_EQ(f.get_u32("split.count"), 3u);
    EXPECT_EQ(f.get_i64("split.tensors.count"), int64_t(src.tensors().size()));
    EXPECT_EQ(f.has("general.architecture"), p == paths[0]) << p;
  }

  const std::vector<float> want = logits(Model::load(single_));
  const Model first = Model::load(paths[0]);
  EXPECT_EQ(first.splits.size(), 3u);
  EXPECT_EQ(first.weight_bytes(), Model::load(single_).weight_bytes());
  EXPECT_EQ(logits(first), want);
  EXPECT_EQ(logits(Model::load(paths[2])), want);                    // any split
  EXPECT_EQ(logits(Model::load((dir_ / "splits").string())), want);  // the folder
}

TEST_F(GgufSplit, MissingSplitIsNamed) {
  const tensor::GgufFile src = tensor::GgufFile::open(single_);
  const auto paths = tensor::write_gguf_splits(src, (dir_ / "splits" / "llama").string(), 3);
  fs::remove(paths[1]);
  const std::string msg = message_of(paths[0]);
  EXPECT_NE(msg.find("llama-00002-of-00003.gguf"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing split 2 of 3"), std::string::npos) << msg;
}

TEST_F(GgufSplit, DuplicateTensorIsNamed) {
  // Two splits that both hold token_embd.weight.
  const tensor::GgufFile src = tensor::GgufFile::open(single_);
  const std::string prefix = (dir_ / "splits" / "dup").string();
  for (int i = 0; i < 2; ++i) {
    tensor::GgufWriter w;
    if (i == 0) tensor::copy_gguf_metadata(src, w);
    tensor::set_gguf_split_keys(w, i, 2, src.tensors().size() + 1);
    for (size_t t = 0; t < src.tensors().size(); ++t) {
      const tensor::GgufTensorInfo& ti = src.tensors()[t];
      if ((t % 2 == size_t(i)) || ti.name == "token_embd.weight")
        w.add_tensor(ti.name, ti.type, std::span<const int64_t>(ti.ne.data(), ti.n_dims), ti.data,
                     ti.nbytes);
    }
    w.write(tensor::gguf_split_path(prefix, i + 1, 2));
  }
  const std::string msg = message_of(tensor::gguf_split_path(prefix, 1, 2));
  EXPECT_NE(msg.find("token_embd.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("duplicate"), std::string::npos) << msg;
}

TEST_F(GgufSplit, SplitKeysMustAgreeWithTheFileNames) {
  // A single file whose metadata says it is one of three.
  const tensor::GgufFile src = tensor::GgufFile::open(single_);
  tensor::GgufWriter w;
  tensor::copy_gguf_metadata(src, w);
  tensor::set_gguf_split_keys(w, 0, 3, src.tensors().size());
  for (const auto& ti : src.tensors())
    w.add_tensor(ti.name, ti.type, std::span<const int64_t>(ti.ne.data(), ti.n_dims), ti.data,
                 ti.nbytes);
  const std::string odd = (dir_ / "odd.gguf").string();
  w.write(odd);
  EXPECT_NE(message_of(odd).find("split.count is 3"), std::string::npos) << message_of(odd);
  // An empty folder names what it expected.
  fs::create_directories(dir_ / "empty");
  EXPECT_NE(message_of((dir_ / "empty").string()).find("no config.json"), std::string::npos);
}

}  // namespace
}  // namespace kt::engine
