#pragma once
// The web UI's files (index.html, app.js, ...), compiled into the binary by web/embed.cmake,
// so `kt serve` needs nothing beside it. The server maps GET /web/<path> to find_asset(path).
#include <span>
#include <string_view>

namespace kt::web {

struct Asset {
  std::string_view path;          // relative to web/, e.g. "index.html", "app.js"
  std::string_view content_type;  // "text/html; charset=utf-8", "text/css; charset=utf-8",
                                  // "text/javascript; charset=utf-8", "image/svg+xml", ...
  std::string_view data;
};

// The asset at exactly `path` (no leading '/', no normalisation), or nullptr. Only embedded
// files can be found, so a request path like "../x" simply finds nothing.
const Asset* find_asset(std::string_view path);
std::span<const Asset> all_assets();

}  // namespace kt::web
