// The Attention node on the GPU: checks the operands, picks the path and the tile shape from
// shapes alone (so that a captured graph replays at every position) and launches. Few query
// rows per key/value head against a long cache take the split-K decode path, so that the key
// sequence, not the handful of rows, fills the GPU; everything else takes the prefill path.
#include <algorithm>
#include <cstdint>
#include <string>

#include "backends/cuda/attention.h"
#include "backends/cuda/attention_internal.cuh"
#include "backends/cuda/device.h"
#include "tensor/error.h"

namespace kt::cuda {
namespace {

using tensor::DType;
using tensor::Node;
using tensor::Tensor;

// Blocks that keep every SM of an H100 (132) busy with two resident blocks each.
constexpr int64_t kTargetBlocks = 264;
// Opt-in shared memory per block on sm_90.
constexpr size_t kMaxSmem = 227 * 1024;

struct Plan {
  int rpt = 0, nv = 0;
  size_t smem = 0;
  int splits = 0;  // 0: prefill path
  size_t workspace = 0;
  std::string error;  // why no plan fits, when not empty
};

struct Shapes {
  int64_t dk, dv, hq, hkv, n_q, n_ctx, window;
  bool shared_kv;
};

Plan make_plan(const Shapes& s) {
  Plan p;
  p.nv = attn::nv_for(int(s.dv));
  if (p.nv == 0) {
    p.error = "value head size " + std::to_string(s.dv) + " is over the 576 supported";
    return p;
  }
  // Rows per warp: enough for the rows of a key/value head (all of them for decode), at
  // most what the registers hold, and what fits in shared memory.
  const int64_t rows = s.n_q * (s.hq / s.hkv);
  p.rpt = 1;
  while (p.rpt < attn::max_rpt(p.nv) && attn::kWarps * p.rpt < rows) p.rpt *= 2;
  auto smem = [&](int rpt) {
    return attn::Smem(int(s.dk), int(s.dv), rpt, p.nv, s.shared_kv).bytes();
  };
  while (p.rpt > 1 && smem(p.rpt) > kMaxSmem) p.rpt /= 2;
  p.smem = smem(p.rpt);
  if (p.smem > kMaxSmem) {
    p.error = "key head size " + std::to_string(s.dk) + " needs " + std::to_string(p.smem) +
              " bytes of shared memory per block, over the " + std::to_string(kMaxSmem);
    return p;
  }
  const int64_t tiles = (rows + attn::kWarps * p.rpt - 1) / (attn::kWarps * p.rpt);
  const int64_t blocks = tiles * s.hkv;
  // Keys a row tile may see at most: the capacity, or the window plus the tile's queries.
  const int64_t span = s.window > 0 ? std::min(s.n_ctx, s.window + s.n_q - 1) : s.n_ctx;
  if (blocks < kTargetBlocks / 2 && span > 2 * attn::kMinChunk) {
    p.splits = int(std::clamp<int64_t>((kTargetBlocks + blocks - 1) / blocks, 2,
                                       (span + attn::kMinChunk - 1) / attn::kMinChunk));
    p.workspace = size_t(p.splits) * size_t(s.hq * s.n_q) * size_t(s.dv + 2) * sizeof(float);
  }
  return p;
}

[[noreturn]] void fail(const Node& n, const std::string& why) {
  throw Error("attention " + n.name + ": " + why);
}

int64_t floats(const Node& n, size_t bytes, const char* what) {
  if (bytes % sizeof(float) != 0) fail(n, std::string(what) + " stride is not whole floats");
  return int64_t(bytes / sizeof(float));
}

void check_operand(const Node& n, const Tensor& t, const char* what) {
  if (t.dtype() != DType::F32 || t.nb(0) != sizeof(float))
    fail(n, std::string(what) + " must be F32 rows, got " + t.str());
  if (!t.device().is_cuda()) fail(n, std::string(what) + " is not on a CUDA device: " + t.str());
}

bool aligned4(const void* p, std::initializer_list<int64_t> strides, int64_t cols) {
  if (reinterpret_cast<uintptr_t>(p) % 16 != 0 || cols % 4 != 0) return false;
  for (int64_t s : strides)
    if (s % 4 != 0) return false;
  return true;
}

}  // namespace

size_t attention_workspace_bytes(const Node& n, const Tensor& q, int64_t n_ctx) {
  // The key/value head count is not known here: the most any divisor of hq would need.
  const int64_t hq = q.ne(1);
  const int64_t dv = !n.shape.empty() ? n.shape[0] : n.v_dim;
  size_t most = 0;
  for (int64_t hkv = 1; hkv <= hq; ++hkv) {
    if (hq % hkv != 0) continue;
    for (bool shared : {false, true}) {
      const Plan p = make_plan({q.ne(0), dv, hq, hkv, q.ne(2), n_ctx, n.window, shared});
      if (p.error.empty()) most = std::max(most, p.workspace);
    }
  }
  return most;
}

void launch_attention(const Node& n, const Tensor& q, const Tensor& k, const Tensor* v,
                      const Tensor& out, const LaunchContext& ctx) {
  check_operand(n, q, "q");
  check_operand(n, k, "k");
  if (v) check_operand(n, *v, "v");
  check_operand(n, out, "output");
  Shapes s{q.ne(0), v ? v->ne(0) : n.v_dim, q.ne(1), k.ne(1), q.ne(2), k.ne(2), n.window, !v};
  if (k.ne(0) != s.dk)
    fail(n, "q rows of " + std::to_string(s.dk) + " but k rows of " + std::to_string(k.ne(0)));
  if (s.hkv <= 0 || s.hq % s.hkv != 0)
    fail(n, "query heads " + std::to_string(s.hq) + " not a multiple of key/value heads " +
                std::to_string(s.hkv));
  if (v && (v->ne(1) != s.hkv || v->ne(2) != s.n_ctx))
    fail(n, "v " + v->shape_str() + " does not match k " + k.shape_str());
  if (!v && (s.dv <= 0 || s.dv > s.dk))
    fail(n,
         "shared k/v needs 0 < v_dim <= " + std::to_string(s.dk) + ", got " + std::to_string(s.dv));
  if (out.ne(0) != s.dv || out.ne(1) != s.hq || out.ne(2) != s.n_q)
    fail(n, "output " + out.shape_str() + " is not {" + std::to_string(s.dv) + ", " +
                std::to_string(s.hq) + ", " + std::to_string(s.n_q) + "}");
  if (s.n_q > s.n_ctx)
    fail(n, std::to_string(s.n_q) + " queries do not fit a cache of " + std::to_string(s.n_ctx) +
                " rows");
  if (s.window < 0) fail(n, "negative window");
  if (s.n_ctx > INT32_MAX / 2 || s.n_q * s.hq > INT32_MAX / 2) fail(n, "too many keys or queries");
  if (!ctx.d_pos) fail(n, "no device position (LaunchContext::d_pos)");
  if (s.n_q == 0) return;

  const Plan p = make_plan(s);
  if (!p.error.empty()) fail(n, p.error);
  if (p.workspace > 0 && (!ctx.workspace || ctx.workspace_bytes < p.workspace))
    fail(n, "needs " + std::to_string(p.workspace) + " bytes of workspace, has " +
                std::to_string(ctx.workspace ? ctx.workspace_bytes : 0));

  attn::Args a;
  a.q = q.data_as<float>();
  a.q_h = floats(n, q.nb(1), "q");
  a.q_t = floats(n, q.nb(2), "q");
  a.k = k.data_as<float>();
  a.k_h = floats(n, k.nb(1), "k");
  a.k_s = floats(n, k.nb(2), "k");
  if (v) {
    a.v = v->data_as<float>();
    a.v_h = floats(n, v->nb(1), "v");
    a.v_s = floats(n, v->nb(2), "v");
  }
  a.o = out.data_as<float>();
  a.o_h = floats(n, out.nb(1), "output");
  a.o_t = floats(n, out.nb(2), "output");
  a.dk = int(s.dk);
  a.dv = int(s.dv);
  a.hkv = int(s.hkv);
  a.group = int(s.hq / s.hkv);
  a.n_q = int(s.n_q);
  a.n_ctx = int(s.n_ctx);
  a.window = int(std::min<int64_t>(s.window, INT32_MAX));
  a.rows = int(s.n_q * a.group);
  a.scale_log2 = n.scalar * 1.4426950408889634f;
  a.d_pos = ctx.d_pos;
  a.vec_q = aligned4(a.q, {a.q_h, a.q_t}, s.dk);
  a.vec_k = aligned4(a.k, {a.k_h, a.k_s}, s.dk);
  a.vec_v = v && aligned4(a.v, {a.v_h, a.v_s}, s.dv);

  if (p.splits == 0)
    attn::launch_prefill(a, p.rpt, p.nv, p.smem, ctx.stream);
  else
    attn::launch_decode(a, p.rpt, p.nv, p.smem, p.splits, static_cast<float*>(ctx.workspace),
                        ctx.stream);
}

}  // namespace kt::cuda
