// SentencePiece-style BPE (Llama 2, Phi-3 GGUF files, tokenizer.ggml.model = "llama"): the text
// (spaces already U+2581) starts as single characters; repeatedly the adjacent pair whose
// concatenation is the vocabulary entry with the highest score is merged, the leftmost first
// among equal scores. A character with no entry is written as its UTF-8 bytes through the
// <0xXX> byte tokens. This is llama.cpp's llm_tokenizer_spm, which matches SentencePiece on
// the reference vectors.
#include <algorithm>
#include <unordered_map>

#include "models/tokenizer_impl.h"
#include "models/utf8.h"

namespace kt::models {
namespace {

struct Symbol {
  int32_t prev, next;
  uint32_t begin, len;
};

struct Bigram {
  float score;
  int32_t left, right;
  uint32_t size;
  int32_t id;
};

// Max-heap order: highest score first, then leftmost.
struct BigramBefore {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score != b.score ? a.score < b.score : a.left > b.left;
  }
};

}  // namespace

namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";

void encode_segment(const Tokenizer::Impl& impl, std::string_view text, std::vector<int32_t>& out) {
  if (text.empty()) return;
  std::vector<Symbol> syms;
  syms.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    uint32_t cp;
    size_t len = utf8::decode(text, pos, &cp);
    if (len == 0) len = 1;  // sanitized input never gets here
    int32_t idx = int32_t(syms.size());
    syms.push_back({idx - 1, idx + 1, uint32_t(pos), uint32_t(len)});
    pos += len;
  }
  syms.back().next = -1;

  std::vector<Bigram> heap;
  auto try_pair = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    std::string_view s = text.substr(syms[l].begin, syms[l].len + syms[r].len);
    auto it = impl.model_vocab.find(s);
    if (it == impl.model_vocab.end()) return;
    heap.push_back({impl.tokens[it->second].score, l, r, uint32_t(s.size()), it->second});
    std::push_heap(heap.begin(), heap.end(), BigramBefore{});
  };
  for (int32_t i = 0; i + 1 < int32_t(syms.size()); ++i) try_pair(i, i + 1);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), BigramBefore{});
    Bigram b = heap.back();
    heap.pop_back();
    Symbol& l = syms[b.left];
    Symbol& r = syms[b.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.size) continue;  // stale
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    try_pair(l.prev, b.left);
    try_pair(b.left, l.next);
  }

  for (int32_t i = 0; i >= 0; i = syms[i].next) {
    std::string_view s = text.substr(syms[i].begin, syms[i].len);
    auto it = impl.model_vocab.find(s);
    if (it != impl.model_vocab.end()) {
      out.push_back(it->second);
      continue;
    }
    for (char c : s) {
      int32_t id = impl.byte_ids[uint8_t(c)];
      if (id >= 0) {
        out.push_back(id);
      } else if (impl.unk >= 0) {
        out.push_back(impl.unk);
      }
    }
  }
}

}  // namespace

bool spm_words_are_independent(const Tokenizer::Impl& impl) {
  for (const auto& [text, id] : impl.model_vocab) {
    for (size_t at = text.find(kSpace, 1); at != std::string::npos;
         at = text.find(kSpace, at + 1)) {
      if (at < kSpace.size() || text.compare(at - kSpace.size(), kSpace.size(), kSpace) != 0) {
        return false;
      }
    }
  }
  return true;
}

void spm_encode(const Tokenizer::Impl& impl, std::string_view text, std::vector<int32_t>& out) {
  if (!impl.spm_split_words) {
    encode_segment(impl, text, out);
    return;
  }
  // No token holds a ▁ after another character, so no merge crosses the start of a word (a run
  // of ▁ after other text): the words can be merged one by one, and a repeated word reuses
  // its ids. The result is the same as merging the whole text at once.
  std::unordered_map<std::string_view, std::pair<uint32_t, uint32_t>> cache;
  std::vector<int32_t> cached;
  size_t start = 0;
  auto flush = [&](size_t end) {
    std::string_view word = text.substr(start, end - start);
    start = end;
    if (word.empty()) return;
    auto it = cache.find(word);
    if (it != cache.end()) {
      out.insert(out.end(), cached.begin() + it->second.first,
                 cached.begin() + it->second.first + it->second.second);
      return;
    }
    size_t first = out.size();
    encode_segment(impl, word, out);
    cache.emplace(word, std::make_pair(uint32_t(cached.size()), uint32_t(out.size() - first)));
    cached.insert(cached.end(), out.begin() + first, out.end());
  };
  for (size_t at = text.find(kSpace, 1); at != std::string_view::npos;
       at = text.find(kSpace, at + 1)) {
    bool after_space =
        at >= kSpace.size() && text.compare(at - kSpace.size(), kSpace.size(), kSpace) == 0;
    if (!after_space) flush(at);
  }
  flush(text.size());
}

}  // namespace kt::models
