#include "frontends/cli/bench_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <regex>

#include "backends/cpu/membw.h"
#include "backends/cpu/op_profile.h"
#include "backends/cpu/thread_pool.h"
#include "engine/model.h"
#include "engine/session.h"
#include "frontends/cli/gpu_count.h"
#include "frontends/cli/progress.h"
#include "models/quant_recipe.h"
#include "tensor/error.h"

namespace kt::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Weights one decode step reads, from the tensor types and sizes in the file.
struct DecodeBytes {
  uint64_t dense = 0;    // attention, dense FFN, shared experts, routers, norms, LM head
  uint64_t experts = 0;  // top-k / n_expert of the routed expert stacks
  uint64_t total() const { return dense + experts; }
};

DecodeBytes decode_bytes(const tensor::GgufFile& f, const models::HParams& hp) {
  const std::string a = hp.arch + ".";
  const double n_expert = f.get_u32(a + "expert_count", 0);
  const double k = f.get_u32(a + "expert_used_count", 0);
  const bool tied = f.find_tensor("output.weight") == nullptr;
  static const std::regex layer_re(R"(^blk\.(\d+)\.)");
  DecodeBytes b;
  for (const tensor::GgufTensorInfo& t : f.tensors()) {
    const std::string name(t.name);
    std::smatch m;
    // Layers past n_layer (DeepSeek-V3's multi-token prediction) do not run when decoding.
    if (std::regex_search(name, m, layer_re) && std::stoll(m[1]) >= hp.n_layer) continue;
    if (name.find("_exps") != std::string::npos && n_expert > 0) {
      b.experts += uint64_t(double(t.nbytes) * k / n_expert);
    } else if (name == "token_embd.weight" && !tied) {
      b.dense += t.nbytes / uint64_t(t.ne[1]);  // one row
    } else {
      b.dense += t.nbytes;
    }
  }
  return b;
}

// KV-cache bytes one decode step reads at context length n_ctx (kt's caches are F32).
uint64_t kv_bytes(const models::Architecture& arch, int64_t n_ctx) {
  uint64_t per_pos = 0;
  for (const models::CacheSpec& c : arch.cache_specs()) {
    uint64_t n = 4;
    for (int64_t d : c.row_shape) n *= uint64_t(d);
    per_pos += n;
  }
  return per_pos * uint64_t(n_ctx);
}

struct Stat {
  double mean = 0, stddev = 0;
  std::vector<double> samples;
};

Stat stat_of(std::vector<double> v) {
  Stat s;
  s.samples = std::move(v);
  for (double x : s.samples) s.mean += x;
  s.mean /= double(s.samples.size());
  for (double x : s.samples) s.stddev += (x - s.mean) * (x - s.mean);
  s.stddev = s.samples.size() > 1 ? std::sqrt(s.stddev / double(s.samples.size() - 1)) : 0.0;
  return s;
}

nlohmann::json to_json(const Stat& s) {
  return {{"mean", s.mean}, {"stddev", s.stddev}, {"samples", s.samples}};
}

std::string file_type_name(const tensor::GgufFile& f) {
  if (!f.has("general.file_type")) return "?";
  const uint32_t ft = f.get_u32("general.file_type");
  for (models::QuantRecipe r :
       {models::QuantRecipe::F32, models::QuantRecipe::F16, models::QuantRecipe::BF16,
        models::QuantRecipe::Q8_0, models::QuantRecipe::Q6_K, models::QuantRecipe::Q4_K_M})
    if (models::recipe_file_type(r) == ft) return models::recipe_name(r);
  return "file_type " + std::to_string(ft);
}

// Executor time per op kind over the timed runs of one phase (KT_PROFILE set).
struct Profile {
  std::map<std::string, cpu::OpProfileEntry> ops;
  double wall = 0;  // seconds of the phase, executor or not
  int64_t tokens = 0;

  void add(double seconds, int64_t n_tokens) {
    wall += seconds;
    tokens += n_tokens;
    for (const cpu::OpProfileEntry& e : cpu::op_profile_take()) {
      cpu::OpProfileEntry& a = ops[e.what];
      a.what = e.what;
      a.seconds += e.seconds;
      a.calls += e.calls;
    }
  }

