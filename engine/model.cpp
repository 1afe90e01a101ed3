#include "engine/model.h"

#include <filesystem>

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

}  // namespace

Model Model::load(const std::string& path, const std::string& tokenizer_dir) {
  Model m;
  if (fs::is_directory(path)) {
    // Converted to GGUF layout in memory: one set of architecture code serves both sources.
    models::HfImport imp = models::import_hf_folder(path, models::QuantRecipe::F32);
    std::vector<uint8_t> bytes = imp.writer.to_bytes();
    imp.buffers.clear();
    m.file = std::make_shared<const tensor::GgufFile>(
        tensor::GgufFile::from_memory(path, std::move(bytes)));
    load_hf_tokenizer(m, path);
  } else {
    if (!fs::exists(path)) throw Error(path + ": no such file or folder");
    m.file = std::make_shared<const tensor::GgufFile>(tensor::GgufFile::open(path));
    if (m.file->has("tokenizer.ggml.tokens")) {
      m.tokenizer = models::Tokenizer::from_gguf(*m.file);
      m.chat_template = models::ChatTemplate::from_gguf(*m.file);
    }
  }
  if (!tokenizer_dir.empty()) {
    if (!fs::exists(fs::path(tokenizer_dir) / "tokenizer.json"))
      throw Error(tokenizer_dir + ": no tokenizer.json (expected a Hugging Face model folder)");
    load_hf_tokenizer(m, tokenizer_dir);
  }
  m.arch = models::make_architecture(*m.file, models::WeightSet::from_gguf(m.file));
  return m;
}

}  // namespace kt::engine
