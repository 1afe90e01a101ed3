// `kt plan`: what the placement rules make of a model, before anything runs: each module's
// operator and devices (folded over layer ranges), the rules' warnings, and the weight and
// KV-cache bytes each device will hold, against what the machine has.
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/model.h"
#include "frontends/cli/commands.h"
#include "frontends/cli/gpu_count.h"
#include "inject/memory.h"
#include "inject/plan_summary.h"
#include "tensor/error.h"

namespace kt::cli {
namespace {

struct PlanCli {
  std::string model, gguf_path, rule_path, device = "cpu";
  int64_t n_ctx = 4096;
  int gpus = -1;  // -1: the machine's
  bool json = false;
};

std::string gib(uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", double(b) / double(1ull << 30));
  return buf;
}

std::string phase_str(const std::string& op, const tensor::Device& d) {
  return (op.empty() ? std::string("auto") : op) + "@" + d.str();
}

void run_plan(const PlanCli& c) {
  const std::string path = !c.gguf_path.empty() ? c.gguf_path : c.model;
  if (path.empty()) throw Error("give a model: -m FILE.gguf|HF_FOLDER");
  engine::LoadOptions lo;
  lo.rule_path = c.rule_path;
  lo.gpu_count = c.gpus >= 0 ? c.gpus : cuda_gpu_count();
  lo.default_device = tensor::Device::parse(c.device);
  lo.preview_only = true;
  const engine::Model m = engine::Model::load(path, lo);
  const inject::Plan& plan = m.plan();
  std::map<std::string, uint64_t> bytes;
  for (const auto& f : m.splits)
    for (const auto& t : f->tensors()) bytes[std::string(t.name)] += t.nbytes;
  auto mem = inject::memory_by_device(plan, m.module_tree(), bytes, m.arch->cache_specs(), c.n_ctx);
  // Weights kept in RAM but computed on a GPU for prefill are streamed through a staging
  // buffer sized for the largest of them.
  uint64_t streamed = 0;
  for (const auto& [name, b] : bytes) {
    const inject::Placement& p = plan.owner(m.module_tree().module_of(name));
    if (p.generate_device.is_cpu() && p.prefill_device.is_cuda()) streamed = std::max(streamed, b);
  }
  for (inject::DeviceBytes& d : mem)
    if (d.device.is_cuda()) d.buffers = inject::gpu_step_buffers(m.arch->hparams(), 512, streamed);
  const std::vector<uint64_t> vram = cuda_gpu_memory();
  auto capacity = [&](const tensor::Device& d) -> uint64_t {
    if (d.is_cpu()) return host_memory_bytes();
    return size_t(d.index) < vram.size() ? vram[size_t(d.index)] : 0;
  };
  const models::HParams& hp = m.arch->hparams();
  const auto rows = inject::summarize(plan);

  if (c.json) {
    nlohmann::json doc;
    doc["model"] = path;
    doc["arch"] = hp.arch;
    doc["rules"] = plan.source();
    doc["n_ctx"] = c.n_ctx;
    doc["gpus"] = lo.gpu_count;
    doc["warnings"] = plan.warnings();
    nlohmann::json mods = nlohmann::json::array();
    for (const inject::PlanRow& r : rows) {
      const inject::Placement& p = *r.placement;
      nlohmann::json j = {
          {"path", r.path},
          {"class", p.module_class},
          {"operator", p.op_class},
          {"prefill", {{"op", p.prefill_op}, {"device", p.prefill_device.str()}}},
          {"generate", {{"op", p.generate_op}, {"device", p.generate_device.str()}}},
          {"rule", p.rule}};
      if (!r.layers.empty()) j["layers"] = r.layers;
      if (p.out_device) j["out_device"] = p.out_device->str();
      if (!p.kwargs.empty()) j["kwargs"] = p.kwargs;
      mods.push_back(j);
    }
    doc["modules"] = mods;
    nlohmann::json devs = nlohmann::json::array();
    for (const inject::DeviceBytes& d : mem) {
      nlohmann::json j = {{"device", d.device.str()},
                          {"weight_bytes", d.weights},
                          {"kv_cache_bytes", d.kv_cache},
                          {"buffer_bytes", d.buffers},
                          {"total_bytes", d.weights + d.kv_cache + d.buffers}};
      if (const uint64_t cap = capacity(d.device)) j["capacity_bytes"] = cap;
      devs.push_back(j);
    }
    doc["memory"] = devs;
    std::printf("%s\n", doc.dump(2).c_str());
    return;
  }

  std::printf("model: %s (%s, %lld layers)\nrules: %s\n", path.c_str(), hp.arch.c_str(),
              (long long)hp.n_layer, plan.source().c_str());
  for (const std::string& w : plan.warnings()) std::printf("warning: %s\n", w.c_str());
  std::printf("\n%-48s %-30s %-10s %-26s %-26s %s\n", "module", "class", "operator", "prefill",
              "generate", "rule");
  for (const inject::PlanRow& r : rows) {
    const inject::Placement& p = *r.placement;
    std::string extra;
    if (p.out_device) extra += " out=" + p.out_device->str();
    for (const auto& [k, v] : p.kwargs) extra += " " + k + "=" + v;
    std::printf("%-48s %-30s %-10s %-26s %-26s %s%s\n", r.path.empty() ? "(root)" : r.path.c_str(),
                p.module_class.c_str(), p.op_class.c_str(),
                phase_str(p.prefill_op, p.prefill_device).c_str(),
                phase_str(p.generate_op, p.generate_device).c_str(),
                p.rule.empty() ? "(default device)" : p.rule.c_str(), extra.c_str());
  }
  std::printf("\n%-8s %12s %14s %12s %12s %12s\n", "device", "weights", "KV cache", "buffers",
              "total", "capacity");
  for (const inject::DeviceBytes& d : mem) {
    const uint64_t total = d.weights + d.kv_cache + d.buffers, cap = capacity(d.device);
    std::printf("%-8s %12s %14s %12s %12s %12s%s\n", d.device.str().c_str(), gib(d.weights).c_str(),
                gib(d.kv_cache).c_str(), gib(d.buffers).c_str(), gib(total).c_str(),
                cap ? gib(cap).c_str() : "?", cap && total > cap ? "  DOES NOT FIT" : "");
  }
  std::printf(
      "(KV cache at a context of %lld tokens; GPU buffers: prefill chunks of 512 tokens, kernel "
      "and cuBLAS workspaces, streamed-weight staging, decode arena and CUDA graph; CPU weights "
      "are memory-mapped from the file)\n",
      (long long)c.n_ctx);
}

}  // namespace

void add_plan_command(CLI::App& app) {
  auto c = std::make_shared<PlanCli>();
  CLI::App* cmd = app.add_subcommand("plan",
                                     "Show where placement rules put each module, and the bytes "
                                     "each device will hold, without loading the model");
  cmd->add_option("-m,--model", c->model, "GGUF file or Hugging Face model folder");
  cmd->add_option("--gguf_path", c->gguf_path, "GGUF weights (KTransformers' spelling)");
  cmd->add_option("--optimize_rule_path", c->rule_path,
                  "YAML placement rules or a shipped file's name (default: the shipped rules "
                  "kt chat would use)");
  cmd->add_option("-c,--ctx", c->n_ctx, "Context size for the KV cache")->capture_default_str();
  cmd->add_option("--device", c->device, "Device of modules no rule matches")
      ->capture_default_str();
  cmd->add_option("--gpus", c->gpus, "Plan for this many GPUs (default: the ones present)");
  cmd->add_flag("--json", c->json, "Print JSON");
  cmd->callback([c] { run_plan(*c); });
}

}  // namespace kt::cli
