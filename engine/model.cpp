#include "engine/model.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include "engine/placement.h"
#include "inject/default_rules.h"
#include "models/hf_import.h"
#include "tensor/error.h"

namespace kt::engine {

namespace fs = std::filesystem;

namespace {

// Tokenizer and chat template of a Hugging Face folder, when it has them.
void load_hf_tokenizer(Model& m, const std::string& dir) {
  if (!fs::exists(fs::path(dir) / "tokenizer.json")) return;
  m.tokenizer = models::Tokenizer::from_hf(dir);
  const fs::path cfg = fs::path(dir) / "tokenizer_config.json";
  m.chat_template = fs::exists(cfg) ? models::ChatTemplate::from_tokenizer_config(cfg.string())
                                    : models::ChatTemplate::chatml();
}

using GgufPtr = std::shared_ptr<const tensor::GgufFile>;

// The GGUF file a folder stands for: the first split of the one split model in it, or its only
// .gguf file.
std::string gguf_in_folder(const std::string& dir) {
  std::vector<std::string> firsts, all;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".gguf") continue;
    const std::string p = e.path().string();
    all.push_back(p);
    const std::vector<std::string> sib = tensor::gguf_split_paths(p);
    if (sib.size() > 1 && sib.front() == p) firsts.push_back(p);
  }
  if (firsts.size() == 1) return firsts.front();
  if (firsts.empty() && all.size() == 1) return all.front();
  if (firsts.size() > 1)
    throw Error(dir + ": holds " + std::to_string(firsts.size()) +
                " split models; name the first split of the one to load");
  throw Error(dir + (all.empty() ? ": no config.json and no .gguf files (expected a Hugging "
                                   "Face model folder or GGUF split files)"
                                 : ": several .gguf files and no split set; name the file"));
}

// u32 value of an integer key of any width (split.no and split.count are u16 in llama.cpp).
std::optional<uint32_t> split_key(const tensor::GgufFile& f, const char* key) {
  if (auto v = f.find(key)) return v->as_u32();
  return std::nullopt;
}

// Opens every split of the model at `path` (any one of its splits) and checks them against
// their split.* keys (gguf.md 1.7), so that a missing, foreign or duplicated split is named.
std::vector<GgufPtr> open_splits(const std::string& path) {
  const std::vector<std::string> paths = tensor::gguf_split_paths(path);
  const size_t n = paths.size();
  for (size_t i = 0; i < n; ++i)
    if (!fs::exists(paths[i]))
      throw Error(paths[i] + ": missing split " + std::to_string(i + 1) + " of " +
                  std::to_string(n) + " (needed to load " + path + ")");
  std::vector<GgufPtr> files;
  size_t n_tensors = 0;
  for (size_t i = 0; i < n; ++i) {
    files.push_back(std::make_shared<const tensor::GgufFile>(tensor::GgufFile::open(paths[i])));
    const tensor::GgufFile& f = *files.back();
    n_tensors += f.tensors().size();
    const uint32_t count = split_key(f, "split.count").value_or(1);
    if (count != n)
      throw Error(f.name() + ": split.count is " + std::to_string(count) + " but " +
                  (n == 1 ? std::string("the file name is not a split name (-00001-of-0000N.gguf)")
                          : "the file name says " + std::to_string(n)));
    if (const auto no = split_key(f, "split.no"); no && *no != i)
      throw Error(f.name() + ": split.no is " + std::to_string(*no) + ", expected " +
                  std::to_string(i) + " (0-based) for this file name");
  }
  if (auto total = files.front()->find("split.tensors.count"))
    if (total->as_u64() != n_tensors)
      throw Error(files.front()->name() + ": split.tensors.count is " +
                  std::to_string(total->as_u64()) + " but the " + std::to_string(n) +
                  " split(s) hold " + std::to_string(n_tensors) + " tensors");
  return files;
}

}  // namespace

