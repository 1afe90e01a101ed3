// Rank-based BPE (GPT-2, Llama 3, Qwen, DeepSeek and HF character BPE): each word starts as
// single units (bytes or characters); the adjacent pair with the lowest merge rank is merged,
// the leftmost first among equal pairs, until no pair has a merge. This is the order of
// Hugging Face `tokenizers` (Word::merge_all) and of llama.cpp.
#include <algorithm>
#include <unordered_map>

#include "models/tokenizer_impl.h"
#include "models/utf8.h"

namespace kt::models {

void MergeMap::reserve(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  if (cap <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(cap, Slot{});
  mask_ = cap - 1;
  size_ = 0;
  for (const Slot& s : old) {
    if (s.key != kEmpty) insert(int32_t(s.key >> 32), int32_t(uint32_t(s.key)), s.value);
  }
}

void MergeMap::grow() {
  reserve(std::max<size_t>(16, size_ * 2));
}

void MergeMap::insert(int32_t left, int32_t right, Value v) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  size_t i = hash(key) & mask_;
  while (slots_[i].key != kEmpty) {
    if (slots_[i].key == key) return;
    i = (i + 1) & mask_;
  }
  slots_[i].key = key;
  slots_[i].value = v;
  ++size_;
}

namespace {

struct Symbol {
  int32_t id;  // -1: a unit with no token (never merges)
  int32_t prev, next;
  uint32_t begin, len;
};

struct Candidate {
  int32_t rank;
  int32_t left, right;
  int32_t left_id, right_id, result;
};

// Min-heap order: lowest rank first, then leftmost.
struct CandidateAfter {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  }
};

}  // namespace

struct BpeScratch {
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  std::vector<int32_t> word_ids;
  // Words repeat a lot in real text; remembering their ids for the length of one encode()
  // call roughly halves the time on prose and code.
  std::unordered_map<std::string_view, std::pair<uint32_t, uint32_t>> cache;
  std::vector<int32_t> cached_ids;
};

BpeWordEncoder::BpeWordEncoder(const Tokenizer::Impl& impl)
    : impl_(impl), s_(std::make_unique<BpeScratch>()) {}
BpeWordEncoder::~BpeWordEncoder() = default;

void BpeWordEncoder::encode(std::string_view word, std::vector<int32_t>& out) {
  if (word.empty()) return;
  const bool byte_units = impl_.kind == TokenizerKind::kByteLevelBpe;
  if (byte_units && word.size() == 1) {
    int32_t id = impl_.byte_ids[uint8_t(word[0])];
    if (id >= 0) out.push_back(id);
    return;
  }
  // The cache key views the caller's text, which outlives this encoder.
  constexpr size_t kMaxCachedWord = 64;
  if (word.size() <= kMaxCachedWord) {
    auto it = s_->cache.find(word);
    if (it != s_->cache.end()) {
      out.insert(out.end(), s_->cached_ids.begin() + it->second.first,
                 s_->cached_ids.begin() + it->second.first + it->second.second);
      return;
    }
  }
  if (impl_.ignore_merges) {
    auto it = impl_.model_vocab.find(word);
    if (it != impl_.model_vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }

  auto& syms = s_->symbols;
  auto& heap = s_->heap;
  syms.clear();
  heap.clear();
  // Initial units.
  for (size_t pos = 0; pos < word.size();) {
    size_t len = 1;
    int32_t id;
    if (byte_units) {
      id = impl_.byte_ids[uint8_t(word[pos])];
    } else {
      uint32_t cp;
      len = utf8::decode(word, pos, &cp);
      if (len == 0) len = 1;  // cannot happen for sanitized text; stay safe
      auto it = impl_.model_vocab.find(word.substr(pos, len));
      id = it == impl_.model_vocab.end() ? -1 : it->second;
    }
    int32_t idx = int32_t(syms.size());
    syms.push_back({id, idx - 1, idx + 1, uint32_t(pos), uint32_t(len)});
    pos += len;
  }
  syms.back().next = -1;

  auto try_pair = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const MergeMap::Value* m = impl_.merges.find(syms[l].id, syms[r].id);
    if (!m) return;
    heap.push_back({m->rank, l, r, syms[l].id, syms[r].id, m->id});
    std::push_heap(heap.begin(), heap.end(), CandidateAfter{});
  };
  for (int32_t i = 0; i + 1 < int32_t(syms.size()); ++i) try_pair(i, i + 1);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), CandidateAfter{});
    Candidate c = heap.back();
    heap.pop_back();
    Symbol& l = syms[c.left];
    Symbol& r = syms[c.right];
    // Stale: one side was merged away or changed since the candidate was queued.
    if (l.len == 0 || r.len == 0 || l.next != c.right || l.id != c.left_id || r.id != c.right_id) {
      continue;
    }
    l.id = c.result;
    l.len += r.len;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = c.left;
    r.len = 0;
    try_pair(l.prev, c.left);
    try_pair(c.left, l.next);
  }

  size_t start = out.size();
  for (int32_t i = 0; i >= 0; i = syms[i].next) {
    const Symbol& sym = syms[i];
    if (sym.id >= 0) {
      out.push_back(sym.id);
      continue;
    }
    // A unit without a token: byte fallback (<0xXX> per byte), else the unknown token (fused
    // with a preceding one when the model says so), else dropped as llama.cpp and HF do.
    if (impl_.byte_fallback) {
      bool all = true;
      for (uint32_t k = 0; k < sym.len; ++k)
        all = all && impl_.byte_ids[uint8_t(word[sym.begin + k])] >= 0;
      if (all) {
        for (uint32_t k = 0; k < sym.len; ++k)
          out.push_back(impl_.byte_ids[uint8_t(word[sym.begin + k])]);
        continue;
      }
    }
    if (impl_.unk >= 0) {
      if (!(impl_.fuse_unk && out.size() > start && out.back() == impl_.unk))
        out.push_back(impl_.unk);
    }
  }

  if (word.size() <= kMaxCachedWord) {
    uint32_t off = uint32_t(s_->cached_ids.size());
    s_->cached_ids.insert(s_->cached_ids.end(), out.begin() + start, out.end());
    s_->cache.emplace(word, std::make_pair(off, uint32_t(out.size() - start)));
  }
}

}  // namespace kt::models
