#include "frontends/cli/bench_ops.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <random>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/matmul.h"
#include "backends/cpu/membw.h"
#include "backends/cpu/thread_pool.h"
#include "tensor/dtype.h"
#include "tensor/error.h"

namespace kt::cli {
namespace {

using Clock = std::chrono::steady_clock;
using tensor::DType;

std::string cpu_model_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown CPU";
}

std::string feature_list() {
  const cpu::CpuFeatures& f = cpu::cpu_features();
  std::string s;
  auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s.push_back(' ');
    s.append(name);
  };
  add(f.avx2, "avx2");
  add(f.fma, "fma");
  add(f.f16c, "f16c");
  add(f.avx512f, "avx512f");
  add(f.avx512bw, "avx512bw");
  add(f.avx512vl, "avx512vl");
  add(f.avx512_vnni, "avx512_vnni");
  add(f.avx512_bf16, "avx512_bf16");
  add(f.avx512_fp16, "avx512_fp16");
  add(f.avx_vnni, "avx_vnni");
  add(f.amx_int8, "amx_int8");
  add(f.amx_bf16, "amx_bf16");
  return s;
}

std::vector<int> default_threads() {
  const int cores = cpu::physical_cores();
  std::vector<int> t;
  for (int n = 1; n < cores; n *= 2) t.push_back(n);
  t.push_back(cores);
  return t;
}

std::vector<cpu::Isa> isas_to_run(const std::string& name) {
  if (name == "best") return {cpu::best_isa()};
  if (name == "all") {
    std::vector<cpu::Isa> v;
    for (cpu::Isa i : {cpu::Isa::Reference, cpu::Isa::Avx2, cpu::Isa::Avx512})
      if (cpu::isa_supported(i)) v.push_back(i);
    return v;
  }
  cpu::Isa isa;
  if (!cpu::parse_isa(name, &isa))
    throw Error("--isa: unknown kernel tier \"" + name + "\" (best, reference, avx2, avx512, all)");
  if (!cpu::isa_supported(isa))
    throw Error(std::string("--isa: this CPU cannot run the ") + cpu::isa_name(isa) + " kernels");
  return {isa};
}

