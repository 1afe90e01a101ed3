#pragma once
// Import of Andrej Karpathy's llama2.c checkpoints (legacy `.bin`: seven int32 header fields,
// then f32 weights) and their `tokenizer.bin`, written out as a GGUF file of architecture
// llama that kt (and llama.cpp) load like any other.
#include <string>

#include "tensor/dtype.h"

namespace kt::models {

struct Llama2cImportOptions {
  tensor::DType type = tensor::DType::F32;  // type of the 2-D weights (F32, F16, BF16, Q8_0...)
  std::string name = "llama2.c";            // general.name
};

// Reads model_bin and tokenizer_bin, writes out_gguf. Every size is checked against the
// files; a wrong or truncated file gives kt::Error naming the file and what is wrong.
void convert_llama2c_to_gguf(const std::string& model_bin, const std::string& tokenizer_bin,
                             const std::string& out_gguf, const Llama2cImportOptions& opt = {});

}  // namespace kt::models
