#include "backends/cpu/matmul_experts.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "backends/cpu/matmul_plan.h"
#include "backends/cpu/vec_dot.h"
#include "tensor/error.h"

namespace kt::cpu {
namespace {

using namespace detail;
using tensor::DType;

// Work items per thread to aim for: enough that dynamic hand-out evens out experts of
// different sizes, few enough that each item streams a long run of weight rows.
constexpr int64_t kItemsPerThread = 16;

// Rows [r0, r1) of stack s, expert e, for the pairs at sorted positions [t0, t1).
struct Item {
  int32_t stack, expert;
  int32_t t0, t1;
  int32_t r0, r1;
};

struct Job {
  std::span<const ExpertStack> stacks;
  std::vector<Plan> plans;
  int64_t k = 0;
  const ExpertRouting* route = nullptr;
  const int32_t* order = nullptr;  // sorted position -> pair, grouped by expert, pairs ascending
  // Quantize phase: rows [0, n_q) of the source go to q_dst (row u from source row q_src(u)).
  int64_t n_q = 0;
  bool q_sorted = false;  // per-slot: row u is sorted position u, source row order[u]
  uint8_t* q_dst = nullptr;
  // Gather phase (shared input, several tokens): sorted position s <- q_dst row (order[s] / k).
  uint8_t* sorted = nullptr;
  int64_t n_sorted = 0;
  // What the kernels read: sorted position s at xs + s·xs_stride (0: every pair the same row).
  const uint8_t* xs = nullptr;
  size_t xs_stride = 0;
  std::vector<Item> items;
};

// This thread's share of the quantization: rows × pieces units split evenly over threads.
// Blocks are quantized independently, so the split never changes the bytes.
void quantize_share(const Job& job, int ith, int nth) {
  const Plan& plan = job.plans[0];
  const int64_t nblk = job.k / plan.act_block;
  const int64_t pieces = std::clamp<int64_t>((nth + job.n_q - 1) / job.n_q, 1, nblk);
  const int64_t units = job.n_q * pieces;
  const int64_t u0 = units * ith / nth, u1 = units * (ith + 1) / nth;
  const size_t blk_bytes = plan.act_row / size_t(nblk);
  const ExpertRouting& r = *job.route;
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t row = u / pieces, p = u % pieces;
    const int64_t b0 = nblk * p / pieces, b1 = nblk * (p + 1) / pieces;
    if (b1 <= b0) continue;
    const int64_t src_row = job.q_sorted ? job.order[row] : row;
    const float* src = r.x + src_row * r.x_stride + b0 * plan.act_block;
    uint8_t* dst = job.q_dst + size_t(row) * plan.act_row + size_t(b0) * blk_bytes;
    const int64_t n = (b1 - b0) * plan.act_block;
    if (plan.quantize != nullptr)
      plan.quantize(src, dst, n);
    else
      std::memcpy(dst, src, size_t(n) * sizeof(float));
  }
}

void gather_share(const Job& job, int ith, int nth) {
  const size_t row = job.plans[0].act_row;
  const int64_t s0 = job.n_sorted * ith / nth, s1 = job.n_sorted * (ith + 1) / nth;
  for (int64_t s = s0; s < s1; ++s)
    std::memcpy(job.sorted + size_t(s) * row,
                job.q_dst + size_t(job.order[s] / job.route->n_slots) * row, row);
}

size_t item_work(const Job& job, const Item& it) {
  return job.plans[size_t(it.stack)].w_row * size_t(it.r1 - it.r0) * size_t(it.t1 - it.t0);
}

thread_local Scratch t_tile;  // per worker: one item's outputs before they are scattered

void compute_item(const Job& job, const Item& it) {
  const ExpertStack& st = job.stacks[size_t(it.stack)];
  const Plan& plan = job.plans[size_t(it.stack)];
  const char* w = static_cast<const char*>(st.w) + size_t(it.expert) * st.expert_stride;
  const int64_t nr = it.r1 - it.r0, nt = it.t1 - it.t0;
  // The tile's outputs, token-major, so that each pair's run of rows is one copy to y.
  float* buf = reinterpret_cast<float*>(t_tile.get(size_t(nr * nt) * sizeof(float)));
  for (int64_t r = it.r0; r < it.r1; ++r) {
    const char* wr = w + size_t(r) * st.row_stride;
    for (int64_t t = it.t0; t < it.t1; t += kVecDotMaxRows) {
      const int nx = int(std::min<int64_t>(kVecDotMaxRows, it.t1 - t));
      plan.dot(job.k, wr, job.xs + size_t(t) * job.xs_stride, job.xs_stride, nx,
               buf + (t - it.t0) * nr + (r - it.r0), size_t(nr));
    }
  }
  for (int64_t t = it.t0; t < it.t1; ++t)
    std::memcpy(st.y + int64_t(job.order[t]) * st.y_stride + it.r0, buf + (t - it.t0) * nr,
                size_t(nr) * sizeof(float));
}

thread_local Scratch t_quant, t_sorted;  // caller's activation buffers
thread_local std::vector<int32_t> t_order;

}  // namespace

bool experts_share_activations(DType a, DType b) {
  return tensor::type_traits(a).vec_dot_type == tensor::type_traits(b).vec_dot_type;
}

