// GGUF writer -> reader round trips, layout and typed access.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "tensor/error.h"
#include "tensor/gguf.h"
#include "tensor/gguf_writer.h"
#include "tensor/mapped_file.h"

namespace kt::tensor {
namespace {

namespace fs = std::filesystem;

// Message of the kt::Error thrown by f (fails the test when nothing or something else is thrown).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected kt::Error";
  return "";
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 7);
  return v;
}

fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() / ("kt_test_gguf_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

struct Fixture {
  std::vector<uint8_t> f32 = pattern(4 * 3 * 4, 1);  // F32 {4, 3}
  std::vector<uint8_t> f16 = pattern(8 * 2, 2);      // F16 {8}
  std::vector<uint8_t> q8 = pattern(2 * 2 * 34, 3);  // Q8_0 {64, 2}
  std::vector<uint8_t> q4k = pattern(144 * 3, 4);    // Q4_K {256, 1, 3}
  std::vector<std::string> tokens{"hello", "", "wörld", std::string("a\0b", 3)};

  GgufWriter writer() const {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_u8("t.u8", 200);
    w.set_i8("t.i8", -100);
    w.set_u16("t.u16", 60000);
    w.set_i16("t.i16", -30000);
    w.set_u32("t.u32", 4000000000u);
    w.set_i32("t.i32", -2000000000);
    w.set_u64("t.u64", 18000000000000000000ull);
    w.set_i64("t.i64", -9000000000000000000ll);
    w.set_f32("t.f32", 1.5f);
    w.set_f64("t.f64", -2.25e300);
    w.set_bool("t.bool", true);
    w.set_bool("t.false", false);
    w.set_string("t.string", "chat {{ template }}");
    const std::vector<uint8_t> u8s{1, 2, 255};
    const std::vector<int32_t> i32s{-1, 0, 7};
    const std::vector<uint32_t> u32s{1, 4000000000u};
    const std::vector<int64_t> i64s{-5, 5};
    const std::vector<float> f32s{0.5f, -1.0f, 3.25f};
    const std::vector<double> f64s{1e-300};
    w.set_array("a.u8", std::span<const uint8_t>(u8s));
    w.set_array("a.i32", std::span<const int32_t>(i32s));
    w.set_array("a.u32", std::span<const uint32_t>(u32s));
    w.set_array("a.i64", std::span<const int64_t>(i64s));
    w.set_array("a.f32", std::span<const float>(f32s));
    w.set_array("a.f64", std::span<const double>(f64s));
    const int16_t i16s[] = {-3, 3};
    w.set_array("a.i16", GgufType::INT16, i16s, 2);
    w.set_array("a.empty", GgufType::UINT32, nullptr, 0);
    w.set_strings("a.strings", std::span<const std::string>(tokens));
    w.set_alignment(64);
    w.add_tensor("f32", DType::F32, {4, 3}, f32.data(), f32.size());
    w.add_tensor("f16", DType::F16, {8}, f16.data(), f16.size());
    w.add_tensor("q8", DType::Q8_0, {64, 2}, q8.data(), q8.size());
    w.add_tensor("q4k", DType::Q4_K, {256, 1, 3}, q4k.data(), q4k.size());
    return w;
  }
};

TEST(GgufRoundTrip, EveryValueType) {
  Fixture fx;
  const GgufFile f = GgufFile::from_memory("mem.gguf", fx.writer().to_bytes());
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.kv_count(), 24u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get("t.u8").as_u8(), 200);
  EXPECT_EQ(f.get("t.i8").as_i8(), -100);
  EXPECT_EQ(f.get("t.u16").as_u16(), 60000);
  EXPECT_EQ(f.get("t.i16").as_i16(), -30000);
  EXPECT_EQ(f.get_u32("t.u32"), 4000000000u);
  EXPECT_EQ(f.get_i32("t.i32"), -2000000000);
  EXPECT_EQ(f.get_u64("t.u64"), 18000000000000000000ull);
  EXPECT_EQ(f.get_i64("t.i64"), -9000000000000000000ll);
  EXPECT_EQ(f.get_f32("t.f32"), 1.5f);
  EXPECT_EQ(f.get_f64("t.f64"), -2.25e300);
  EXPECT_TRUE(f.get_bool("t.bool"));
  EXPECT_FALSE(f.get_bool("t.false"));
  EXPECT_EQ(f.get_string("t.string"), "chat {{ template }}");

  EXPECT_EQ(f.get_array("a.u8").as_u8_array(), (std::vector<uint8_t>{1, 2, 255}));
  EXPECT_EQ(f.get_array("a.i32").as_i32_array(), (std::vector<int32_t>{-1, 0, 7}));
  EXPECT_EQ(f.get_array("a.u32").as_u32_array(), (std::vector<uint32_t>{1, 4000000000u}));
  EXPECT_EQ(f.get_array("a.i64").as_i64_array(), (std::vector<int64_t>{-5, 5}));
  EXPECT_EQ(f.get_array("a.f32").as_f32_array(), (std::vector<float>{0.5f, -1.0f, 3.25f}));
  EXPECT_EQ(f.get_array("a.i16").as_i32_array(), (std::vector<int32_t>{-3, 3}));
  EXPECT_EQ(f.get_array("a.i16").elem_type(), GgufType::INT16);
  EXPECT_EQ(f.get_array("a.f64").elem_type(), GgufType::FLOAT64);
  EXPECT_EQ(f.get_array("a.empty").size(), 0u);
  EXPECT_TRUE(f.get_array("a.empty").as_u32_array().empty());

  const auto strs = f.get_strings("a.strings");
  ASSERT_EQ(strs.size(), fx.tokens.size());
  for (size_t i = 0; i < strs.size(); ++i) EXPECT_EQ(strs[i], fx.tokens[i]) << i;

  // Keys keep their file order.
  EXPECT_EQ(f.kv(0).key(), "general.architecture");
  EXPECT_EQ(f.kv(1).key(), "t.u8");
  EXPECT_EQ(f.kv(f.kv_count() - 1).key(), "general.alignment");
}

