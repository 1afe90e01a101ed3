// Tokenizer behaviour at the edges: invalid UTF-8 in, unknown ids out, malformed files, the
// streaming decoder on characters split across tokens, special tokens on and off, BOS/EOS.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "models/tokenizer.h"
#include "models/utf8.h"
#include "tensor/error.h"
#include "tensor/gguf.h"
#include "tensor/gguf_writer.h"

namespace kt::models {
namespace {

namespace fs = std::filesystem;

fs::path testdata() {
  return fs::path(KT_TESTDATA_DIR);
}

#define REQUIRE_FILE(p)                                              \
  do {                                                               \
    if (!fs::exists(p)) GTEST_SKIP() << "test data absent: " << (p); \
  } while (0)

Tokenizer gguf_tok(const std::string& name) {
  return Tokenizer::from_gguf(
      tensor::GgufFile::open((testdata() / "vocab" / ("ggml-vocab-" + name + ".gguf")).string()));
}

fs::path tmp_dir() {
  fs::path d = fs::temp_directory_path() / ("kt_tok_edge_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

fs::path write_file(const std::string& name, const std::string& content) {
  fs::path p = tmp_dir() / name;
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

// --- UTF-8 ----------------------------------------------------------------------------------

TEST(Utf8, SanitizeUsesMaximalSubparts) {
  EXPECT_EQ(utf8::sanitize("abc"), "abc");
  EXPECT_EQ(utf8::sanitize("a\xFF"
                           "b"),
            "a\xEF\xBF\xBD"
            "b");
  // A truncated 3-byte sequence is one replacement.
  EXPECT_EQ(utf8::sanitize("\xE4\xBD"), "\xEF\xBF\xBD");
  // Overlong "/" and a UTF-16 surrogate: every byte is its own replacement.
  EXPECT_EQ(utf8::sanitize("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8::sanitize("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  // Above U+10FFFF.
  EXPECT_EQ(utf8::sanitize("\xF4\x90\x80\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_TRUE(utf8::is_valid("\xF0\x9F\xA6\x99 ok"));
}

TEST(Utf8, CompletePrefixHoldsOnlyUnfinishedCharacters) {
  EXPECT_EQ(utf8::complete_prefix_length("ab\xF0\x9F"), 2u);
  EXPECT_EQ(utf8::complete_prefix_length("ab\xF0\x9F\xA6\x99"), 6u);
  EXPECT_EQ(utf8::complete_prefix_length("ab\xFF"), 3u);  // never valid: not held
  EXPECT_EQ(utf8::complete_prefix_length("ab\xE4"
                                         "c"),
            4u);  // broken already: not held
  EXPECT_EQ(utf8::complete_prefix_length("\xE4\xBD"), 0u);
}

TEST(Utf8, ByteLevelAlphabetRoundTrips) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(char(b));
  std::string back;
  ASSERT_TRUE(utf8::byte_level_decode(utf8::byte_level_encode(all), &back));
  EXPECT_EQ(back, all);
  EXPECT_EQ(utf8::byte_level_encode(" "), "\xC4\xA0");  // "Ġ"
}

// --- encode: invalid UTF-8 is replaced (documented in tokenizer.h) -------------------------

TEST(TokenizerEdge, InvalidUtf8IsReplacedBeforeEncoding) {
  fs::path dir = testdata() / "tokenizers" / "qwen3";
  REQUIRE_FILE(dir / "tokenizer.json");
  Tokenizer qwen = Tokenizer::from_hf(dir.string());
  const std::string bad[] = {
      "abc\xFF"
      "def",
      "tail \xE4\xBD",
      "\xC0\xAF over",
      "\xED\xA0\x80x",
      std::string("nul\0byte", 8),
      "\x80\x80\x80"};
  for (const std::string& t : bad) {
    EXPECT_EQ(qwen.encode(t, false), qwen.encode(utf8::sanitize(t), false));
  }
  REQUIRE_FILE(testdata() / "vocab" / "ggml-vocab-llama-spm.gguf");
  Tokenizer spm = gguf_tok("llama-spm");
  for (const std::string& t : bad) {
    EXPECT_EQ(spm.encode(t, true), spm.encode(utf8::sanitize(t), true));
  }
}

// --- decode: unknown ids --------------------------------------------------------------------

TEST(TokenizerEdge, UnknownIdsAreErrors) {
  REQUIRE_FILE(testdata() / "vocab" / "ggml-vocab-gpt-2.gguf");
  Tokenizer tok = gguf_tok("gpt-2");
  const int32_t n = int32_t(tok.vocab_size());
  for (int32_t id : {-1, n, n + 1000}) {
    std::vector<int32_t> ids{15496, id};
    try {
      (void)tok.decode(ids);
      ADD_FAILURE() << "decode accepted id " << id;
    } catch (const kt::Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::to_string(id)), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)tok.token_to_piece(id), kt::Error);
    EXPECT_THROW((void)tok.token_text(id), kt::Error);
    StreamDecoder sd(tok);
    EXPECT_EQ(sd.push(15496), "Hello");
    EXPECT_THROW((void)sd.push(id), kt::Error);
    EXPECT_EQ(sd.push(995), " world");  // the decoder still works after the error
  }
}

// --- malformed files ------------------------------------------------------------------------

const char* kTinyJson = R"({
  "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3},
            "merges": ["a b"]},
  "added_tokens": [{"id": 4, "content": "<|end|>", "special": true}],
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
  "decoder": {"type": "ByteLevel"}
})";

TEST(TokenizerEdge, TinyTokenizerJsonLoads) {
  fs::path p = write_file("tiny.json", kTinyJson);
  Tokenizer tok = Tokenizer::from_hf(p.string());
  EXPECT_EQ(tok.vocab_size(), 5u);
  EXPECT_EQ(tok.encode("ab ab<|end|>", false), (std::vector<int32_t>{2, 3, 2, 4}));
  EXPECT_EQ(tok.decode(std::vector<int32_t>{2, 3, 2, 4}), "ab ab<|end|>");
  EXPECT_EQ(tok.decode(std::vector<int32_t>{2, 4}, /*render_special=*/false), "ab");
  EXPECT_TRUE(tok.is_control(4));
}

TEST(TokenizerEdge, MalformedTokenizerJsonNamesTheFile) {
  std::string tiny = kTinyJson;
  struct Case {
    const char* name;
    std::string content;
    const char* says;
  };
  std::vector<Case> cases = {
      {"truncated.json", tiny.substr(0, tiny.size() / 2), "not valid JSON"},
      {"empty.json", "", "not valid JSON"},
      {"array.json", "[1, 2, 3]", "not an object"},
      {"nomodel.json", R"({"added_tokens": []})", "model is missing"},
      {"unigram.json", R"({"model": {"type": "Unigram", "vocab": []}})", "Unigram"},
      {"badid.json", R"({"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}})",
       "model.vocab[\"a\"]"},
      {"negid.json", R"({"model": {"type": "BPE", "vocab": {"a": -4}, "merges": []}})",
       "not a valid token id"},
      {"badmerge.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [7]}})",
       "model.merges[0]"},
      {"badpre.json",
       R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
           "pre_tokenizer": {"type": "Frobnicate"}})",
       "Frobnicate"},
      {"badregex.json",
       R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
           "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"},
                             "behavior": "Isolated"}})",
       "does not compile"},
      {"badadded.json",
       R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
           "added_tokens": [{"content": "<x>"}]})",
       "added_tokens[0].id"},
  };
  for (const Case& c : cases) {
    fs::path p = write_file(c.name, c.content);
    try {
      (void)Tokenizer::from_hf(p.string());
      ADD_FAILURE() << c.name << " loaded";
    } catch (const kt::Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(p.string()), std::string::npos) << c.name << ": " << msg;
      EXPECT_NE(msg.find(c.says), std::string::npos) << c.name << ": " << msg;
    }
  }
  EXPECT_THROW((void)Tokenizer::from_hf((tmp_dir() / "missing.json").string()), kt::Error);
  // A broken tokenizer_config.json beside a good tokenizer.json.
  fs::path d = tmp_dir() / "badcfg";
  fs::create_directories(d);
  std::ofstream(d / "tokenizer.json") << kTinyJson;
  std::ofstream(d / "tokenizer_config.json") << "{\"bos_token\": ";
  try {
    (void)Tokenizer::from_hf(d.string());
    ADD_FAILURE() << "bad config loaded";
  } catch (const kt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer_config.json"), std::string::npos) << e.what();
  }
}

