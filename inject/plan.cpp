#include "inject/plan.h"

#include <algorithm>
#include <regex>
#include <set>

#include "tensor/error.h"

namespace kt::inject {
namespace {

using tensor::Device;

// kwargs kt reads (reference §2.3), beyond devices and operators: recorded for the operators
// that take them, rejected when misspelt (KTransformers would fail in the constructor).
const std::set<std::string> kKnownKwargs = {"generate_device",
                                            "prefill_device",
                                            "generate_op",
                                            "prefill_op",
                                            "out_device",
                                            "backend",
                                            "absorb_for_prefill",
                                            "per_layer_prefill_intput_threshold",
                                            "transfer_map",
                                            "num_bits",
                                            "group_size",
                                            "act_order",
                                            "is_k_full",
                                            "block_size",
                                            "stride",
                                            "group_max_len"};

// A rule after checking: what it matches and what it sets. Errors go to `errors`.
struct Resolved {
  const Rule* rule = nullptr;
  std::optional<std::regex> name;
  std::string match_class;  // last component of match.class
  ReplaceClass cls;
  std::string generate_op, prefill_op;
  std::optional<Device> generate_device, prefill_device, out_device;
  std::map<std::string, std::string> kwargs;
  std::map<int64_t, Device> transfer_map;
  bool ok = true;
  bool bad_device = false;  // reported already: no operator-on-device follow-up errors
  size_t matches = 0;
  bool kind_error_reported = false;
};

std::string last_component(const std::string& s) {
  const size_t dot = s.rfind('.');
  return dot == std::string::npos ? s : s.substr(dot + 1);
}

class Resolver {
 public:
  Resolver(const PlanOptions& opt, std::vector<std::string>& errors,
           std::vector<std::string>& warnings)
      : opt_(opt), errors_(errors), warnings_(warnings) {}

  Resolved resolve(const Rule& r) {
    Resolved x;
    x.rule = &r;
    auto err = [&](int line, const std::string& what) {
      errors_.push_back(r.where(line) + ": " + what);
      x.ok = false;
    };
    if (r.name) {
      try {
        // ECMAScript covers what KTransformers' rules use (anchors, alternation, classes,
        // negative look-ahead); Python-only syntax such as (?P<..>) or look-behind is an error.
        x.name.emplace(r.name->text, std::regex::ECMAScript | std::regex::optimize);
      } catch (const std::regex_error& e) {
        err(r.name->line, "invalid regular expression \"" + r.name->text + "\": " + e.what());
      }
    }
    if (r.match_class) {
      x.match_class = last_component(r.match_class->text);
      const auto& known = models::ModuleTree::known_classes();
      if (std::find(known.begin(), known.end(), x.match_class) == known.end())
        err(r.match_class->line, "unknown module class \"" + r.match_class->text +
                                     "\" (not a class of any model kt supports)");
    }
    try {
      if (auto c = resolve_replace_class(r.replace_class.text))
        x.cls = *c;
      else
        err(r.replace_class.line, "unknown replace class \"" + r.replace_class.text +
                                      "\" (known: " + known_replace_classes() + ")");
    } catch (const Error& e) {
      err(r.replace_class.line, e.what());
    }
    x.generate_op = x.prefill_op = x.cls.op;
    for (const Kwarg& k : r.kwargs) {
      if (!kKnownKwargs.count(k.key)) {
        err(k.line, "unknown kwarg \"" + k.key + "\"");
        continue;
      }
      if (k.key == "generate_device" || k.key == "prefill_device" || k.key == "out_device") {
        auto d = device(k.value, k.line, err, k.key);
        if (!d) x.bad_device = true;
        (k.key == "generate_device"  ? x.generate_device
         : k.key == "prefill_device" ? x.prefill_device
                                     : x.out_device) = d;
      } else if (k.key == "generate_op" || k.key == "prefill_op") {
        std::string& slot = k.key == "generate_op" ? x.generate_op : x.prefill_op;
        if (k.value == "None" || k.value.empty()) continue;  // KTransformers: no variant
        try {
          if (auto op = resolve_op(k.value)) {
            if (x.cls.kind != OpKind::Default && op->kind != x.cls.kind)
              err(k.line, k.key + " " + k.value + " is a " + kind_name(op->kind) +
                              " operator, but the rule replaces with " + r.replace_class.text);
            slot = op->name;
          } else {
            err(k.line, "unknown " + k.key + " \"" + k.value + "\" (known: " + known_ops() + ")");
          }
        } catch (const Error& e) {
          err(k.line, e.what());
        }
      } else if (k.key == "transfer_map") {
        if (!k.is_map) err(k.line, "transfer_map must be a map {layer: device}");
        for (const auto& [layer, dev] : k.map) {
          try {
            const int64_t l = std::stoll(layer);
            if (auto d = device(dev, k.line, err, "transfer_map[" + layer + "]"))
              x.transfer_map[l] = *d;
          } catch (const std::logic_error&) {
            err(k.line, "transfer_map key \"" + layer + "\" is not a layer number");
          }
        }
      } else if (k.key == "backend") {
        if (k.value == "AMXInt8" || k.value == "AMXBF16")
          warnings_.push_back(r.where(k.line) + ": backend " + k.value +
                              " is recorded, but kt picks its CPU expert kernel by CPUID");
        else if (k.value != "llamafile")
          err(k.line, "unknown backend \"" + k.value + "\" (llamafile, AMXInt8, AMXBF16)");
        x.kwargs[k.key] = k.value;
      } else {
        x.kwargs[k.key] = k.value;
      }
    }
    // Devices: KTransformers fills a missing device with the default one.
    const Device gen = x.generate_device.value_or(opt_.default_device);
    const Device pre = x.prefill_device.value_or(x.generate_device.value_or(opt_.default_device));
    if (!x.bad_device) {
      check_op(x, x.generate_op, gen, "generate", err);
      check_op(x, x.prefill_op, pre, "prefill", err);
    }
    return x;
  }

