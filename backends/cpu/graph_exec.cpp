#include "backends/cpu/graph_exec.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>

#include "backends/cpu/attention.h"
#include "backends/cpu/experts_reference.h"
#include "backends/cpu/matmul.h"
#include "backends/cpu/matmul_experts.h"
#include "backends/cpu/matmul_heads.h"
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

// Below this many floats an element-wise op runs on the calling thread: at decode, waking
// the pool costs more than the work. Ops that call exp per element pay off sooner.
constexpr int64_t kParallelElems = 64 * 1024;
constexpr int64_t kParallelElemsExp = 8 * 1024;

// body(begin, end) over n units of unit_elems floats: on the pool for large tensors, on this
// thread below min_elems. Each unit runs the same code either way, so the results do not
// depend on the thread count.
template <class Body>
void parallel_units(ThreadPool& pool, int64_t n, int64_t unit_elems, const Body& body,
                    int64_t min_elems = kParallelElems) {
  if (pool.size() == 1 || n < 2 || n * unit_elems < min_elems) {
    body(int64_t(0), n);
    return;
  }
  pool.parallel_for(n, 1, [&](int64_t b, int64_t e, int) { body(b, e); });
}

// body(begin, end) over element ranges of a flat element-wise op of n elements.
template <class Body>
void parallel_elems(ThreadPool& pool, int64_t n, const Body& body,
                    int64_t min_elems = kParallelElems) {
  const int64_t chunk = min_elems < kParallelElems ? 1024 : 4096;
  parallel_units(
      pool, (n + chunk - 1) / chunk, chunk,
      [&](int64_t b, int64_t e) { body(b * chunk, std::min(n, e * chunk)); }, min_elems);
}

// An F32 output that the op overwrites entirely. Unlike Tensor::zeros it is not cleared on
// this thread: a prefill MoE layer allocates ~80 MB of fresh pages, and faulting them in and
// zeroing them serially cost more than the parallel op that fills them.
Tensor uninit_f32(const std::vector<int64_t>& shape) {
  const size_t bytes = (size_t(tensor::numel(shape)) * sizeof(float) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, std::max<size_t>(bytes, 64));
  if (p == nullptr) throw Error("out of memory allocating " + std::to_string(bytes) + " bytes");
  return Tensor::wrap(DType::F32, shape, p, tensor::Device::cpu(),
                      std::shared_ptr<void>(p, [](void* q) { std::free(q); }));
}

// Expert stack w {K, N, E} writing one row of N floats per (slot, token) pair to out.
ExpertStack expert_stack(const Tensor& w, const Tensor& out) {
  return {w.dtype(), w.data(), w.nb(1), w.nb(2), w.ne(1), out.data_as<float>(), w.ne(1)};
}

// A MatMulExperts a few nodes after `id` with the same input and ids, whose weights are a
// Weight node (known before that node is reached) that can share id's quantized activations:
// the up projection after an MoE layer's gate projection. -1 when there is none.
NodeId shared_input_partner(const Graph& g, NodeId id, DType wtype) {
  constexpr NodeId kWindow = 6;
  const Node& n = g.node(id);
  for (NodeId j = id + 1; j < NodeId(g.size()) && j <= id + kWindow; ++j) {
    const Node& m = g.node(j);
    if (m.op != Op::MatMulExperts || m.inputs[1] != n.inputs[1] || m.inputs[2] != n.inputs[2] ||
        !m.device.is_cpu())
      continue;
    const Node& w = g.node(m.inputs[0]);
    if (w.op == Op::Weight && w.weight.device().is_cpu() &&
        experts_share_activations(wtype, w.weight.dtype()))
      return j;
  }
  return -1;
}

// A weight-like operand as f32 (norm weights and biases may be stored F16/BF16 in files).
std::vector<float> as_f32(const Tensor& t) {
  if (!t.is_contiguous()) throw Error("expected a contiguous tensor, got " + t.str());
  std::vector<float> out(size_t(t.numel()));
  tensor::dequantize_row(t.dtype(), t.data(), out.data(), t.numel());
  return out;
}