TEST(TokenizerEdge, BadGgufTokenizerMetadata) {
  tensor::GgufWriter w;
  w.set_string("general.architecture", "llama");
  auto open = [](const tensor::GgufWriter& w) {
    return Tokenizer::from_gguf(tensor::GgufFile::from_memory("mem.gguf", w.to_bytes()));
  };
  EXPECT_THROW(open(w), kt::Error);  // no tokenizer at all
  std::vector<std::string> toks = {"a", "b", "ab"};
  w.set_strings("tokenizer.ggml.tokens", toks);
  w.set_string("tokenizer.ggml.model", "bert");
  EXPECT_THROW(open(w), kt::Error);
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "no-such-pre");
  try {
    open(w);
    ADD_FAILURE() << "unknown pre accepted";
  } catch (const kt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-pre"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("mem.gguf"), std::string::npos) << e.what();
  }
  w.set_string("tokenizer.ggml.pre", "gpt-2");
  EXPECT_THROW(open(w), kt::Error);  // no merges
  std::vector<std::string> merges = {"a b", "nonsense"};
  w.set_strings("tokenizer.ggml.merges", merges);
  w.set_u32("tokenizer.ggml.bos_token_id", 99);
  EXPECT_THROW(open(w), kt::Error);  // BOS outside the vocabulary
  w.set_u32("tokenizer.ggml.bos_token_id", 0);
  Tokenizer tok = open(w);
  EXPECT_EQ(tok.encode("ab", false), std::vector<int32_t>{2});
}

