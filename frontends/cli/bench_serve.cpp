#include "frontends/cli/bench_serve.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <thread>

// Debian's libcpp-httplib.so is built with these; the header's classes must be laid out as the
// library's are, so every file that includes it defines the same.
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#endif
#include <httplib.h>

#include "tensor/error.h"

namespace kt::cli {

// ---- small pieces (declared in the header, so they can be tested) ----

ServeUrl parse_serve_url(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return Error("bench serve: bad --url '" + url + "': " + why +
                 " (expected http://HOST[:PORT][/PATH])");
  };
  std::string rest = url;
  size_t scheme_end = rest.find("://");
  if (scheme_end != std::string::npos) {
    std::string scheme = rest.substr(0, scheme_end);
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    if (scheme == "https") throw bad("https is not supported (no TLS); use http://");
    if (scheme != "http") throw bad("unknown scheme '" + scheme + "'");
    rest = rest.substr(scheme_end + 3);
  }
  ServeUrl out;
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash);
  if (path.find_first_of("?#") != std::string::npos)
    throw bad("a query or fragment is not allowed");
  std::string port;
  if (!hostport.empty() && hostport[0] == '[') {  // [IPv6]:port
    size_t close = hostport.find(']');
    if (close == std::string::npos) throw bad("unclosed '[' in the host");
    out.host = hostport.substr(1, close - 1);
    std::string after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') throw bad("unexpected text after the host");
      port = after.substr(1);
      if (port.empty()) throw bad("empty port");
    }
  } else {
    size_t colon = hostport.find(':');
    out.host = hostport.substr(0, colon);
    if (colon != std::string::npos) {
      port = hostport.substr(colon + 1);
      if (port.empty()) throw bad("empty port");
    }
  }
  if (out.host.empty()) throw bad("no host");
  if (out.host.find('@') != std::string::npos) throw bad("user info is not supported");
  if (!port.empty()) {
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); })) {
      throw bad("port '" + port + "' is not a number");
    }
    out.port = std::stoi(port);
    if (out.port < 1 || out.port > 65535) throw bad("port " + port + " is out of range");
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.size() >= 3 && path.compare(path.size() - 3, 3, "/v1") == 0) {
    path.resize(path.size() - 3);
  }
  out.base_path = path;
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = std::clamp(p, 0.0, 100.0) / 100.0 * double(v.size() - 1);
  const size_t lo = size_t(std::floor(pos));
  const size_t hi = std::min(v.size() - 1, lo + 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

double mean_of(const std::vector<double>& v) {
  if (v.empty()) return 0;
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

LatencySummary summarize(const std::vector<double>& v) {
  return {mean_of(v), percentile(v, 50), percentile(v, 99)};
}

void SseParser::feed(std::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t nl = bytes.find('\n', pos);
    if (nl == std::string_view::npos) {
      buf_.append(bytes.substr(pos));
      return;
    }
    std::string_view piece = bytes.substr(pos, nl - pos);
    pos = nl + 1;
    if (!buf_.empty()) {
      buf_.append(piece);
      std::string l = std::move(buf_);
      buf_.clear();
      line(l);
    } else {
      line(piece);
    }
  }
}

void SseParser::finish() {
  if (!buf_.empty()) {
    std::string l = std::move(buf_);
    buf_.clear();
    line(l);
  }
  line("");
}

void SseParser::line(std::string_view l) {
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  if (l.empty()) {  // the blank line that ends an event
    if (has_data_) {
      std::string d = std::move(data_);
      data_.clear();
      has_data_ = false;
      on_data_(d);
    }
    return;
  }
  if (l[0] == ':') return;  // a comment (keep-alive ping)
  size_t colon = l.find(':');
  std::string_view field = l.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? "" : l.substr(colon + 1);
  if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  if (field != "data") return;  // event:, id:, retry: do not matter here
  if (has_data_) data_ += '\n';
  data_.append(value);
  has_data_ = true;
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::string clip(std::string_view s, size_t n = 300) {
  std::string out(s.substr(0, n));
  if (s.size() > n) out += "...";
  return out;
}

// "http://host:port", without the base path.
std::string origin_of(const ServeUrl& u) {
  std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  return "http://" + host + ":" + std::to_string(u.port);
}

// httplib's error names, as a reader wants them.
std::string describe(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
      return "connection failed (refused or unreachable)";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    case httplib::Error::Read:
      return "read failed (connection closed or timed out)";
    case httplib::Error::Write:
      return "write failed (connection closed)";
    case httplib::Error::Canceled:
      return "canceled";
    default:
      return "HTTP client error " + httplib::to_string(e);
  }
}

httplib::Headers request_headers(const BenchServeOptions& opt) {
  httplib::Headers h{{"Accept-Encoding", "identity"}};
  if (!opt.api_key.empty()) h.emplace("Authorization", "Bearer " + opt.api_key);
  return h;
}

// The message of an error body ({"error": {"message": ...}} or {"error": "..."}), else the text.
std::string error_message(std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error")) {
    const nlohmann::json& e = j["error"];
    if (e.is_string()) return e.get<std::string>();
    if (e.is_object() && e.contains("message") && e["message"].is_string()) {
      return e["message"].get<std::string>();
    }
    return clip(e.dump());
  }
  return clip(body);
}

