#include "inject/plan_summary.h"

#include <map>
#include <regex>
#include <tuple>

namespace kt::inject {
namespace {

// Everything a row shows except the path; equal keys fold.
std::string placement_key(const std::string& suffix, const Placement& p) {
  std::string k = suffix + "|" + p.module_class + "|" + p.op_class + "|" + p.generate_op + "|" +
                  p.prefill_op + "|" + p.generate_device.str() + "|" + p.prefill_device.str() +
                  "|" + (p.out_device ? p.out_device->str() : "") + "|" + p.rule;
  for (const auto& [key, v] : p.kwargs) k += "|" + key + "=" + v;
  return k;
}

}  // namespace

std::string layer_ranges(const std::vector<int64_t>& layers) {
  std::string s;
  for (size_t i = 0; i < layers.size();) {
    size_t j = i;
    while (j + 1 < layers.size() && layers[j + 1] == layers[j] + 1) ++j;
    // Appended piecewise: GCC 12 misreports `s += "-" + to_string(..)` (-Wrestrict).
    if (!s.empty()) s.push_back(',');
    s.append(std::to_string(layers[i]));
    if (j > i) {
      s.push_back('-');
      s.append(std::to_string(layers[j]));
    }
    i = j + 1;
  }
  return s;
}

std::vector<PlanRow> summarize(const Plan& plan) {
  static const std::regex layer_re(R"(^model\.layers\.(\d+)(\..*)?$)");
  std::vector<PlanRow> rows;
  std::vector<std::string> suffixes;  // per row, for the path
  std::map<std::string, size_t> by_key;
  for (const Placement& p : plan.entries()) {
    std::smatch m;
    if (!std::regex_match(p.path, m, layer_re)) {
      rows.push_back({p.path, {}, &p});
      suffixes.emplace_back();
      continue;
    }
    const std::string suffix = m[2].matched ? m[2].str() : "";
    const std::string key = placement_key(suffix, p);
    auto it = by_key.find(key);
    if (it == by_key.end()) {
      by_key[key] = rows.size();
      rows.push_back({"", {}, &p});
      suffixes.push_back(suffix);
      it = by_key.find(key);
    }
    rows[it->second].layers.push_back(std::stoll(m[1]));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].layers.empty()) continue;
    const std::string r = layer_ranges(rows[i].layers);
    const bool one = rows[i].layers.size() == 1;
    rows[i].path = "model.layers." + (one ? r : "{" + r + "}") + suffixes[i];
  }
  return rows;
}

}  // namespace kt::inject
