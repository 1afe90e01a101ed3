// Corrupt and hostile GGUF files: every one must fail with a one-line kt::Error naming the file,
// never crash, over-read or allocate absurd amounts (run under ASan/UBSan by `make test-asan`).
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "tensor/error.h"
#include "tensor/gguf.h"
#include "tensor/gguf_writer.h"

namespace kt::tensor {
namespace {

// Assembles GGUF bytes by hand, so that tests can write what no valid writer would.
struct Raw {
  std::vector<uint8_t> b;
  template <class T>
  Raw& put(T v) {
    const size_t at = b.size();
    b.resize(at + sizeof v);
    std::memcpy(b.data() + at, &v, sizeof v);
    return *this;
  }
  Raw& u32(uint32_t v) { return put(v); }
  Raw& i32(int32_t v) { return put(v); }
  Raw& u64(uint64_t v) { return put(v); }
  Raw& i64(int64_t v) { return put(v); }
  Raw& str(std::string_view s) {
    u64(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Raw& header(uint32_t version, int64_t n_tensors, int64_t n_kv) {
    b.insert(b.end(), {'G', 'G', 'U', 'F'});
    return u32(version).i64(n_tensors).i64(n_kv);
  }
  Raw& kv_u32(std::string_view key, uint32_t v) { return str(key).i32(4).u32(v); }
  Raw& kv_str(std::string_view key, std::string_view v) { return str(key).i32(8).str(v); }
  Raw& tensor(std::string_view name, std::vector<int64_t> ne, int32_t type, uint64_t offset) {
    str(name).u32(uint32_t(ne.size()));
    for (int64_t n : ne) i64(n);
    return i32(type).u64(offset);
  }
  Raw& pad(size_t align) {
    b.resize((b.size() + align - 1) / align * align, 0);
    return *this;
  }
  Raw& zeros(size_t n) {
    b.resize(b.size() + n, 0);
    return *this;
  }
};

constexpr const char* kName = "c.gguf";

// Parses and returns the error message; "" when the file parsed.
std::string parse_error(const std::vector<uint8_t>& bytes) {
  try {
    GgufFile::from_memory(kName, bytes);
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind(std::string(kName) + ": ", 0), 0u) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    return m;
  }
  return "";
}

#define EXPECT_GGUF_ERROR(bytes, fragment)                                  \
  do {                                                                      \
    const std::string msg_ = parse_error(bytes);                            \
    EXPECT_NE(msg_.find(fragment), std::string::npos)                       \
        << "message: " << (msg_.empty() ? "(parsed without error)" : msg_); \
  } while (0)

// A file with one key/value record, written by `kv`.
std::vector<uint8_t> one_kv_file(const std::function<void(Raw&)>& kv) {
  Raw r;
  r.header(3, 0, 1);
  kv(r);
  return r.b;
}

// A file with the tensor records written by `tensors`, then `data_bytes` of data (alignment 32).
std::vector<uint8_t> tensors_file(const std::function<void(Raw&)>& tensors, int64_t n_tensors,
                                  size_t data_bytes) {
  Raw r;
  r.header(3, n_tensors, 0);
  tensors(r);
  r.pad(32).zeros(data_bytes);
  return r.b;
}

std::vector<uint8_t> valid_file() {
  static const std::vector<uint8_t> bytes = [] {
    static const std::vector<uint8_t> f32(16 * 4, 0x11), q8(34 * 2, 0x22);
    static const std::vector<std::string> toks{"a", "bb", "ccc"};
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_u32("llama.block_count", 2);
    w.set_strings("tokenizer.ggml.tokens", std::span<const std::string>(toks));
    const std::vector<float> scores{0.f, -1.f, -2.f};
    w.set_array("tokenizer.ggml.scores", std::span<const float>(scores));
    // The last tensor fills its padded extent exactly, so no proper prefix is a valid file
    // (see MissingTrailingPaddingIsTolerated for why that matters).
    w.add_tensor("b", DType::Q8_0, {32, 2}, q8.data(), q8.size());
    w.add_tensor("a", DType::F32, {16}, f32.data(), f32.size());
    return w.to_bytes();
  }();
  return bytes;
}

TEST(GgufCorrupt, ValidBaseParses) {
  EXPECT_EQ(parse_error(valid_file()), "");
  // The hand builder agrees with the reader on a minimal valid file too.
  EXPECT_EQ(parse_error(tensors_file([](Raw& r) { r.tensor("t", {8}, 0, 0); }, 1, 32)), "");
}

TEST(GgufCorrupt, EveryTruncationFails) {
  const std::vector<uint8_t> full = valid_file();
  for (size_t n = 0; n < full.size(); ++n) {
    const std::vector<uint8_t> prefix(full.begin(), full.begin() + n);
    const std::string msg = parse_error(prefix);
    EXPECT_FALSE(msg.empty()) << "prefix of " << n << " bytes parsed";
  }
}

// Like llama.cpp, the reader only requires each tensor's own bytes to be present: a file whose
// last tensor lacks its trailing zero padding is accepted.
TEST(GgufCorrupt, MissingTrailingPaddingIsTolerated) {
  const std::vector<uint8_t> q8(34, 0x22);
  GgufWriter w;
  w.add_tensor("q", DType::Q8_0, {32}, q8.data(), q8.size());
  std::vector<uint8_t> b = w.to_bytes();
  const size_t data_end = b.size() - 64 + 34;
  b.resize(data_end);
  EXPECT_EQ(parse_error(b), "");
  b.pop_back();
  EXPECT_GGUF_ERROR(b, "tensor data [0, +34) extends past the end of the data section (33 bytes)");
}

TEST(GgufCorrupt, BadMagic) {
  std::vector<uint8_t> b = valid_file();
  b[3] = 'X';
  EXPECT_GGUF_ERROR(b, "not a GGUF file (magic \"GGUX\", expected \"GGUF\")");
  EXPECT_GGUF_ERROR(std::vector<uint8_t>({'G', 'G'}), "not a GGUF file");
  EXPECT_GGUF_ERROR(std::vector<uint8_t>(), "file is empty");
}

TEST(GgufCorrupt, BadVersions) {
  auto with_version = [](uint32_t v) {
    Raw r;
    r.header(v, 0, 0);
    return r.b;
  };
  EXPECT_GGUF_ERROR(with_version(0), "invalid GGUF version 0");
  EXPECT_GGUF_ERROR(with_version(1), "GGUF version 1 is no longer supported");
  EXPECT_GGUF_ERROR(with_version(4), "GGUF version 4 is not supported");
  EXPECT_GGUF_ERROR(with_version(0xFFFFFFFF), "is not supported");
  EXPECT_GGUF_ERROR(with_version(0x03000000), "looks byte-swapped");
  EXPECT_EQ(parse_error(with_version(2)), "");
  EXPECT_EQ(parse_error(with_version(3)), "");
}

TEST(GgufCorrupt, AbsurdCounts) {
  for (int64_t n : {int64_t(1) << 62, int64_t(1) << 31, int64_t(1000)}) {
    Raw kv;
    kv.header(3, 0, n).kv_u32("k", 1);
    EXPECT_GGUF_ERROR(kv.b, "key/value count " + std::to_string(n) + " cannot fit");
    Raw t;
    t.header(3, n, 0).tensor("t", {8}, 0, 0);
    EXPECT_GGUF_ERROR(t.b, "tensor count " + std::to_string(n) + " cannot fit");
  }
  Raw neg;
  neg.header(3, -1, 0);
  EXPECT_GGUF_ERROR(neg.b, "negative tensor count -1");
  Raw negkv;
  negkv.header(3, 0, INT64_MIN);
  EXPECT_GGUF_ERROR(negkv.b, "negative key/value count");
}

TEST(GgufCorrupt, AbsurdStringLengths) {
  for (uint64_t len : {uint64_t(1) << 62, uint64_t(1) << 31, ~uint64_t(0)}) {
    // As a key length...
    Raw k;
    k.header(3, 0, 1).u64(len).zeros(16);
    EXPECT_GGUF_ERROR(k.b, "key length " + std::to_string(len) + " exceeds the limit");
    // ...and as a string value length.
    EXPECT_GGUF_ERROR(one_kv_file([&](Raw& r) { r.str("k").i32(8).u64(len).zeros(16); }),
                      "string value length " + std::to_string(len) + " exceeds the limit");
  }
  // Within the limit but past the end of the file.
  EXPECT_GGUF_ERROR(one_kv_file([](Raw& r) { r.str("k").i32(8).u64(1000).zeros(16); }),
                    "file truncated: string value of 1000 bytes, only 16 left");
  // A tensor name length.
  Raw t;
  t.header(3, 1, 0).u64(uint64_t(1) << 62).zeros(24);
  EXPECT_GGUF_ERROR(t.b, "tensor name length");
}

TEST(GgufCorrupt, AbsurdArrayCounts) {
  for (uint64_t n : {uint64_t(1) << 62, uint64_t(1) << 31, (uint64_t(1) << 30) + 1}) {
    EXPECT_GGUF_ERROR(one_kv_file([&](Raw& r) { r.str("k").i32(9).i32(8).u64(n).zeros(64); }),
                      "array count " + std::to_string(n) + " exceeds the limit");
    EXPECT_GGUF_ERROR(one_kv_file([&](Raw& r) { r.str("k").i32(9).i32(4).u64(n).zeros(64); }),
                      "array count");
  }
  // Within the limit but more elements than bytes left: refused before reserving.
  EXPECT_GGUF_ERROR(one_kv_file([](Raw& r) { r.str("k").i32(9).i32(8).u64(1 << 30).zeros(64); }),
                    "file truncated: array of 1073741824 STRING");
  EXPECT_GGUF_ERROR(one_kv_file([](Raw& r) { r.str("k").i32(9).i32(12).u64(9).zeros(64); }),
                    "file truncated: array of 9 FLOAT64");
  EXPECT_EQ(parse_error(one_kv_file([](Raw& r) { r.str("k").i32(9).i32(12).u64(8).zeros(64); })),
            "");
}

TEST(GgufCorrupt, BadKeys) {
  Raw dup;
  dup.header(3, 0, 2).kv_u32("k", 1).kv_str("k", "again");
  EXPECT_GGUF_ERROR(dup.b, "duplicate key (key \"k\", offset 41)");
  EXPECT_GGUF_ERROR(one_kv_file([](Raw& r) { r.kv_u32("", 1); }), "empty key (key #0, offset 24)");
  // Keys from the file are quoted and escaped: the message stays one line.
  EXPECT_GGUF_ERROR(one_kv_file([](Raw& r) { r.str("a\nb").i32(99).u32(0); }),
                    "unknown value type 99 (key \"a\\nb\"");
}

TEST(GgufCorrupt, BadValueTypes) {
  for (int32_t t : {13, -1, 0x7FFFFFFF}) {
    EXPECT_GGUF_ERROR(one_kv_file([&](Raw& r) { r.str("k").i32(t).u64(0); }),
                      "unknown value type " + std::to_string(t));
  }
  EXPECT_GGUF_ERROR(one_kv_file([](Raw& r) { r.str("k").i32(9).i32(9).u64(1).i32(4).u64(1); }),
                    "arrays of arrays are not supported");
  EXPECT_GGUF_ERROR(one_kv_file([](Raw& r) { r.str("k").i32(9).i32(42).u64(0); }),
                    "unknown array element type 42");
}

TEST(GgufCorrupt, BadTensorInfos) {
  auto one = [](std::vector<int64_t> ne, int32_t type, uint64_t offset = 0,
                std::string name = "t") {
    return tensors_file([&](Raw& r) { r.tensor(name, ne, type, offset); }, 1, 4096);
  };
  EXPECT_GGUF_ERROR(one({1, 1, 1, 1, 1}, 0), "n_dims 5 is more than 4 (tensor \"t\"");
  EXPECT_GGUF_ERROR(one({8, -2}, 0), "negative dimension ne[1] = -2");
  EXPECT_GGUF_ERROR(one({int64_t(1) << 32, int64_t(1) << 32}, 0), "element count overflows");
  EXPECT_GGUF_ERROR(one({INT64_MAX}, 0), "element count overflows");
  for (int32_t type : {4, 5, 31, 32, 33, 36, 37, 38, 43, -1, 1000}) {
    EXPECT_GGUF_ERROR(one({32}, type), "unknown or removed tensor type id " + std::to_string(type));
  }
  EXPECT_GGUF_ERROR(one({48}, int32_t(DType::Q8_0)),
                    "ne[0] = 48 is not a multiple of the block size 32 of Q8_0");
  EXPECT_GGUF_ERROR(one({256 * 3}, int32_t(DType::Q4_K), 0, std::string(64, 'n')),
                    "tensor name is 64 bytes, the limit is 63");
  EXPECT_EQ(parse_error(one({256 * 3}, int32_t(DType::Q4_K), 0, std::string(63, 'n'))), "");
  // ne0 * type size overflows although the element count does not.
  EXPECT_GGUF_ERROR(one({int64_t(1) << 61}, int32_t(DType::F64)), "byte size overflows");
  EXPECT_EQ(parse_error(one({}, 0)), "");      // n_dims 0: a scalar
  EXPECT_EQ(parse_error(one({0, 5}, 0)), "");  // empty tensor
}

TEST(GgufCorrupt, BadOffsets) {
  auto two = [](uint64_t off_a, uint64_t off_b, size_t data = 64) {
    return tensors_file(
        [&](Raw& r) {
          r.tensor("a", {8}, 0, off_a);
          r.tensor("b", {8}, 0, off_b);
        },
        2, data);
  };
  EXPECT_EQ(parse_error(two(0, 32)), "");
  EXPECT_EQ(parse_error(two(32, 0)), "");      // any order is fine
  EXPECT_EQ(parse_error(two(0, 64, 96)), "");  // gaps are fine
  EXPECT_GGUF_ERROR(two(0, 16), "misaligned data offset 16 (alignment 32) (tensor \"b\"");
  EXPECT_GGUF_ERROR(two(0, 0), "overlaps tensor");
  EXPECT_EQ(parse_error(two(64, 32, 128)), "");  // b [32, 64), a [64, 96): adjacent is fine
  EXPECT_GGUF_ERROR(two(0, 64), "extends past the end of the data section (64 bytes)");
  EXPECT_GGUF_ERROR(two(0, uint64_t(1) << 63), "extends past the end");
  EXPECT_GGUF_ERROR(two(0, ~uint64_t(31)), "extends past the end");
  // Overlap by a larger tensor that starts earlier.
  const auto big = tensors_file(
      [](Raw& r) {
        r.tensor("big", {32}, 0, 0);  // 128 bytes
        r.tensor("small", {8}, 0, 64);
      },
      2, 256);
  EXPECT_GGUF_ERROR(big, "data at offset 64 overlaps tensor \"big\" [0, 128) (tensor \"small\"");
  Raw dup;
  dup.header(3, 2, 0).tensor("a", {8}, 0, 0).tensor("a", {8}, 0, 32).pad(32).zeros(64);
  EXPECT_GGUF_ERROR(dup.b, "duplicate tensor name (tensor \"a\"");
  // Tensor infos fine but the data section is cut off entirely.
  Raw cut;
  cut.header(3, 1, 0).tensor("a", {8}, 0, 0);
  EXPECT_GGUF_ERROR(cut.b, "data section starts at 64, past the end of the file");
}

TEST(GgufCorrupt, BadAlignment) {
  auto with = [](const std::function<void(Raw&)>& kv) {
    Raw r;
    r.header(3, 1, 1);
    kv(r);
    r.tensor("t", {8}, 0, 0).pad(64).zeros(64);
    return r.b;
  };
  EXPECT_GGUF_ERROR(with([](Raw& r) { r.kv_u32("general.alignment", 0); }),
                    "alignment 0 is not a non-zero power of two");
  EXPECT_GGUF_ERROR(with([](Raw& r) { r.kv_u32("general.alignment", 3); }),
                    "alignment 3 is not a non-zero power of two");
  EXPECT_GGUF_ERROR(with([](Raw& r) { r.str("general.alignment").i32(5).i32(32); }),
                    "alignment has type INT32, expected UINT32");
  EXPECT_GGUF_ERROR(with([](Raw& r) { r.str("general.alignment").i32(10).u64(32); }),
                    "alignment has type UINT64, expected UINT32");
  EXPECT_EQ(parse_error(with([](Raw& r) { r.kv_u32("general.alignment", 64); })), "");
  // Offsets are checked against the file's own alignment.
  Raw mis;
  mis.header(3, 1, 1).kv_u32("general.alignment", 64).tensor("t", {8}, 0, 32).pad(64).zeros(64);
  EXPECT_GGUF_ERROR(mis.b, "misaligned data offset 32 (alignment 64)");
}

// Seeded random mutations of a valid file: parse or throw kt::Error, nothing else.
TEST(GgufCorrupt, RandomMutationsNeverCrash) {
  const std::vector<uint8_t> base = valid_file();
  const GgufFile ref = GgufFile::from_memory("ref", base);
  const size_t header_end = ref.data_offset();
  std::mt19937_64 rng(12345);
  static const uint8_t kInteresting[] = {0x00, 0x01, 0x7F, 0x80, 0xFF, 0x40, 0x20, 0x09};
  int parsed = 0, rejected = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::vector<uint8_t> b = base;
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % header_end;
      switch (rng() % 3) {
        case 0:
          b[at] ^= uint8_t(1u << (rng() % 8));
          break;
        case 1:
          b[at] = kInteresting[rng() % sizeof kInteresting];
          break;
        default:
          b[at] = uint8_t(rng());
          break;
      }
    }
    if (rng() % 8 == 0) b.resize(rng() % b.size());
    try {
      const GgufFile f = GgufFile::from_memory(kName, std::move(b));
      // Touch what a caller would: every value and tensor view.
      for (size_t i = 0; i < f.kv_count(); ++i) (void)f.kv(i).to_string();
      for (const GgufTensorInfo& t : f.tensors()) {
        if (t.nbytes) {
          volatile uint8_t sink = t.data[0] ^ t.data[t.nbytes - 1];
          (void)sink;
        }
      }
      ++parsed;
    } catch (const Error& e) {
      ++rejected;
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
  EXPECT_GT(rejected, 1000);
  EXPECT_GT(parsed, 0);
}

}  // namespace
}  // namespace kt::tensor