struct ModelInfo {
  std::string id;
  int64_t n_vocab = 0;  // 0: not given
};

ModelInfo fetch_model(const ServeUrl& u, const BenchServeOptions& opt) {
  const std::string where = origin_of(u) + u.base_path + "/v1/models";
  httplib::Client cli(u.host, u.port);
  cli.set_connection_timeout(std::chrono::seconds(10));
  cli.set_read_timeout(std::chrono::seconds(30));
  httplib::Result res = cli.Get(u.base_path + "/v1/models", request_headers(opt));
  if (!res) {
    throw Error("bench serve: cannot reach " + where + ": " + describe(res.error()) +
                " (is the server running?)");
  }
  if (res->status != 200) {
    throw Error("bench serve: GET " + where + " answered HTTP " + std::to_string(res->status) +
                ": " + error_message(res->body));
  }
  nlohmann::json j = nlohmann::json::parse(res->body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("data") || !j["data"].is_array() ||
      j["data"].empty() || !j["data"][0].is_object() || !j["data"][0].contains("id") ||
      !j["data"][0]["id"].is_string()) {
    throw Error("bench serve: GET " + where +
                " did not list a model (data[0].id): " + clip(res->body));
  }
  const nlohmann::json& m = j["data"][0];
  ModelInfo info;
  info.id = m["id"].get<std::string>();
  if (m.contains("meta") && m["meta"].is_object() && m["meta"].contains("n_vocab") &&
      m["meta"]["n_vocab"].is_number_integer()) {
    info.n_vocab = m["meta"]["n_vocab"].get<int64_t>();
  }
  return info;
}

// Words for chat prompts: common, mostly one token each.
const char* const kWords[] = {
    "the",     "of",    "and",    "to",     "in",     "is",     "was",   "that",    "for",
    "on",      "with",  "as",     "it",     "he",     "she",    "they",  "at",      "by",
    "this",    "from",  "have",   "one",    "had",    "word",   "but",   "not",     "what",
    "all",     "were",  "when",   "we",     "there",  "can",    "an",    "your",    "which",
    "their",   "said",  "if",     "do",     "will",   "each",   "about", "how",     "up",
    "out",     "them",  "then",   "many",   "some",   "so",     "these", "would",   "other",
    "into",    "has",   "more",   "her",    "two",    "like",   "him",   "see",     "time",
    "could",   "no",    "make",   "than",   "first",  "been",   "its",   "who",     "now",
    "long",    "down",  "day",    "did",    "get",    "come",   "made",  "may",     "part",
    "over",    "new",   "sound",  "take",   "only",   "little", "work",  "know",    "place",
    "year",    "live",  "back",   "give",   "most",   "very",   "after", "thing",   "our",
    "just",    "name",  "good",   "man",    "think",  "say",    "great", "where",   "help",
    "through", "much",  "before", "line",   "right",  "too",    "mean",  "old",     "any",
    "same",    "tell",  "boy",    "follow", "came",   "want",   "show",  "also",    "around",
    "form",    "three", "small",  "set",    "put",    "end",    "does",  "another", "well",
    "large",   "must",  "big",    "even",   "such",   "play",   "park",  "ball",    "tree",
    "happy",   "sun",   "dog",    "cat",    "friend", "story"};

