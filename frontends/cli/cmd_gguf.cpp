// `kt gguf FILE [--json] [--no-tensors]`: header, metadata and tensor table of a GGUF file.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "frontends/cli/commands.h"
#include "tensor/gguf.h"

namespace kt::cli {
namespace {

using tensor::GgufFile;
using tensor::GgufTensorInfo;
using tensor::GgufType;
using tensor::GgufValue;

struct GgufOptions {
  std::string file;
  bool json = false;
  bool no_tensors = false;
};

// Arrays this long or longer are shown by their first elements only.
constexpr size_t kShownElems = 8;
// Strings (chat templates) are cut here in the text listing; JSON carries them whole.
constexpr size_t kShownChars = 100;

std::string human_bytes(uint64_t n) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(n);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%" PRIu64 " B", n);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f %s", v, units[u]);
  }
  return buf;
}

std::string human_count(uint64_t n) {
  char buf[32];
  if (n >= 1'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
  } else if (n >= 1'000'000) {
    std::snprintf(buf, sizeof buf, "%.2f M", n / 1e6);
  } else if (n >= 1'000) {
    std::snprintf(buf, sizeof buf, "%.2f K", n / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%" PRIu64, n);
  }
  return buf;
}

std::string shape_text(const GgufTensorInfo& t) {
  std::string s = "{";
  const uint32_t n = std::max<uint32_t>(t.n_dims, 1);
  for (uint32_t d = 0; d < n; ++d) {
    if (d) s += ", ";
    s += std::to_string(t.ne[d]);
  }
  return s + "}";
}

struct TypeTotal {
  size_t tensors = 0;
  uint64_t params = 0;
  uint64_t bytes = 0;
};

struct Totals {
  uint64_t params = 0;
  uint64_t bytes = 0;
  std::map<std::string, TypeTotal> by_type;  // sorted by type name for stable output
};

Totals totals(const GgufFile& f) {
  Totals t;
  for (const GgufTensorInfo& ti : f.tensors()) {
    TypeTotal& tt = t.by_type[tensor::dtype_name(ti.type)];
    ++tt.tensors;
    tt.params += uint64_t(ti.n_elements());
    tt.bytes += ti.nbytes;
    t.params += uint64_t(ti.n_elements());
    t.bytes += ti.nbytes;
  }
  return t;
}

void print_text(const GgufFile& f, bool with_tensors) {
  std::printf("%s\n", f.name().c_str());
  std::printf("  version %u, %zu tensors, %zu key/values, alignment %u\n", f.version(),
              f.tensors().size(), f.kv_count(), f.alignment());
  std::printf("  data offset %zu, file size %zu (%s)\n", f.data_offset(), f.file_size(),
              human_bytes(f.file_size()).c_str());

  std::printf("\nmetadata:\n");
  size_t width = 0;
  for (size_t i = 0; i < f.kv_count(); ++i) width = std::max(width, f.kv(i).key().size());
  width = std::min<size_t>(width, 48);
  for (size_t i = 0; i < f.kv_count(); ++i) {
    const GgufValue v = f.kv(i);
    const std::string key = tensor::gguf_quote(v.key(), 200);
    // Keys are printed bare when they are plain (they nearly always are).
    const std::string shown = key.size() == v.key().size() + 2 ? std::string(v.key()) : key;
    std::printf("  %-*s  %-6s  %s\n", int(width), shown.c_str(),
                tensor::gguf_type_short_name(v.type()),
                v.to_string(kShownElems, kShownChars).c_str());
  }

  const Totals tot = totals(f);
  if (with_tensors && !f.tensors().empty()) {
    size_t name_w = 4;
    for (const GgufTensorInfo& t : f.tensors()) name_w = std::max(name_w, t.name.size());
    std::printf("\ntensors:\n");
    std::printf("  %5s  %-*s  %-7s  %-24s  %12s  %12s\n", "#", int(name_w), "name", "type", "shape",
                "size", "offset");
    for (size_t i = 0; i < f.tensors().size(); ++i) {
      const GgufTensorInfo& t = f.tensors()[i];
      std::printf("  %5zu  %-*s  %-7s  %-24s  %12s  %12" PRIu64 "\n", i, int(name_w),
                  std::string(t.name).c_str(), tensor::dtype_name(t.type), shape_text(t).c_str(),
                  human_bytes(t.nbytes).c_str(), t.offset);
    }
  }
  std::printf("\ntotals: %zu tensors, %s parameters (%" PRIu64 "), %s of tensor data\n",
              f.tensors().size(), human_count(tot.params).c_str(), tot.params,
              human_bytes(tot.bytes).c_str());
  for (const auto& [name, tt] : tot.by_type) {
    std::printf("  %-7s  %5zu tensors  %12s parameters  %12s\n", name.c_str(), tt.tensors,
                human_count(tt.params).c_str(), human_bytes(tt.bytes).c_str());
  }
}

nlohmann::ordered_json scalar_json(const GgufValue& v) {
  switch (v.type()) {
    // A FLOAT32 widened as is prints as 9.999999747378752e-06; go through its shortest text.
    case GgufType::FLOAT32:
      return std::strtod(v.to_string().c_str(), nullptr);
    case GgufType::FLOAT64:
      return v.as_f64();
    case GgufType::BOOL:
      return v.as_bool();
    case GgufType::STRING:
      return std::string(v.as_string());
    case GgufType::UINT64:
      return v.as_u64();
    default:
      return v.as_i64();
  }
}

// Array elements as JSON; only the first kShownElems are listed (vocabularies hold 100k+).
nlohmann::ordered_json array_head_json(const GgufValue& v, const std::string& file) {
  nlohmann::ordered_json head = nlohmann::ordered_json::array();
  const tensor::GgufKv& kv = v.record();
  const size_t n = size_t(std::min<uint64_t>(kv.count, kShownElems));
  const size_t esz = tensor::gguf_type_size(kv.elem_type);
  for (size_t i = 0; i < n; ++i) {
    if (kv.elem_type == GgufType::STRING) {
      head.push_back(std::string(kv.strings[i]));
      continue;
    }
    // View element i as a one-element record to reuse the scalar conversions.
    tensor::GgufKv elem;
    elem.key = kv.key;
    elem.type = kv.elem_type;
    elem.data = kv.data + i * esz;
    head.push_back(scalar_json(GgufValue(&elem, &file)));
  }
  return head;
}

nlohmann::ordered_json to_json(const GgufFile& f, bool with_tensors) {
  nlohmann::ordered_json j;
  j["file"] = f.name();
  j["version"] = f.version();
  j["tensor_count"] = f.tensors().size();
  j["kv_count"] = f.kv_count();
  j["alignment"] = f.alignment();
  j["data_offset"] = f.data_offset();
  j["file_size"] = f.file_size();

  nlohmann::ordered_json meta = nlohmann::ordered_json::array();
  for (size_t i = 0; i < f.kv_count(); ++i) {
    const GgufValue v = f.kv(i);
    nlohmann::ordered_json e;
    e["key"] = std::string(v.key());
    e["type"] = tensor::gguf_type_short_name(v.type());
    if (v.is_array()) {
      e["elem_type"] = tensor::gguf_type_short_name(v.elem_type());
      e["count"] = v.size();
      e["head"] = array_head_json(v, f.name());
    } else {
      e["value"] = scalar_json(v);
    }
    meta.push_back(std::move(e));
  }
  j["metadata"] = std::move(meta);

  if (with_tensors) {
    nlohmann::ordered_json ts = nlohmann::ordered_json::array();
    for (const GgufTensorInfo& t : f.tensors()) {
      nlohmann::ordered_json e;
      e["name"] = std::string(t.name);
      e["type"] = tensor::dtype_name(t.type);
      e["shape"] =
          std::vector<int64_t>(t.ne.begin(), t.ne.begin() + std::max<uint32_t>(t.n_dims, 1));
      e["nbytes"] = t.nbytes;
      e["offset"] = t.offset;
      ts.push_back(std::move(e));
    }
    j["tensors"] = std::move(ts);
  }

  const Totals tot = totals(f);
  nlohmann::ordered_json by_type = nlohmann::ordered_json::object();
  for (const auto& [name, tt] : tot.by_type) {
    by_type[name] = {{"tensors", tt.tensors}, {"parameters", tt.params}, {"bytes", tt.bytes}};
  }
  j["totals"] = {{"parameters", tot.params}, {"bytes", tot.bytes}, {"by_type", by_type}};
  return j;
}

void run_gguf(const GgufOptions& o) {
  const GgufFile f = GgufFile::open(o.file);
  if (o.json) {
    // Strings in a GGUF need not be valid UTF-8; replace bad bytes rather than throw.
    std::printf("%s\n", to_json(f, !o.no_tensors)
                            .dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
                            .c_str());
  } else {
    print_text(f, !o.no_tensors);
  }
}

}  // namespace

void add_gguf_command(CLI::App& app) {
  auto opts = std::make_shared<GgufOptions>();
  CLI::App* cmd = app.add_subcommand("gguf", "Inspect a GGUF file: header, metadata, tensors");
  cmd->add_option("file", opts->file, "GGUF file")->required();
  cmd->add_flag("--json", opts->json, "Print as JSON");
  cmd->add_flag("--no-tensors", opts->no_tensors, "Leave out the tensor table");
  cmd->callback([opts] { run_gguf(*opts); });
}

}  // namespace kt::cli
