#pragma once
// A Plan folded for people: the modules of consecutive layers that got the same placement
// become one row ("model.layers.{0-29}.mlp.experts"), so a 61-layer plan reads in a screen.
#include <cstdint>
#include <string>
#include <vector>

#include "inject/plan.h"

namespace kt::inject {

struct PlanRow {
  std::string path;             // with "{0-29,31}" in place of the layer number, or as is
  std::vector<int64_t> layers;  // the layers folded into the row (empty: not a layer module)
  const Placement* placement = nullptr;  // the first of them (all are equal but for the path)
};

std::vector<PlanRow> summarize(const Plan& plan);

// "0-29,31,40-41"
std::string layer_ranges(const std::vector<int64_t>& layers);

}  // namespace kt::inject
