// safetensors writer -> reader round trip and corrupt files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "tensor/error.h"
#include "tensor/safetensors.h"

namespace kt::tensor {
namespace {

namespace fs = std::filesystem;

constexpr const char* kName = "m.safetensors";

std::string parse_error(const std::vector<uint8_t>& bytes) {
  try {
    SafetensorsFile::from_memory(kName, bytes);
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind(std::string(kName) + ": ", 0), 0u) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    return m;
  }
  return "";
}

#define EXPECT_ST_ERROR(bytes, fragment)                                    \
  do {                                                                      \
    const std::string msg_ = parse_error(bytes);                            \
    EXPECT_NE(msg_.find(fragment), std::string::npos)                       \
        << "message: " << (msg_.empty() ? "(parsed without error)" : msg_); \
  } while (0)

// A file with the given JSON header (no padding) followed by `data` zero bytes.
std::vector<uint8_t> with_header(const std::string& json, size_t data = 64) {
  std::vector<uint8_t> b(8 + json.size() + data, 0);
  const uint64_t n = json.size();
  std::memcpy(b.data(), &n, 8);
  std::memcpy(b.data() + 8, json.data(), json.size());
  return b;
}

struct Fixture {
  std::vector<float> w = {1, 2, 3, 4, 5, 6};
  std::vector<uint16_t> h = {0x3C00, 0x4000};
  std::vector<int64_t> ids = {7, -7, 1LL << 40};
  std::vector<uint8_t> flags = {1, 0, 1};