std::string random_words(std::mt19937_64& rng, int n) {
  std::uniform_int_distribution<size_t> pick(0, sizeof kWords / sizeof *kWords - 1);
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += kWords[pick(rng)];
  }
  return s;
}

struct RequestResult {
  bool ok = false;
  std::string error;
  double ttft_s = 0, e2el_s = 0;
  std::vector<double> itl_s;
  int64_t prompt_tokens = 0, output_tokens = 0;
};

// Sends one streamed request and times its content chunks (vLLM's way: the clock starts just
// before the request is sent; E2EL ends at the last content chunk).
RequestResult send_one(httplib::Client& cli, const std::string& origin, const std::string& path,
                       const std::string& body, bool chat, int64_t default_prompt_tokens,
                       const BenchServeOptions& opt) {
  RequestResult r;
  int status = 0;
  std::string error_body;
  bool stopped = false, timed_out = false, first = false;
  int64_t content_chunks = 0, usage_prompt = -1, usage_completion = -1;
  Clock::time_point start, last_content;
  auto fail = [&](std::string msg) {
    if (r.error.empty()) r.error = std::move(msg);
    stopped = true;
  };

  SseParser sse([&](std::string_view data) {
    if (stopped) return;
    if (data == "[DONE]") return;
    nlohmann::json j = nlohmann::json::parse(data, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return fail("bad SSE data: " + clip(data));
    if (j.contains("error") && !j["error"].is_null()) {
      return fail("error in the stream: " + error_message(data));
    }
    if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty()) {
      const nlohmann::json& c = j["choices"][0];
      const nlohmann::json* text = nullptr;
      if (chat) {
        if (c.contains("delta") && c["delta"].is_object() && c["delta"].contains("content")) {
          text = &c["delta"]["content"];
        }
      } else if (c.contains("text")) {
        text = &c["text"];
      }
      if (text && text->is_string() && !text->get_ref<const std::string&>().empty()) {
        // Stamped per event, as vLLM does (events that came in one read differ by their parse).
        const Clock::time_point now = Clock::now();
        if (!first) {
          first = true;
          r.ttft_s = seconds(now - start);
        } else {
          r.itl_s.push_back(seconds(now - last_content));
        }
        last_content = now;
        ++content_chunks;
      }
    }
    if (j.contains("usage") && j["usage"].is_object()) {
      const nlohmann::json& u = j["usage"];
      if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer()) {
        usage_prompt = u["prompt_tokens"].get<int64_t>();
      }
      if (u.contains("completion_tokens") && u["completion_tokens"].is_number_integer()) {
        usage_completion = u["completion_tokens"].get<int64_t>();
      }
    }
  });

  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.headers = request_headers(opt);
  req.headers.emplace("Accept", "text/event-stream");
  req.headers.emplace("Content-Type", "application/json");
  req.body = body;
  req.response_handler = [&](const httplib::Response& res) {
    status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (status != 200) {
      if (error_body.size() < 4096) error_body.append(data, n);
    } else {
      sse.feed(std::string_view(data, n));
    }
    if (seconds(Clock::now() - start) > opt.timeout_s) {
      timed_out = true;
      return false;
    }
    return !stopped;
  };

  start = Clock::now();
  httplib::Result res = cli.send(req);
  if (res && status == 0) status = res->status;
  if (status == 200 && !stopped) sse.finish();

  if (timed_out) {
    r.error = "timed out after " + std::to_string(int(opt.timeout_s)) + " s";
  } else if (!res && r.error.empty()) {
    r.error = "POST " + origin + path + ": " + describe(res.error());
  } else if (status != 200) {
    std::string msg = error_body.empty() && res ? res->body : error_body;
    r.error = "POST " + origin + path + " answered HTTP " + std::to_string(status) +
              (msg.empty() ? "" : ": " + error_message(msg));
  } else if (r.error.empty() && content_chunks == 0) {
    r.error = "the stream held no content";
  }
  if (!r.error.empty()) return r;
  r.ok = true;
  r.e2el_s = seconds(last_content - start);
  r.output_tokens = usage_completion >= 0 ? usage_completion : content_chunks;
  r.prompt_tokens = usage_prompt >= 0 ? usage_prompt : default_prompt_tokens;
  return r;
}

