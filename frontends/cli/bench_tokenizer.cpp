#include "frontends/cli/bench_tokenizer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <sstream>

#include "models/tokenizer.h"
#include "tensor/error.h"

namespace kt::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The repository root: the working directory or an ancestor of the kt binary's folder.
fs::path find_source_root() {
  std::error_code ec;
  std::vector<fs::path> candidates{fs::current_path(ec)};
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (fs::path p = exe.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) {
      candidates.push_back(p);
    }
  }
  for (const fs::path& c : candidates) {
    if (fs::exists(c / "models" / "tokenizer.h", ec)) return c;
  }
  return {};
}

// A deterministic English + code text for when no sources are at hand.
std::string synthetic_text() {
  static const char* words[] = {"the",    "model",  "token", "expert", "layer", "weights",
                                "memory", "kernel", "cache", "prompt", "of",    "and",
                                "is",     "a",      "with",  "for",    "to",    "in"};
  std::string s;
  uint32_t x = 12345;
  for (int line = 0; line < 2000; ++line) {
    for (int w = 0; w < 12; ++w) {
      x = x * 1103515245u + 12345u;
      s += words[(x >> 16) % (sizeof words / sizeof *words)];
      s += w == 11 ? ".\n" : " ";
    }
    s += "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }  // " + std::to_string(x % 100000) +
         "\n";
  }
  return s;
}

std::string build_text(const BenchTokenizerOptions& opt, const fs::path& root,
                       const fs::path& testdata, std::string* origin) {
  std::string base;
  if (!opt.text_file.empty()) {
    if (!fs::exists(opt.text_file)) throw Error(opt.text_file + ": cannot open file");
    base = slurp(opt.text_file);
    *origin = opt.text_file;
  } else {
    std::vector<fs::path> files;
    std::error_code ec;
    if (!root.empty()) {
      for (const char* dir :
           {"models", "tensor", "backends", "inject", "engine", "frontends", "scripts", "tests"}) {
        if (!fs::is_directory(root / dir, ec)) continue;
        for (auto it = fs::recursive_directory_iterator(root / dir, ec);
             it != fs::recursive_directory_iterator(); it.increment(ec)) {
          if (ec) break;
          std::string ext = it->path().extension().string();
          if (it->is_regular_file() && (ext == ".cpp" || ext == ".h" || ext == ".py" ||
                                        ext == ".md" || ext == ".cu" || ext == ".txt")) {
            files.push_back(it->path());
          }
        }
      }
      for (const char* f : {"README.md", "DESIGN.md"}) {
        if (fs::exists(root / f, ec)) files.push_back(root / f);
      }
    }
    if (!testdata.empty() && fs::is_directory(testdata / "vocab", ec)) {
      for (const auto& e : fs::directory_iterator(testdata / "vocab", ec)) {
        if (e.path().extension() == ".inp") files.push_back(e.path());
      }
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      base += slurp(f);
      base += '\n';
    }
    *origin = files.empty() ? "synthetic" : std::to_string(files.size()) + " source/test files";
    if (base.empty()) base = synthetic_text();
  }
  const size_t want = size_t(std::max(0.01, opt.mb) * 1e6);
  std::string text;
  text.reserve(want + base.size());
  while (text.size() < want) text += base;
  return text;
}

// Chunks of about `chunk` bytes, cut after a newline so no character is split.
std::vector<std::string_view> chunks_of(std::string_view text, size_t chunk) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = std::min(text.size(), pos + std::max<size_t>(chunk, 1));
    size_t nl = text.find('\n', end);
    end = nl == std::string_view::npos ? text.size() : nl + 1;
    out.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

std::vector<std::string> default_models(const fs::path& testdata) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const char* name : {"gpt-2", "deepseek-llm", "deepseek-coder", "llama-spm", "phi-3"}) {
    fs::path p = testdata / "vocab" / (std::string("ggml-vocab-") + name + ".gguf");
    if (fs::exists(p, ec)) out.push_back(p.string());
  }
  for (const char* name : {"qwen3", "deepseek_v3", "llama3"}) {
    fs::path p = testdata / "tokenizers" / name;
    if (fs::exists(p / "tokenizer.json", ec)) out.push_back(p.string());
  }
  return out;
}

}  // namespace