  nlohmann::json to_json() const {
    std::vector<cpu::OpProfileEntry> v;
    double in_exec = 0;
    for (const auto& [k, e] : ops) {
      v.push_back(e);
      in_exec += e.seconds;
    }
    std::sort(v.begin(), v.end(),
              [](const auto& x, const auto& y) { return x.seconds > y.seconds; });
    nlohmann::json j = nlohmann::json::array();
    auto row = [&](const std::string& what, double s, int64_t calls) {
      j.push_back({{"op", what},
                   {"ms_per_token", 1e3 * s / double(tokens)},
                   {"share", s / wall},
                   {"calls_per_token", double(calls) / double(tokens)}});
    };
    for (const cpu::OpProfileEntry& e : v) row(e.what, e.seconds, e.calls);
    row("(outside the executor: graph build, inputs, sampling)", wall - in_exec, 0);
    return j;
  }
};

struct Run {
  int threads;
  Stat pp, tg;
  double read_bw;  // bytes/s
  Profile prof_pp, prof_tg;
  nlohmann::json gpu_pp, gpu_tg;  // --profile on a GPU plan: the step breakdown per token
};

// Sums of the executor's step times over a phase (GPU plans, --profile).
struct StepSum {
  engine::StepTimes t;
  int64_t tokens = 0;
  int steps = 0;
  void add(const engine::StepTimes& s, int64_t n) {
    t.wall += s.wall;
    t.cpu += s.cpu;
    t.gpu_wait += s.gpu_wait;
    t.transfers += s.transfers;
    t.gpu_kernels += s.gpu_kernels;
    for (const auto& [k, v] : s.by_op) t.by_op[k] += v;
    tokens += n;
    ++steps;
  }
  nlohmann::json to_json() const {
    const double per = 1e3 / double(std::max<int64_t>(tokens, 1));
    nlohmann::json ops = nlohmann::json::array();
    std::vector<std::pair<std::string, double>> v(t.by_op.begin(), t.by_op.end());
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    for (const auto& [k, sec] : v) ops.push_back({{"op", k}, {"ms_per_token", sec * per}});
    return {{"ms_per_token", t.wall * per},
            {"cpu_segments_ms", t.cpu * per},
            {"gpu_kernels_ms", t.gpu_kernels * per},
            {"gpu_wait_for_cpu_ms", t.gpu_wait * per},
            {"transfers_ms", t.transfers * per},
            {"host_overhead_ms",
             std::max(0.0, t.wall - t.gpu_kernels - t.transfers - t.gpu_wait) * per},
            {"gpu_ops", ops}};
  }
};

void print_step_profile(const char* phase, const nlohmann::json& j) {
  std::printf(
      "\n--profile, %s: %.3f ms per token (GPU kernels %.3f, GPU waiting for the CPU "
      "%.3f, activation transfers %.3f, host side %.3f; CPU segments ran %.3f)\n",
      phase, j["ms_per_token"].get<double>(), j["gpu_kernels_ms"].get<double>(),
      j["gpu_wait_for_cpu_ms"].get<double>(), j["transfers_ms"].get<double>(),
      j["host_overhead_ms"].get<double>(), j["cpu_segments_ms"].get<double>());
  size_t i = 0;
  for (const auto& r : j["gpu_ops"]) {
    if (i++ == 12) break;
    std::printf("  %-40s %9.3f ms/token\n", r["op"].get<std::string>().c_str(),
                r["ms_per_token"].get<double>());
  }
}

void print_profile(const char* phase, int threads, const Profile& p) {
  std::printf("\nKT_PROFILE, %s, %d threads: %.2f ms per token\n", phase, threads,
              1e3 * p.wall / double(p.tokens));
  const nlohmann::json rows = p.to_json();
  for (size_t i = 0; i < rows.size(); ++i) {
    // The top entries and the time outside the executor (the last row).
    if (i >= 12 && i + 1 < rows.size()) continue;
    const nlohmann::json& r = rows[i];
    std::printf("  %-52s %9.3f ms/token %6.1f%% %8.1f calls/token\n",
                r["op"].get<std::string>().c_str(), r["ms_per_token"].get<double>(),
                100.0 * r["share"].get<double>(), r["calls_per_token"].get<double>());
  }
}