std::string format_rate(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", r);
  return buf;
}

nlohmann::json summary_json(const LatencySummary& s) {
  return {{"mean", s.mean * 1e3}, {"p50", s.p50 * 1e3}, {"p99", s.p99 * 1e3}};
}

}  // namespace

nlohmann::json run_bench_serve(const BenchServeOptions& opt) {
  if (opt.endpoint != "completions" && opt.endpoint != "chat") {
    throw Error("bench serve: --endpoint must be completions or chat, not '" + opt.endpoint + "'");
  }
  if (opt.concurrency < 1 || opt.num_prompts < 1 || opt.input_len < 1 || opt.output_len < 1) {
    throw Error(
        "bench serve: --concurrency, --num_prompts, --input_len and --output_len must be "
        "at least 1");
  }
  if (!(opt.request_rate > 0)) throw Error("bench serve: --request_rate must be > 0 (or inf)");
  if (!(opt.timeout_s > 0)) throw Error("bench serve: --timeout must be > 0");
  const bool chat = opt.endpoint == "chat";
  const ServeUrl u = parse_serve_url(opt.url);
  const std::string origin = origin_of(u);
  const ModelInfo model = fetch_model(u, opt);
  if (!chat && model.n_vocab <= 3) {
    throw Error("bench serve: GET " + origin + u.base_path +
                "/v1/models gives no vocabulary size (data[0].meta.n_vocab) for random token "
                "prompts; use --endpoint chat");
  }

  // The prompts and arrival times, all from the seed (arrivals from their own stream, so the
  // prompts do not change with --request_rate).
  std::mt19937_64 rng(opt.seed);
  std::vector<std::string> bodies;
  const int m = opt.num_prompts;
  for (int i = 0; i < m; ++i) {
    nlohmann::json b;
    b["model"] = model.id;
    if (chat) {
      b["messages"] = nlohmann::json::array(
          {{{"role", "user"}, {"content", random_words(rng, opt.input_len)}}});
    } else {
      std::uniform_int_distribution<int64_t> tok(3, model.n_vocab - 1);
      std::vector<int64_t> ids(static_cast<size_t>(opt.input_len));
      for (int64_t& id : ids) id = tok(rng);
      b["prompt"] = ids;
    }
    b["max_tokens"] = opt.output_len;
    b["stream"] = true;
    b["stream_options"] = {{"include_usage", true}};
    b["ignore_eos"] = true;
    b["temperature"] = 0;
    bodies.push_back(b.dump());
  }
  std::vector<double> arrival(size_t(m), 0.0);
  if (std::isfinite(opt.request_rate)) {
    std::mt19937_64 arng(opt.seed ^ 0x9E3779B97F4A7C15ull);
    std::exponential_distribution<double> gap(opt.request_rate);
    for (int i = 1; i < m; ++i) arrival[size_t(i)] = arrival[size_t(i) - 1] + gap(arng);
  }
  const std::string path = u.base_path + (chat ? "/v1/chat/completions" : "/v1/completions");

  if (!opt.json) {
    std::fprintf(stderr, "bench serve: %d requests to %s%s (model %s), concurrency %d\n", m,
                 origin.c_str(), path.c_str(), model.id.c_str(), opt.concurrency);
  }
  std::vector<RequestResult> results(static_cast<size_t>(m));
  std::atomic<int> next{0};
  const Clock::time_point t0 = Clock::now();
  auto worker = [&] {
    httplib::Client cli(u.host, u.port);
    cli.set_keep_alive(true);
    // httplib writes the headers and the body separately: do not let Nagle hold the body back.
    cli.set_tcp_nodelay(true);
    cli.set_connection_timeout(std::chrono::seconds(10));
    const auto io_timeout = std::chrono::duration<double>(opt.timeout_s);
    cli.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(io_timeout));
    cli.set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(io_timeout));
    for (int i; (i = next.fetch_add(1)) < m;) {
      std::this_thread::sleep_until(t0 + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(arrival[size_t(i)])));
      results[size_t(i)] = send_one(cli, origin, path, bodies[size_t(i)], chat, opt.input_len, opt);
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < std::min(opt.concurrency, m); ++w) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  const double duration = seconds(Clock::now() - t0);

  int completed = 0, failed = 0;
  int64_t total_in = 0, total_out = 0;
  std::string first_error;
  std::map<std::string, int> error_counts;  // each distinct failure, how often
  std::vector<double> ttft, tpot, itl, e2el;
  for (const RequestResult& r : results) {
    if (!r.ok) {
      ++failed;
      if (first_error.empty()) first_error = r.error;
      ++error_counts[r.error];
      continue;
    }
    ++completed;
    total_in += r.prompt_tokens;
    total_out += r.output_tokens;
    ttft.push_back(r.ttft_s);
    e2el.push_back(r.e2el_s);
    if (r.output_tokens > 1) tpot.push_back((r.e2el_s - r.ttft_s) / double(r.output_tokens - 1));
    itl.insert(itl.end(), r.itl_s.begin(), r.itl_s.end());
  }
  const LatencySummary s_ttft = summarize(ttft), s_tpot = summarize(tpot), s_itl = summarize(itl),
                       s_e2el = summarize(e2el);

  nlohmann::json doc;
  doc["url"] = opt.url;
  doc["model"] = model.id;
  doc["endpoint"] = opt.endpoint;
  doc["concurrency"] = opt.concurrency;
  doc["num_prompts"] = m;
  doc["input_len"] = opt.input_len;
  doc["output_len"] = opt.output_len;
  doc["seed"] = opt.seed;
  if (std::isfinite(opt.request_rate)) {
    doc["request_rate"] = opt.request_rate;
  } else {
    doc["request_rate"] = "inf";
  }
  doc["completed"] = completed;
  doc["failed"] = failed;
  doc["duration_s"] = duration;
  doc["total_input_tokens"] = total_in;
  doc["total_output_tokens"] = total_out;
  doc["request_throughput"] = completed / duration;
  doc["output_throughput"] = double(total_out) / duration;
  doc["total_token_throughput"] = double(total_in + total_out) / duration;
  doc["ttft_ms"] = summary_json(s_ttft);
  doc["tpot_ms"] = summary_json(s_tpot);
  doc["itl_ms"] = summary_json(s_itl);
  doc["e2el_ms"] = summary_json(s_e2el);
  if (failed > 0) {
    doc["first_error"] = first_error;
    doc["errors"] = error_counts;
  }

  if (opt.json) {
    std::printf("%s\n", doc.dump(2).c_str());
  } else {
    std::string rate = std::isfinite(opt.request_rate)
                           ? format_rate(opt.request_rate) + " req/s (Poisson)"
                           : "inf (all at once)";
    std::printf("server: %s  model: %s  endpoint: %s\n", origin.c_str(), model.id.c_str(),
                path.c_str());
    std::printf(
        "%d prompts, %d input %s, %d output tokens (ignore_eos), concurrency %d, "
        "request rate %s, seed %llu\n",
        m, opt.input_len, chat ? "words" : "tokens", opt.output_len, opt.concurrency, rate.c_str(),
        (unsigned long long)opt.seed);
    std::printf("%-28s %12d\n", "completed requests", completed);
    std::printf("%-28s %12d\n", "failed requests", failed);
    std::printf("%-28s %12.3f\n", "duration (s)", duration);
    std::printf("%-28s %12lld\n", "total input tokens", (long long)total_in);
    std::printf("%-28s %12lld\n", "total output tokens", (long long)total_out);
    std::printf("%-28s %12.3f\n", "request throughput (req/s)", completed / duration);
    std::printf("%-28s %12.2f\n", "output throughput (tok/s)", double(total_out) / duration);
    std::printf("%-28s %12.2f\n", "total throughput (tok/s)",
                double(total_in + total_out) / duration);
    std::printf("\n%-10s %12s %12s %12s\n", "ms", "mean", "p50", "p99");
    const std::pair<const char*, const LatencySummary*> rows[] = {
        {"TTFT", &s_ttft}, {"TPOT", &s_tpot}, {"ITL", &s_itl}, {"E2EL", &s_e2el}};
    for (const auto& [name, s] : rows) {
      std::printf("%-10s %12.2f %12.2f %12.2f\n", name, s->mean * 1e3, s->p50 * 1e3, s->p99 * 1e3);
    }
    if (failed > 0) {
      std::printf("\nfirst error: %s\n", first_error.c_str());
      if (error_counts.size() > 1) {
        for (const auto& [msg, count] : error_counts)
          std::printf("  %5d x %s\n", count, msg.c_str());
      }
    }
  }
  std::fflush(stdout);
  if (completed == 0) {
    throw Error("bench serve: all " + std::to_string(m) + " requests to " + origin + path +
                " failed; the first: " + first_error);
  }
  return doc;
}

