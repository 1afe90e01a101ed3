#pragma once
// Stop strings over streamed text. Text goes in as it is decoded; what comes out is final:
// it never holds any part of a stop string, because a tail that could still grow into one is
// held back until the next piece shows it does not (or the stream ends).
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kt::engine {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  struct Out {
    std::string text;  // final text released by this push
    bool stopped = false;
    std::string stop;  // the stop string found (stopped)
  };
  // Adds decoded text. Once stopped, further pushes release nothing.
  Out push(std::string_view piece);
  // The stream ended without a stop: everything held back is released.
  std::string finish();

  size_t released_bytes() const { return released_; }  // bytes of text released so far
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  size_t released_ = 0;
  bool stopped_ = false;
};

// The length of the longest suffix of `text` that is a proper prefix of `marker`.
size_t partial_prefix_suffix(std::string_view text, std::string_view marker);

}  // namespace kt::engine