// --- streaming ------------------------------------------------------------------------------

void check_stream(const Tokenizer& tok, const std::string& text, bool expect_split) {
  std::vector<int32_t> ids = tok.encode(text, false);
  StreamDecoder sd(tok);
  std::string joined;
  bool held = false;
  for (int32_t id : ids) {
    std::string chunk = sd.push(id);
    EXPECT_TRUE(utf8::is_valid(chunk)) << "broken UTF-8 streamed for \"" << text << "\"";
    held = held || sd.pending_bytes() > 0;
    joined += chunk;
  }
  joined += sd.flush();
  EXPECT_EQ(joined, text);
  if (expect_split) {
    EXPECT_TRUE(held) << "no character was split across tokens: \"" << text << "\"";
  }
}

TEST(TokenizerEdge, StreamDecoderNeverEmitsBrokenUtf8) {
  const std::string texts[] = {
      "\xF0\x9F\xA6\x99\xF0\x9F\xA6\x99 llama", "\xE1\x9E\x80\xE1\x9E\xB6\xE1\x9E\x93\xE1\x9F\x8B",
      "\xF0\x9F\x98\xB6\xE2\x80\x8D\xF0\x9F\x8C\xAB\xEF\xB8\x8F fog", "\xF0\x90\x8D\x88 gothic",
      "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7"};
  REQUIRE_FILE(testdata() / "vocab" / "ggml-vocab-llama-spm.gguf");
  Tokenizer spm = gguf_tok("llama-spm");  // byte fallback: one token per byte
  Tokenizer gpt2 = gguf_tok("gpt-2");     // byte-level: emoji split over several tokens
  for (const std::string& t : texts) {
    check_stream(spm, t, true);
    check_stream(gpt2, t, false);
  }
  check_stream(gpt2, "\xF0\x9F\xA6\x99", true);
  fs::path dir = testdata() / "tokenizers" / "qwen3";
  if (fs::exists(dir / "tokenizer.json")) {
    Tokenizer qwen = Tokenizer::from_hf(dir.string());
    for (const std::string& t : texts) check_stream(qwen, t, false);
  }
}

TEST(TokenizerEdge, StreamDecoderReplacesBytesThatCannotComplete) {
  REQUIRE_FILE(testdata() / "vocab" / "ggml-vocab-llama-spm.gguf");
  Tokenizer spm = gguf_tok("llama-spm");
  const int32_t e4 = *spm.find_token("<0xE4>");
  const int32_t ff = *spm.find_token("<0xFF>");
  const int32_t a = *spm.find_token("A");
  StreamDecoder sd(spm);
  EXPECT_EQ(sd.push(e4), "");
  EXPECT_EQ(sd.pending_bytes(), 1u);
  EXPECT_EQ(sd.push(a),
            "\xEF\xBF\xBD"
            "A");                          // the lead byte can no longer complete
  EXPECT_EQ(sd.push(ff), "\xEF\xBF\xBD");  // never valid: replaced at once
  EXPECT_EQ(sd.push(e4), "");
  EXPECT_EQ(sd.flush(), "\xEF\xBF\xBD");  // cut off at the end
  EXPECT_EQ(sd.pending_bytes(), 0u);
}