nlohmann::json run_bench_tokenizer(const BenchTokenizerOptions& opt) {
  fs::path root = find_source_root();
  fs::path testdata = opt.testdata;
  if (testdata.empty() && !root.empty()) testdata = root / ".." / "shared" / "testdata";
  std::vector<std::string> models = opt.models.empty() ? default_models(testdata) : opt.models;
  if (models.empty()) {
    throw Error("bench tokenizer: no tokenizer given (-m) and none found in " + testdata.string());
  }
  std::string origin;
  const std::string text = build_text(opt, root, testdata, &origin);
  const std::vector<std::string_view> chunks = chunks_of(text, opt.chunk);
  const double mb = double(text.size()) / 1e6;

  nlohmann::json doc;
  doc["text_bytes"] = text.size();
  doc["text_source"] = origin;
  doc["chunk_bytes"] = opt.chunk;
  doc["threads"] = 1;
  doc["results"] = nlohmann::json::array();
  if (!opt.json) {
    std::printf("text: %.2f MB from %s, encoded in chunks of %zu bytes, one thread, best of %d\n",
                mb, origin.c_str(), opt.chunk, opt.reps);
    std::printf("%-44s %-10s %7s %10s %9s %11s %11s %11s\n", "tokenizer", "kind", "load s",
                "tokens", "bytes/tok", "encode MB/s", "decode MB/s", "stream MB/s");
  }
  for (const std::string& path : models) {
    auto t0 = Clock::now();
    models::Tokenizer tok = models::Tokenizer::from_path(path);
    double load_s = seconds_since(t0);

    std::vector<int32_t> ids;
    double enc_s = 1e30, dec_s = 1e30, stream_s = 1e30;
    size_t decoded_bytes = 0;
    for (int r = 0; r < std::max(1, opt.reps); ++r) {
      ids.clear();
      std::vector<size_t> ends;  // where each chunk's ids end
      t0 = Clock::now();
      for (std::string_view c : chunks) {
        std::vector<int32_t> part = tok.encode(c, false, false);
        ids.insert(ids.end(), part.begin(), part.end());
        ends.push_back(ids.size());
      }
      enc_s = std::min(enc_s, seconds_since(t0));
      if (r == 0) {
        // Untimed: every chunk must decode back to itself (chunk by chunk, since an SPM
        // tokenizer puts a space before each encoded text and takes it off at the start).
        size_t begin = 0;
        for (size_t i = 0; i < chunks.size(); ++i) {
          std::span<const int32_t> part(ids.data() + begin, ends[i] - begin);
          std::string expect(chunks[i]);
          if (tok.kind() != models::TokenizerKind::kByteLevelBpe) {
            // SentencePiece writes spaces as U+2581, so a U+2581 in the text reads back as " ".
            for (size_t at = 0; (at = expect.find("\xE2\x96\x81", at)) != std::string::npos;) {
              expect.replace(at, 3, 1, ' ');
            }
          }
          if (tok.decode(part) != expect) {
            std::fprintf(stderr, "bench tokenizer: %s: chunk %zu does not decode to itself\n",
                         path.c_str(), i);
          }
          begin = ends[i];
        }
      }

      t0 = Clock::now();
      std::string back = tok.decode(ids);
      dec_s = std::min(dec_s, seconds_since(t0));
      decoded_bytes = back.size();

      t0 = Clock::now();
      models::StreamDecoder sd(tok);
      size_t streamed = 0;
      for (int32_t id : ids) streamed += sd.push(id).size();
      streamed += sd.flush().size();
      stream_s = std::min(stream_s, seconds_since(t0));
      (void)streamed;
    }
    const char* kind = tok.kind() == models::TokenizerKind::kSpm            ? "spm"
                       : tok.kind() == models::TokenizerKind::kByteLevelBpe ? "byte-bpe"
                                                                            : "char-bpe";
    nlohmann::json r;
    r["tokenizer"] = path;
    r["kind"] = kind;
    r["pre"] = tok.pre_name();
    r["load_s"] = load_s;
    r["tokens"] = ids.size();
    r["encode_mb_s"] = mb / enc_s;
    r["decode_mb_s"] = double(decoded_bytes) / 1e6 / dec_s;
    r["stream_decode_mb_s"] = double(decoded_bytes) / 1e6 / stream_s;
    doc["results"].push_back(r);
    if (!opt.json) {
      std::string name = path;
      if (name.size() > 44) name.replace(0, name.size() - 41, "...");
      std::printf("%-44s %-10s %7.2f %10zu %9.2f %11.2f %11.1f %11.1f\n", name.c_str(), kind,
                  load_s, ids.size(), double(text.size()) / double(std::max<size_t>(1, ids.size())),
                  mb / enc_s, double(decoded_bytes) / 1e6 / dec_s,
                  double(decoded_bytes) / 1e6 / stream_s);
      std::fflush(stdout);
    }
  }
  if (opt.json) std::printf("%s\n", doc.dump(2).c_str());
  return doc;
}

void add_bench_tokenizer_command(CLI::App* bench) {
  auto opt = std::make_shared<BenchTokenizerOptions>();
  CLI::App* cmd = bench->add_subcommand(
      "tokenizer", "Tokenizer encode/decode throughput (MB/s, one thread) per tokenizer");
  cmd->add_option("-m,--model", opt->models,
                  "GGUF file, HF folder or tokenizer.json (repeatable; default: all in testdata)");
  cmd->add_option("--text", opt->text_file, "Benchmark on this file (repeated to --mb)");
  cmd->add_option("--testdata", opt->testdata, "shared/testdata folder");
  cmd->add_option("--mb", opt->mb, "Size of the benchmark text in MB (default 8)");
  cmd->add_option("--chunk", opt->chunk, "Bytes per encode() call (default 65536)");
  cmd->add_option("--reps", opt->reps, "Repetitions; the best is reported (default 3)");
  cmd->add_flag("--json", opt->json, "Print JSON");
  cmd->callback([opt] { run_bench_tokenizer(*opt); });
}

}  // namespace kt::cli