TEST(GgufRoundTrip, TensorsLandAtAlignedOffsets) {
  Fixture fx;
  const std::vector<uint8_t> bytes = fx.writer().to_bytes();
  const GgufFile f = GgufFile::from_memory("mem.gguf", bytes);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  ASSERT_EQ(f.tensors().size(), 4u);

  struct Want {
    const char* name;
    DType type;
    std::array<int64_t, 4> ne;
    uint32_t n_dims;
    const std::vector<uint8_t>* data;
  };
  const Want want[] = {
      {"f32", DType::F32, {4, 3, 1, 1}, 2, &fx.f32},
      {"f16", DType::F16, {8, 1, 1, 1}, 1, &fx.f16},
      {"q8", DType::Q8_0, {64, 2, 1, 1}, 2, &fx.q8},
      {"q4k", DType::Q4_K, {256, 1, 3, 1}, 3, &fx.q4k},
  };
  uint64_t expected_offset = 0;
  for (size_t i = 0; i < 4; ++i) {
    const GgufTensorInfo& t = f.tensors()[i];
    SCOPED_TRACE(want[i].name);
    EXPECT_EQ(t.name, want[i].name);
    EXPECT_EQ(t.type, want[i].type);
    EXPECT_EQ(t.ne, want[i].ne);
    EXPECT_EQ(t.n_dims, want[i].n_dims);
    EXPECT_EQ(t.nbytes, want[i].data->size());
    // Strict reference layout: info order, each tensor padded to the alignment.
    EXPECT_EQ(t.offset, expected_offset);
    expected_offset += (t.nbytes + 63) / 64 * 64;
    EXPECT_EQ(t.data, f.file_data() + f.data_offset() + t.offset);
    EXPECT_EQ(0, std::memcmp(t.data, want[i].data->data(), t.nbytes));
    EXPECT_EQ(&f.tensor(want[i].name), &t);
  }
  EXPECT_EQ(f.file_size(), f.data_offset() + expected_offset);
  EXPECT_EQ(f.tensors()[3].n_elements(), 768);
  // Padding bytes are zeros.
  const GgufTensorInfo& f16 = f.tensor("f16");
  for (size_t i = f16.nbytes; i < 64; ++i) EXPECT_EQ(f16.data[i], 0) << i;
  EXPECT_EQ(f.find_tensor("nope"), nullptr);
  EXPECT_NE(error_of([&] { f.tensor("nope"); }).find("mem.gguf: no tensor named \"nope\""),
            std::string::npos);
}

TEST(GgufRoundTrip, DefaultAlignmentIs32) {
  GgufWriter w;
  const std::vector<uint8_t> d(6 * 4, 1);
  w.add_tensor("a", DType::F32, {6}, d.data(), d.size());
  w.add_tensor("b", DType::F32, {6}, d.data(), d.size());
  const GgufFile f = GgufFile::from_memory("m", w.to_bytes());
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.data_offset() % 32, 0u);
  EXPECT_EQ(f.tensors()[1].offset, 32u);
}

TEST(GgufRoundTrip, Version2) {
  GgufWriter w;
  w.set_version(2);
  w.set_string("general.name", "v2");
  const std::vector<uint8_t> d(32 * 2, 0);
  w.add_tensor("w", DType::F16, {32}, d.data(), d.size());
  const GgufFile f = GgufFile::from_memory("v2.gguf", w.to_bytes());
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.get_string("general.name"), "v2");
  EXPECT_EQ(f.tensors().size(), 1u);
}