// --- special tokens and BOS -----------------------------------------------------------------

TEST(TokenizerEdge, SpecialTokensParseOnAndOff) {
  fs::path dir = testdata() / "tokenizers" / "qwen3";
  REQUIRE_FILE(dir / "tokenizer.json");
  Tokenizer tok = Tokenizer::from_hf(dir.string());
  const int32_t im_start = *tok.find_token("<|im_start|>");
  const int32_t think = *tok.find_token("<think>");
  EXPECT_EQ(im_start, 151644);
  EXPECT_EQ(think, 151667);
  EXPECT_TRUE(tok.is_control(im_start));
  EXPECT_FALSE(tok.is_control(think));  // an added, non-special token
  EXPECT_TRUE(tok.is_special(think));

  std::string text = "<|im_start|>user\n<think>hi</think>";
  auto on = tok.encode(text, false, true);
  auto off = tok.encode(text, false, false);
  EXPECT_EQ(on.front(), im_start);
  EXPECT_EQ(std::count(off.begin(), off.end(), im_start), 0);
  // <think> is recognised either way, as Hugging Face does for non-special added tokens.
  EXPECT_EQ(std::count(on.begin(), on.end(), think), 1);
  EXPECT_EQ(std::count(off.begin(), off.end(), think), 1);
  EXPECT_EQ(tok.decode(on), text);
  EXPECT_EQ(tok.decode(off), text);
  EXPECT_EQ(tok.decode(on, /*render_special=*/false), "user\n<think>hi</think>");
  EXPECT_TRUE(tok.is_eog(*tok.find_token("<|im_end|>")));
  EXPECT_TRUE(tok.is_eog(*tok.find_token("<|endoftext|>")));
  EXPECT_FALSE(tok.is_eog(im_start));
}

TEST(TokenizerEdge, SpmSpecialTokensAndSpacePrefix) {
  REQUIRE_FILE(testdata() / "vocab" / "ggml-vocab-llama-spm.gguf");
  Tokenizer tok = gguf_tok("llama-spm");
  EXPECT_TRUE(tok.add_space_prefix());
  auto on = tok.encode("Hello<s>world", false, true);
  auto off = tok.encode("Hello<s>world", false, false);
  EXPECT_EQ(std::count(on.begin(), on.end(), 1), 1);
  EXPECT_EQ(std::count(off.begin(), off.end(), 1), 0);
  EXPECT_EQ(tok.decode(on), "Hello<s>world");
  EXPECT_EQ(tok.decode(off), "Hello<s>world");
  EXPECT_EQ(tok.decode(on, false), "Helloworld");
  // " Hello" keeps its own space: the prefix space is added and taken off again.
  EXPECT_EQ(tok.decode(tok.encode(" Hello", true)), "<s> Hello");
  EXPECT_EQ(tok.decode(tok.encode(" Hello", true), false), " Hello");
}

TEST(TokenizerEdge, BosEosPolicy) {
  REQUIRE_FILE(testdata() / "vocab" / "ggml-vocab-llama-spm.gguf");
  Tokenizer spm = gguf_tok("llama-spm");
  EXPECT_TRUE(spm.add_bos());
  EXPECT_EQ(spm.bos_id(), 1);
  EXPECT_EQ(spm.eos_id(), 2);
  EXPECT_EQ(spm.encode("Hi", true).front(), 1);
  EXPECT_NE(spm.encode("Hi", false).front(), 1);
  EXPECT_EQ(spm.encode("", true), std::vector<int32_t>{1});
  EXPECT_TRUE(spm.encode("", false).empty());

  Tokenizer gpt2 = gguf_tok("gpt-2");
  EXPECT_FALSE(gpt2.add_bos());
  EXPECT_EQ(gpt2.encode("Hello", true), gpt2.encode("Hello", false));

  Tokenizer ds = gguf_tok("deepseek-llm");
  EXPECT_TRUE(ds.add_bos());
  EXPECT_EQ(ds.encode("Hello", true).front(), 100000);

  struct Hf {
    const char* dir;
    bool add_bos;
    const char* bos;
    const char* eot;
  };
  for (Hf h : {Hf{"qwen3", false, nullptr, "<|im_end|>"},
               Hf{"llama3", true, "<|begin_of_text|>", "<|eot_id|>"},
               Hf{"deepseek_v3", true,
                  "<\xEF\xBD\x9C"
                  "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
                  "<\xEF\xBD\x9C"
                  "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"}}) {
    fs::path dir = testdata() / "tokenizers" / h.dir;
    if (!fs::exists(dir / "tokenizer.json")) continue;
    Tokenizer tok = Tokenizer::from_hf(dir.string());
    EXPECT_EQ(tok.add_bos(), h.add_bos) << h.dir;
    if (h.bos) {
      EXPECT_EQ(tok.bos_id(), *tok.find_token(h.bos)) << h.dir;
      EXPECT_EQ(tok.encode("x", true).front(), tok.bos_id()) << h.dir;
    }
    EXPECT_EQ(tok.eot_id(), *tok.find_token(h.eot)) << h.dir;
    EXPECT_TRUE(tok.is_eog(tok.eot_id())) << h.dir;
    EXPECT_TRUE(tok.is_eog(tok.eos_id())) << h.dir;
  }
}

