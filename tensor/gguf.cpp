// GGUF parsing and validation. Every count, length and extent is checked against the bytes that
// remain before anything is read or allocated, so a hostile header cannot make us read out of
// bounds or reserve absurd amounts of memory.
#include "tensor/gguf.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <limits>

#include "tensor/error.h"

namespace kt::tensor {

// GGUF is little-endian and values are used in place; a big-endian host would need swapping.
static_assert(std::endian::native == std::endian::little, "kt reads GGUF in place: LE hosts only");

namespace {

// Smallest possible records, used to bound counts before reserving: a key/value record is a
// non-empty key (8 + 1), a type (4) and at least one value byte; a tensor info is a name length
// (8), n_dims (4), type (4) and offset (8).
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;
constexpr uint64_t kMinTensorBytes = 8 + 4 + 4 + 8;
constexpr int32_t kMaxValueType = int32_t(GgufType::FLOAT64);

// Cursor over the file's bytes. Context ("key 'x'", "tensor 'y'") and the offset of the record
// being read end every message, so a user can find the fault with a hex dump.
class Reader {
 public:
  Reader(const std::string& file, const uint8_t* data, size_t size)
      : file_(file), data_(data), size_(size) {}

  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }
  const uint8_t* here() const { return data_ + pos_; }
  void set_context(std::string ctx, size_t record_offset) {
    ctx_ = std::move(ctx);
    record_ = record_offset;
  }

  [[noreturn]] void fail(const std::string& what) const { fail_at(what, record_); }
  [[noreturn]] void fail_at(const std::string& what, size_t offset) const {
    std::string msg = file_ + ": " + what + " (";
    if (!ctx_.empty()) msg += ctx_ + ", ";
    msg += "offset " + std::to_string(offset) + ")";
    throw Error(msg);
  }

  void need(uint64_t n, const char* what) const {
    if (n > left()) {
      fail_at(std::string("file truncated: ") + what + " needs " + std::to_string(n) +
                  " bytes, only " + std::to_string(left()) + " left",
              pos_);
    }
  }
  void skip(uint64_t n, const char* what) {
    need(n, what);
    pos_ += size_t(n);
  }

  template <class T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }

  std::string_view read_string(const char* what) {
    const size_t at = pos_;
    const uint64_t len = read<uint64_t>(what);
    if (len > kGgufMaxStringLength) {
      fail_at(std::string(what) + " length " + std::to_string(len) + " exceeds the limit of " +
                  std::to_string(kGgufMaxStringLength) + " bytes",
              at);
    }
    if (len > left()) {
      fail_at(std::string("file truncated: ") + what + " of " + std::to_string(len) +
                  " bytes, only " + std::to_string(left()) + " left",
              at);
    }
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), size_t(len));
    pos_ += size_t(len);
    return s;
  }

 private:
  const std::string& file_;
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string ctx_;
  size_t record_ = 0;
};

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

bool valid_value_type(int32_t t) {
  return t >= 0 && t <= kMaxValueType;
}

void read_value(Reader& r, GgufKv& kv) {
  const size_t at = r.pos();
  const int32_t type = r.read<int32_t>("value type");
  if (!valid_value_type(type)) r.fail_at("unknown value type " + std::to_string(type), at);
  kv.type = GgufType(type);

  if (kv.type == GgufType::STRING) {
    const std::string_view s = r.read_string("string value");
    kv.data = reinterpret_cast<const uint8_t*>(s.data());
    kv.size = s.size();
    return;
  }
  if (kv.type != GgufType::ARRAY) {
    kv.data = r.here();
    kv.size = gguf_type_size(kv.type);
    r.skip(kv.size, "value");
    return;
  }

  const size_t elem_at = r.pos();
  const int32_t elem = r.read<int32_t>("array element type");
  if (elem == int32_t(GgufType::ARRAY)) r.fail_at("arrays of arrays are not supported", elem_at);
  if (!valid_value_type(elem)) {
    r.fail_at("unknown array element type " + std::to_string(elem), elem_at);
  }
  kv.elem_type = GgufType(elem);
  const size_t count_at = r.pos();
  kv.count = r.read<uint64_t>("array count");
  if (kv.count > kGgufMaxArrayElements) {
    r.fail_at("array count " + std::to_string(kv.count) + " exceeds the limit of " +
                  std::to_string(kGgufMaxArrayElements),
              count_at);
  }
  // Each string element needs at least its 8-byte length, so this bounds the reserve below.
  const uint64_t min_elem = kv.elem_type == GgufType::STRING ? 8 : gguf_type_size(kv.elem_type);
  if (kv.count > r.left() / min_elem) {
    r.fail_at("file truncated: array of " + std::to_string(kv.count) + " " +
                  gguf_type_name(kv.elem_type) + " needs at least " +
                  std::to_string(kv.count * min_elem) + " bytes, only " + std::to_string(r.left()) +
                  " left",
              count_at);
  }
  kv.data = r.here();
  if (kv.elem_type != GgufType::STRING) {
    kv.size = kv.count * min_elem;
    r.skip(kv.size, "array");
    return;
  }
  kv.strings.reserve(size_t(kv.count));
  for (uint64_t i = 0; i < kv.count; ++i) kv.strings.push_back(r.read_string("array string"));
  kv.size = r.here() - kv.data;
}