TEST(GgufRoundTrip, NoTensorsNoKeys) {
  const GgufFile f = GgufFile::from_memory("e", GgufWriter().to_bytes());
  EXPECT_EQ(f.kv_count(), 0u);
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_FALSE(f.has("x"));
}

TEST(GgufRoundTrip, SettingAKeyAgainReplacesItInPlace) {
  GgufWriter w;
  w.set_u32("a", 1);
  w.set_u32("b", 2);
  w.set_string("a", "now a string");
  const GgufFile f = GgufFile::from_memory("m", w.to_bytes());
  ASSERT_EQ(f.kv_count(), 2u);
  EXPECT_EQ(f.kv(0).key(), "a");
  EXPECT_EQ(f.get_string("a"), "now a string");
}

TEST(GgufRoundTrip, WriteAndOpenFile) {
  Fixture fx;
  const fs::path path = temp_dir() / "roundtrip.gguf";
  fx.writer().write(path.string());
  GgufFile mapped = GgufFile::open(path.string());
  EXPECT_EQ(mapped.name(), path.string());
  EXPECT_EQ(mapped.file_size(), fs::file_size(path));
  EXPECT_EQ(mapped.get_u32("t.u32"), 4000000000u);
  EXPECT_EQ(0, std::memcmp(mapped.tensor("q4k").data, fx.q4k.data(), fx.q4k.size()));
  // Views survive a move of the file object.
  GgufFile moved = std::move(mapped);
  EXPECT_EQ(moved.get_strings("a.strings")[2], "wörld");
  fs::remove_all(path.parent_path());
}

TEST(GgufTypedAccess, ErrorsNameKeyAndBothTypes) {
  GgufWriter w;
  w.set_u32("n", 300);
  w.set_i32("neg", -1);
  w.set_i32("pos", 5);
  w.set_f64("d", 0.5);
  w.set_f32("f", 0.25f);
  w.set_u8("byte", 1);
  w.set_string("s", "x");
  const std::vector<float> fl{1.f};
  w.set_array("arr", std::span<const float>(fl));
  const GgufFile f = GgufFile::from_memory("typed.gguf", w.to_bytes());

  const std::string m = error_of([&] { f.get_string("n"); });
  EXPECT_EQ(m, "typed.gguf: key \"n\" has type UINT32, expected STRING");
  EXPECT_EQ(error_of([&] { f.get_u32("missing"); }), "typed.gguf: missing key \"missing\"");
  EXPECT_NE(error_of([&] { f.get("n").as_u8(); }).find("value 300 does not fit in UINT8"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.get_u32("neg"); }).find("value -1"), std::string::npos);
  EXPECT_EQ(f.get_u32("pos"), 5u);  // lossless across signedness
  EXPECT_EQ(f.get_i64("n"), 300);   // widening
  EXPECT_EQ(f.get_f64("f"), 0.25);  // FLOAT32 -> double is exact
  EXPECT_NE(error_of([&] { f.get_f32("d"); }).find("has type FLOAT64, expected FLOAT32"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.get_f32("n"); }).find("expected FLOAT32"), std::string::npos);
  EXPECT_NE(error_of([&] { f.get_bool("byte"); }).find("has type UINT8, expected BOOL"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.get_array("n"); }).find("has type UINT32, expected ARRAY"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              f.get_strings("arr");
            }).find("has type ARRAY of FLOAT32, expected ARRAY of STRING"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              f.get_array("arr").as_u32_array();
            }).find("has type ARRAY of FLOAT32, expected ARRAY of UINT32"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.get_u32("arr"); }).find("has type ARRAY of FLOAT32"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.get_u32("s"); }).find("has type STRING, expected UINT32"),
            std::string::npos);

  // Defaults apply only to absent keys.
  EXPECT_EQ(f.get_u32("absent", 7), 7u);
  EXPECT_EQ(f.get_string("absent", "dflt"), "dflt");
  EXPECT_EQ(f.get_f32("absent", 2.f), 2.f);
  EXPECT_TRUE(f.get_bool("absent", true));
  EXPECT_EQ(f.get_i32("pos", 9), 5);
  EXPECT_THROW(f.get_u32("s", 1), Error);
  EXPECT_TRUE(f.find("s").has_value());
  EXPECT_FALSE(f.find("absent").has_value());
}

