// The web UI embedded by web/embed.cmake: lookup, content types, and bytes equal to web/.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "web/assets.h"

namespace kt::web {
namespace {

namespace fs = std::filesystem;

std::string read_source_file(const std::string& rel) {
  std::ifstream in(fs::path(KT_SOURCE_DIR) / "web" / rel, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open web/" << rel;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

TEST(WebAssets, IndexHtmlIsAnHtmlDocument) {
  const Asset* index = find_asset("index.html");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->path, "index.html");
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(lower(index->data.substr(0, 15)), "<!doctype html>");
}

TEST(WebAssets, ScriptsAndStylesHaveTheirTypes) {
  const Asset* app = find_asset("app.js");
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(app->content_type, "text/javascript; charset=utf-8");
  const Asset* markdown = find_asset("markdown.js");
  ASSERT_NE(markdown, nullptr);
  EXPECT_EQ(markdown->content_type, "text/javascript; charset=utf-8");
  const Asset* style = find_asset("style.css");
  ASSERT_NE(style, nullptr);
  EXPECT_EQ(style->content_type, "text/css; charset=utf-8");
}

TEST(WebAssets, UnknownPathsAreAbsent) {
  EXPECT_EQ(find_asset("missing.html"), nullptr);
  EXPECT_EQ(find_asset(""), nullptr);
  EXPECT_EQ(find_asset("/index.html"), nullptr);
  EXPECT_EQ(find_asset("../web/index.html"), nullptr);
  EXPECT_EQ(find_asset("README.md"), nullptr);  // documentation is not embedded
  EXPECT_EQ(find_asset("CMakeLists.txt"), nullptr);
}

TEST(WebAssets, BytesEqualTheFilesOnDisk) {
  ASSERT_FALSE(all_assets().empty());
  for (const Asset& asset : all_assets()) {
    SCOPED_TRACE(std::string(asset.path));
    EXPECT_FALSE(asset.data.empty());
    EXPECT_EQ(asset.data, read_source_file(std::string(asset.path)));
    EXPECT_EQ(find_asset(asset.path), &asset);
  }
}

}  // namespace
}  // namespace kt::web