// One matrix of random N(0, 0.02) weights in the requested format, quantized in parallel.
std::vector<uint8_t> make_matrix(cpu::ThreadPool& pool, DType type, int64_t n, int64_t k) {
  const size_t rs = tensor::row_size(type, k);
  std::vector<uint8_t> m(rs * size_t(n));
  pool.parallel_for(n, 16, [&](int64_t begin, int64_t end, int) {
    std::mt19937 rng(uint32_t(begin) * 2654435761u + 1);
    std::normal_distribution<float> dist(0.0f, 0.02f);
    std::vector<float> row(static_cast<size_t>(k));
    for (int64_t r = begin; r < end; ++r) {
      for (float& v : row) v = dist(rng);
      tensor::quantize_row(type, row.data(), m.data() + size_t(r) * rs, k);
    }
  });
  return m;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

nlohmann::json run_bench_ops(const BenchOpsOptions& opt_in) {
  BenchOpsOptions opt = opt_in;
  if (opt.quick) {
    opt.k = std::min<int64_t>(opt.k, 512);
    opt.n = std::min<int64_t>(opt.n, 256);
    opt.tokens = std::min<int64_t>(opt.tokens, 8);
    opt.reps = 1;
    if (opt.working_set_gib == 0) opt.working_set_gib = 1.0 / 256;
    if (opt.threads.empty()) opt.threads = {1, 2};
  }
  if (opt.threads.empty()) opt.threads = default_threads();
  if (opt.types.empty()) opt.types = {"f32", "f16", "bf16", "q4_0", "q8_0", "q4_K", "q5_K", "q6_K"};
  for (int t : opt.threads)
    if (t < 1) throw Error("--threads: thread counts must be positive, got " + std::to_string(t));
  std::vector<DType> types;
  for (const std::string& name : opt.types) {
    auto t = tensor::dtype_from_name(name);
    if (!t) throw Error("--types: unknown tensor type \"" + name + "\"");
    if (!cpu::matmul_supported(*t))
      throw Error("--types: no CPU matrix kernel for " + std::string(tensor::dtype_name(*t)));
    if (opt.k % tensor::type_traits(*t).block_size != 0)
      throw Error("--cols " + std::to_string(opt.k) + " is not a multiple of the " +
                  tensor::dtype_name(*t) + " block size");
    types.push_back(*t);
  }
  const std::vector<cpu::Isa> isas = isas_to_run(opt.isa);
  const size_t working_set = opt.working_set_gib > 0
                                 ? size_t(opt.working_set_gib * double(size_t(1) << 30))
                                 : cpu::bandwidth_buffer_bytes();

  nlohmann::json doc;
  doc["machine"] = {{"cpu", cpu_model_name()},
                    {"physical_cores", cpu::physical_cores()},
                    {"features", feature_list()},
                    {"best_isa", cpu::isa_name(cpu::best_isa())},
                    {"last_level_cache_bytes", cpu::last_level_cache_bytes()}};
  doc["config"] = {{"k", opt.k},
                   {"n", opt.n},
                   {"gemm_tokens", opt.tokens},
                   {"working_set_bytes", working_set},
                   {"reps", opt.reps}};

  if (!opt.json) {
    std::printf("machine: %s, %d physical cores, features: %s\n", cpu_model_name().c_str(),
                cpu::physical_cores(), feature_list().c_str());
    std::printf("GEMV: %lld x %lld per matrix, %.2f GiB of weights cycled; GEMM: %lld tokens\n",
                (long long)opt.n, (long long)opt.k, double(working_set) / double(1 << 30),
                (long long)opt.tokens);
  }

  // Read bandwidth per thread count: the decode bound.
  std::map<int, double> bandwidth;
  nlohmann::json bw_json = nlohmann::json::array();
  for (int t : opt.threads) {
    cpu::ThreadPool pool(t);
    bandwidth[t] = cpu::measure_read_bandwidth(pool, working_set, opt.reps);
    bw_json.push_back({{"threads", t}, {"read_gb_s", bandwidth[t] / 1e9}});
    if (!opt.json) std::printf("read bandwidth, %2d threads: %6.1f GB/s\n", t, bandwidth[t] / 1e9);
  }
  doc["bandwidth"] = bw_json;

  if (!opt.json)
    std::printf("\n%-6s %-9s %7s  %9s %10s %6s %12s  %12s\n", "type", "isa", "threads", "read GB/s",
                "GEMV GB/s", "of bw", "GEMV GFLOP/s", "GEMM GFLOP/s");

  nlohmann::json results = nlohmann::json::array();
  cpu::ThreadPool prep_pool(*std::max_element(opt.threads.begin(), opt.threads.end()));
  for (DType type : types) {
    const std::vector<uint8_t> one = make_matrix(prep_pool, type, opt.n, opt.k);
    const size_t mbytes = one.size();
    const size_t count = std::max<size_t>(1, (working_set + mbytes - 1) / mbytes);
    std::vector<uint8_t> all(mbytes * count);
    prep_pool.parallel_for(int64_t(count), 1, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i)
        std::memcpy(all.data() + size_t(i) * mbytes, one.data(), mbytes);
    });
    std::vector<float> x(size_t(opt.k * opt.tokens)), y(size_t(opt.n * opt.tokens));
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (float& v : x) v = dist(rng);

    for (cpu::Isa isa : isas) {
      for (int t : opt.threads) {
        cpu::ThreadPool pool(t);
        // GEMV: one token against every matrix of the working set in turn (like experts),
        // each pass right after a plain read of the same bytes. The machine's bandwidth moves
        // with its neighbours' load; measured this way the fraction compares like with like.
        double best_gemv = 1e30, bw = 0.0;
        for (int r = 0; r < opt.reps; ++r) {
          bw = std::max(bw, cpu::measure_read_bandwidth(pool, all.data(), all.size(), 1));
          const auto t0 = Clock::now();
          for (size_t i = 0; i < count; ++i)
            cpu::matmul(pool, type, all.data() + i * mbytes, opt.n, opt.k, x.data(), 1, y.data(),
                        isa);
          best_gemv = std::min(
              best_gemv, std::chrono::duration<double>(Clock::now() - t0).count() / double(count));
        }
        // GEMM: many tokens against one matrix (compute-bound, prefill-shaped).
        double best_gemm = 1e30;
        for (int r = 0; r < opt.reps; ++r) {
          const auto t0 = Clock::now();
          cpu::matmul(pool, type, one.data(), opt.n, opt.k, x.data(), opt.tokens, y.data(), isa);
          best_gemm = std::min(best_gemm, std::chrono::duration<double>(Clock::now() - t0).count());
        }
        const double gemv_gbs = double(mbytes) / best_gemv / 1e9;
        const double gemv_gflops = 2.0 * double(opt.n * opt.k) / best_gemv / 1e9;
        const double gemm_gflops = 2.0 * double(opt.n * opt.k * opt.tokens) / best_gemm / 1e9;
        const double frac = gemv_gbs * 1e9 / bw;
        results.push_back({{"type", tensor::dtype_name(type)},
                           {"isa", cpu::isa_name(isa)},
                           {"threads", t},
                           {"gemv_us", best_gemv * 1e6},
                           {"gemv_gb_s", gemv_gbs},
                           {"read_gb_s", bw / 1e9},
                           {"gemv_fraction_of_bandwidth", frac},
                           {"gemv_gflop_s", gemv_gflops},
                           {"gemm_us", best_gemm * 1e6},
                           {"gemm_gflop_s", gemm_gflops}});
        if (!opt.json)
          std::printf("%-6s %-9s %7d  %9s %10s %5s%% %12s  %12s\n", tensor::dtype_name(type),
                      cpu::isa_name(isa), t, fmt("%.1f", bw / 1e9).c_str(),
                      fmt("%.1f", gemv_gbs).c_str(), fmt("%.0f", frac * 100).c_str(),
                      fmt("%.1f", gemv_gflops).c_str(), fmt("%.1f", gemm_gflops).c_str());
        std::fflush(stdout);
      }
    }
  }
  doc["results"] = results;
  if (opt.json) std::printf("%s\n", doc.dump(2).c_str());
  return doc;
}

}  // namespace kt::cli