 private:
  template <typename Err>
  std::optional<Device> device(const std::string& text, int line, Err& err,
                               const std::string& what) {
    Device d;
    try {
      d = Device::parse(text);
    } catch (const Error&) {
      err(line, what + ": unknown device \"" + text + "\" (cpu, cuda, cuda:N)");
      return std::nullopt;
    }
    if (d.is_cuda() && d.index >= opt_.gpu_count) {
      err(line, what + " " + d.str() + ": " +
                    (opt_.gpu_count == 0 ? std::string("no CUDA GPU is present")
                                         : "only " + std::to_string(opt_.gpu_count) +
                                               " CUDA GPU(s) present (cuda:0 .. cuda:" +
                                               std::to_string(opt_.gpu_count - 1) + ")"));
      return std::nullopt;
    }
    return d;
  }

  template <typename Err>
  void check_op(const Resolved& x, const std::string& op, const Device& d, const char* phase,
                Err& err) {
    if (op.empty()) return;
    const auto info = resolve_op(op);
    if (!info) return;
    if ((d.is_cpu() && !info->on_cpu) || (d.is_cuda() && !info->on_cuda)) {
      const Kwarg* k = x.rule->kwarg(std::string(phase) + "_op");
      err(k ? k->line : x.rule->replace_class.line,
          info->ktransformers + " (" + info->name + ") does not run on " + d.str() + " (" + phase +
              "_device); it runs on " + (info->on_cpu ? "cpu" : "cuda"));
    }
  }

