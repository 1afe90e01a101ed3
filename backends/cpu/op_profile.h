#pragma once
// Time spent per op kind (and weight type, for the matrix ops) by GraphExecutor, collected
// only when the environment variable KT_PROFILE is set: a cheap answer to "where does a
// decode step go" without an external profiler. `kt bench -m` prints it.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/graph.h"

namespace kt::cpu {

struct OpProfileEntry {
  std::string what;  // "MatMulExperts Q4_K experts", "Attention attn": op, weight type, node
  double seconds = 0;
  int64_t calls = 0;
};

// KT_PROFILE set and not "0" (read once).
bool op_profile_enabled();
// Adds one execution; weight: the weight type of a matrix op (ignored for others); node: the
// node's name, whose "blk.N." prefix is dropped so that layers add up.
void op_profile_add(tensor::Op op, tensor::DType weight, std::string_view node, double seconds);
// Everything collected since the last take(), most time first; clears it.
std::vector<OpProfileEntry> op_profile_take();

}  // namespace kt::cpu
