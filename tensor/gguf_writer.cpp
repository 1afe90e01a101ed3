#include "tensor/gguf_writer.h"

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>

#include "tensor/error.h"

namespace kt::tensor {
namespace {

template <class T>
void put(std::vector<uint8_t>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof v);
  std::memcpy(out.data() + at, &v, sizeof v);
}

void put_string(std::vector<uint8_t>& out, std::string_view s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void check_key(std::string_view key) {
  if (key.empty()) throw Error("gguf writer: empty key");
  if (key.size() > kGgufMaxStringLength) throw Error("gguf writer: key too long");
}

uint64_t pad(uint64_t x, uint64_t a) {
  return (x + a - 1) / a * a;
}

}  // namespace

std::vector<uint8_t>& GgufWriter::slot(std::string_view key) {
  check_key(key);
  for (Kv& kv : kvs_) {
    if (kv.key == key) {
      kv.value.clear();
      return kv.value;
    }
  }
  kvs_.push_back({std::string(key), {}});
  return kvs_.back().value;
}

template <class T>
void GgufWriter::set_scalar(std::string_view key, GgufType type, T v) {
  std::vector<uint8_t>& out = slot(key);
  put<int32_t>(out, int32_t(type));
  put<T>(out, v);
}

void GgufWriter::set_u8(std::string_view k, uint8_t v) {
  set_scalar(k, GgufType::UINT8, v);
}
void GgufWriter::set_i8(std::string_view k, int8_t v) {
  set_scalar(k, GgufType::INT8, v);
}
void GgufWriter::set_u16(std::string_view k, uint16_t v) {
  set_scalar(k, GgufType::UINT16, v);
}
void GgufWriter::set_i16(std::string_view k, int16_t v) {
  set_scalar(k, GgufType::INT16, v);
}
void GgufWriter::set_u32(std::string_view k, uint32_t v) {
  set_scalar(k, GgufType::UINT32, v);
}
void GgufWriter::set_i32(std::string_view k, int32_t v) {
  set_scalar(k, GgufType::INT32, v);
}
void GgufWriter::set_u64(std::string_view k, uint64_t v) {
  set_scalar(k, GgufType::UINT64, v);
}
void GgufWriter::set_i64(std::string_view k, int64_t v) {
  set_scalar(k, GgufType::INT64, v);
}
void GgufWriter::set_f32(std::string_view k, float v) {
  set_scalar(k, GgufType::FLOAT32, v);
}
void GgufWriter::set_f64(std::string_view k, double v) {
  set_scalar(k, GgufType::FLOAT64, v);
}
void GgufWriter::set_bool(std::string_view k, bool v) {
  set_scalar<uint8_t>(k, GgufType::BOOL, v ? 1 : 0);
}

void GgufWriter::set_string(std::string_view key, std::string_view v) {
  if (v.size() > kGgufMaxStringLength) throw Error("gguf writer: string value of key too long");
  std::vector<uint8_t>& out = slot(key);
  put<int32_t>(out, int32_t(GgufType::STRING));
  put_string(out, v);
}

void GgufWriter::set_array(std::string_view key, GgufType elem, const void* data, size_t count) {
  const size_t esz = gguf_type_size(elem);
  if (esz == 0) {
    throw Error("gguf writer: key " + gguf_quote(key) + ": set_array takes numeric elements, not " +
                gguf_type_name(elem));
  }
  if (count > kGgufMaxArrayElements) throw Error("gguf writer: array too long");
  std::vector<uint8_t>& out = slot(key);
  put<int32_t>(out, int32_t(GgufType::ARRAY));
  put<int32_t>(out, int32_t(elem));
  put<uint64_t>(out, count);
  const auto* p = static_cast<const uint8_t*>(data);
  out.insert(out.end(), p, p + count * esz);
}

void GgufWriter::set_array(std::string_view k, std::span<const uint8_t> v) {
  set_array(k, GgufType::UINT8, v.data(), v.size());
}
void GgufWriter::set_array(std::string_view k, std::span<const int32_t> v) {
  set_array(k, GgufType::INT32, v.data(), v.size());
}
void GgufWriter::set_array(std::string_view k, std::span<const uint32_t> v) {
  set_array(k, GgufType::UINT32, v.data(), v.size());
}
void GgufWriter::set_array(std::string_view k, std::span<const int64_t> v) {
  set_array(k, GgufType::INT64, v.data(), v.size());
}
void GgufWriter::set_array(std::string_view k, std::span<const float> v) {
  set_array(k, GgufType::FLOAT32, v.data(), v.size());
}
void GgufWriter::set_array(std::string_view k, std::span<const double> v) {
  set_array(k, GgufType::FLOAT64, v.data(), v.size());
}

void GgufWriter::set_strings(std::string_view key, std::span<const std::string_view> v) {
  if (v.size() > kGgufMaxArrayElements) throw Error("gguf writer: array too long");
  std::vector<uint8_t>& out = slot(key);
  put<int32_t>(out, int32_t(GgufType::ARRAY));
  put<int32_t>(out, int32_t(GgufType::STRING));
  put<uint64_t>(out, v.size());
  for (std::string_view s : v) put_string(out, s);
}

void GgufWriter::set_strings(std::string_view key, std::span<const std::string> v) {
  std::vector<std::string_view> views(v.begin(), v.end());
  set_strings(key, std::span<const std::string_view>(views));
}

void GgufWriter::copy_value(const GgufValue& v) {
  const GgufKv& kv = v.record();
  if (kv.type == GgufType::STRING) {
    set_string(kv.key, v.as_string());
  } else if (kv.type == GgufType::ARRAY && kv.elem_type == GgufType::STRING) {
    set_strings(kv.key, std::span<const std::string_view>(kv.strings));
  } else if (kv.type == GgufType::ARRAY) {
    set_array(kv.key, kv.elem_type, kv.data, kv.count);  // throws for nested arrays
  } else {
    const size_t n = gguf_type_size(kv.type);
    if (n == 0) throw Error("gguf writer: key " + gguf_quote(kv.key) + " has no copyable type");
    std::vector<uint8_t>& out = slot(kv.key);
    put<int32_t>(out, int32_t(kv.type));
    out.insert(out.end(), kv.data, kv.data + n);
  }
}

void GgufWriter::set_alignment(uint32_t alignment) {
  if (alignment == 0 || !std::has_single_bit(alignment)) {
    throw Error("gguf writer: alignment " + std::to_string(alignment) +
                " is not a non-zero power of two");
  }
  set_u32("general.alignment", alignment);
}

void GgufWriter::set_version(uint32_t version) {
  if (version != 2 && version != 3) {
    throw Error("gguf writer: version " + std::to_string(version) + " cannot be written");
  }
  version_ = version;
}

uint32_t GgufWriter::alignment() const {
  for (const Kv& kv : kvs_) {
    if (kv.key != "general.alignment") continue;
    int32_t type;
    uint32_t a = 0;
    std::memcpy(&type, kv.value.data(), sizeof type);
    if (type == int32_t(GgufType::UINT32)) std::memcpy(&a, kv.value.data() + 4, sizeof a);
    if (type != int32_t(GgufType::UINT32) || a == 0 || !std::has_single_bit(a)) {
      throw Error("gguf writer: general.alignment must be a UINT32 non-zero power of two");
    }
    return a;
  }
  return kGgufDefaultAlignment;
}

size_t GgufWriter::check_tensor(std::string_view name, DType type,
                                std::span<const int64_t> ne) const {
  const std::string what = "gguf writer: tensor " + gguf_quote(name) + ": ";
  if (name.size() > kGgufMaxTensorName) {
    throw Error(what + "name is " + std::to_string(name.size()) + " bytes, the limit is " +
                std::to_string(kGgufMaxTensorName));
  }
  for (const Tensor& t : tensors_) {
    if (t.name == name) throw Error(what + "added twice");
  }
  if (ne.empty() || ne.size() > size_t(kGgufMaxDims)) {
    throw Error(what + std::to_string(ne.size()) + " dimensions, expected 1 to 4");
  }
  const TypeTraits& tr = type_traits(type);
  uint64_t elems = 1;
  for (int64_t n : ne) {
    if (n < 0 || __builtin_mul_overflow(elems, uint64_t(n), &elems) || elems >> 62) {
      throw Error(what + "bad shape");
    }
  }
  if (ne[0] % tr.block_size != 0) {
    throw Error(what + "ne[0] = " + std::to_string(ne[0]) +
                " is not a multiple of the block size " + std::to_string(tr.block_size) + " of " +
                tr.name);
  }
  return elems / uint64_t(tr.block_size) * tr.type_size;
}

void GgufWriter::add_tensor(std::string_view name, DType type, std::span<const int64_t> ne,
                            const void* data, size_t nbytes) {
  const size_t expected = check_tensor(name, type, ne);
  const std::string what = "gguf writer: tensor " + gguf_quote(name) + ": ";
  if (nbytes != expected) {
    throw Error(what + std::to_string(nbytes) + " bytes of data, the shape needs " +
                std::to_string(expected));
  }
  if (!data && nbytes) throw Error(what + "no data");
  tensors_.push_back({std::string(name), type, {ne.begin(), ne.end()}, data, nbytes, {}});
}

void GgufWriter::add_tensor(std::string_view name, DType type, std::span<const int64_t> ne,
                            Producer produce) {
  const size_t nbytes = check_tensor(name, type, ne);
  if (!produce) throw Error("gguf writer: tensor " + gguf_quote(name) + ": no producer");
  tensors_.push_back(
      {std::string(name), type, {ne.begin(), ne.end()}, nullptr, nbytes, std::move(produce)});
}

template <class Sink>
void GgufWriter::serialize(Sink&& sink,
                           const std::function<void(uint64_t, uint64_t)>* progress) const {
  const uint64_t align = alignment();
  std::vector<uint8_t> head;
  put<uint32_t>(head, kGgufMagic);
  put<uint32_t>(head, version_);
  put<int64_t>(head, int64_t(tensors_.size()));
  put<int64_t>(head, int64_t(kvs_.size()));
  for (const Kv& kv : kvs_) {
    put_string(head, kv.key);
    head.insert(head.end(), kv.value.begin(), kv.value.end());
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(head, t.name);
    put<uint32_t>(head, uint32_t(t.ne.size()));
    for (int64_t n : t.ne) put<int64_t>(head, n);
    put<int32_t>(head, int32_t(t.type));
    put<uint64_t>(head, offset);
    offset += pad(t.nbytes, align);
  }
  head.resize(pad(head.size(), align), 0);
  sink(head.data(), head.size());
  if (progress && *progress) (*progress)(0, offset);

  const std::vector<uint8_t> zeros(align, 0);
  // Two buffers for produced tensors, each grown to the largest it holds (not zero-filled:
  // the producer writes every byte): tensor i+1 is made while tensor i is being written.
  std::unique_ptr<uint8_t[]> buf[2];
  size_t buf_size[2] = {0, 0};
  int cur = 0;
  uint64_t done = 0;
  auto emit = [&](const Tensor& t, const void* data) {
    sink(data, t.nbytes);
    sink(zeros.data(), pad(t.nbytes, align) - t.nbytes);
  };
  auto report = [&](const Tensor& t) {
    done += pad(t.nbytes, align);
    if (progress && *progress) (*progress)(done, offset);
  };
  // Declared last so that, if a producer throws, its destructor waits for the write in flight
  // before the buffers and `emit` go away.
  std::future<void> writing;
  for (const Tensor& t : tensors_) {
    if (!t.produce) {
      if (writing.valid()) writing.get();
      emit(t, t.data);
      report(t);
      continue;
    }
    if (t.nbytes > buf_size[cur]) {
      buf[cur].reset();
      buf[cur].reset(new uint8_t[t.nbytes]);
      buf_size[cur] = t.nbytes;
    }
    t.produce(buf[cur].get(), t.nbytes);
    if (writing.valid()) writing.get();  // keeps the file in order; rethrows write errors
    const uint8_t* data = buf[cur].get();
    writing = std::async(std::launch::async, [&emit, &t, data] { emit(t, data); });
    cur ^= 1;
    report(t);
  }
  if (writing.valid()) writing.get();
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  std::vector<uint8_t> out;
  serialize([&](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    if (n) out.insert(out.end(), b, b + n);
  });
  return out;
}

void GgufWriter::write(const std::string& path) const {
  write(path, {});
}

void GgufWriter::write(const std::string& path,
                       const std::function<void(uint64_t done, uint64_t total)>& progress) const {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) throw Error(path + ": cannot open for writing: " + std::strerror(errno));
  serialize(
      [&](const void* p, size_t n) {
        if (n && std::fwrite(p, 1, n, f.get()) != n) {
          throw Error(path + ": write failed: " + std::strerror(errno));
        }
      },
      &progress);
  FILE* raw = f.release();
  if (std::fclose(raw) != 0) throw Error(path + ": write failed: " + std::strerror(errno));
}

}  // namespace kt::tensor