// a * b into *out, false on uint64 overflow.
bool mul_ok(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}

void read_tensor_info(Reader& r, GgufTensorInfo& t) {
  const uint64_t n_dims = r.read<uint32_t>("n_dims");
  if (n_dims > uint64_t(kGgufMaxDims)) {
    r.fail("n_dims " + std::to_string(n_dims) + " is more than " + std::to_string(kGgufMaxDims));
  }
  t.n_dims = uint32_t(n_dims);
  for (uint32_t d = 0; d < t.n_dims; ++d) {
    t.ne[d] = r.read<int64_t>("dimension");
    if (t.ne[d] < 0) {
      r.fail("negative dimension ne[" + std::to_string(d) + "] = " + std::to_string(t.ne[d]));
    }
  }
  const int32_t type_id = r.read<int32_t>("tensor type");
  const TypeTraits* tr = find_type_traits(type_id);
  if (!tr) r.fail("unknown or removed tensor type id " + std::to_string(type_id));
  t.type = tr->type;
  t.offset = r.read<uint64_t>("tensor offset");

  // Element count must stay below INT64_MAX (ggml's rule); the byte size must fit size_t.
  uint64_t elems = 1;
  for (int64_t ne : t.ne) {
    if (!mul_ok(elems, uint64_t(ne), &elems) ||
        elems >= uint64_t(std::numeric_limits<int64_t>::max())) {
      r.fail("element count overflows (shape " + std::to_string(t.ne[0]) + " x " +
             std::to_string(t.ne[1]) + " x " + std::to_string(t.ne[2]) + " x " +
             std::to_string(t.ne[3]) + ")");
    }
  }
  if (t.ne[0] % tr->block_size != 0) {
    r.fail("ne[0] = " + std::to_string(t.ne[0]) + " is not a multiple of the block size " +
           std::to_string(tr->block_size) + " of " + tr->name);
  }
  uint64_t nbytes = uint64_t(t.ne[0] / tr->block_size);
  bool ok = mul_ok(nbytes, tr->type_size, &nbytes);
  for (int d = 1; d < 4 && ok; ++d) ok = mul_ok(nbytes, uint64_t(t.ne[d]), &nbytes);
  if (!ok || nbytes > std::numeric_limits<size_t>::max()) r.fail("byte size overflows");
  t.nbytes = size_t(nbytes);
}

// Quoted, length-capped name for messages (names come from the file and may be garbage).
std::string q(std::string_view s) {
  return gguf_quote(s, 80);
}

}  // namespace

GgufFile GgufFile::open(const std::string& path) {
  GgufFile f;
  f.name_ = path;
  f.map_ = std::make_unique<MappedFile>(MappedFile::open(path));
  f.bytes_ = f.map_->data();
  f.size_ = f.map_->size();
  f.parse();
  return f;
}

GgufFile GgufFile::from_memory(std::string name, std::vector<uint8_t> bytes) {
  GgufFile f;
  f.name_ = std::move(name);
  f.memory_ = std::move(bytes);
  f.bytes_ = f.memory_.data();
  f.size_ = f.memory_.size();
  f.parse();
  return f;
}

// Views point into map_ (stable across moves) or into memory_'s heap buffer (moved, not
// copied, by vector's move), so the defaulted moves keep every string_view valid.
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

