// Ollama's API (server/routes.go, api/types.go): /api/version, /api/tags, /api/ps, /api/show,
// /api/generate and /api/chat with NDJSON streaming (streaming is the default), durations in
// nanoseconds, `options` for sampling. Enough for Open WebUI and Tabby to use kt unmodified.
#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <memory>

#include "frontends/server/api_error.h"
#include "frontends/server/chat_prompt.h"
#include "frontends/server/generation_job.h"
#include "frontends/server/http_util.h"
#include "frontends/server/request_options.h"
#include "frontends/server/routes.h"
#include "frontends/server/tool_calls.h"

namespace kt::server {

namespace {

// The version Ollama clients check features against (Open WebUI, Tabby): kt implements this
// version's routes and fields listed above.
constexpr const char* kOllamaVersion = "0.9.0";

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch());
  const std::time_t secs = std::time_t(ns.count() / 1000000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                (long long)(ns.count() % 1000000000));
  return buf;
}

std::string now_rfc3339() {
  return rfc3339(std::chrono::system_clock::now());
}

std::string tag_name(const ServerState& s) {
  return s.model_id.find(':') == std::string::npos ? s.model_id + ":latest" : s.model_id;
}

std::string modified_at(const ServerState& s) {
  struct stat st {};
  if (s.model.file && ::stat(s.model.file->name().c_str(), &st) == 0)
    return rfc3339(std::chrono::system_clock::from_time_t(st.st_mtime));
  return rfc3339(std::chrono::system_clock::from_time_t(s.created));
}

// Not the file's sha256 (hashing hundreds of GB at every listing is not on); a stable digest
// of what identifies the served model.
std::string digest(const ServerState& s) {
  const std::string key = s.model_id + "|" + (s.model.file ? s.model.file->name() : "") + "|" +
                          std::to_string(s.model.weight_bytes());
  uint64_t h1 = 1469598103934665603ull, h2 = 1099511628211ull;
  for (unsigned char c : key)
    h1 = (h1 ^ c) * 1099511628211ull, h2 = (h2 + c) * 6364136223846793005ull;
  char buf[65];
  std::snprintf(buf, sizeof buf, "%016llx%016llx%016llx%016llx", (unsigned long long)h1,
                (unsigned long long)h2, (unsigned long long)(h1 ^ h2),
                (unsigned long long)(h1 + h2));
  return buf;
}

json details(const ServerState& s) {
  const std::string family = s.model.arch->hparams().arch;
  return {{"parent_model", ""},
          {"format", "gguf"},
          {"family", family},
          {"families", json::array({family})},
          {"parameter_size", parameter_size_label(model_parameter_count(s.model))},
          {"quantization_level", quantization_label(s.model)}};
}

json model_listing(const ServerState& s) {
  return {{"name", tag_name(s)},           {"model", tag_name(s)},
          {"modified_at", modified_at(s)}, {"size", s.model.weight_bytes()},
          {"digest", digest(s)},           {"details", details(s)}};
}

// The model's metadata as /api/show's model_info: every scalar key, and array keys by length
// only (the vocabulary alone would be megabytes).
json model_info(const ServerState& s) {
  json info = json::object();
  if (!s.model.file) return info;
  const tensor::GgufFile& f = *s.model.file;
  for (size_t i = 0; i < f.kv_count(); ++i) {
    const tensor::GgufValue v = f.kv(i);
    const std::string key(f.kv(i).key());
    try {
      switch (v.type()) {
        case tensor::GgufType::STRING:
          info[key] = std::string(v.as_string());
          break;
        case tensor::GgufType::BOOL:
          info[key] = v.as_bool();
          break;
        case tensor::GgufType::FLOAT32:
        case tensor::GgufType::FLOAT64:
          info[key] = v.as_f64();
          break;
        case tensor::GgufType::ARRAY:
          info[key] = nullptr;
          break;
        default:
          info[key] = v.as_i64();
          break;
      }
    } catch (const std::exception&) {
      info[key] = nullptr;  // an unsigned 64-bit value beyond int64
    }
  }
  info["general.parameter_count"] = model_parameter_count(s.model);
  return info;
}

void check_model(const ServerState& s, const json& body) {
  std::string name = get_string(body, "model").value_or("");
  if (name.empty()) name = get_string(body, "name").value_or("");
  if (!s.is_served_model(name))
    throw ApiError(404, "not_found_error", "model '" + name + "' not found", "model");
}

void refuse_unsupported(const json& body) {
  if (auto images = body.find("images");
      images != body.end() && images->is_array() && !images->empty())
    throw bad_request("images are not supported by this model", "images");
  if (auto fmt = body.find("format"); fmt != body.end() && !fmt->is_null() &&
                                      !(fmt->is_string() && fmt->get<std::string>().empty()))
    throw bad_request("'format' (JSON output) is not supported yet", "format");
}

