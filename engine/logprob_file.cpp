#include "engine/logprob_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <numeric>

#include "tensor/error.h"

namespace kt::engine {
namespace {

constexpr char kMagic[8] = {'K', 'T', 'L', 'O', 'G', 'P', '0', '1'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 40;

template <class T>
void put(std::vector<uint8_t>& b, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  b.insert(b.end(), p, p + sizeof v);
}

template <class T>
T get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

double log_sum_exp(std::span<const float> logits) {
  const float mx = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(double(l) - mx);
  return mx + std::log(sum);
}

LogProbRecord make_record(std::span<const float> logits, int32_t next, uint32_t top_k) {
  const double lse = log_sum_exp(logits);
  const uint32_t n = uint32_t(logits.size());
  top_k = std::min(top_k, n);
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  auto before = [&](uint32_t a, uint32_t b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  };
  std::partial_sort(order.begin(), order.begin() + top_k, order.end(), before);
  LogProbRecord r;
  r.logp_next = float(double(logits[size_t(next)]) - lse);
  const float mx = logits[order[0]];
  double rest = 0;  // the tail summed directly, not as 1 - top: no cancellation
  for (uint32_t i = top_k; i < n; ++i) rest += std::exp(double(logits[order[i]]) - mx);
  r.logp_rest =
      rest > 0 ? float(std::log(rest) + mx - lse) : -std::numeric_limits<float>::infinity();
  for (uint32_t i = 0; i < top_k; ++i) {
    r.ids.push_back(order[i]);
    r.logps.push_back(float(double(logits[order[i]]) - lse));
  }
  return r;
}

LogProbWriter::LogProbWriter(const std::string& path, const LogProbHeader& h,
                             std::span<const int32_t> tokens)
    : path_(path), h_(h), out_(path, std::ios::binary | std::ios::trunc) {
  if (!out_) throw Error(path + ": cannot open for writing");
  if (tokens.size() != size_t(h.n_chunk) * h.n_ctx)
    throw Error(path + ": " + std::to_string(tokens.size()) + " tokens for " +
                std::to_string(h.n_chunk) + " chunks of " + std::to_string(h.n_ctx));
  std::vector<uint8_t> b(kMagic, kMagic + 8);
  for (uint32_t v : {kVersion, h.n_vocab, h.n_ctx, h.n_chunk, h.top_k}) put(b, v);
  put(b, h.bos);
  put(b, uint32_t(0));
  put(b, uint32_t(0));
  out_.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  out_.write(reinterpret_cast<const char*>(tokens.data()), std::streamsize(tokens.size_bytes()));
  if (!out_) throw Error(path + ": write failed");
}

void LogProbWriter::write(const LogProbRecord& r) {
  std::vector<uint8_t> b;
  b.reserve(h_.record_bytes());
  put(b, r.logp_next);
  put(b, r.logp_rest);
  for (size_t i = 0; i < h_.top_k; ++i) {
    put(b, r.ids.at(i));
    put(b, r.logps.at(i));
  }
  out_.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  if (!out_) throw Error(path_ + ": write failed (disk full?)");
  ++n_records_;
}

void LogProbWriter::finish() {
  out_.flush();
  if (!out_) throw Error(path_ + ": write failed (disk full?)");
  if (n_records_ != size_t(h_.n_chunk) * h_.scored_per_chunk())
    throw Error(path_ + ": " + std::to_string(n_records_) + " records written, header promises " +
                std::to_string(size_t(h_.n_chunk) * h_.scored_per_chunk()));
  out_.close();
}

LogProbReader::LogProbReader(const std::string& path) : path_(path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(path + ": no such file (expected log-probs written by --save-logits)");
  const uint64_t size = std::filesystem::file_size(path, ec);
  in_.open(path, std::ios::binary);
  uint8_t hb[kHeaderBytes];
  if (!in_ || size < kHeaderBytes || !in_.read(reinterpret_cast<char*>(hb), kHeaderBytes) ||
      std::memcmp(hb, kMagic, 8) != 0)
    throw Error(path + ": not a kt log-prob file (written by kt perplexity --save-logits)");
  if (const uint32_t v = get<uint32_t>(hb + 8); v != kVersion)
    throw Error(path + ": log-prob file version " + std::to_string(v) + ", this kt reads " +
                std::to_string(kVersion));
  h_.n_vocab = get<uint32_t>(hb + 12);
  h_.n_ctx = get<uint32_t>(hb + 16);
  h_.n_chunk = get<uint32_t>(hb + 20);
  h_.top_k = get<uint32_t>(hb + 24);
  h_.bos = get<int32_t>(hb + 28);
  if (h_.n_vocab == 0 || h_.n_ctx < 3 || h_.n_ctx > (1u << 24) || h_.n_chunk == 0 ||
      h_.top_k == 0 || h_.top_k > h_.n_vocab || h_.bos >= int64_t(h_.n_vocab))
    throw Error(path + ": implausible header (n_vocab " + std::to_string(h_.n_vocab) + ", n_ctx " +
                std::to_string(h_.n_ctx) + ", n_chunk " + std::to_string(h_.n_chunk) + ", top_k " +
                std::to_string(h_.top_k) + ")");
  const uint64_t n_tok = uint64_t(h_.n_chunk) * h_.n_ctx;
  const uint64_t want =
      kHeaderBytes + 4 * n_tok + uint64_t(h_.n_chunk) * h_.scored_per_chunk() * h_.record_bytes();
  if (size != want)
    throw Error(path + ": " + std::to_string(size) + " bytes, the header implies " +
                std::to_string(want) + " (truncated or damaged)");
  tokens_.resize(size_t(n_tok));
  in_.read(reinterpret_cast<char*>(tokens_.data()), std::streamsize(n_tok * 4));
  for (int32_t t : tokens_)
    if (t < 0 || uint32_t(t) >= h_.n_vocab)
      throw Error(path + ": token id " + std::to_string(t) + " outside the vocabulary of " +
                  std::to_string(h_.n_vocab));
  buf_.resize(h_.record_bytes());
}

LogProbRecord LogProbReader::read() {
  if (!in_.read(reinterpret_cast<char*>(buf_.data()), std::streamsize(buf_.size())))
    throw Error(path_ + ": read failed past the last record");
  LogProbRecord r;
  r.logp_next = get<float>(buf_.data());
  r.logp_rest = get<float>(buf_.data() + 4);
  r.ids.resize(h_.top_k);
  r.logps.resize(h_.top_k);
  for (size_t i = 0; i < h_.top_k; ++i) {
    r.ids[i] = get<uint32_t>(buf_.data() + 8 + 8 * i);
    r.logps[i] = get<float>(buf_.data() + 12 + 8 * i);
    if (r.ids[i] >= h_.n_vocab)
      throw Error(path_ + ": record holds token id " + std::to_string(r.ids[i]) +
                  " outside the vocabulary of " + std::to_string(h_.n_vocab));
  }
  return r;
}

}  // namespace kt::engine