void GgufFile::parse() {
  Reader r(name_, bytes_, size_);
  if (size_ == 0) r.fail("file is empty, expected a GGUF file");
  if (size_ < 4 || std::memcmp(bytes_, "GGUF", 4) != 0) {
    std::string magic;
    for (size_t i = 0; i < std::min<size_t>(size_, 4); ++i) magic += char(bytes_[i]);
    r.fail("not a GGUF file (magic " + q(magic) + ", expected \"GGUF\")");
  }
  r.skip(4, "magic");

  version_ = r.read<uint32_t>("version");
  if (version_ == 0) r.fail_at("invalid GGUF version 0", 4);
  if ((version_ & 0xFFFF) == 0) {
    r.fail_at("GGUF version " + hex32(version_) +
                  " looks byte-swapped: big-endian files are not supported",
              4);
  }
  if (version_ == 1) r.fail_at("GGUF version 1 is no longer supported (convert it again)", 4);
  if (version_ > 3) {
    r.fail_at("GGUF version " + std::to_string(version_) + " is not supported (only 2 and 3)", 4);
  }

  const int64_t n_tensors = r.read<int64_t>("tensor count");
  const int64_t n_kv = r.read<int64_t>("key/value count");
  if (n_tensors < 0) r.fail_at("negative tensor count " + std::to_string(n_tensors), 8);
  if (n_kv < 0) r.fail_at("negative key/value count " + std::to_string(n_kv), 16);
  if (uint64_t(n_kv) > r.left() / kMinKvBytes) {
    r.fail_at("key/value count " + std::to_string(n_kv) + " cannot fit in the " +
                  std::to_string(r.left()) + " bytes left",
              16);
  }
  if (uint64_t(n_tensors) > (r.left() - uint64_t(n_kv) * kMinKvBytes) / kMinTensorBytes) {
    r.fail_at("tensor count " + std::to_string(n_tensors) + " cannot fit in the " +
                  std::to_string(r.left()) + " bytes left",
              8);
  }

  kvs_.resize(size_t(n_kv));
  kv_index_.reserve(size_t(n_kv));
  for (size_t i = 0; i < kvs_.size(); ++i) {
    GgufKv& kv = kvs_[i];
    kv.offset = r.pos();
    r.set_context("key #" + std::to_string(i), kv.offset);
    kv.key = r.read_string("key");
    if (kv.key.empty()) r.fail("empty key");
    r.set_context("key " + q(kv.key), kv.offset);
    if (!kv_index_.emplace(kv.key, i).second) r.fail("duplicate key");
    read_value(r, kv);
  }

  tensors_.resize(size_t(n_tensors));
  tensor_index_.reserve(size_t(n_tensors));
  for (size_t i = 0; i < tensors_.size(); ++i) {
    GgufTensorInfo& t = tensors_[i];
    t.info_offset = r.pos();
    r.set_context("tensor #" + std::to_string(i), t.info_offset);
    t.name = r.read_string("tensor name");
    r.set_context("tensor " + q(t.name), t.info_offset);
    if (t.name.size() > kGgufMaxTensorName) {
      r.fail("tensor name is " + std::to_string(t.name.size()) + " bytes, the limit is " +
             std::to_string(kGgufMaxTensorName));
    }
    if (!tensor_index_.emplace(t.name, i).second) r.fail("duplicate tensor name");
    read_tensor_info(r, t);
  }

  if (auto it = kv_index_.find("general.alignment"); it != kv_index_.end()) {
    const GgufKv& kv = kvs_[it->second];
    r.set_context("key \"general.alignment\"", kv.offset);
    if (kv.type != GgufType::UINT32) {
      r.fail(std::string("alignment has type ") + gguf_type_name(kv.type) + ", expected UINT32");
    }
    uint32_t a;
    std::memcpy(&a, kv.data, sizeof a);
    if (a == 0 || !std::has_single_bit(a)) {
      r.fail("alignment " + std::to_string(a) + " is not a non-zero power of two");
    }
    alignment_ = a;
  }

  // The data section starts at the next multiple of the alignment. A file without tensors may
  // end before that point (nothing is read from there).
  const size_t end_of_infos = r.pos();
  data_offset_ = end_of_infos + (alignment_ - end_of_infos % alignment_) % alignment_;
  r.set_context("", end_of_infos);
  if (!tensors_.empty() && data_offset_ > size_) {
    r.fail("file truncated: data section starts at " + std::to_string(data_offset_) +
           ", past the end of the file (" + std::to_string(size_) + " bytes)");
  }
  const uint64_t data_size = tensors_.empty() ? 0 : size_ - data_offset_;

  // Offsets: any aligned, in-range position is accepted (tolerant of other writers' order),
  // but two tensors must never share bytes.
  std::vector<const GgufTensorInfo*> by_offset;
  by_offset.reserve(tensors_.size());
  for (GgufTensorInfo& t : tensors_) {
    r.set_context("tensor " + q(t.name), t.info_offset);
    if (t.offset % alignment_ != 0) {
      r.fail("misaligned data offset " + std::to_string(t.offset) + " (alignment " +
             std::to_string(alignment_) + ")");
    }
    if (t.offset > data_size || t.nbytes > data_size - t.offset) {
      r.fail("tensor data [" + std::to_string(t.offset) + ", +" + std::to_string(t.nbytes) +
             ") extends past the end of the data section (" + std::to_string(data_size) +
             " bytes)");
    }
    t.data = t.nbytes ? bytes_ + data_offset_ + t.offset : nullptr;
    if (t.nbytes) by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensorInfo& prev = *by_offset[i - 1];
    const GgufTensorInfo& cur = *by_offset[i];
    if (cur.offset < prev.offset + prev.nbytes) {
      r.set_context("tensor " + q(cur.name), cur.info_offset);
      r.fail("data at offset " + std::to_string(cur.offset) + " overlaps tensor " + q(prev.name) +
             " [" + std::to_string(prev.offset) + ", " + std::to_string(prev.offset + prev.nbytes) +
             ")");
    }
  }
}

