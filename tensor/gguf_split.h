#pragma once
// Writing split GGUF models (gguf.md 1.7), as llama.cpp's gguf-split does: every split is a
// complete GGUF file; the first carries all metadata, each carries split.no (u16, 0-based),
// split.count (u16) and split.tensors.count (i32, over all splits). Reading is in
// engine/model.cpp (Model::load merges the splits).
#include <string>
#include <vector>

#include "tensor/gguf.h"
#include "tensor/gguf_writer.h"

namespace kt::tensor {

// Copies every key/value of `src` to `w` (same types, file order).
void copy_gguf_metadata(const GgufFile& src, GgufWriter& w);

// Sets split.no / split.count / split.tensors.count on a split being written.
void set_gguf_split_keys(GgufWriter& w, int no, int count, size_t total_tensors);

// Writes the tensors of `src` into `count` splits named gguf_split_path(prefix, i, count), in
// file order, about the same number of tensors in each (every split holds at least one when
// there are enough). Returns the paths written. Throws kt::Error naming a path it cannot write.
std::vector<std::string> write_gguf_splits(const GgufFile& src, const std::string& prefix,
                                           int count);

}  // namespace kt::tensor