size_t Model::weight_bytes() const {
  size_t bytes = 0;
  for (const auto& f : splits)
    for (const auto& t : f->tensors()) bytes += t.nbytes;
  return bytes;
}

Model Model::load(const std::string& path, const std::string& tokenizer_dir) {
  LoadOptions opt;
  opt.tokenizer_dir = tokenizer_dir;
  return load(path, opt);
}

const inject::Plan& Model::plan() const {
  return static_cast<const PlannedArchitecture&>(*arch).plan();
}

const models::ModuleTree& Model::module_tree() const {
  return static_cast<const PlannedArchitecture&>(*arch).tree();
}

Model Model::load(const std::string& path, const LoadOptions& opt) {
  const std::string& tokenizer_dir = opt.tokenizer_dir;
  Model m;
  if (fs::is_directory(path) && !fs::exists(fs::path(path) / "config.json")) {
    m.splits = open_splits(gguf_in_folder(path));
  } else if (fs::is_directory(path)) {
    // Converted to GGUF layout in memory: one set of architecture code serves both sources.
    models::HfImport imp = models::import_hf_folder(path, models::QuantRecipe::F32);
    std::vector<uint8_t> bytes = imp.writer.to_bytes();
    imp.buffers.clear();
    m.splits.push_back(std::make_shared<const tensor::GgufFile>(
        tensor::GgufFile::from_memory(path, std::move(bytes))));
    load_hf_tokenizer(m, path);
  } else {
    if (!fs::exists(path) && tensor::gguf_split_paths(path).size() == 1)
      throw Error(path + ": no such file or folder");
    m.splits = open_splits(path);
  }
  m.file = m.splits.front();
  if (!m.tokenizer && m.file->has("tokenizer.ggml.tokens")) {
    m.tokenizer = models::Tokenizer::from_gguf(*m.file);
    m.chat_template = models::ChatTemplate::from_gguf(*m.file);
  }
  if (!tokenizer_dir.empty()) {
    if (!fs::exists(fs::path(tokenizer_dir) / "tokenizer.json"))
      throw Error(tokenizer_dir + ": no tokenizer.json (expected a Hugging Face model folder)");
    load_hf_tokenizer(m, tokenizer_dir);
  }
  // The rules are checked against the generic module tree before the architecture reads any
  // weight (DeepSeek-V2 splits kv_b at construction), so a bad rule file fails fast.
  std::vector<std::string> names;
  for (const auto& f : m.splits)
    for (const auto& t : f->tensors()) names.emplace_back(t.name);
  const models::HParams hp = models::HParams::from_gguf(*m.file);
  // With a GPU the shipped default is the hybrid form; one GPU is driven until issue 9.
  const inject::RuleFile rules = inject::select_rules(
      opt.rule_path, models::ModuleTree::build(hp, names), hp, std::min(opt.gpu_count, 1));
  // With a device map, the rules may name as many GPUs as it has entries.
  for (int d : opt.device_map)
    if (d < 0 || d >= opt.gpu_count)
      throw Error("device map: GPU " + std::to_string(d) + " does not exist (" +
                  std::to_string(opt.gpu_count) + " GPU(s) present)");
  const int logical_gpus = opt.device_map.empty() ? opt.gpu_count : int(opt.device_map.size());
  const inject::PlanOptions popt{opt.default_device, logical_gpus};
  inject::Plan first = inject::Plan::build(models::ModuleTree::build(hp, names), rules, popt);
  if (!opt.preview_only) require_devices(first, opt.gpu_count);
  std::unique_ptr<models::Architecture> arch =
      models::make_architecture(*m.file, models::WeightSet::from_gguf(m.splits));
  models::ModuleTree tree = arch->module_tree(names);  // the architecture's own, if it has one
  inject::Plan plan = inject::Plan::build(tree, rules, popt);
  auto planned =
      std::make_unique<PlannedArchitecture>(std::move(arch), std::move(tree), std::move(plan));
  planned->set_device_map(opt.device_map);
  m.arch = std::move(planned);
  return m;
}

}  // namespace kt::engine