std::optional<GgufValue> GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  if (it == kv_index_.end()) return std::nullopt;
  return GgufValue(&kvs_[it->second], &name_);
}

GgufValue GgufFile::get(std::string_view key) const {
  if (auto v = find(key)) return *v;
  throw Error(name_ + ": missing key " + q(key));
}

GgufValue GgufFile::get_array(std::string_view key) const {
  GgufValue v = get(key);
  v.elem_type();  // throws with the key and both types when it is not an array
  return v;
}

uint32_t GgufFile::get_u32(std::string_view key, uint32_t def) const {
  auto v = find(key);
  return v ? v->as_u32() : def;
}
int32_t GgufFile::get_i32(std::string_view key, int32_t def) const {
  auto v = find(key);
  return v ? v->as_i32() : def;
}
float GgufFile::get_f32(std::string_view key, float def) const {
  auto v = find(key);
  return v ? v->as_f32() : def;
}
bool GgufFile::get_bool(std::string_view key, bool def) const {
  auto v = find(key);
  return v ? v->as_bool() : def;
}
std::string_view GgufFile::get_string(std::string_view key, std::string_view def) const {
  auto v = find(key);
  return v ? v->as_string() : def;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensorInfo& GgufFile::tensor(std::string_view name) const {
  if (const GgufTensorInfo* t = find_tensor(name)) return *t;
  throw Error(name_ + ": no tensor named " + q(name));
}

std::string gguf_split_path(std::string_view prefix, int no, int count) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "-%05d-of-%05d.gguf", no, count);
  return std::string(prefix) + buf;
}

std::vector<std::string> gguf_split_paths(const std::string& path) {
  // "-NNNNN-of-MMMMM.gguf" is 20 characters.
  constexpr size_t kSuffix = 20;
  if (path.size() < kSuffix) return {path};
  const std::string_view tail = std::string_view(path).substr(path.size() - kSuffix);
  int no = 0, count = 0;
  char end[8] = {};
  if (std::sscanf(std::string(tail).c_str(), "-%5d-of-%5d%6s", &no, &count, end) != 3 ||
      std::string_view(end) != ".gguf" || count < 1 || no < 1 || no > count ||
      gguf_split_path("", no, count) != tail) {
    return {path};
  }
  const std::string prefix = path.substr(0, path.size() - kSuffix);
  std::vector<std::string> out;
  for (int i = 1; i <= count; ++i) out.push_back(gguf_split_path(prefix, i, count));
  return out;
}

}  // namespace kt::tensor
