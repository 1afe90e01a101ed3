#include "tensor/gguf_split.h"

#include <algorithm>

#include "tensor/error.h"

namespace kt::tensor {

void copy_gguf_metadata(const GgufFile& src, GgufWriter& w) {
  for (size_t i = 0; i < src.kv_count(); ++i) {
    const GgufValue v = src.kv(i);
    const GgufKv& r = v.record();
    switch (v.type()) {
      case GgufType::UINT8:
        w.set_u8(v.key(), v.as_u8());
        break;
      case GgufType::INT8:
        w.set_i8(v.key(), v.as_i8());
        break;
      case GgufType::UINT16:
        w.set_u16(v.key(), v.as_u16());
        break;
      case GgufType::INT16:
        w.set_i16(v.key(), v.as_i16());
        break;
      case GgufType::UINT32:
        w.set_u32(v.key(), v.as_u32());
        break;
      case GgufType::INT32:
        w.set_i32(v.key(), v.as_i32());
        break;
      case GgufType::UINT64:
        w.set_u64(v.key(), v.as_u64());
        break;
      case GgufType::INT64:
        w.set_i64(v.key(), v.as_i64());
        break;
      case GgufType::FLOAT32:
        w.set_f32(v.key(), v.as_f32());
        break;
      case GgufType::FLOAT64:
        w.set_f64(v.key(), v.as_f64());
        break;
      case GgufType::BOOL:
        w.set_bool(v.key(), v.as_bool());
        break;
      case GgufType::STRING:
        w.set_string(v.key(), v.as_string());
        break;
      case GgufType::ARRAY:
        if (r.elem_type == GgufType::ARRAY)
          throw Error(src.name() + ": key " + std::string(v.key()) +
                      " holds nested arrays, which split writing does not copy");
        if (r.elem_type == GgufType::STRING)
          w.set_strings(v.key(), v.as_strings());
        else  // numeric: the file's little-endian elements as they are
          w.set_array(v.key(), r.elem_type, r.data, size_t(r.count));
        break;
    }
  }
}

void set_gguf_split_keys(GgufWriter& w, int no, int count, size_t total_tensors) {
  w.set_u16("split.no", uint16_t(no));
  w.set_u16("split.count", uint16_t(count));
  w.set_i32("split.tensors.count", int32_t(total_tensors));
}

std::vector<std::string> write_gguf_splits(const GgufFile& src, const std::string& prefix,
                                           int count) {
  if (count < 1 || count > 99999)
    throw Error(src.name() + ": cannot write " + std::to_string(count) + " splits");
  const std::vector<GgufTensorInfo>& ts = src.tensors();
  std::vector<std::string> paths;
  size_t next = 0;
  for (int i = 0; i < count; ++i) {
    GgufWriter w;
    if (i == 0) {
      copy_gguf_metadata(src, w);
    } else {
      w.set_alignment(src.alignment());
    }
    set_gguf_split_keys(w, i, count, ts.size());
    const size_t end = ts.size() * size_t(i + 1) / size_t(count);
    for (; next < end; ++next) {
      const GgufTensorInfo& t = ts[next];
      w.add_tensor(t.name, t.type,
                   std::span<const int64_t>(t.ne.data(), std::max<size_t>(1, t.n_dims)), t.data,
                   t.nbytes);
    }
    paths.push_back(gguf_split_path(prefix, i + 1, count));
    w.write(paths.back());
  }
  return paths;
}

}  // namespace kt::tensor
