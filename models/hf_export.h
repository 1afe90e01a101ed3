#pragma once
// Writes a Hugging Face model folder (config.json + model.safetensors, F32) for a GGUF model of
// architecture llama: the inverse of hf_import for that architecture (HF names, Q/K rows back to
// rotate-half order, tied embeddings as no lm_head), so that one model can be checked in all
// three containers (llama2.c .bin, GGUF, HF). Quantized tensors are dequantized.
#include <cstddef>
#include <string>

#include "models/weights.h"
#include "tensor/gguf.h"

namespace kt::models {

struct HfExportInfo {
  size_t n_tensors = 0;
  size_t bytes = 0;   // tensor bytes written to model.safetensors
  bool tied = false;  // no output.weight: the embedding is the classifier (tie_word_embeddings)
};

// meta: the GGUF metadata (the first split of a split model); weights: its tensors. Creates dir
// if needed and overwrites config.json and model.safetensors there. Throws kt::Error naming the
// file and what is unsupported: another architecture, experts, partial RoPE, YaRN, a tensor
// without a Hugging Face Llama counterpart.
HfExportInfo export_hf_folder(const tensor::GgufFile& meta, const WeightSet& weights,
                              const std::string& dir);

}  // namespace kt::models
