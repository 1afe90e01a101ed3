#pragma once
// Errors a user can cause (bad file, bad value) are thrown as kt::Error with a message that
// names the file/field/value at fault. Internal invariants use assert.
#include <stdexcept>
#include <string>

namespace kt {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace kt