// Prefill of n_prompt random tokens, then n_gen single-token steps, reps times (after one
// untimed run that pages the weights in and warms the caches).
Run run_threads(const engine::Model& m, const BenchModelOptions& o, int threads) {
  cpu::ThreadPool pool(threads);
  Run r{threads, {}, {}, 0, {}, {}, {}, {}};
  const bool profile = cpu::op_profile_enabled();
  const size_t bw_bytes =
      o.bw_gib > 0 ? size_t(o.bw_gib * double(1ull << 30)) : cpu::bandwidth_buffer_bytes();
  r.read_bw = cpu::measure_read_bandwidth(pool, bw_bytes, 3);
  engine::Session s(*m.arch, pool, o.n_prompt + o.n_gen);
  s.executor().set_cuda_graphs(o.cuda_graphs);
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> tok(0, int32_t(m.arch->hparams().n_vocab - 1));
  std::vector<int32_t> prompt(size_t(o.n_prompt));
  std::vector<double> pp, tg;
  for (int rep = -1; rep < o.reps; ++rep) {
    for (int32_t& t : prompt) t = tok(rng);
    s.reset();
    if (profile) cpu::op_profile_take();
    const auto t0 = Clock::now();
    if (o.n_prompt > 0) s.eval(prompt, o.n_prompt);
    const double t_pp = seconds_since(t0);
    if (profile && rep >= 0) r.prof_pp.add(t_pp, o.n_prompt);
    if (profile) cpu::op_profile_take();
    const auto t1 = Clock::now();
    const int n_gen = rep < 0 ? std::min(o.n_gen, 4) : o.n_gen;
    for (int i = 0; i < n_gen; ++i) {
      const int32_t one = tok(rng);
      s.eval(std::span<const int32_t>(&one, 1));
    }
    const double t_tg = seconds_since(t1);
    if (rep < 0) continue;
    if (profile) r.prof_tg.add(t_tg, n_gen);
    if (o.n_prompt > 0) pp.push_back(o.n_prompt / t_pp);
    if (o.n_gen > 0) tg.push_back(o.n_gen / t_tg);
  }
  if (!pp.empty()) r.pp = stat_of(pp);
  if (!tg.empty()) r.tg = stat_of(tg);
  if (o.profile && m.plan().first_off_cpu()) {  // one more pass, every kernel timed
    s.executor().set_profile(true);
    StepSum spp, stg;
    for (int32_t& t : prompt) t = tok(rng);
    s.reset();
    if (o.n_prompt > 0) {
      s.eval(prompt, o.n_prompt);
      spp.add(s.executor().last_times(), o.n_prompt);
    }
    for (int i = 0; i < o.n_gen; ++i) {
      const int32_t one = tok(rng);
      s.eval(std::span<const int32_t>(&one, 1));
      stg.add(s.executor().last_times(), 1);
    }
    s.executor().set_profile(false);
    if (o.n_prompt > 0) r.gpu_pp = spp.to_json();
    if (o.n_gen > 0) r.gpu_tg = stg.to_json();
  }
  return r;
}

}  // namespace

