// Hugging Face export (models/hf_export.h): the llama fixture survives import -> GGUF -> export
// bit for bit, the exported folder runs like the GGUF it came from, and other architectures
// are refused by name.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backends/cpu/thread_pool.h"
#include "engine/model.h"
#include "engine/session.h"
#include "models/hf_export.h"
#include "models/hf_import.h"
#include "tensor/error.h"
#include "tensor/safetensors.h"

namespace kt::engine {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = std::string(KT_SOURCE_DIR) + "/tests/fixtures/hf";

class HfExport : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kt_hfexport_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Fixture -> F32 GGUF file -> HF folder; returns the folder.
  std::string round_trip(const std::string& fixture) {
    const std::string gguf = (dir_ / (fixture + ".gguf")).string();
    models::import_hf_folder(kFixtures + "/" + fixture, models::QuantRecipe::F32)
        .writer.write(gguf);
    const Model m = Model::load(gguf);
    const std::string out = (dir_ / (fixture + "-hf")).string();
    models::export_hf_folder(*m.file, models::WeightSet::from_gguf(m.splits), out);
    return out;
  }
  fs::path dir_;
};

nlohmann::json read_json(const std::string& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

TEST_F(HfExport, LlamaFixtureRoundTripsExactly) {
  const std::string out = round_trip("llama");
  const tensor::SafetensorsFile a =
      tensor::SafetensorsFile::open(kFixtures + "/llama/model.safetensors");
  const tensor::SafetensorsFile b = tensor::SafetensorsFile::open(out + "/model.safetensors");
  EXPECT_EQ(a.tensors().size(), b.tensors().size());
  for (const auto& t : a.tensors()) {
    const tensor::SafetensorsTensor* u = b.find(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    EXPECT_EQ(u->dtype, tensor::StDType::F32) << t.name;
    EXPECT_EQ(u->shape, t.shape) << t.name;
    ASSERT_EQ(u->nbytes(), t.nbytes()) << t.name;
    EXPECT_EQ(std::memcmp(u->data, t.data, t.nbytes()), 0) << t.name << " differs";
  }
  const nlohmann::json want = read_json(kFixtures + "/llama/config.json");
  const nlohmann::json got = read_json(out + "/config.json");
  EXPECT_EQ(got["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(got["model_type"], "llama");
  for (const char* k : {"hidden_size", "intermediate_size", "num_hidden_layers",
                        "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size",
                        "max_position_embeddings", "rms_norm_eps", "tie_word_embeddings"})
    EXPECT_EQ(got[k], want[k]) << k;
  EXPECT_EQ(got["rope_theta"], want["rope_parameters"]["rope_theta"]);
}

TEST_F(HfExport, ExportedFolderGivesTheGgufLogits) {
  const std::string out = round_trip("llama");
  cpu::ThreadPool pool(2);
  const std::vector<int32_t> ids = {1, 5, 200, 33, 47, 2, 90};
  const Model g = Model::load((dir_ / "llama.gguf").string());
  const Model h = Model::load(out);
  Session sg(*g.arch, pool, 16), sh(*h.arch, pool, 16);
  EXPECT_EQ(sg.eval_all(ids), sh.eval_all(ids));
}

TEST_F(HfExport, OtherArchitecturesAreRefusedByName) {
  try {
    round_trip("qwen2");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("qwen2"), std::string::npos) << e.what();
  }
  try {
    round_trip("mixtral");  // llama architecture, but with experts
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expert"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kt::engine
