#include "frontends/cli/progress.h"

#include <unistd.h>

#include <cstdio>
#include <memory>

#include "engine/model.h"
#include "engine/placement.h"

namespace kt::cli {

ProgressBar::ProgressBar(std::string label, size_t total)
    : label_(std::move(label)),
      total_(total ? total : 1),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()) {}

void ProgressBar::update(size_t done) {
  const auto now = std::chrono::steady_clock::now();
  const double frac = double(done) / double(total_);
  const double secs = std::chrono::duration<double>(now - start_).count();
  if (tty_) {
    // At most 20 redraws a second: drawing must not slow what it measures.
    if (done < total_ && now - last_draw_ < std::chrono::milliseconds(50)) return;
    last_draw_ = now;
    const int width = 30, filled = int(frac * width);
    std::fprintf(stderr, "\r%s [%.*s%*s] %3d%% %zu/%zu %.1fs", label_.c_str(), filled,
                 "==============================", width - filled, "", int(frac * 100), done,
                 total_, secs);
    std::fflush(stderr);
  } else {
    const int decile = int(frac * 10);
    if (decile == last_decile_) return;
    last_decile_ = decile;
    std::fprintf(stderr, "%s %3d%% (%zu/%zu, %.1fs)\n", label_.c_str(), decile * 10, done, total_,
                 secs);
  }
}

void ProgressBar::finish() {
  update(total_);
  if (tty_) std::fprintf(stderr, "\n");
}

void show_upload_progress(const engine::Model& m) {
  auto* planned = dynamic_cast<engine::PlannedArchitecture*>(m.arch.get());
  if (!planned || !planned->uses_gpu()) return;
  auto bar = std::make_shared<std::unique_ptr<ProgressBar>>();
  planned->set_load_progress([bar](size_t done, size_t total) {
    if (!*bar) *bar = std::make_unique<ProgressBar>("uploading weights to cuda:0", total);
    (*bar)->update(done);
    if (done >= total) {
      (*bar)->finish();
      bar->reset();
    }
  });
}

}  // namespace kt::cli