nlohmann::json run_bench_model(const BenchModelOptions& o) {
  if (o.n_prompt < 0 || o.n_gen < 0 || o.n_prompt + o.n_gen == 0)
    throw Error("bench: -p and -n must be >= 0 and not both 0");
  if (o.reps < 1) throw Error("bench: -r must be at least 1");
  std::vector<int> threads = o.threads;
  if (threads.empty()) threads.push_back(cpu::physical_cores());
  for (int t : threads)
    if (t < 1) throw Error("bench: thread count " + std::to_string(t) + " must be positive");

  const auto t_load = Clock::now();
  engine::LoadOptions lo;
  lo.rule_path = o.rule_path;
  lo.gpu_count = cuda_gpu_count();
  lo.device_map = o.device_map;
  const engine::Model m = engine::Model::load(o.model, lo);
  if (!o.json) show_upload_progress(m);
  if (!o.json)
    for (const std::string& w : m.plan().warnings())
      std::fprintf(stderr, "warning: %s\n", w.c_str());
  const double load_s = seconds_since(t_load);
  const tensor::GgufFile& f = *m.file;
  const models::HParams& hp = m.arch->hparams();
  // Past the trained context the positions mean nothing to the model, and the KV cache and
  // attention grow without bound: a typo like -p 100000 would run for hours.
  if (hp.n_ctx_train > 0 && o.n_prompt + o.n_gen > hp.n_ctx_train)
    throw Error("bench: -p " + std::to_string(o.n_prompt) + " plus -n " + std::to_string(o.n_gen) +
                " exceeds the model's context of " + std::to_string(hp.n_ctx_train) + " tokens");
  uint64_t n_params = 0, n_bytes = 0;
  for (const tensor::GgufTensorInfo& t : f.tensors()) {
    n_params += uint64_t(t.n_elements());
    n_bytes += t.nbytes;
  }
  const DecodeBytes db = decode_bytes(f, hp);
  const uint64_t kv = kv_bytes(*m.arch, o.n_prompt + o.n_gen / 2);
  const std::string ftype = file_type_name(f);

  nlohmann::json doc;
  doc["model"] = o.model;
  doc["rules"] = m.plan().source();
  doc["arch"] = hp.arch;
  doc["file_type"] = ftype;
  doc["size_bytes"] = n_bytes;
  doc["n_params"] = n_params;
  doc["n_prompt"] = o.n_prompt;
  doc["n_gen"] = o.n_gen;
  doc["reps"] = o.reps;
  doc["load_s"] = load_s;
  doc["decode_bytes"] = {{"weights", db.total()},
                         {"non_expert", db.dense},
                         {"experts", db.experts},
                         {"kv_cache_mean", kv}};
  if (!o.json) {
    std::printf("model: %s (%s %s, %.2f GiB, %.2f B parameters), loaded in %.1f s\n",
                o.model.c_str(), hp.arch.c_str(), ftype.c_str(), double(n_bytes) / (1ull << 30),
                double(n_params) * 1e-9, load_s);
    std::printf("rules: %s\n", m.plan().source().c_str());
    std::printf(
        "decode reads %.3f GiB of weights per token (non-expert %.3f GiB + experts %.3f GiB), "
        "plus %.1f MiB of KV cache at the mean context\n\n",
        double(db.total()) / (1ull << 30), double(db.dense) / (1ull << 30),
        double(db.experts) / (1ull << 30), double(kv) / (1 << 20));
    std::printf("| threads | test   |               t/s | read GB/s | bound t/s | of bound |\n");
    std::printf("| ------: | :----- | ----------------: | --------: | --------: | -------: |\n");
    std::fflush(stdout);
  }
  // Where decode reads its weights: all in CPU memory, experts there and the rest on the GPU
  // (hybrid), or all on the GPU. The bound adds the time of each part at its memory's speed.
  bool gpu = m.plan().first_off_cpu() != nullptr, experts_on_cpu = true;
  {
    const models::StepGraph step = m.arch->build_step(1, 0, 2, 1);
    for (const tensor::Node& n : step.graph.nodes())
      if (n.op == tensor::Op::MatMulExperts && n.device.is_cuda()) experts_on_cpu = false;
  }
  double gpu_bw = 0;
  if (gpu) gpu_bw = cuda_memory_bandwidth(0);
  doc["placement"] = !gpu ? "cpu" : experts_on_cpu ? "hybrid" : "gpu";
  if (gpu) doc["gpu_copy_gb_s"] = gpu_bw / 1e9;
  auto bound_of = [&](double cpu_bw) {
    if (!gpu || gpu_bw <= 0) return cpu_bw / double(db.total());
    if (!experts_on_cpu) return gpu_bw / double(db.total());
    return 1.0 / (double(db.experts) / cpu_bw + double(db.dense) / gpu_bw);
  };
  if (!o.json && gpu)
    std::printf(
        "placement: %s; GPU memory copy bandwidth %.0f GB/s\n\n",
        experts_on_cpu ? "hybrid (routed experts on the CPU, the rest on cuda:0)" : "all on cuda:0",
        gpu_bw / 1e9);
  nlohmann::json results = nlohmann::json::array();
  std::vector<Run> runs;
  for (int t : threads) {
    const Run& r = runs.emplace_back(run_threads(m, o, t));
    const double bound = bound_of(r.read_bw);
    nlohmann::json j = {{"threads", t}, {"read_gb_s", r.read_bw / 1e9}, {"bound_tok_s", bound}};
    if (o.n_prompt > 0) j["pp_tok_s"] = to_json(r.pp);
    if (o.n_gen > 0) {
      j["tg_tok_s"] = to_json(r.tg);
      j["fraction_of_bound"] = r.tg.mean / bound;
    }
    if (cpu::op_profile_enabled()) {
      if (o.n_prompt > 0) j["profile_pp"] = r.prof_pp.to_json();
      if (o.n_gen > 0) j["profile_tg"] = r.prof_tg.to_json();
    }
    if (!r.gpu_pp.is_null()) j["step_profile_pp"] = r.gpu_pp;
    if (!r.gpu_tg.is_null()) j["step_profile_tg"] = r.gpu_tg;
    results.push_back(j);
    if (o.json) continue;
    if (o.n_prompt > 0)
      std::printf("| %7d | pp%-4d | %8.2f ± %6.2f | %9s | %9s | %8s |\n", t, o.n_prompt, r.pp.mean,
                  r.pp.stddev, "", "", "");
    if (o.n_gen > 0)
      std::printf("| %7d | tg%-4d | %8.2f ± %6.2f | %9.1f | %9.1f | %7.1f%% |\n", t, o.n_gen,
                  r.tg.mean, r.tg.stddev, r.read_bw / 1e9, bound, 100.0 * r.tg.mean / bound);
    std::fflush(stdout);
  }
  doc["results"] = results;
  if (!o.json)
    for (const Run& r : runs) {
      if (!r.gpu_pp.is_null()) print_step_profile("prefill", r.gpu_pp);
      if (!r.gpu_tg.is_null()) print_step_profile("decode", r.gpu_tg);
    }
  if (!o.json && cpu::op_profile_enabled()) {
    for (const Run& r : runs) {
      if (o.n_prompt > 0) print_profile("prefill", r.threads, r.prof_pp);
      if (o.n_gen > 0) print_profile("decode", r.threads, r.prof_tg);
    }
  }
  if (o.json) std::printf("%s\n", doc.dump(2).c_str());
  return doc;
}

