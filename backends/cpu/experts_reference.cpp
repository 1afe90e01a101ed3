#include "backends/cpu/experts_reference.h"

#include <algorithm>
#include <string>

#include "backends/cpu/matmul.h"
#include "tensor/error.h"

namespace kt::cpu {

tensor::Tensor matmul_experts_reference(ThreadPool& pool, const tensor::Tensor& w,
                                        const tensor::Tensor& x, const tensor::Tensor& ids,
                                        Isa isa) {
  const int64_t K = w.ne(0), N = w.ne(1), E = w.ne(2);
  const int64_t k = ids.ne(0), T = ids.ne(1);
  const bool per_slot = x.rows() == k * T;  // x holds one row per (slot, token)
  tensor::Tensor out = tensor::Tensor::zeros(tensor::DType::F32, {N, k, T});
  const int32_t* idp = ids.data_as<int32_t>();
  // Group the (slot, token) pairs by expert so each expert's rows are read once per step.
  std::vector<std::vector<int64_t>> by_expert(static_cast<size_t>(E));
  for (int64_t p = 0; p < k * T; ++p) {
    if (idp[p] < 0 || idp[p] >= E)
      throw Error("expert id " + std::to_string(idp[p]) + " outside [0, " + std::to_string(E) +
                  ")");
    by_expert[size_t(idp[p])].push_back(p);
  }
  std::vector<float> xs, ys;
  for (int64_t e = 0; e < E; ++e) {
    const auto& pairs = by_expert[size_t(e)];
    if (pairs.empty()) continue;
    xs.resize(pairs.size() * size_t(K));
    ys.resize(pairs.size() * size_t(N));
    for (size_t r = 0; r < pairs.size(); ++r) {
      const int64_t src_row = per_slot ? pairs[r] : pairs[r] / k;
      std::copy_n(x.data_as<float>() + src_row * K, K, xs.data() + r * size_t(K));
    }
    matmul(pool, w.dtype(), w.row(0, e), N, K, xs.data(), int64_t(pairs.size()), ys.data(), isa);
    for (size_t r = 0; r < pairs.size(); ++r)
      std::copy_n(ys.data() + r * size_t(N), N, out.data_as<float>() + pairs[r] * N);
  }
  return out;
}

}  // namespace kt::cpu