  const PlanOptions& opt_;
  std::vector<std::string>& errors_;
  std::vector<std::string>& warnings_;
};

// KTransformers matches classes with isinstance: torch.nn.Module fits everything, and the
// YaRN rotary embeddings derive from the plain one (DeepseekV3YarnRotaryEmbedding is a
// DeepseekV3RotaryEmbedding).
bool is_a(const std::string& cls, const std::string& base) {
  if (base == "Module" || base == cls) return true;
  const size_t yarn = cls.find("YarnRotaryEmbedding");
  return yarn != std::string::npos && cls.substr(0, yarn) + "RotaryEmbedding" == base;
}

bool matches(const Resolved& r, const models::Module& m) {
  if (!r.match_class.empty() && !is_a(m.cls, r.match_class)) return false;
  return !r.name || std::regex_search(m.path, *r.name);
}

}  // namespace

Plan Plan::build(const models::ModuleTree& tree, const RuleFile& rules, const PlanOptions& opt) {
  Plan p;
  p.source_ = rules.source;
  std::vector<std::string> errors;
  Resolver resolver(opt, errors, p.warnings_);
  std::vector<Resolved> rs;
  for (const Rule& r : rules.rules) rs.push_back(resolver.resolve(r));

  tree.walk([&](const models::Module& m) {
    Placement pl;
    pl.path = m.path;
    pl.module_class = m.cls;
    pl.generate_device = pl.prefill_device = opt.default_device;
    bool recurse = true;
    for (Resolved& r : rs) {
      if (!r.name && r.match_class.empty()) continue;  // its regex failed to compile
      if (!matches(r, m)) continue;
      ++r.matches;
      recurse = r.rule->recursive;
      pl.rule = r.rule->where();
      if (!r.ok) break;
      if (!kind_fits(r.cls.kind, m.cls, m.path)) {
        if (!r.kind_error_reported)
          errors.push_back(r.rule->where(r.rule->replace_class.line) + ": " +
                           r.rule->replace_class.text + " (an operator for " +
                           kind_name(r.cls.kind) + " modules) cannot replace " +
                           (m.path.empty() ? "the root" : m.path) + " (" + m.cls + ")");
        r.kind_error_reported = true;
        break;
      }
      pl.op_class = r.cls.name;
      pl.kind = r.cls.kind;
      pl.generate_op = r.generate_op;
      pl.prefill_op = r.prefill_op;
      pl.generate_device = r.generate_device.value_or(opt.default_device);
      pl.prefill_device = r.prefill_device.value_or(pl.generate_device);
      pl.out_device = r.out_device;
      pl.kwargs = r.kwargs;
      for (const auto& [l, d] : r.transfer_map) p.transfer_map_[l] = d;
      break;
    }
    p.index_[pl.path] = p.entries_.size();
    p.entries_.push_back(std::move(pl));
    return recurse;
  });
  for (const Resolved& r : rs)
    if (r.ok && r.matches == 0)
      p.warnings_.push_back(
          r.rule->where() + ": rule matches no module of this model" +
          (r.rule->name ? " (name " + r.rule->name->text + ")" : "") +
          (r.rule->match_class ? " (class " + r.rule->match_class->text + ")" : ""));
  if (!errors.empty()) {
    std::string msg =
        rules.source + ": " + std::to_string(errors.size()) + " error(s) in the placement rules:";
    for (const std::string& e : errors) msg += "\n  " + e;
    throw Error(msg);
  }
  return p;
}

const Placement* Plan::find(const std::string& path) const {
  auto it = index_.find(path);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const Placement& Plan::owner(const std::string& path) const {
  std::string p = path;
  for (;;) {
    if (const Placement* pl = find(p)) return *pl;
    if (p.empty()) break;
    const size_t dot = p.rfind('.');
    p = dot == std::string::npos ? "" : p.substr(0, dot);
  }
  return entries_.front();  // the root is always visited
}

const Placement* Plan::first_off_cpu() const {
  for (const Placement& p : entries_)
    if (!p.generate_device.is_cpu() || !p.prefill_device.is_cpu() ||
        (p.out_device && !p.out_device->is_cpu()))
      return &p;
  for (const auto& [l, d] : transfer_map_)
    if (!d.is_cpu()) return &entries_.front();
  return nullptr;
}

}  // namespace kt::inject
