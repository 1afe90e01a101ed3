// `kt convert`: a Hugging Face folder, or a llama2.c checkpoint, to a GGUF file; or (--to-hf) a
// llama GGUF model to a Hugging Face folder.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "engine/model.h"
#include "frontends/cli/commands.h"
#include "frontends/cli/progress.h"
#include "models/hf_export.h"
#include "models/hf_import.h"
#include "models/llama2c.h"
#include "tensor/error.h"

namespace kt::cli {
namespace {

struct ConvertOptions {
  std::string input;
  std::string output;
  std::string type = "f16";
  std::string llama2c_tokenizer;
  bool to_hf = false;
};

void run_export(const ConvertOptions& o) {
  // Model::load opens every split and checks the weights against the architecture first.
  const engine::Model m = engine::Model::load(o.input);
  const models::HfExportInfo info =
      models::export_hf_folder(*m.file, models::WeightSet::from_gguf(m.splits), o.output);
  std::fprintf(stderr, "wrote %s: config.json, model.safetensors (%zu tensors, %.1f MiB F32%s)\n",
               o.output.c_str(), info.n_tensors, double(info.bytes) / (1 << 20),
               info.tied ? ", tied embeddings" : "");
}

void run_convert(const ConvertOptions& o) {
  namespace fs = std::filesystem;
  if (o.to_hf) return run_export(o);
  const models::QuantRecipe recipe = models::parse_recipe(o.type);
  if (!o.llama2c_tokenizer.empty()) {
    models::Llama2cImportOptions opt;
    switch (recipe) {
      case models::QuantRecipe::F32:
        opt.type = tensor::DType::F32;
        break;
      case models::QuantRecipe::F16:
        opt.type = tensor::DType::F16;
        break;
      case models::QuantRecipe::BF16:
        opt.type = tensor::DType::BF16;
        break;
      case models::QuantRecipe::Q8_0:
        opt.type = tensor::DType::Q8_0;
        break;
      default:
        throw Error("--type " + o.type + ": llama2.c import writes f32, f16, bf16 or q8_0");
    }
    opt.name = fs::path(o.input).stem().string();
    models::convert_llama2c_to_gguf(o.input, o.llama2c_tokenizer, o.output, opt);
  } else {
    if (!fs::is_directory(o.input))
      throw Error(o.input +
                  ": not a folder (a Hugging Face model folder, or give --tokenizer "
                  "for a llama2.c checkpoint)");
    std::unique_ptr<ProgressBar> live;
    models::HfImport imp =
        models::import_hf_folder(o.input, recipe, [&](size_t done, size_t total) {
          if (!live) live = std::make_unique<ProgressBar>("reading + quantizing", total);
          live->update(done);
        });
    if (live) live->finish();
    std::fprintf(stderr, "writing %s\n", o.output.c_str());
    imp.writer.write(o.output);
  }
  std::fprintf(stderr, "wrote %s (%.1f MiB, %s)\n", o.output.c_str(),
               double(fs::file_size(o.output)) / (1 << 20), models::recipe_name(recipe));
}

}  // namespace

void add_convert_command(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand(
      "convert",
      "Convert a Hugging Face model folder (config.json + *.safetensors) or a llama2.c "
      "checkpoint (with --tokenizer) to GGUF; or a llama GGUF model to a Hugging Face folder "
      "(--to-hf)");
  cmd->add_option("input", o->input,
                  "HF model folder, llama2.c .bin checkpoint, or (--to-hf) GGUF file")
      ->required();
  cmd->add_option("-o,--output", o->output, "GGUF file (or, with --to-hf, folder) to write")
      ->required();
  cmd->add_option("-t,--type", o->type, "f32, f16, bf16, q8_0, q6_k or q4_k_m (llama.cpp's mix)")
      ->capture_default_str();
  cmd->add_option("--tokenizer", o->llama2c_tokenizer,
                  "llama2.c tokenizer.bin (makes the input a llama2.c checkpoint)");
  cmd->add_flag("--to-hf", o->to_hf,
                "Write a Hugging Face folder (config.json + F32 model.safetensors) from a llama "
                "GGUF model (or its first split)")
      ->excludes("--tokenizer");
  cmd->callback([o] { run_convert(*o); });
}

}  // namespace kt::cli