// The Attention node's operands as strided rows for backends/cpu/attention.h. Without a v
// input (attention_shared_kv), v is the first v_dim floats of each k row, read in place.
AttentionParams attention_params(const Node& n, const Tensor& q, const Tensor& k, const Tensor* v,
                                 Tensor& out) {
  for (const Tensor* t : {&q, &k, v})
    if (t && (t->dtype() != DType::F32 || t->nb(0) != sizeof(float)))
      throw Error("q, k and v must be F32 rows, got " + t->str());
  const auto fl = [](size_t bytes) { return int64_t(bytes / sizeof(float)); };
  AttentionParams p;
  p.dk = q.ne(0);
  p.hq = q.ne(1);
  p.n_q = q.ne(2);
  p.hkv = k.ne(1);
  p.n_kv = k.ne(2);
  p.dv = v ? v->ne(0) : n.v_dim;
  p.pos_offset = n.pos_offset;
  p.window = n.window;
  p.scale = n.scalar;
  p.q = q.data_as<float>();
  p.q_h = fl(q.nb(1));
  p.q_t = fl(q.nb(2));
  p.k = k.data_as<float>();
  p.k_h = fl(k.nb(1));
  p.k_s = fl(k.nb(2));
  const Tensor& vt = v ? *v : k;
  p.v = vt.data_as<float>();
  p.v_h = fl(vt.nb(1));
  p.v_s = fl(vt.nb(2));
  p.o = out.data_as<float>();
  p.o_h = fl(out.nb(1));
  p.o_t = fl(out.nb(2));
  return p;
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
        Tensor out = uninit_f32(n.shape);
        matmul(pool_, w.dtype(), w.data(), w.ne(1), w.ne(0), x.data_as<float>(), rows_of(n.shape),
               out.data_as<float>(), isa_);
        val[i] = out;
        break;
      }
      case Op::MatMulExperts: {
        // Computed already, in the dispatch of an earlier MatMulExperts (shared_input_partner).
        if (val[i].data() != nullptr) break;
        if (n.variant == tensor::OpVariant::Reference) {  // a rule chose KExpertsTorch
          val[i] = matmul_experts_reference(pool_, in(0), in(1), in(2), isa_);
          break;
        }
        const Tensor& w = in(0);
        const Tensor& x = in(1);
        const Tensor& ids = in(2);
        if (!x.is_contiguous()) fail(n, id, "input must be contiguous");
        ExpertRouting route;
        route.ids = ids.data_as<int32_t>();
        route.n_slots = ids.ne(0);
        route.n_tokens = ids.ne(1);
        route.n_experts = w.ne(2);
        route.x = x.data_as<float>();
        route.x_stride = w.ne(0);
        route.per_slot = x.rows() == route.n_slots * route.n_tokens;  // a row per (slot, token)
        Tensor out = uninit_f32(n.shape);
        ExpertStack stacks[2] = {expert_stack(w, out), {}};
        // Gate and up projections of an MoE layer: one dispatch, one quantization for both.
        const NodeId partner = shared_input_partner(g, id, w.dtype());
        Tensor out2;
        if (partner >= 0) {
          out2 = uninit_f32(g.node(partner).shape);
          stacks[1] = expert_stack(g.node(g.node(partner).inputs[0]).weight, out2);
        }
        try {
          matmul_experts(pool_, std::span<const ExpertStack>(stacks, partner >= 0 ? 2 : 1), w.ne(0),
                         route, isa_);
        } catch (const Error& e) {
          fail(n, id, e.what());
        }
        val[i] = out;
        if (partner >= 0) val[size_t(partner)] = out2;
        break;
      }
      case Op::Add:
      case Op::Mul: {
        const Tensor& a = in(0);
        const Tensor& b = in(1);
        Tensor out = uninit_f32(n.shape);
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
          parallel_units(pool_, nrows, row, [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
              const float* ar = a.data_as<float>() + r * row;
              float* yr = out.data_as<float>() + r * row;
              for (int64_t c = 0; c < row; ++c)
                yr[c] = n.op == Op::Add ? ar[c] + b_data[r] : ar[c] * b_data[r];
            }
          });
          val[i] = out;
          break;
        }
        parallel_units(pool_, nrows, row, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            const float* bp = b_data + (bcast ? 0 : r * row);
            if (n.op == Op::Add)
              add(a.data_as<float>() + r * row, bp, out.data_as<float>() + r * row, row);
            else
              mul(a.data_as<float>() + r * row, bp, out.data_as<float>() + r * row, row);
          }
        });
        val[i] = out;
        break;
      }
      case Op::Scale: {
        Tensor out = uninit_f32(n.shape);
        parallel_elems(pool_, out.numel(), [&](int64_t b, int64_t e) {
          scale(in(0).data_as<float>() + b, n.scalar, out.data_as<float>() + b, e - b);
        });
        val[i] = out;
        break;
      }
      case Op::RMSNorm: {
        Tensor out = uninit_f32(n.shape);
        std::vector<float> w;
        if (n.inputs.size() > 1) w = as_f32(in(1));
        const int64_t row = n.shape[0];
        parallel_units(pool_, rows_of(n.shape), row, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r)
            rms_norm(in(0).data_as<float>() + r * row, w.empty() ? nullptr : w.data(),
                     out.data_as<float>() + r * row, row, n.eps);
        });
        val[i] = out;
        break;
      }
      case Op::RoPE: {
        Tensor out = uninit_f32(n.shape);
        const int64_t D = n.shape[0], H = n.shape[1], T = out.numel() / (D * H);
        const int32_t* pos = in(1).data_as<int32_t>();
        parallel_units(pool_, T, H * D, [&](int64_t t0, int64_t t1) {
          std::copy(in(0).data_as<float>() + t0 * H * D, in(0).data_as<float>() + t1 * H * D,
                    out.data_as<float>() + t0 * H * D);
          for (int64_t t = t0; t < t1; ++t)
            rope(out.data_as<float>() + t * H * D, H, D, pos[t], n.rope);
        });
        val[i] = out;
        break;
      }
      case Op::Softmax: {
        Tensor out = uninit_f32(n.shape);
        const int64_t row = n.shape[0];
        parallel_units(
            pool_, rows_of(n.shape), row,
            [&](int64_t r0, int64_t r1) {
              std::copy(in(0).data_as<float>() + r0 * row, in(0).data_as<float>() + r1 * row,
                        out.data_as<float>() + r0 * row);
              for (int64_t r = r0; r < r1; ++r) softmax(out.data_as<float>() + r * row, row);
            },
            kParallelElemsExp);
        val[i] = out;
        break;
      }
      case Op::Sigmoid:
      case Op::SiLU: {
        Tensor out = uninit_f32(n.shape);
        const auto fn = n.op == Op::SiLU ? silu : sigmoid;
        parallel_elems(
            pool_, out.numel(),
            [&](int64_t b, int64_t e) {
              fn(in(0).data_as<float>() + b, out.data_as<float>() + b, e - b);
            },
            kParallelElemsExp);
        val[i] = out;
        break;
      }
      case Op::SwiGLU: {
        Tensor out = uninit_f32(n.shape);
        parallel_elems(
            pool_, out.numel(),
            [&](int64_t b, int64_t e) {
              swiglu(in(0).data_as<float>() + b, in(1).data_as<float>() + b,
                     out.data_as<float>() + b, e - b);
            },
            kParallelElemsExp);
        val[i] = out;
        break;
      }
      case Op::GELU: {
        Tensor out = uninit_f32(n.shape);
        parallel_elems(
            pool_, out.numel(),
            [&](int64_t b, int64_t e) {
              gelu(in(0).data_as<float>() + b, out.data_as<float>() + b, e - b);
            },
            kParallelElemsExp);
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
        Tensor out = uninit_f32(n.shape);
        const int64_t N = n.shape[0], T = n.shape[1], k = in(1).ne(0);
        parallel_units(pool_, T, k * N, [&](int64_t t0, int64_t t1) {
          std::fill(out.data_as<float>() + t0 * N, out.data_as<float>() + t1 * N, 0.0f);
          for (int64_t t = t0; t < t1; ++t)
            for (int64_t j = 0; j < k; ++j)
              axpy(in(1).data_as<float>()[t * k + j], in(0).data_as<float>() + (t * k + j) * N,
                   out.data_as<float>() + t * N, N);
        });
        val[i] = out;
        break;
      }
      case Op::MatMulHeads: {
        const Tensor& w = in(0);
        const Tensor& x = in(1);
        if (!w.is_contiguous() || !x.is_contiguous()) fail(n, id, "operands must be contiguous");
        Tensor out = alloc(DType::F32);
        matmul_heads(pool_, w.dtype(), w.data(), w.nb(2), w.ne(1), w.ne(0), w.ne(2),
                     x.data_as<float>(), n.shape[2], out.data_as<float>(), isa_);
        val[i] = out;
        break;
      }
      case Op::Attention: {
        Tensor out = alloc(DType::F32);
        try {
          attention(attention_params(n, in(0), in(1), n.inputs.size() > 2 ? &in(2) : nullptr, out),
                    pool_, isa_);
        } catch (const Error& e) {
          fail(n, id, e.what());
        }
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