void matmul_experts(ThreadPool& pool, std::span<const ExpertStack> stacks, int64_t k,
                    const ExpertRouting& route, Isa isa) {
  if (stacks.empty()) return;
  Job job;
  job.stacks = stacks;
  job.k = k;
  job.route = &route;
  for (const ExpertStack& st : stacks) {
    job.plans.push_back(make_plan(st.wtype, k, isa));
    if (!experts_share_activations(st.wtype, stacks[0].wtype))
      throw Error(std::string("matmul_experts: weight types ") + tensor::dtype_name(st.wtype) +
                  " and " + tensor::dtype_name(stacks[0].wtype) +
                  " use different activation types and cannot share one call");
  }
  const int64_t n_pairs = route.n_slots * route.n_tokens, E = route.n_experts;
  if (n_pairs <= 0) return;

  // Counting sort of the pairs by expert; stable, so each expert's pairs stay ascending.
  std::vector<int64_t> start(size_t(E) + 1, 0);
  for (int64_t p = 0; p < n_pairs; ++p) {
    const int32_t e = route.ids[p];
    if (e < 0 || e >= E)
      throw Error("matmul_experts: expert id " + std::to_string(e) + " outside [0, " +
                  std::to_string(E) + ")");
    ++start[size_t(e) + 1];
  }
  for (int64_t e = 0; e < E; ++e) start[size_t(e) + 1] += start[size_t(e)];
  t_order.resize(size_t(n_pairs));
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t p = 0; p < n_pairs; ++p)
      t_order[size_t(fill[size_t(route.ids[p])]++)] = int32_t(p);
  }
  job.order = t_order.data();

  // Activation layout. Per-slot input: each pair's row quantized once, straight to its sorted
  // position. Shared input: each token quantized once; with several tokens the rows are then
  // copied to sorted positions so an expert's tokens are evenly spaced for the multi-row
  // kernels; a single token is read in place by every expert (stride 0).
  const size_t act_row = job.plans[0].act_row;
  const bool gather = !route.per_slot && route.n_tokens > 1;
  job.n_q = route.per_slot ? n_pairs : route.n_tokens;
  job.q_sorted = route.per_slot;
  job.q_dst = t_quant.get(act_row * size_t(job.n_q));
  if (gather) {
    job.sorted = t_sorted.get(act_row * size_t(n_pairs));
    job.n_sorted = n_pairs;
    job.xs = job.sorted;
    job.xs_stride = act_row;
  } else {
    job.xs = job.q_dst;
    job.xs_stride = route.per_slot ? act_row : 0;
  }

  // Work items: per expert, per token tile, per stack, row tiles sized so that all items
  // carry about the same weight bytes × tokens. Adjacent items share an activation tile.
  size_t work = 0;
  for (size_t s = 0; s < stacks.size(); ++s)
    work += job.plans[s].w_row * size_t(stacks[s].n_rows) * size_t(n_pairs);
  const int nth = work < kSerialBytes ? 1 : pool.size();
  const double per_item = double(work) / double(int64_t(nth) * kItemsPerThread);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t n_e = start[size_t(e) + 1] - start[size_t(e)];
    if (n_e == 0) continue;
    // Same tiles as matmul() on this expert alone, so the results are the same bits.
    const int64_t tb = token_tile(act_row, n_e);
    for (int64_t t0 = 0; t0 < n_e; t0 += tb) {
      const int64_t nt = std::min(tb, n_e - t0);
      for (size_t s = 0; s < stacks.size(); ++s) {
        const int64_t n_rows = stacks[s].n_rows;
        const double row_work = double(job.plans[s].w_row) * double(nt);
        const int64_t n_rt =
            std::clamp<int64_t>(int64_t(double(n_rows) * row_work / per_item), 1, n_rows);
        for (int64_t i = 0; i < n_rt; ++i)
          job.items.push_back({int32_t(s), int32_t(e), int32_t(start[size_t(e)] + t0),
                               int32_t(start[size_t(e)] + t0 + nt), int32_t(n_rows * i / n_rt),
                               int32_t(n_rows * (i + 1) / n_rt)});
      }
    }
  }
  // Largest first (prefill experts differ in token counts): the small items fill the gaps at
  // the end. Which thread runs an item never changes its result.
  if (nth > 1 && route.n_tokens > 1)
    std::stable_sort(job.items.begin(), job.items.end(), [&](const Item& a, const Item& b) {
      return item_work(job, a) > item_work(job, b);
    });
  const int64_t n_items = int64_t(job.items.size());

  if (nth == 1) {
    quantize_share(job, 0, 1);
    if (gather) gather_share(job, 0, 1);
    for (const Item& it : job.items) compute_item(job, it);
    return;
  }
  SpinBarrier barrier(nth);
  std::atomic<int64_t> next{0};
  pool.run([&](int ith, int n) {
    quantize_share(job, ith, n);
    barrier.wait();
    if (gather) {
      gather_share(job, ith, n);
      barrier.wait();
    }
    for (;;) {
      const int64_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= n_items) break;
      compute_item(job, job.items[size_t(i)]);
    }
  });
}

}  // namespace kt::cpu
