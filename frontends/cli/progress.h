#pragma once
// A one-line progress bar on stderr for long loads and conversions: redrawn in place on a
// terminal, a line per 10% otherwise (logs stay readable).
#include <chrono>
#include <cstddef>
#include <string>

namespace kt::engine {
struct Model;
}

namespace kt::cli {

// Draws a progress bar while a GPU plan's weights are uploaded (the first Session of m).
void show_upload_progress(const engine::Model& m);

class ProgressBar {
 public:
  ProgressBar(std::string label, size_t total);
  void update(size_t done);
  void finish();  // draws 100% and ends the line

 private:
  std::string label_;
  size_t total_;
  bool tty_;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace kt::cli