TEST(GgufTypedAccess, ToStringAbbreviates) {
  GgufWriter w;
  std::vector<std::string> many;
  for (int i = 0; i < 100; ++i) {
    many.emplace_back("t");
    many.back() += std::to_string(i);
  }
  w.set_strings("tokens", std::span<const std::string>(many));
  w.set_string("tmpl", std::string(500, 'x') + "\n");
  w.set_string("short", "a\"b\n");
  const std::vector<int32_t> small{1, 2};
  w.set_array("small", std::span<const int32_t>(small));
  w.set_f32("eps", 1e-6f);
  const GgufFile f = GgufFile::from_memory("m", w.to_bytes());
  EXPECT_EQ(f.get("tokens").to_string(3), "[100 x string] [\"t0\", \"t1\", \"t2\", ... ]");
  EXPECT_EQ(f.get("tmpl").to_string(8, 4), "\"xxxx...\" (501 bytes)");
  EXPECT_EQ(f.get("short").to_string(), "\"a\\\"b\\n\"");
  EXPECT_EQ(f.get("small").to_string(), "[2 x i32] [1, 2]");
  EXPECT_EQ(f.get("eps").to_string(), "1e-06");
}

TEST(GgufWriterValidation, RejectsBadInput) {
  GgufWriter w;
  const std::vector<uint8_t> d(34 * 4, 0);
  EXPECT_THROW(w.set_u32("", 1), Error);
  EXPECT_THROW(w.set_alignment(0), Error);
  EXPECT_THROW(w.set_alignment(48), Error);
  EXPECT_THROW(w.set_version(1), Error);
  EXPECT_THROW(w.set_array("k", GgufType::STRING, nullptr, 0), Error);
  // Names: 63 bytes fit, 64 do not.
  EXPECT_NO_THROW(w.add_tensor(std::string(63, 'n'), DType::F32, {1}, d.data(), 4));
  EXPECT_NE(error_of([&] {
              w.add_tensor(std::string(64, 'n'), DType::F32, {1}, d.data(), 4);
            }).find("name is 64 bytes"),
            std::string::npos);
  EXPECT_THROW(w.add_tensor(std::string(63, 'n'), DType::F32, {1}, d.data(), 4), Error);
  EXPECT_NE(error_of([&] {
              w.add_tensor("q", DType::Q8_0, {48}, d.data(), 34);
            }).find("not a multiple of the block size 32"),
            std::string::npos);
  EXPECT_THROW(w.add_tensor("q", DType::Q8_0, {32}, d.data(), 33), Error);  // size mismatch
  EXPECT_THROW(w.add_tensor("q", DType::F32, {-1}, d.data(), 0), Error);
  EXPECT_THROW(w.add_tensor("q", DType::F32, {1, 1, 1, 1, 1}, d.data(), 4), Error);
  EXPECT_THROW(w.add_tensor("q", DType::F32, std::span<const int64_t>(), d.data(), 4), Error);
  // A hand-set general.alignment of the wrong type is refused at write time.
  w.set_i32("general.alignment", 64);
  EXPECT_THROW(w.to_bytes(), Error);
  EXPECT_THROW(GgufWriter().write("/nonexistent-dir/x.gguf"), Error);
}

TEST(GgufMappedFile, ErrorsNameTheFile) {
  EXPECT_EQ(error_of([] { MappedFile::open("/nonexistent/file.gguf"); }),
            "/nonexistent/file.gguf: no such file");
  const fs::path dir = temp_dir();
  EXPECT_NE(error_of([&] { MappedFile::open(dir.string()); }).find("is a directory"),
            std::string::npos);
  const fs::path empty = dir / "empty.gguf";
  std::ofstream(empty).close();
  MappedFile m = MappedFile::open(empty.string());
  EXPECT_EQ(m.size(), 0u);
  MappedFile m2 = std::move(m);
  EXPECT_EQ(m2.path(), empty.string());
  EXPECT_EQ(error_of([&] { GgufFile::open(empty.string()); }),
            empty.string() + ": file is empty, expected a GGUF file (offset 0)");
  fs::remove_all(dir);
}

TEST(GgufSplit, SiblingPaths) {
  EXPECT_EQ(gguf_split_path("/m/model", 2, 3), "/m/model-00002-of-00003.gguf");
  EXPECT_EQ(
      gguf_split_paths("/m/model-00002-of-00003.gguf"),
      (std::vector<std::string>{"/m/model-00001-of-00003.gguf", "/m/model-00002-of-00003.gguf",
                                "/m/model-00003-of-00003.gguf"}));
  EXPECT_EQ(gguf_split_paths("/m/model.gguf"), std::vector<std::string>{"/m/model.gguf"});
  EXPECT_EQ(gguf_split_paths("x-00004-of-00003.gguf"),
            std::vector<std::string>{"x-00004-of-00003.gguf"});
  EXPECT_EQ(gguf_split_paths("x-0000a-of-00003.gguf"),
            std::vector<std::string>{"x-0000a-of-00003.gguf"});
}

}  // namespace
}  // namespace kt::tensor
