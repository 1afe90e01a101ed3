#pragma once
// Reference log-probabilities for KL-divergence runs: `kt perplexity --save-logits FILE` writes
// them for a reference model (say F16), `--kl-base FILE` compares another model (say Q4_K_M)
// against them without the reference model in memory.
//
// llama.cpp stores every vocabulary entry quantized to 16 bits (2 x n_vocab bytes per scored
// token: 300 KB at a 150k vocabulary). kt keeps the top_k log-probs exactly (f32) plus the
// log of the probability mass of all other tokens. KL(base || model) is then computed over
// top_k + 1 outcomes (each top token, and "any other"): exact when top_k = n_vocab, otherwise
// a lower bound that misses only how the model redistributes the tail mass among tail tokens
// (with top_k = 256 that mass is usually below 1e-3). The reference PPL stays exact: the
// log-prob of the actual next token is stored separately.
//
// Layout, little-endian:
//   header, 40 bytes:
//     char[8] magic "KTLOGP01"
//     u32 version      1
//     u32 n_vocab      vocabulary of the reference model
//     u32 n_ctx        tokens per chunk
//     u32 n_chunk      chunks in the file
//     u32 top_k        log-probs kept per scored token, 1..n_vocab
//     i32 bos          token that replaced the first of every chunk, -1 for none
//     u32 reserved[2]  0
//   tokens: i32[n_chunk * n_ctx], the text as tokenized (before the BOS replacement)
//   records: for every chunk, for every scored position j in [n_ctx/2, n_ctx - 1) (which
//   predicts token j + 1: n_ctx - 1 - n_ctx/2 records per chunk), 8 + 8 * top_k bytes:
//     f32 logp_next    log-prob of the actual next token
//     f32 logp_rest    log of the mass outside the top_k tokens; -inf when there is none
//     top_k x { u32 id, f32 logp }, by descending log-prob (ties: lower id first)
#include <cstdint>
#include <fstream>
#include <span>
#include <string>
#include <vector>

namespace kt::engine {

struct LogProbHeader {
  uint32_t n_vocab = 0;
  uint32_t n_ctx = 0;
  uint32_t n_chunk = 0;
  uint32_t top_k = 0;
  int32_t bos = -1;

  uint32_t first_scored() const { return n_ctx / 2; }  // llama.cpp's convention
  uint32_t scored_per_chunk() const { return n_ctx - 1 - n_ctx / 2; }
  size_t record_bytes() const { return 8 + 8 * size_t(top_k); }
};

// One scored position of the reference.
struct LogProbRecord {
  float logp_next = 0;
  float logp_rest = 0;
  std::vector<uint32_t> ids;  // top_k, by descending log-prob
  std::vector<float> logps;
};

// log-softmax of `logits` in double (lse = max + log sum exp(l - max)); the log-prob of token
// i is then float(logits[i] - lse). One function for both sides of a comparison, so that a
// model against its own saved log-probs gives KL exactly 0.
double log_sum_exp(std::span<const float> logits);

// The record of one position: top_k entries (ties by lower id) and the tail mass.
LogProbRecord make_record(std::span<const float> logits, int32_t next, uint32_t top_k);

class LogProbWriter {
 public:
  // Writes the header and tokens (n_chunk * n_ctx of them). Throws kt::Error naming the path.
  LogProbWriter(const std::string& path, const LogProbHeader& h, std::span<const int32_t> tokens);
  void write(const LogProbRecord& r);
  // Flushes and checks that exactly the announced number of records was written.
  void finish();

 private:
  std::string path_;
  LogProbHeader h_;
  std::ofstream out_;
  size_t n_records_ = 0;
};

class LogProbReader {
 public:
  // Reads and checks the header and the tokens, and that the file size matches them. Throws
  // kt::Error naming the path and what is wrong.
  explicit LogProbReader(const std::string& path);
  const LogProbHeader& header() const { return h_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  const std::string& path() const { return path_; }
  // The next record, in file order.
  LogProbRecord read();

 private:
  std::string path_;
  LogProbHeader h_;
  std::vector<int32_t> tokens_;
  std::ifstream in_;
  std::vector<uint8_t> buf_;
};

}  // namespace kt::engine
