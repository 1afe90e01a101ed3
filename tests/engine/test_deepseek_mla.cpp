// DeepSeek files come in two layouts: the legacy attn_kv_b, and the MLA layout of newer
// llama.cpp converters (attn_k_b + attn_v_b, one KV head, key_length_mla/value_length_mla).
// A file rewritten from one layout to the other, as the converter does it (gguf.md §4.6),
// must give the same logits.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "backends/cpu/thread_pool.h"
#include "engine/model.h"
#include "engine/session.h"
#include "models/hf_import.h"
#include "tensor/error.h"

namespace kt::engine {
namespace {

namespace fs = std::filesystem;
using tensor::DType;
using tensor::GgufFile;

// The legacy file rewritten in the MLA layout: attn_kv_b {Rkv, H·(Dn+Dv)} split into
// attn_k_b {Dn, Rkv, H} (each head's k rows transposed) and attn_v_b {Rkv, Dv, H}.
std::vector<uint8_t> to_mla_layout(const GgufFile& f, std::vector<std::vector<float>>& keep) {
  const std::string a = "deepseek2.";
  const int64_t H = f.get_u32(a + "attention.head_count");
  const int64_t Dq = f.get_u32(a + "attention.key_length");
  const int64_t Dv = f.get_u32(a + "attention.value_length");
  const int64_t Dr = f.get_u32(a + "rope.dimension_count");
  const int64_t R = f.get_u32(a + "attention.kv_lora_rank");
  const int64_t Dn = Dq - Dr;
  tensor::GgufWriter w;
  for (size_t i = 0; i < f.kv_count(); ++i) w.copy_value(f.kv(i));
  w.set_u32(a + "attention.head_count_kv", 1);
  w.set_u32(a + "attention.key_length", uint32_t(R + Dr));
  w.set_u32(a + "attention.value_length", uint32_t(R));
  w.set_u32(a + "attention.key_length_mla", uint32_t(Dq));
  w.set_u32(a + "attention.value_length_mla", uint32_t(Dv));
  for (const tensor::GgufTensorInfo& t : f.tensors()) {
    const std::string name(t.name);
    std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
    const size_t kvb = name.find("attn_kv_b.weight");
    if (kvb == std::string::npos) {
      w.add_tensor(name, t.type, ne, t.data, t.nbytes);
      continue;
    }
    EXPECT_EQ(t.type, DType::F32);
    const float* src = reinterpret_cast<const float*>(t.data);  // rows of R
    std::vector<float> k(size_t(Dn * R * H)), v(size_t(R * Dv * H));
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t i = 0; i < Dn; ++i)
        for (int64_t c = 0; c < R; ++c)
          k[size_t((h * R + c) * Dn + i)] = src[(h * (Dn + Dv) + i) * R + c];
      for (int64_t j = 0; j < Dv; ++j)
        for (int64_t c = 0; c < R; ++c)
          v[size_t((h * Dv + j) * R + c)] = src[(h * (Dn + Dv) + Dn + j) * R + c];
    }
    const std::string prefix = name.substr(0, kvb);
    keep.push_back(std::move(k));
    w.add_tensor(prefix + "attn_k_b.weight", DType::F32, {Dn, R, H}, keep.back().data(),
                 keep.back().size() * 4);
    keep.push_back(std::move(v));
    w.add_tensor(prefix + "attn_v_b.weight", DType::F32, {R, Dv, H}, keep.back().data(),
                 keep.back().size() * 4);
  }
  return w.to_bytes();
}

std::vector<float> all_logits(const Model& m, const std::vector<int32_t>& tokens) {
  cpu::ThreadPool pool(2);
  Session s(*m.arch, pool, 32);
  return s.eval_all(tokens, 5);
}

TEST(DeepSeekMla, MlaLayoutGivesTheLogitsOfTheLegacyLayout) {
  for (const char* fixture : {"deepseek2", "deepseek2lite"}) {
    SCOPED_TRACE(fixture);
    const std::string dir = std::string(KT_SOURCE_DIR) + "/tests/fixtures/hf/" + fixture;
    models::HfImport imp = models::import_hf_folder(dir, models::QuantRecipe::F32);
    auto legacy = std::make_shared<const GgufFile>(
        GgufFile::from_memory(std::string(fixture) + "-legacy", imp.writer.to_bytes()));
    std::vector<std::vector<float>> keep;
    auto mla = std::make_shared<const GgufFile>(
        GgufFile::from_memory(std::string(fixture) + "-mla", to_mla_layout(*legacy, keep)));
    ASSERT_FALSE(mla->find_tensor("blk.1.attn_kv_b.weight"));
    ASSERT_TRUE(mla->find_tensor("blk.1.attn_k_b.weight"));

    Model a, b;
    a.file = legacy;
    a.arch = models::make_architecture(*legacy, models::WeightSet::from_gguf(legacy));
    b.file = mla;
    b.arch = models::make_architecture(*mla, models::WeightSet::from_gguf(mla));
    // Same cache either way: the latent and the rope key of each token.
    ASSERT_EQ(a.arch->cache_specs().size(), b.arch->cache_specs().size());
    EXPECT_EQ(a.arch->cache_specs()[0].row_shape, (std::vector<int64_t>{32 + 8, 1}));
    EXPECT_EQ(b.arch->cache_specs()[0].row_shape, (std::vector<int64_t>{32 + 8, 1}));

    const std::vector<int32_t> tokens = {1, 17, 250, 3, 99, 42, 7, 128, 5, 64, 200, 11};
    const std::vector<float> la = all_logits(a, tokens), lb = all_logits(b, tokens);
    ASSERT_EQ(la.size(), lb.size());
    double max_diff = 0;
    for (size_t i = 0; i < la.size(); ++i)
      max_diff = std::max(max_diff, std::fabs(double(la[i]) - double(lb[i])));
    EXPECT_LT(max_diff, 1e-5);

    // A broken MLA file fails at load, naming the tensor.
    tensor::GgufWriter w;
    for (size_t i = 0; i < mla->kv_count(); ++i) w.copy_value(mla->kv(i));
    for (const tensor::GgufTensorInfo& t : mla->tensors()) {
      if (std::string(t.name) == "blk.2.attn_v_b.weight") continue;
      std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
      w.add_tensor(t.name, t.type, ne, t.data, t.nbytes);
    }
    auto broken = std::make_shared<const GgufFile>(GgufFile::from_memory("broken", w.to_bytes()));
    try {
      models::make_architecture(*broken, models::WeightSet::from_gguf(broken));
      ADD_FAILURE() << "expected a missing-tensor error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("blk.2.attn_v_b"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace kt::engine