  SafetensorsWriter writer() const {
    SafetensorsWriter wr;
    wr.set_metadata("format", "pt");
    wr.add_tensor("model.layers.0.weight", StDType::F32, {2, 3}, w.data(), w.size() * 4);
    wr.add_tensor("half", StDType::BF16, {2}, h.data(), 4);
    wr.add_tensor("ids", StDType::I64, {3}, ids.data(), 24);
    wr.add_tensor("flags", StDType::BOOL, {3}, flags.data(), 3);
    wr.add_tensor("empty", StDType::F16, {0, 4}, nullptr, 0);
    wr.add_tensor("scalar", StDType::F32, {}, w.data(), 4);
    return wr;
  }
};

TEST(SafetensorsRoundTrip, TensorsAndMetadata) {
  Fixture fx;
  const std::vector<uint8_t> bytes = fx.writer().to_bytes();
  const SafetensorsFile f = SafetensorsFile::from_memory(kName, bytes);
  EXPECT_EQ(f.data_offset() % 8, 0u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  ASSERT_EQ(f.tensors().size(), 6u);

  const SafetensorsTensor& w = f.tensor("model.layers.0.weight");
  EXPECT_EQ(w.dtype, StDType::F32);
  EXPECT_EQ(w.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w.n_elements(), 6);
  ASSERT_EQ(w.nbytes(), 24u);
  EXPECT_EQ(w.data, f.tensors()[0].data);  // sorted by offset: first written is first
  EXPECT_EQ(0, std::memcmp(w.data, fx.w.data(), 24));
  EXPECT_EQ(0, std::memcmp(f.tensor("half").data, fx.h.data(), 4));
  EXPECT_EQ(0, std::memcmp(f.tensor("ids").data, fx.ids.data(), 24));
  EXPECT_EQ(0, std::memcmp(f.tensor("flags").data, fx.flags.data(), 3));
  EXPECT_EQ(f.tensor("empty").nbytes(), 0u);
  EXPECT_EQ(f.tensor("empty").data, nullptr);
  EXPECT_TRUE(f.tensor("scalar").shape.empty());
  EXPECT_EQ(f.tensor("scalar").n_elements(), 1);
  EXPECT_EQ(f.find("missing"), nullptr);
  EXPECT_THROW(f.tensor("missing"), Error);
  EXPECT_EQ(st_to_dtype(StDType::BF16), DType::BF16);
  EXPECT_FALSE(st_to_dtype(StDType::F8_E4M3).has_value());
  EXPECT_EQ(st_dtype_from_name("F8_E5M2"), StDType::F8_E5M2);
  EXPECT_FALSE(st_dtype_from_name("f32").has_value());
}

TEST(SafetensorsRoundTrip, WriteAndOpenFile) {
  Fixture fx;
  const fs::path dir = fs::temp_directory_path() / ("kt_test_st_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path path = dir / "model.safetensors";
  fx.writer().write(path.string());
  SafetensorsFile f = SafetensorsFile::open(path.string());
  SafetensorsFile moved = std::move(f);
  EXPECT_EQ(moved.file_size(), fs::file_size(path));
  EXPECT_EQ(0, std::memcmp(moved.tensor("ids").data, fx.ids.data(), 24));
  fs::remove_all(dir);
  EXPECT_THROW(SafetensorsFile::open((dir / "gone.safetensors").string()), Error);
}

TEST(SafetensorsRoundTrip, WriterValidates) {
  SafetensorsWriter w;
  const float x[4] = {};
  EXPECT_THROW(w.add_tensor("a", StDType::F32, {3}, x, 16), Error);
  EXPECT_THROW(w.add_tensor("a", StDType::F32, {-1}, x, 0), Error);
  EXPECT_THROW(w.add_tensor("__metadata__", StDType::F32, {1}, x, 4), Error);
  w.add_tensor("a", StDType::F32, {4}, x, 16);
  EXPECT_THROW(w.add_tensor("a", StDType::F32, {4}, x, 16), Error);
}

TEST(SafetensorsCorrupt, EveryTruncationFails) {
  Fixture fx;
  const std::vector<uint8_t> full = fx.writer().to_bytes();
  for (size_t n = 0; n < full.size(); ++n) {
    const std::vector<uint8_t> prefix(full.begin(), full.begin() + n);
    EXPECT_FALSE(parse_error(prefix).empty()) << "prefix of " << n << " bytes parsed";
  }
}

TEST(SafetensorsCorrupt, HeaderLength) {
  std::vector<uint8_t> b = with_header("{}");
  const uint64_t huge = 200'000'000;
  std::memcpy(b.data(), &huge, 8);
  EXPECT_ST_ERROR(b, "header length 200000000 exceeds the limit");
  const uint64_t big = 1000;
  std::memcpy(b.data(), &big, 8);
  EXPECT_ST_ERROR(b, "file truncated: header length 1000");
  const uint64_t all = ~uint64_t(0);
  std::memcpy(b.data(), &all, 8);
  EXPECT_ST_ERROR(b, "exceeds the limit");
  EXPECT_ST_ERROR(std::vector<uint8_t>(5, 0), "file truncated: 5 bytes");
  EXPECT_EQ(parse_error(with_header("{}")), "");
  EXPECT_EQ(parse_error(with_header("  {}  ", 0)), "");
}

TEST(SafetensorsCorrupt, BadJson) {
  EXPECT_ST_ERROR(with_header("{\"a\": "), "header is not valid JSON (error at byte");
  EXPECT_ST_ERROR(with_header("[1, 2]"), "header is not a JSON object");
  EXPECT_ST_ERROR(with_header("\"x\""), "header is not a JSON object");
  EXPECT_ST_ERROR(with_header(std::string("{\"a\"\0}", 6)), "not valid JSON");
  EXPECT_ST_ERROR(with_header(std::string(10000, '[')), "not valid JSON");
  EXPECT_ST_ERROR(with_header("{\"a\": 1}"), "tensor \"a\": entry is not an object");
  EXPECT_ST_ERROR(with_header("{\"__metadata__\": []}"), "__metadata__ is not an object");
  EXPECT_ST_ERROR(with_header("{\"__metadata__\": {\"k\": 1}}"),
                  "__metadata__ value of \"k\" is not a string");
}

TEST(SafetensorsCorrupt, BadEntries) {
  auto entry = [](const std::string& dtype, const std::string& shape, const std::string& offs) {
    return with_header("{\"t\": {\"dtype\": " + dtype + ", \"shape\": " + shape +
                       ", \"data_offsets\": " + offs + "}}");
  };
  EXPECT_EQ(parse_error(entry("\"F32\"", "[2, 2]", "[0, 16]")), "");
  EXPECT_ST_ERROR(entry("\"F33\"", "[2, 2]", "[0, 16]"), "tensor \"t\": unknown dtype \"F33\"");
  EXPECT_ST_ERROR(entry("7", "[2, 2]", "[0, 16]"), "missing or non-string \"dtype\"");
  EXPECT_ST_ERROR(entry("\"F32\"", "[2, -2]", "[0, 16]"), "shape entries must be non-negative");
  EXPECT_ST_ERROR(entry("\"F32\"", "[2.5]", "[0, 16]"), "shape entries must be non-negative");
  EXPECT_ST_ERROR(entry("\"F32\"", "{}", "[0, 16]"), "missing or non-array \"shape\"");
  EXPECT_ST_ERROR(entry("\"F32\"", "[4294967296, 4294967296, 4294967296]", "[0, 16]"),
                  "shape too large");
  EXPECT_ST_ERROR(entry("\"F32\"", "[2, 2]", "[0, 12]"),
                  "data_offsets span 12 bytes, but F32 of this shape needs 16");
  EXPECT_ST_ERROR(entry("\"F32\"", "[2, 2]", "[56, 72]"), "out of range (data section is 64");
  EXPECT_ST_ERROR(entry("\"F32\"", "[2, 2]", "[16, 0]"), "out of range");
  EXPECT_ST_ERROR(entry("\"F32\"", "[2, 2]", "[0]"), "\"data_offsets\" must be two");
  EXPECT_ST_ERROR(entry("\"F32\"", "[2, 2]", "[0, -16]"), "\"data_offsets\" must be two");
  EXPECT_ST_ERROR(entry("\"F32\"", "[2, 2]", "[0, 18446744073709551615]"), "out of range");

  EXPECT_ST_ERROR(
      with_header("{\"a\": {\"dtype\": \"U8\", \"shape\": [8], \"data_offsets\": [0, 8]},"
                  " \"b\": {\"dtype\": \"U8\", \"shape\": [8], \"data_offsets\": [4, "
                  "12]}}"),
      "tensor \"b\": data [4, 12) overlaps tensor \"a\"");
  EXPECT_ST_ERROR(
      with_header("{\"a\": {\"dtype\": \"U8\", \"shape\": [8], \"data_offsets\": [0, 8]},"
                  " \"a\": {\"dtype\": \"U8\", \"shape\": [8], \"data_offsets\": [8, "
                  "16]}}"),
      "duplicate tensor \"a\"");
}

}  // namespace
}  // namespace kt::tensor