// The figures of Ollama's final object, in nanoseconds.
void add_metrics(json& j, const engine::GenerateResult& r, double total_s, double load_s) {
  auto ns = [](double s) { return int64_t(s * 1e9); };
  j["total_duration"] = ns(total_s);
  j["load_duration"] = ns(load_s);
  j["prompt_eval_count"] = r.prompt_tokens - r.cached_tokens;
  j["prompt_eval_duration"] = ns(r.prefill_seconds);
  j["eval_count"] = r.completion_tokens;
  j["eval_duration"] = ns(r.decode_seconds);
}

// Ollama's tool calls carry arguments as an object, not as text.
json ollama_tool_calls(const std::vector<ToolCall>& calls) {
  json out = json::array();
  for (const ToolCall& c : calls) {
    json args = json::parse(c.arguments, nullptr, false);
    if (args.is_discarded()) args = c.arguments;
    out.push_back({{"function", {{"name", c.name}, {"arguments", args}}}});
  }
  return out;
}

// Clients send tool-call arguments as objects; templates accept either.
json messages_for_template(const json& messages) {
  if (!messages.is_array()) throw bad_request("'messages' must be an array", "messages");
  for (const json& m : messages)
    if (m.is_object() && m.contains("images") && m["images"].is_array() && !m["images"].empty())
      throw bad_request("images are not supported by this model", "messages");
  return messages;
}

struct Job {
  engine::GenerateRequest gen;
  bool stream = true;
  bool chat = false;
  bool tools = false;
  std::string model_name;
};

// Streams (NDJSON) or answers one object. make_object(text) builds a partial object.
void respond(ServerState& s, const httplib::Request& req, httplib::Response& res,
             std::shared_ptr<Job> job) {
  const auto t_start = std::chrono::steady_clock::now();
  Turn turn = wait_for_turn(s, client_key(req));

  auto partial = [job](const std::string& text) {
    json j = {{"model", job->model_name}, {"created_at", now_rfc3339()}};
    if (job->chat)
      j["message"] = {{"role", "assistant"}, {"content", text}};
    else
      j["response"] = text;
    j["done"] = false;
    return j;
  };
  auto final_object = [&s, job, t_start](const engine::GenerateResult& r, const std::string& text,
                                         const std::vector<ToolCall>& calls) {
    json j = {{"model", job->model_name}, {"created_at", now_rfc3339()}};
    if (job->chat) {
      j["message"] = {{"role", "assistant"}, {"content", text}};
      if (!calls.empty()) j["message"]["tool_calls"] = ollama_tool_calls(calls);
    } else {
      j["response"] = text;
    }
    j["done"] = true;
    j["done_reason"] = r.finish_reason == "length" ? "length" : "stop";
    if (!job->chat) {
      json ctx = json::array();
      for (int32_t t : job->gen.prompt) ctx.push_back(t);
      for (int32_t t : r.output_ids) ctx.push_back(t);
      j["context"] = ctx;
    }
    const double total =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    add_metrics(j, r, total, 0.0);
    return j;
  };

  if (!job->stream) {
    engine::GenerateResult r =
        run_generation(s, job->gen, [](const engine::GenerateChunk&) { return true; });
    turn.reset();
    ParsedReply parsed;
    parsed.content = r.text;
    if (job->tools) parsed = parse_tool_calls(r.text, s.tool_format);
    send_json(res, 200, final_object(r, parsed.content, parsed.calls));
    return;
  }

  res.set_chunked_content_provider(
      "application/x-ndjson",
      [&s, job, turn, partial, final_object](size_t, httplib::DataSink& sink) mutable {
        bool alive = true;
        std::string all;
        size_t sent = 0;
        const bool gated = job->tools && s.tool_format != ToolCallFormat::kNone;
        engine::GenerateResult r;
        try {
          r = run_generation(s, job->gen, [&](const engine::GenerateChunk& ch) {
            all += ch.text;
            size_t end = all.size();
            if (gated) {
              end = tool_call_start(all, s.tool_format);
              if (end == std::string::npos)
                end = all.size() - partial_marker_suffix(all, s.tool_format);
            }
            if (end <= sent) return alive;
            alive = alive && write_all(sink, dump(partial(all.substr(sent, end - sent))) + "\n");
            sent = end;
            return alive;
          });
        } catch (const ApiError& e) {
          turn.reset();
          write_all(sink, dump(ollama_error_body(e)) + "\n");
          sink.done();
          return true;
        }
        turn.reset();
        if (!alive) return false;
        ParsedReply parsed;
        parsed.content = all;
        if (gated) parsed = parse_tool_calls(all, s.tool_format);
        const std::string rest = parsed.content.size() > sent ? parsed.content.substr(sent) : "";
        write_all(sink, dump(final_object(r, rest, parsed.calls)) + "\n");
        sink.done();
        return true;
      });
}

