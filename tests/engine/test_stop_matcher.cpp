// Stop strings over streamed text: nothing of a stop string is ever released, however the text
// is cut into pieces, and text that only looked like the start of one comes out in the end.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/stop_matcher.h"

namespace kt::engine {
namespace {

// Feeds `text` cut into pieces of `step` bytes; returns what was released and whether it stopped.
std::pair<std::string, bool> feed(const std::string& text, size_t step,
                                  const std::vector<std::string>& stops) {
  StopMatcher m(stops);
  std::string out;
  for (size_t i = 0; i < text.size() && !m.stopped(); i += step) {
    StopMatcher::Out o = m.push(std::string_view(text).substr(i, step));
    out += o.text;
    if (o.stopped) return {out, true};
  }
  out += m.finish();
  return {out, false};
}

TEST(StopMatcher, CutsBeforeTheStopStringAtEveryPieceSize) {
  const std::string text = "Once upon a time, there was a little girl named Lily.";
  for (size_t step = 1; step <= text.size(); ++step) {
    auto [out, stopped] = feed(text, step, {"girl"});
    EXPECT_TRUE(stopped) << step;
    EXPECT_EQ(out, "Once upon a time, there was a little ") << step;
  }
}

TEST(StopMatcher, NeverReleasesAPrefixOfAStopStringEarly) {
  StopMatcher m({"<|end|>"});
  EXPECT_EQ(m.push("Hello <|").text, "Hello ");
  EXPECT_EQ(m.push("en").text, "");
  StopMatcher::Out o = m.push("d|> tail");
  EXPECT_TRUE(o.stopped);
  EXPECT_EQ(o.text, "");
  EXPECT_EQ(o.stop, "<|end|>");
  EXPECT_EQ(m.released_bytes(), 6u);
}

TEST(StopMatcher, HeldTextThatNeverBecomesAStopIsReleased) {
  StopMatcher m({"<|end|>"});
  EXPECT_EQ(m.push("a <|en").text, "a ");
  EXPECT_EQ(m.push("try").text, "<|entry");
  EXPECT_EQ(m.push(" <").text, " ");
  EXPECT_EQ(m.finish(), "<");
}

TEST(StopMatcher, EarliestOfSeveralStopsWins) {
  auto [out, stopped] = feed("abc STOP def END", 3, {"END", "STOP"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(out, "abc ");
  auto [out2, stopped2] = feed("no stop here", 1, {"", "zzz"});
  EXPECT_FALSE(stopped2);
  EXPECT_EQ(out2, "no stop here");
}

TEST(StopMatcher, RepeatedPrefixCharacters) {
  // "aab" inside "aaab": the held tail must restart correctly.
  auto [out, stopped] = feed("xaaab", 1, {"aab"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(out, "xa");
}

TEST(StopMatcher, PartialPrefixSuffix) {
  EXPECT_EQ(partial_prefix_suffix("hello <|e", "<|end|>"), 3u);
  EXPECT_EQ(partial_prefix_suffix("hello", "<|end|>"), 0u);
  EXPECT_EQ(partial_prefix_suffix("<|end|>", "<|end|>"), 0u);  // whole = not partial
  EXPECT_EQ(partial_prefix_suffix("", "x"), 0u);
}

}  // namespace
}  // namespace kt::engine
