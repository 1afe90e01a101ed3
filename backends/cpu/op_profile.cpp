#include "backends/cpu/op_profile.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

namespace kt::cpu {
namespace {

struct Acc {
  double seconds = 0;
  int64_t calls = 0;
};

std::mutex g_mu;
std::map<std::tuple<int, int, std::string>, Acc> g_acc;  // (op, weight type, node) -> totals

bool is_matrix_op(tensor::Op op) {
  return op == tensor::Op::MatMul || op == tensor::Op::MatMulExperts ||
         op == tensor::Op::MatMulHeads || op == tensor::Op::GetRows;
}

}  // namespace

bool op_profile_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("KT_PROFILE");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}

void op_profile_add(tensor::Op op, tensor::DType weight, std::string_view node, double seconds) {
  if (node.starts_with("blk.")) {
    const size_t dot = node.find('.', 4);
    node = dot == std::string_view::npos ? node : node.substr(dot + 1);
  }
  std::lock_guard<std::mutex> lock(g_mu);
  Acc& a = g_acc[{int(op), is_matrix_op(op) ? int(weight) : -1, std::string(node)}];
  a.seconds += seconds;
  ++a.calls;
}

std::vector<OpProfileEntry> op_profile_take() {
  std::lock_guard<std::mutex> lock(g_mu);
  std::vector<OpProfileEntry> out;
  for (const auto& [key, a] : g_acc) {
    const auto& [op, weight, node] = key;
    std::string what = tensor::op_name(tensor::Op(op));
    if (weight >= 0) what += std::string(" ") + tensor::dtype_name(tensor::DType(weight));
    if (!node.empty()) what += " " + node;
    out.push_back({what, a.seconds, a.calls});
  }
  g_acc.clear();
  std::sort(out.begin(), out.end(),
            [](const OpProfileEntry& x, const OpProfileEntry& y) { return x.seconds > y.seconds; });
  return out;
}

}  // namespace kt::cpu