void add_bench_serve_command(CLI::App* bench) {
  auto opt = std::make_shared<BenchServeOptions>();
  CLI::App* cmd = bench->add_subcommand(
      "serve",
      "Serving benchmark against a running OpenAI-compatible server (vLLM `bench serve` "
      "metrics: TTFT, TPOT, ITL, E2EL, throughput) with random prompts");
  cmd->add_option("--url", opt->url, "Server base URL (http only)")->capture_default_str();
  cmd->add_option("--api_key", opt->api_key, "Sent as 'Authorization: Bearer KEY'");
  cmd->add_option("-c,--concurrency", opt->concurrency, "Requests in flight at most")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("-n,--num_prompts", opt->num_prompts, "Requests to send")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--input_len", opt->input_len,
                  "Prompt length: random token ids (completions) or random words (chat)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--output_len", opt->output_len, "Tokens to generate per request (ignore_eos)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", opt->seed, "Seed of the prompts and arrival times")
      ->capture_default_str();
  cmd->add_option("--request_rate", opt->request_rate,
                  "Requests per second, Poisson arrivals (default inf: all at once)");
  cmd->add_option("--endpoint", opt->endpoint,
                  "completions (/v1/completions, token-id prompts) or chat "
                  "(/v1/chat/completions)")
      ->capture_default_str()
      ->check(CLI::IsMember({"completions", "chat"}));
  cmd->add_option("--timeout", opt->timeout_s, "Seconds a request may take")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", opt->json, "Print JSON instead of a table");
  cmd->callback([opt] { run_bench_serve(*opt); });
}

}  // namespace kt::cli
