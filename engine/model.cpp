#include "engine/model.h"

#include <filesystem>

#include "models/hf_import.h"
#include "tensor/error.h"

namespace kt::engine {

namespace fs = std::filesystem;

Model Model::load(const std::string& path) {
  Model m;
  if (fs::is_directory(path)) {
    // Converted to GGUF layout in memory: one set of architecture code serves both sources.
    models::HfImport imp = models::import_hf_folder(path, models::QuantRecipe::F32);
    std::vector<uint8_t> bytes = imp.writer.to_bytes();
    imp.buffers.clear();
    m.file = std::make_shared<const tensor::GgufFile>(
        tensor::GgufFile::from_memory(path, std::move(bytes)));
    if (fs::exists(fs::path(path) / "tokenizer.json"))
      m.tokenizer = models::Tokenizer::from_hf(path);
  } else {
    if (!fs::exists(path)) throw Error(path + ": no such file or folder");
    m.file = std::make_shared<const tensor::GgufFile>(tensor::GgufFile::open(path));
    if (m.file->has("tokenizer.ggml.tokens")) m.tokenizer = models::Tokenizer::from_gguf(*m.file);
  }
  m.arch = models::make_architecture(*m.file, models::WeightSet::from_gguf(m.file));
  return m;
}

}  // namespace kt::engine
