#include "backends/cpu/graph_exec.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>

#include "backends/cpu/matmul.h"
#include "backends/cpu/moe_route.h"
#include "backends/cpu/op_profile.h"
#include "backends/cpu/ops.h"
#include "tensor/error.h"

namespace kt::cpu {
namespace {

using tensor::DType;
using tensor::Graph;
using tensor::Node;
using tensor::NodeId;
using tensor::Op;
using tensor::Tensor;

[[noreturn]] void fail(const Node& n, NodeId id, const std::string& why) {
  throw Error(std::string(tensor::op_name(n.op)) + " %" + std::to_string(id) +
              (n.name.empty() ? "" : " '" + n.name + "'") + ": " + why);
}

int64_t rows_of(const std::vector<int64_t>& s) {
  return tensor::numel(s) / s[0];
}

// A weight-like operand as f32 (norm weights and biases may be stored F16/BF16 in files).
std::vector<float> as_f32(const Tensor& t) {
  if (!t.is_contiguous()) throw Error("expected a contiguous tensor, got " + t.str());
  std::vector<float> out(size_t(t.numel()));
  tensor::dequantize_row(t.dtype(), t.data(), out.data(), t.numel());
  return out;
}

void causal_attention(const Node& n, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                      ThreadPool& pool) {
  const int64_t dk = q.ne(0), hq = q.ne(1), T = q.ne(2), hkv = k.ne(1), dv = v.ne(0);
  const int64_t group = hq / hkv;
  const float* Q = q.data_as<float>();
  const float* K = k.data_as<float>();
  const float* V = v.data_as<float>();
  float* O = out.data_as<float>();
  pool.parallel_for(hq * T, 1, [&](int64_t b, int64_t e, int) {
    std::vector<float> scores(size_t(k.ne(2)));
    for (int64_t job = b; job < e; ++job) {
      const int64_t h = job % hq, t = job / hq, kvh = h / group;
      const int64_t last = n.pos_offset + t;  // causal: keys [first, last]
      const int64_t first = n.window > 0 ? std::max<int64_t>(0, last - n.window + 1) : 0;
      const float* qv = Q + (t * hq + h) * dk;
      for (int64_t s = first; s <= last; ++s) {
        const float* kv = K + (s * hkv + kvh) * dk;
        float acc = 0.0f;
        for (int64_t d = 0; d < dk; ++d) acc += qv[d] * kv[d];
        scores[size_t(s)] = acc * n.scalar;
      }
      softmax(scores.data() + first, last - first + 1);
      float* o = O + (t * hq + h) * dv;
      std::fill(o, o + dv, 0.0f);
      for (int64_t s = first; s <= last; ++s)
        axpy(scores[size_t(s)], V + (s * hkv + kvh) * dv, o, dv);
    }
  });
}

// Rows of a then rows of b, per (dim 1, dim 2, dim 3) index; a one-entry dim 1 broadcasts.
Tensor concat_rows(const Node& n, const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::zeros(DType::F32, n.shape);
  const int64_t da = a.ne(0), db = b.ne(0), d = da + db;
  const int64_t n1 = out.ne(1), n23 = out.ne(2) * out.ne(3);
  for (int64_t r = 0; r < n23; ++r)
    for (int64_t h = 0; h < n1; ++h) {
      float* o = out.data_as<float>() + (r * n1 + h) * d;
      const int64_t ha = a.ne(1) == 1 ? 0 : h, hb = b.ne(1) == 1 ? 0 : h;
      std::copy_n(a.data_as<float>() + (r * a.ne(1) + ha) * da, da, o);
      std::copy_n(b.data_as<float>() + (r * b.ne(1) + hb) * db, db, o + da);
    }
  return out;
}

}  // namespace

std::vector<Tensor> GraphExecutor::run(const Graph& g, const std::map<NodeId, Tensor>& inputs) {
  std::vector<Tensor> val(g.size());
  const bool profile = op_profile_enabled();
  for (size_t i = 0; i < g.size(); ++i) {
    const NodeId id = NodeId(i);
    const Node& n = g.node(id);
    if (!n.device.is_cpu()) fail(n, id, "placed on " + n.device.str() + ", not the CPU");
    auto in = [&](size_t j) -> const Tensor& { return val[size_t(n.inputs[j])]; };
    auto alloc = [&](DType t) { return Tensor::zeros(t, n.shape); };
    const auto t_start =
        profile ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};

    switch (n.op) {
      case Op::Input: {
        auto it = inputs.find(id);
        if (it == inputs.end()) fail(n, id, "no value supplied for this input");
        const Tensor& t = it->second;
        if (t.dtype() != n.dtype || t.numel() != tensor::numel(n.shape) || !t.is_contiguous())
          fail(n, id,
               "supplied " + t.str() + ", expected contiguous " + tensor::dtype_name(n.dtype) +
                   " " + tensor::shape_str(n.shape));
        val[i] = t.reshape(n.shape);
        break;
      }
      case Op::Weight:
        val[i] = n.weight;
        break;
      case Op::GetRows: {
        const Tensor& table = in(0);
        const Tensor& ids = in(1);
        Tensor out = alloc(DType::F32);
        get_rows(table.dtype(), table.data(), table.ne(1), table.ne(0), ids.data_as<int32_t>(),
                 ids.numel(), out.data_as<float>());
        val[i] = out;
        break;
      }
      case Op::MatMul: {
        const Tensor& w = in(0);
        const Tensor& x = in(1);
        if (!w.is_contiguous()) fail(n, id, "weight must be contiguous");
        Tensor out = alloc(DType::F32);
        matmul(pool_, w.dtype(), w.data(), w.ne(1), w.ne(0), x.data_as<float>(), rows_of(n.shape),
               out.data_as<float>(), isa_);
        val[i] = out;
        break;
      }
      case Op::MatMulExperts: {
        // Group the (slot, token) pairs by expert so each expert's rows are read once per step.
        const Tensor& w = in(0);
        const Tensor& x = in(1);
        const Tensor& ids = in(2);
        const int64_t K = w.ne(0), N = w.ne(1), E = w.ne(2);
        const int64_t k = ids.ne(0), T = ids.ne(1);
        const bool per_slot = x.rows() == k * T;  // x holds one row per (slot, token)
        Tensor out = alloc(DType::F32);
        const int32_t* idp = ids.data_as<int32_t>();
        std::vector<std::vector<int64_t>> by_expert(static_cast<size_t>(E));
        for (int64_t p = 0; p < k * T; ++p) {
          if (idp[p] < 0 || idp[p] >= E)
            fail(n, id,
                 "expert id " + std::to_string(idp[p]) + " outside [0, " + std::to_string(E) + ")");
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
          matmul(pool_, w.dtype(), w.row(0, e), N, K, xs.data(), int64_t(pairs.size()), ys.data(),
                 isa_);
          for (size_t r = 0; r < pairs.size(); ++r)
            std::copy_n(ys.data() + r * size_t(N), N, out.data_as<float>() + pairs[r] * N);
        }
        val[i] = out;
        break;
      }
      case Op::Add:
      case Op::Mul: {
        const Tensor& a = in(0);
        const Tensor& b = in(1);
        Tensor out = alloc(DType::F32);
        const int64_t row = n.shape[0], nrows = rows_of(n.shape);
        const bool same = b.numel() == a.numel();
        const bool bcast = !same && b.numel() == row;  // one row for all rows
        std::vector<float> b_conv;
        const float* b_data = b.data_as<float>();
        if (b.dtype() != DType::F32) {
          b_conv = as_f32(b);
          b_data = b_conv.data();
        }
        if (!same && !bcast) {  // one value per row
          for (int64_t r = 0; r < nrows; ++r) {
            const float* ar = a.data_as<float>() + r * row;
            float* yr = out.data_as<float>() + r * row;
            for (int64_t c = 0; c < row; ++c)
              yr[c] = n.op == Op::Add ? ar[c] + b_data[r] : ar[c] * b_data[r];
          }
          val[i] = out;
          break;
        }
        for (int64_t r = 0; r < nrows; ++r) {
          const float* bp = b_data + (bcast ? 0 : r * row);
          if (n.op == Op::Add)
            add(a.data_as<float>() + r * row, bp, out.data_as<float>() + r * row, row);
          else
            mul(a.data_as<float>() + r * row, bp, out.data_as<float>() + r * row, row);
        }
        val[i] = out;
        break;
      }
      case Op::Scale: {
        Tensor out = alloc(DType::F32);
        scale(in(0).data_as<float>(), n.scalar, out.data_as<float>(), out.numel());
        val[i] = out;
        break;
      }
      case Op::RMSNorm: {
        Tensor out = alloc(DType::F32);
        std::vector<float> w;
        if (n.inputs.size() > 1) w = as_f32(in(1));
        const int64_t row = n.shape[0];
        for (int64_t r = 0; r < rows_of(n.shape); ++r)
          rms_norm(in(0).data_as<float>() + r * row, w.empty() ? nullptr : w.data(),
                   out.data_as<float>() + r * row, row, n.eps);
        val[i] = out;
        break;
      }
      case Op::RoPE: {
        Tensor out = alloc(DType::F32);
        std::copy_n(in(0).data_as<float>(), out.numel(), out.data_as<float>());
        const int64_t D = n.shape[0], H = n.shape[1], T = out.numel() / (D * H);
        const int32_t* pos = in(1).data_as<int32_t>();
        for (int64_t t = 0; t < T; ++t)
          rope(out.data_as<float>() + t * H * D, H, D, pos[t], n.rope);
        val[i] = out;
        break;
      }
      case Op::Softmax: {
        Tensor out = alloc(DType::F32);
        std::copy_n(in(0).data_as<float>(), out.numel(), out.data_as<float>());
        for (int64_t r = 0; r < rows_of(n.shape); ++r)
          softmax(out.data_as<float>() + r * n.shape[0], n.shape[0]);
        val[i] = out;
        break;
      }
      case Op::Sigmoid:
      case Op::SiLU: {
        Tensor out = alloc(DType::F32);
        (n.op == Op::SiLU ? silu : sigmoid)(in(0).data_as<float>(), out.data_as<float>(),
                                            out.numel());
        val[i] = out;
        break;
      }
      case Op::SwiGLU: {
        Tensor out = alloc(DType::F32);
        swiglu(in(0).data_as<float>(), in(1).data_as<float>(), out.data_as<float>(), out.numel());
        val[i] = out;
        break;
      }
      case Op::GELU: {
        Tensor out = alloc(DType::F32);
        gelu(in(0).data_as<float>(), out.data_as<float>(), out.numel());
        val[i] = out;
        break;
      }
      case Op::TopK: {
        Tensor out = alloc(DType::I32);
        const Tensor& x = in(0);
        const int64_t row = x.ne(0);
        for (int64_t r = 0; r < n.shape[1]; ++r)
          top_k(x.data_as<float>() + r * row, row, n.k, out.data_as<int32_t>() + r * n.k, nullptr);
        val[i] = out;
        break;
      }
      case Op::Gather: {
        Tensor out = alloc(DType::F32);
        const Tensor& x = in(0);
        const int32_t* idp = in(1).data_as<int32_t>();
        const int64_t k = n.shape[0], row = x.ne(0);
        for (int64_t t = 0; t < n.shape[1]; ++t)
          for (int64_t j = 0; j < k; ++j) {
            const int32_t e = idp[t * k + j];
            if (e < 0 || e >= row) fail(n, id, "index " + std::to_string(e) + " out of range");
            out.data_as<float>()[t * k + j] = x.data_as<float>()[t * row + e];
          }
        val[i] = out;
        break;
      }
      case Op::WeightedSum: {
        Tensor out = alloc(DType::F32);
        const int64_t N = n.shape[0], T = n.shape[1], k = in(1).ne(0);
        for (int64_t t = 0; t < T; ++t)
          for (int64_t j = 0; j < k; ++j)
            axpy(in(1).data_as<float>()[t * k + j], in(0).data_as<float>() + (t * k + j) * N,
                 out.data_as<float>() + t * N, N);
        val[i] = out;
        break;
      }
      case Op::Attention: {
        Tensor out = alloc(DType::F32);
        causal_attention(n, in(0), in(1), in(2), out, pool_);
        val[i] = out;
        break;
      }
      case Op::Copy:
        // CPU to CPU is a no-op; other devices are rejected above.
        val[i] = in(0);
        break;
      case Op::Reshape:
        val[i] = in(0).reshape(n.shape);
        break;
      case Op::CacheAppend: {
        // Writes into the caller's cache tensor: this is how a step's keys and values persist.
        const Tensor& cache = in(0);
        const Tensor& x = in(1);
        const int64_t row = n.shape[0] * n.shape[1];
        std::copy_n(x.data_as<float>(), x.numel(), cache.data_as<float>() + n.pos_offset * row);
        val[i] =
            cache.reshape({n.shape[0], n.shape[1], cache.numel() / row}).slice(2, 0, n.shape[2]);
        break;
      }
      case Op::Slice: {
        Tensor out = alloc(DType::F32);
        const Tensor& x = in(0);
        const int64_t w = n.shape[0], src = x.ne(0);
        for (int64_t r = 0; r < rows_of(n.shape); ++r)
          std::copy_n(x.data_as<float>() + r * src + n.offset, w, out.data_as<float>() + r * w);
        val[i] = out;
        break;
      }
      case Op::Concat:
        val[i] = concat_rows(n, in(0), in(1));
        break;
      case Op::MoeSelect: {
        Tensor out = alloc(DType::I32);
        const Tensor& l = in(0);
        std::vector<float> bias;
        if (n.inputs.size() > 1) bias = as_f32(in(1));
        const int64_t X = l.ne(0), k = n.shape[0];
        for (int64_t t = 0; t < n.shape[1]; ++t)
          moe_select(l.data_as<float>() + t * X, bias.empty() ? nullptr : bias.data(), X, n.routing,
                     out.data_as<int32_t>() + t * k);
        val[i] = out;
        break;
      }
      case Op::MoeWeights: {
        Tensor out = alloc(DType::F32);
        const Tensor& l = in(0);
        const int64_t X = l.ne(0), k = n.shape[0];
        for (int64_t t = 0; t < n.shape[1]; ++t) {
          try {
            moe_weights(l.data_as<float>() + t * X, in(1).data_as<int32_t>() + t * k, X, n.routing,
                        out.data_as<float>() + t * k);
          } catch (const Error& e) {
            fail(n, id, e.what());
          }
        }
        val[i] = out;
        break;
      }
    }
    if (profile) {
      const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t_start;
      const DType w = n.inputs.empty() ? DType::F32 : val[size_t(n.inputs[0])].dtype();
      op_profile_add(n.op, w, n.name, dt.count());
    }
  }
  return val;
}

}  // namespace kt::cpu