// A SentencePiece-style tokenizer.json (BPE over characters, ▁ for spaces, byte fallback).
TEST(TokenizerEdge, CharBpeWithByteFallback) {
  std::string vocab = R"("<unk>": 0, "<s>": 1, "</s>": 2)";
  for (int b = 0; b < 256; ++b) {
    char buf[32];
    std::snprintf(buf, sizeof buf, ", \"<0x%02X>\": %d", b, 3 + b);
    vocab += buf;
  }
  vocab += R"(, "\u2581": 259, "h": 260, "e": 261, "l": 262, "o": 263, "\u2581h": 264,)"
           R"( "ll": 265, "\u2581he": 266, "\u2581hell": 267, "\u2581hello": 268)";
  std::string json = R"({"model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>",
      "vocab": {)" + vocab +
                     R"(}, "merges": ["\u2581 h", "l l", "\u2581h e", "\u2581he ll",
      "\u2581hell o"]},
    "added_tokens": [{"id": 1, "content": "<s>", "special": true},
                     {"id": 2, "content": "</s>", "special": true}],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}]}})";
  fs::path p = write_file("charbpe.json", json);
  Tokenizer tok = Tokenizer::from_hf(p.string());
  EXPECT_EQ(tok.kind(), TokenizerKind::kCharBpe);
  EXPECT_EQ(tok.encode("hello", false), std::vector<int32_t>{268});
  // "é" (C3 A9) has no token: its bytes come out as <0xC3> <0xA9>.
  EXPECT_EQ(tok.encode("he\xC3\xA9", false), (std::vector<int32_t>{266, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(tok.decode(tok.encode("hello he\xC3\xA9", false)), "hello he\xC3\xA9");
  EXPECT_EQ(tok.encode("hello</s>hello", false, true), (std::vector<int32_t>{268, 2, 268}));
  EXPECT_EQ(tok.decode(std::vector<int32_t>{268, 2, 268}), "hello</s>hello");
}

// --- random input ---------------------------------------------------------------------------

// Random bytes (often invalid UTF-8, with pieces of special tokens) must encode without harm
// and round-trip as their sanitized form; random ids must decode and stream valid UTF-8.
TEST(TokenizerEdge, RandomInputRoundTrips) {
  std::vector<Tokenizer> toks;
  for (const char* name : {"gpt-2", "llama-spm", "deepseek-llm"}) {
    fs::path p = testdata() / "vocab" / (std::string("ggml-vocab-") + name + ".gguf");
    if (fs::exists(p)) toks.push_back(gguf_tok(name));
  }
  fs::path qwen = testdata() / "tokenizers" / "qwen3";
  if (fs::exists(qwen / "tokenizer.json")) toks.push_back(Tokenizer::from_hf(qwen.string()));
  if (toks.empty()) GTEST_SKIP() << "test data absent: " << testdata();
  uint64_t x = 0x9E3779B97F4A7C15ull;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  const std::string pieces[] = {"<|im_start|>",
                                "<s>",
                                "</s>",
                                "<|endoftext|>",
                                " ",
                                "\n",
                                "\t",
                                "\xE4\xBD\xA0",
                                "\xF0\x9F\xA6\x99",
                                "a",
                                "Z",
                                "9",
                                "'s",
                                "\xC3"};
  for (const Tokenizer& tok : toks) {
    for (int round = 0; round < 200; ++round) {
      std::string text;
      size_t len = next() % 40;
      for (size_t i = 0; i < len; ++i) {
        if (next() % 3 == 0) {
          text += pieces[next() % std::size(pieces)];
        } else {
          text.push_back(char(next() & 0xFF));
        }
      }
      for (bool special : {false, true}) {
        std::vector<int32_t> ids = tok.encode(text, true, special);
        std::string back = tok.decode(ids, true);
        std::string clean = utf8::sanitize(text);
        if (tok.add_bos()) clean = tok.token_text(tok.bos_id()) + clean;
        // SPM drops the space its prefix adds; Phi-3-style rstrip does not apply to these.
        EXPECT_EQ(back, clean) << tok.source() << " special=" << special;
      }
      std::vector<int32_t> random_ids;
      for (int i = 0; i < 30; ++i) random_ids.push_back(int32_t(next() % tok.vocab_size()));
      (void)tok.decode(random_ids);
      StreamDecoder sd(tok, round % 2 == 0);
      for (int32_t id : random_ids) EXPECT_TRUE(utf8::is_valid(sd.push(id)));
      EXPECT_TRUE(utf8::is_valid(sd.flush()));
    }
  }
}

// --- the `kt tokenize` command ---------------------------------------------------------------

std::string run_command(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = ::pclose(p);
  return out;
}

TEST(TokenizeCommand, ShowsIdsPiecesAndDecodes) {
  fs::path kt = fs::path(KT_BINARY_DIR) / "kt";
  fs::path gguf = testdata() / "vocab" / "ggml-vocab-gpt-2.gguf";
  if (!fs::exists(kt)) GTEST_SKIP() << "kt binary not built: " << kt;
  REQUIRE_FILE(gguf);
  int status = -1;
  std::string out = run_command(
      kt.string() + " tokenize --ids-only -m " + gguf.string() + " 'Hello world' 2>&1", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out, "15496 995\n");
  out = run_command(kt.string() + " tokenize -m " + gguf.string() + " 'Hello world' 2>&1", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("15496  'Hello'"), std::string::npos) << out;
  EXPECT_NE(out.find("995  ' world'"), std::string::npos) << out;
  EXPECT_NE(out.find("2 tokens"), std::string::npos) << out;
  out = run_command(
      kt.string() + " tokenize --ids-only -m " + gguf.string() + " --decode '15496 995' 2>&1",
      &status);
  EXPECT_EQ(out, "Hello world\n");
  out = run_command(
      kt.string() + " tokenize -m " + gguf.string() + " --decode '15496 99999999' 2>&1", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("99999999"), std::string::npos) << out;
}

// A rendered chat prompt gets BOS exactly once: the template's own "<s>" text is the BOS token,
// and one is added only where the template wrote none (llama-spm: add_bos_token true).
TEST(TokenizerEdge, ChatPromptGetsBosOnce) {
  REQUIRE_FILE(testdata() / "vocab" / "ggml-vocab-llama-spm.gguf");
  Tokenizer spm = gguf_tok("llama-spm");
  ASSERT_TRUE(spm.add_bos());
  const int32_t bos = spm.bos_id();
  const std::vector<int32_t> body = spm.encode("[INST] Hi [/INST]", false);
  std::vector<int32_t> want = {bos};
  want.insert(want.end(), body.begin(), body.end());
  EXPECT_EQ(spm.encode_chat_prompt("[INST] Hi [/INST]"), want);
  EXPECT_EQ(spm.encode_chat_prompt("<s>[INST] Hi [/INST]"),
            spm.encode("<s>[INST] Hi [/INST]", false));
  EXPECT_EQ(spm.encode_chat_prompt("<s>[INST] Hi [/INST]").front(), bos);
  EXPECT_EQ(spm.encode_chat_prompt(""), std::vector<int32_t>{bos});
  // Qwen adds no BOS: the prompt is encoded as it is, special tokens parsed.
  fs::path dir = testdata() / "tokenizers" / "qwen3";
  REQUIRE_FILE(dir / "tokenizer.json");
  Tokenizer qwen = Tokenizer::from_hf(dir.string());
  EXPECT_EQ(qwen.encode_chat_prompt("<|im_start|>user\nHi<|im_end|>\n"),
            qwen.encode("<|im_start|>user\nHi<|im_end|>\n", false, true));
}

}  // namespace
}  // namespace kt::models
