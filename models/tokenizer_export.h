#pragma once
// Writes a Tokenizer as llama.cpp's tokenizer.* GGUF metadata (shared/reference/gguf.md
// section 3.2), so that a converted file carries its own vocabulary and Tokenizer::from_gguf
// (or llama.cpp) encodes exactly as the source tokenizer did.
//
// What can be written:
//   * byte-level BPE (GPT-2, Llama 3, Qwen2, DeepSeek) -> tokenizer.ggml.model "gpt2", merges
//     in rank order, and tokenizer.ggml.pre naming the split sequence. A tokenizer read from a
//     tokenizer.json has no llama.cpp name, so the name is found by splitting probe texts with
//     every known preset and taking the one that splits them as the tokenizer does.
//   * SentencePiece BPE (from a GGUF) -> "llama" with the piece scores.
// Anything else (character BPE, a byte-level tokenizer with a normalizer, add_prefix_space or
// a split sequence no preset reproduces) throws kt::Error naming the tokenizer: GGUF has no
// keys for it, and a file that encodes differently is worse than one without a tokenizer.
#include <string>

#include "models/chat_template.h"
#include "models/tokenizer.h"
#include "tensor/gguf_writer.h"

namespace kt::models {

// The tokenizer.ggml.pre value for `tok`: its own pre_name() when that is a llama.cpp name,
// otherwise the preset whose splits match (see above). Throws kt::Error when none does.
std::string gguf_pre_name(const Tokenizer& tok);

// tokenizer.ggml.{model, pre, tokens, token_type, scores, merges}, the special ids that exist
// and the add_bos / add_eos / add_space_prefix flags.
void write_tokenizer_metadata(const Tokenizer& tok, tensor::GgufWriter& w);
// ... and tokenizer.chat_template = tmpl.source().
void write_tokenizer_metadata(const Tokenizer& tok, const ChatTemplate& tmpl,
                              tensor::GgufWriter& w);

}  // namespace kt::models
