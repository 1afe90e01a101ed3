#include "engine/stop_matcher.h"

#include <algorithm>

namespace kt::engine {

size_t partial_prefix_suffix(std::string_view text, std::string_view marker) {
  const size_t most = std::min(text.size(), marker.empty() ? 0 : marker.size() - 1);
  for (size_t n = most; n > 0; --n)
    if (text.substr(text.size() - n) == marker.substr(0, n)) return n;
  return 0;
}

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (std::string& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

StopMatcher::Out StopMatcher::push(std::string_view piece) {
  Out out;
  if (stopped_) return out;
  held_ += piece;
  // The earliest stop string wins; on a tie at one position, the longest.
  size_t first = std::string::npos;
  const std::string* which = nullptr;
  for (const std::string& s : stops_) {
    const size_t at = held_.find(s);
    if (at == std::string::npos) continue;
    if (at < first || (at == first && s.size() > which->size())) first = at, which = &s;
  }
  if (which) {
    out.text = held_.substr(0, first);
    out.stopped = stopped_ = true;
    out.stop = *which;
    held_.clear();
    released_ += out.text.size();
    return out;
  }
  size_t hold = 0;
  for (const std::string& s : stops_) hold = std::max(hold, partial_prefix_suffix(held_, s));
  out.text = held_.substr(0, held_.size() - hold);
  held_.erase(0, out.text.size());
  released_ += out.text.size();
  return out;
}

std::string StopMatcher::finish() {
  if (stopped_) return {};
  std::string rest = std::move(held_);
  held_.clear();
  released_ += rest.size();
  return rest;
}

}  // namespace kt::engine