void handle_generate(ServerState& s, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  check_model(s, body);
  refuse_unsupported(body);
  auto job = std::make_shared<Job>();
  job->model_name = get_string(body, "model").value_or(tag_name(s));
  job->stream = get_bool(body, "stream").value_or(true);
  const std::string prompt = get_string(body, "prompt").value_or("");
  if (prompt.empty() && !body.contains("context")) {
    // An empty prompt loads the model (it is always loaded here).
    send_json(res, 200,
              {{"model", job->model_name},
               {"created_at", now_rfc3339()},
               {"response", ""},
               {"done", true},
               {"done_reason", "load"}});
    return;
  }
  if (get_string(body, "suffix").value_or("") != "")
    throw bad_request("'suffix' (fill-in-the-middle) is not supported yet", "suffix");
  const json options = get_object(body, "options").value_or(json::object());
  const int64_t num_predict = ollama_sampling(options, job->gen);

  const models::Tokenizer& tok = s.tokenizer();
  std::vector<int32_t> ids;
  if (auto ctx = get_array(body, "context")) {
    for (const json& v : *ctx) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 ||
          v.get<int64_t>() >= int64_t(tok.vocab_size()))
        throw bad_request("'context' must hold token ids of this model, got " + v.dump(),
                          "context");
      ids.push_back(int32_t(v.get<int64_t>()));
    }
  }
  if (get_bool(body, "raw").value_or(false) || !s.model.chat_template) {
    const std::vector<int32_t> p = tok.encode(prompt, /*add_special=*/ids.empty(), true);
    ids.insert(ids.end(), p.begin(), p.end());
  } else {
    json messages = json::array();
    const std::string system = get_string(body, "system").value_or("");
    if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
    messages.push_back({{"role", "user"}, {"content", prompt}});
    std::vector<int32_t> p = chat_prompt_tokens(s, messages, nullptr);
    if (!ids.empty() && !p.empty() && p.front() == tok.bos_id()) p.erase(p.begin());
    ids.insert(ids.end(), p.begin(), p.end());
  }
  job->gen.prompt = std::move(ids);
  check_prompt_and_limit(s, job->gen, num_predict < 0 ? -1 : num_predict);
  respond(s, req, res, job);
}

void handle_chat(ServerState& s, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  check_model(s, body);
  refuse_unsupported(body);
  auto job = std::make_shared<Job>();
  job->chat = true;
  job->model_name = get_string(body, "model").value_or(tag_name(s));
  job->stream = get_bool(body, "stream").value_or(true);
  auto messages = body.find("messages");
  if (messages == body.end()) throw bad_request("'messages' is required", "messages");
  json tools = get_array(body, "tools").value_or(json(nullptr));
  if (tools.is_array() && tools.empty()) tools = nullptr;
  job->tools = tools.is_array();
  const json options = get_object(body, "options").value_or(json::object());
  const int64_t num_predict = ollama_sampling(options, job->gen);
  job->gen.prompt = chat_prompt_tokens(s, messages_for_template(*messages), tools);
  check_prompt_and_limit(s, job->gen, num_predict < 0 ? -1 : num_predict);
  respond(s, req, res, job);
}

}  // namespace

void add_ollama_routes(httplib::Server& http, ServerState& s) {
  http.Get("/api/version", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"version", kOllamaVersion}});
  });
  http.Get("/api/tags", [&s](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"models", json::array({model_listing(s)})}});
  });
  http.Get("/api/ps", [&s](const httplib::Request&, httplib::Response& res) {
    json m = model_listing(s);
    m["expires_at"] = "2318-01-01T00:00:00Z";  // never unloaded while the server runs
    m["size_vram"] = 0;
    send_json(res, 200, {{"models", json::array({m})}});
  });
  http.Post("/api/show", [&s](const httplib::Request& req, httplib::Response& res) {
    const json body = parse_body(req.body);
    check_model(s, body);
    const std::string tmpl = s.model.chat_template ? s.model.chat_template->source() : "";
    json caps = json::array({"completion"});
    if (s.tool_format != ToolCallFormat::kNone) caps.push_back("tools");
    send_json(
        res, 200,
        {{"license", ""},
         {"modelfile", "# served by kt\nFROM " + (s.model.file ? s.model.file->name() : "") + "\n"},
         {"parameters", "num_ctx " + std::to_string(s.opt.n_ctx)},
         {"template", tmpl},
         {"details", details(s)},
         {"model_info", model_info(s)},
         {"capabilities", caps},
         {"modified_at", modified_at(s)}});
  });
  http.Post("/api/generate", [&s](const httplib::Request& req, httplib::Response& res) {
    handle_generate(s, req, res);
  });
  http.Post("/api/chat", [&s](const httplib::Request& req, httplib::Response& res) {
    handle_chat(s, req, res);
  });
}

}  // namespace kt::server
