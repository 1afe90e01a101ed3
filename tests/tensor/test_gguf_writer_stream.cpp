// GgufWriter's streaming path (tensors made by a producer at write time) and copy_value:
// both must give byte for byte what the plain path gives.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tensor/error.h"
#include "tensor/gguf.h"
#include "tensor/gguf_writer.h"

namespace kt::tensor {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 13);
  return v;
}

void keys(GgufWriter& w) {
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 3);
  w.set_f32("llama.rope.freq_base", 1e6f);
  w.set_bool("b", true);
  w.set_i16("i16", -7);
  w.set_u64("u64", 1ull << 40);
  const std::vector<int32_t> ids{3, -1, 7};
  w.set_array("ids", std::span<const int32_t>(ids));
  const std::vector<std::string> toks{"a", "", "wörld"};
  w.set_strings("toks", std::span<const std::string>(toks));
}

TEST(GgufWriterStream, ProducedTensorsMatchPlainOnes) {
  const std::vector<uint8_t> a = pattern(4 * 3 * 4, 1);   // F32 {4, 3}
  const std::vector<uint8_t> b = pattern(2 * 2 * 34, 2);  // Q8_0 {64, 2}
  const std::vector<uint8_t> c = pattern(144 * 3, 3);     // Q4_K {256, 1, 3}
  GgufWriter plain, streamed;
  keys(plain);
  keys(streamed);
  plain.add_tensor("a", DType::F32, {4, 3}, a.data(), a.size());
  plain.add_tensor("b", DType::Q8_0, {64, 2}, b.data(), b.size());
  plain.add_tensor("c", DType::Q4_K, {256, 1, 3}, c.data(), c.size());
  auto from = [](const std::vector<uint8_t>& src) {
    return [&src](uint8_t* dst, size_t n) {
      ASSERT_EQ(n, src.size());
      std::memcpy(dst, src.data(), n);
    };
  };
  const std::vector<int64_t> sa{4, 3}, sb{64, 2}, sc{256, 1, 3};
  streamed.add_tensor("a", DType::F32, sa, from(a));
  streamed.add_tensor("b", DType::Q8_0, std::span<const int64_t>(sb), b.data(), b.size());
  streamed.add_tensor("c", DType::Q4_K, sc, from(c));
  EXPECT_EQ(plain.to_bytes(), streamed.to_bytes());

  const fs::path path =
      fs::temp_directory_path() / ("kt_gguf_stream_" + std::to_string(::getpid()) + ".gguf");
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  streamed.write(path.string(), [&](uint64_t done, uint64_t total) {
    calls.push_back({done, total});
  });
  std::ifstream in(path, std::ios::binary);
  const std::vector<uint8_t> file((std::istreambuf_iterator<char>(in)), {});
  fs::remove(path);
  EXPECT_EQ(file, plain.to_bytes());
  ASSERT_EQ(calls.size(), 4u);  // once before the data, then after each tensor
  EXPECT_EQ(calls.front().first, 0u);
  EXPECT_EQ(calls.back().first, calls.back().second);
  for (size_t i = 1; i < calls.size(); ++i) EXPECT_GT(calls[i].first, calls[i - 1].first);
}

TEST(GgufWriterStream, ProducerErrorsPropagate) {
  GgufWriter w;
  const std::vector<int64_t> ne{32};
  w.add_tensor("x", DType::F32, ne, [](uint8_t*, size_t) { throw Error("no weights today"); });
  try {
    w.to_bytes();
    FAIL() << "expected kt::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no weights today"), std::string::npos);
  }
  EXPECT_THROW(w.add_tensor("y", DType::Q8_0, std::vector<int64_t>{31},
                            GgufWriter::Producer([](uint8_t*, size_t) {})),
               Error);  // 31 is not a multiple of the block size
  EXPECT_THROW(w.add_tensor("z", DType::F32, ne, GgufWriter::Producer()), Error);
}

TEST(GgufWriterStream, CopyValueReproducesEveryKey) {
  GgufWriter src;
  keys(src);
  const GgufFile f = GgufFile::from_memory("src.gguf", src.to_bytes());
  GgufWriter copy;
  for (size_t i = 0; i < f.kv_count(); ++i) copy.copy_value(f.kv(i));
  EXPECT_EQ(copy.to_bytes(), src.to_bytes());
}

}  // namespace
}  // namespace kt::tensor
