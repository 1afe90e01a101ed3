#pragma once
// The reference files of tests/fixtures/hf (scripts/gen_hf_fixtures.py): token ids, a prompt
// and its greedy continuation, and transformers' log-probabilities of every vocabulary entry at
// every position (float32, base64). Shared by the CPU and CUDA fixture tests.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kt::test {

inline std::vector<uint8_t> base64_decode(const std::string& s) {
  static const std::string chars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<uint8_t> out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') break;
    const size_t v = chars.find(c);
    if (v == std::string::npos) continue;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(uint8_t(acc >> bits));
    }
  }
  return out;
}

struct Reference {
  std::vector<int32_t> tokens, prompt, greedy;
  std::vector<float> logprobs;  // tokens.size() x vocab
  int64_t vocab = 0;
};

inline Reference load_reference(const std::string& dir) {
  std::ifstream f(dir + "/reference.json");
  const auto j = nlohmann::json::parse(f);
  Reference r;
  r.tokens = j["tokens"].get<std::vector<int32_t>>();
  r.prompt = j["prompt"].get<std::vector<int32_t>>();
  r.greedy = j["greedy"].get<std::vector<int32_t>>();
  r.vocab = j["vocab"].get<int64_t>();
  const auto bytes = base64_decode(j["logprobs_f32_b64"].get<std::string>());
  r.logprobs.resize(bytes.size() / 4);
  std::memcpy(r.logprobs.data(), bytes.data(), bytes.size());
  return r;
}

}  // namespace kt::test