void add_bench_model_options(CLI::App* bench) {
  auto o = std::make_shared<BenchModelOptions>();
  bench->add_option("-m,--model", o->model, "Model to time (GGUF file or HF folder)");
  bench->add_option("-p,--n-prompt", o->n_prompt, "Prompt tokens, prefilled as one chunk")
      ->capture_default_str();
  bench->add_option("-n,--n-gen", o->n_gen, "Tokens decoded one at a time after the prompt")
      ->capture_default_str();
  bench->add_option("-t,--threads", o->threads, "Thread counts (default: all physical cores)")
      ->delimiter(',');
  bench->add_option("-r,--reps", o->reps, "Repetitions (mean ± stddev)")->capture_default_str();
  bench->add_option("--bw-gib", o->bw_gib,
                    "GiB read to measure the bandwidth (default: 8x the LLC, at least 4)");
  bench->add_option("--device-map,--device_map", o->device_map,
                    "GPU behind each cuda:N of the rules, e.g. 0,0 runs a two-GPU rule file on "
                    "GPU 0 (pipeline cut and hand-offs included)")
      ->delimiter(',');
  bench->add_option("--optimize_rule_path", o->rule_path,
                    "YAML placement rules or a shipped file's name (default: shipped rules)");
  bench->add_flag("--json", o->json, "Print JSON instead of a table");
  bench->add_flag("--profile", o->profile,
                  "GPU plans: after the timed runs, one pass that times every kernel and prints "
                  "where a token's time goes (CPU experts, GPU kernels by op, transfers, waits)");
  bench->add_flag("!--no-cuda-graphs", o->cuda_graphs,
                  "Run decode steps eagerly instead of replaying a captured CUDA graph");
  bench->callback([bench, o] {
    if (!bench->get_subcommands().empty()) return;
    if (o->model.empty())
      throw Error("bench: give -m MODEL, or a subcommand (ops, tokenizer); see kt bench --help");
    run_bench_model(*o);
  });
}

}  // namespace kt::cli
