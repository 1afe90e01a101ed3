// OpenAI's API: GET /v1/models, POST /v1/chat/completions and /v1/completions, streamed as
// server-sent events or answered whole. Field meanings follow OpenAI's reference; llama.cpp's
// extra sampling fields (top_k, min_p, repeat_penalty, ignore_eos) are accepted too.
#include <chrono>
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

std::string new_id(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  return std::string(prefix) + std::to_string(random_seed() % 1000000000000ull) + "-" +
         std::to_string(++counter);
}

void check_model(const ServerState& s, const json& body) {
  const std::string name = get_string(body, "model").value_or("");
  if (!s.is_served_model(name))
    throw ApiError(
        404, "not_found_error",
        "the model '" + name + "' does not exist; this server serves '" + s.model_id + "'",
        "model");
}

json usage_json(const engine::GenerateResult& r) {
  return {{"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.completion_tokens},
          {"total_tokens", r.prompt_tokens + r.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", r.cached_tokens}}}};
}

// llama.cpp's per-request figures, which the web UI shows as tok/s.
json timings_json(const engine::GenerateResult& r) {
  const int64_t evaluated = r.prompt_tokens - r.cached_tokens;
  const double pms = r.prefill_seconds * 1e3, gms = r.decode_seconds * 1e3;
  return {{"prompt_n", evaluated},
          {"cache_n", r.cached_tokens},
          {"prompt_ms", pms},
          {"prompt_per_second", pms > 0 ? evaluated / r.prefill_seconds : 0.0},
          {"predicted_n", r.completion_tokens},
          {"predicted_ms", gms},
          {"predicted_per_second", gms > 0 ? r.completion_tokens / r.decode_seconds : 0.0}};
}

std::string piece(const ServerState& s, int32_t id) {
  return s.tokenizer().token_to_piece(id);
}

json bytes_of(const std::string& p) {
  json b = json::array();
  for (unsigned char c : p) b.push_back(int(c));
  return b;
}

// Chat logprobs: {content: [{token, logprob, bytes, top_logprobs: [...]}]}.
json chat_logprob_entries(const ServerState& s, const std::vector<engine::TokenLogprob>& toks) {
  json content = json::array();
  for (const engine::TokenLogprob& t : toks) {
    const std::string p = piece(s, t.id);
    json top = json::array();
    for (const auto& [id, lp] : t.top) {
      const std::string q = piece(s, id);
      top.push_back({{"token", q}, {"logprob", lp}, {"bytes", bytes_of(q)}});
    }
    content.push_back(
        {{"token", p}, {"logprob", t.logprob}, {"bytes", bytes_of(p)}, {"top_logprobs", top}});
  }
  return content;
}

// Completions logprobs: {tokens, token_logprobs, top_logprobs, text_offset}; `first` is a
// token without a log-prob (the prompt's first, when echoing).
struct CompletionLogprobs {
  json tokens = json::array(), token_logprobs = json::array(), top = json::array(),
       offsets = json::array();
  size_t offset = 0;

  void add_unscored(const std::string& p) {
    tokens.push_back(p);
    token_logprobs.push_back(nullptr);
    top.push_back(nullptr);
    offsets.push_back(offset);
    offset += p.size();
  }
  void add(const ServerState& s, const engine::TokenLogprob& t) {
    const std::string p = piece(s, t.id);
    tokens.push_back(p);
    token_logprobs.push_back(t.logprob);
    json alt = json::object();
    for (const auto& [id, lp] : t.top) {
      const std::string q = piece(s, id);
      if (!alt.contains(q)) alt[q] = lp;
    }
    top.push_back(alt);
    offsets.push_back(offset);
    offset += p.size();
  }
  json to_json() const {
    return {{"tokens", tokens},
            {"token_logprobs", token_logprobs},
            {"top_logprobs", top},
            {"text_offset", offsets}};
  }
};

// Streamed chat content with tool calls kept out: text from a tool-call marker on (or what
// could still become one) is held back and parsed when the reply is complete.
class ToolCallGate {
 public:
  ToolCallGate(ToolCallFormat f, bool active)
      : fmt_(f), active_(active && f != ToolCallFormat::kNone) {}
  std::string push(const std::string& text) {
    all_ += text;
    if (!active_) {
      std::string out = all_.substr(sent_);
      sent_ = all_.size();
      return out;
    }
    size_t end = tool_call_start(all_, fmt_);
    if (end == std::string::npos) end = all_.size() - partial_marker_suffix(all_, fmt_);
    if (end <= sent_) return {};
    std::string out = all_.substr(sent_, end - sent_);
    sent_ = end;
    return out;
  }
  // The reply is complete: what is left of the content, and the calls.
  ParsedReply finish() {
    ParsedReply r;
    if (!active_) return r;
    r = parse_tool_calls(all_, fmt_);
    // Content streamed so far is a prefix of the parsed content; send only the rest.
    r.content = r.content.size() > sent_ ? r.content.substr(sent_) : "";
    return r;
  }

 private:
  ToolCallFormat fmt_;
  bool active_;
  std::string all_;
  size_t sent_ = 0;
};

json tool_calls_json(const std::vector<ToolCall>& calls, bool with_index) {
  json out = json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    json c = {{"id", calls[i].id},
              {"type", "function"},
              {"function", {{"name", calls[i].name}, {"arguments", calls[i].arguments}}}};
    if (with_index) c["index"] = i;
    out.push_back(c);
  }
  return out;
}

// ---- /v1/chat/completions ----

struct ChatRequest {
  engine::GenerateRequest gen;
  bool stream = false, include_usage = false, logprobs = false;
  json tools;  // null or the array
};

ChatRequest parse_chat(const ServerState& s, const json& body) {
  ChatRequest c;
  check_model(s, body);
  auto messages = body.find("messages");
  if (messages == body.end()) throw bad_request("'messages' is required", "messages");
  if (auto n = get_int(body, "n", 1, 128); n && *n != 1)
    throw bad_request("only n = 1 is supported", "n");
  if (auto rf = get_object(body, "response_format")) {
    const std::string type = rf->value("type", "text");
    if (type != "text")
      throw bad_request("response_format '" + type + "' is not supported yet", "response_format");
  }
  c.stream = get_bool(body, "stream").value_or(false);
  if (auto so = get_object(body, "stream_options"))
    c.include_usage = get_bool(*so, "include_usage").value_or(false);
  c.logprobs = get_bool(body, "logprobs").value_or(false);
  auto top = get_int(body, "top_logprobs", 0, 20);
  if (top && !c.logprobs)
    throw bad_request("'top_logprobs' needs 'logprobs': true", "top_logprobs");
  if (c.logprobs) c.gen.top_logprobs = int(top.value_or(0));
  c.tools = get_array(body, "tools").value_or(json(nullptr));
  if (c.tools.is_array() && c.tools.empty()) c.tools = nullptr;
  if (auto choice = body.find("tool_choice");
      choice != body.end() && choice->is_string() && *choice == "none")
    c.tools = nullptr;
  openai_sampling(body, c.gen);
  c.gen.prompt = chat_prompt_tokens(s, *messages, c.tools);
  auto max_tokens = get_int(body, "max_completion_tokens", 1, INT64_MAX);
  if (!max_tokens) max_tokens = get_int(body, "max_tokens", 1, INT64_MAX);
  check_prompt_and_limit(s, c.gen, max_tokens.value_or(-1));
  return c;
}

json chat_chunk(const std::string& id, int64_t created, const ServerState& s, json choice) {
  return {{"id", id},
          {"object", "chat.completion.chunk"},
          {"created", created},
          {"model", s.model_id},
          {"system_fingerprint", "kt"},
          {"choices", json::array({std::move(choice)})}};
}

void handle_chat(ServerState& s, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  auto c = std::make_shared<ChatRequest>(parse_chat(s, body));
  Turn turn = wait_for_turn(s, client_key(req));
  const std::string id = new_id("chatcmpl-");
  const int64_t created = int64_t(std::time(nullptr));

  if (!c->stream) {
    ToolCallGate gate(s.tool_format, c->tools.is_array());
    std::string content;
    engine::GenerateResult r = run_generation(s, c->gen, [&](const engine::GenerateChunk& ch) {
      content += gate.push(ch.text);
      return true;
    });
    turn.reset();
    ParsedReply parsed = gate.finish();
    content += parsed.content;
    json message = {{"role", "assistant"}, {"content", content}};
    std::string finish = r.finish_reason;
    if (!parsed.calls.empty()) {
      message["tool_calls"] = tool_calls_json(parsed.calls, false);
      finish = "tool_calls";
    }
    json choice = {{"index", 0}, {"message", message}, {"finish_reason", finish}};
    choice["logprobs"] =
        c->logprobs ? json{{"content", chat_logprob_entries(s, r.logprobs)}} : json(nullptr);
    send_json(res, 200,
              {{"id", id},
               {"object", "chat.completion"},
               {"created", created},
               {"model", s.model_id},
               {"system_fingerprint", "kt"},
               {"choices", json::array({choice})},
               {"usage", usage_json(r)},
               {"timings", timings_json(r)}});
    return;
  }

  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [&s, c, turn, id, created](
                                                            size_t,
                                                            httplib::DataSink& sink) mutable {
    bool alive = write_sse(sink, chat_chunk(id, created, s,
                                            {{"index", 0},
                                             {"delta", {{"role", "assistant"}, {"content", ""}}},
                                             {"logprobs", nullptr},
                                             {"finish_reason", nullptr}}));
    ToolCallGate gate(s.tool_format, c->tools.is_array());
    engine::GenerateResult r;
    try {
      r = run_generation(s, c->gen, [&](const engine::GenerateChunk& ch) {
        const std::string text = gate.push(ch.text);
        if (text.empty() && !c->logprobs) return alive;
        json choice = {{"index", 0}, {"delta", {{"content", text}}}, {"finish_reason", nullptr}};
        choice["logprobs"] =
            c->logprobs ? json{{"content", chat_logprob_entries(s, ch.tokens)}} : json(nullptr);
        alive = alive && write_sse(sink, chat_chunk(id, created, s, choice));
        return alive;
      });
    } catch (const ApiError& e) {
      turn.reset();
      write_sse(sink, openai_error_body(e));
      write_all(sink, "data: [DONE]\n\n");
      sink.done();
      return true;
    }
    turn.reset();
    if (!alive) return false;  // the client went away; the generation was cancelled
    ParsedReply parsed = gate.finish();
    std::string finish = r.finish_reason;
    if (!parsed.content.empty())
      write_sse(sink, chat_chunk(id, created, s,
                                 {{"index", 0},
                                  {"delta", {{"content", parsed.content}}},
                                  {"logprobs", nullptr},
                                  {"finish_reason", nullptr}}));
    if (!parsed.calls.empty()) {
      write_sse(sink, chat_chunk(id, created, s,
                                 {{"index", 0},
                                  {"delta", {{"tool_calls", tool_calls_json(parsed.calls, true)}}},
                                  {"logprobs", nullptr},
                                  {"finish_reason", nullptr}}));
      finish = "tool_calls";
    }
    json last = chat_chunk(id, created, s,
                           {{"index", 0},
                            {"delta", json::object()},
                            {"logprobs", nullptr},
                            {"finish_reason", finish}});
    last["timings"] = timings_json(r);
    write_sse(sink, last);
    if (c->include_usage) {
      json u = chat_chunk(id, created, s, {});
      u["choices"] = json::array();
      u["usage"] = usage_json(r);
      write_sse(sink, u);
    }
    write_all(sink, "data: [DONE]\n\n");
    sink.done();
    return true;
  });
}

// ---- /v1/completions ----

struct CompletionRequest {
  engine::GenerateRequest gen;
  bool stream = false, include_usage = false, echo = false;
  bool return_tokens = false;  // llama.cpp's extra: the generated token ids in the choice
  int logprobs = -1;           // < 0: none
  std::string prompt_text;     // what echo returns
};

std::vector<int32_t> ids_from_json(const ServerState& s, const json& arr) {
  std::vector<int32_t> ids;
  const int64_t n_vocab = int64_t(s.tokenizer().vocab_size());
  for (const json& v : arr) {
    if (!v.is_number_integer())
      throw bad_request("'prompt' token lists must hold integers, got " + type_name(v), "prompt");
    const int64_t id = v.get<int64_t>();
    if (id < 0 || id >= n_vocab)
      throw bad_request("'prompt' holds token id " + std::to_string(id) +
                            ", outside the vocabulary (0.." + std::to_string(n_vocab - 1) + ")",
                        "prompt");
    ids.push_back(int32_t(id));
  }
  return ids;
}

CompletionRequest parse_completion(const ServerState& s, const json& body) {
  CompletionRequest c;
  check_model(s, body);
  auto prompt = body.find("prompt");
  if (prompt == body.end() || prompt->is_null())
    throw bad_request("'prompt' is required", "prompt");
  json p = *prompt;
  // A batch of one prompt is that prompt; larger batches are not supported yet.
  if (p.is_array() && !p.empty() && (p[0].is_string() || p[0].is_array())) {
    if (p.size() != 1)
      throw bad_request(
          "only one prompt per request is supported (got " + std::to_string(p.size()) + ")",
          "prompt");
    p = json(p[0]);
  }
  const models::Tokenizer& tok = s.tokenizer();
  if (p.is_string()) {
    c.prompt_text = p.get<std::string>();
    c.gen.prompt = tok.encode(c.prompt_text, /*add_special=*/true, /*parse_special=*/true);
  } else if (p.is_array()) {
    c.gen.prompt = ids_from_json(s, p);
    c.prompt_text = tok.decode(c.gen.prompt, /*render_special=*/false);
  } else {
    throw bad_request("'prompt' must be a string or a list of token ids, got " + type_name(p),
                      "prompt");
  }
  if (get_string(body, "suffix").value_or("") != "")
    throw bad_request("'suffix' is not supported", "suffix");
  if (auto n = get_int(body, "n", 1, 128); n && *n != 1)
    throw bad_request("only n = 1 is supported", "n");
  if (auto b = get_int(body, "best_of", 1, 128); b && *b != 1)
    throw bad_request("only best_of = 1 is supported", "best_of");
  c.stream = get_bool(body, "stream").value_or(false);
  if (auto so = get_object(body, "stream_options"))
    c.include_usage = get_bool(*so, "include_usage").value_or(false);
  c.echo = get_bool(body, "echo").value_or(false);
  c.return_tokens = get_bool(body, "return_tokens").value_or(false);
  c.logprobs = int(get_int(body, "logprobs", 0, 20).value_or(-1));
  if (c.logprobs >= 0) c.gen.top_logprobs = c.logprobs;
  if (c.echo && c.logprobs >= 0) {
    c.gen.prompt_logprobs = true;
    c.gen.prompt_top_logprobs = c.logprobs;
  }
  openai_sampling(body, c.gen);
  // OpenAI's default for this legacy route is 16 tokens; 0 evaluates the prompt only (echo).
  const int64_t max_tokens = get_int(body, "max_tokens", 0, INT64_MAX).value_or(16);
  check_prompt_and_limit(s, c.gen, max_tokens);
  return c;
}

json completion_choice(std::string text, json logprobs, json finish) {
  return {{"text", std::move(text)},
          {"index", 0},
          {"logprobs", std::move(logprobs)},
          {"finish_reason", std::move(finish)}};
}

json completion_object(const std::string& id, int64_t created, const ServerState& s, json choice) {
  return {{"id", id},
          {"object", "text_completion"},
          {"created", created},
          {"model", s.model_id},
          {"system_fingerprint", "kt"},
          {"choices", json::array({std::move(choice)})}};
}

// Echoed prompt tokens first (the first has no log-prob), then the generated ones.
void add_prompt_logprobs(const ServerState& s, const CompletionRequest& c,
                         const std::vector<engine::TokenLogprob>& prompt_logprobs,
                         CompletionLogprobs& lp) {
  lp.add_unscored(piece(s, c.gen.prompt.front()));
  for (const engine::TokenLogprob& t : prompt_logprobs) lp.add(s, t);
}

void handle_completion(ServerState& s, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  auto c = std::make_shared<CompletionRequest>(parse_completion(s, body));
  Turn turn = wait_for_turn(s, client_key(req));
  const std::string id = new_id("cmpl-");
  const int64_t created = int64_t(std::time(nullptr));

  if (!c->stream) {
    engine::GenerateResult r =
        run_generation(s, c->gen, [](const engine::GenerateChunk&) { return true; });
    turn.reset();
    json logprobs = nullptr;
    if (c->logprobs >= 0) {
      CompletionLogprobs lp;
      if (c->echo) add_prompt_logprobs(s, *c, r.prompt_logprobs, lp);
      for (const engine::TokenLogprob& t : r.logprobs) lp.add(s, t);
      logprobs = lp.to_json();
    }
    json choice =
        completion_choice((c->echo ? c->prompt_text : "") + r.text, logprobs, r.finish_reason);
    if (c->return_tokens) choice["tokens"] = r.output_ids;
    json out = completion_object(id, created, s, choice);
    out["usage"] = usage_json(r);
    out["timings"] = timings_json(r);
    send_json(res, 200, out);
    return;
  }

  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream", [&s, c, turn, id, created](size_t, httplib::DataSink& sink) mutable {
        bool alive = true;
        bool echoed = !c->echo;
        engine::GenerateResult r;
        try {
          r = run_generation(s, c->gen, [&](const engine::GenerateChunk& ch) {
            std::string text = ch.text;
            CompletionLogprobs l;
            if (!echoed) {
              text = c->prompt_text + text;
              if (c->logprobs >= 0) add_prompt_logprobs(s, *c, *ch.prompt_logprobs, l);
              echoed = true;
            }
            json lp = nullptr;
            if (c->logprobs >= 0) {
              for (const engine::TokenLogprob& t : ch.tokens) l.add(s, t);
              lp = l.to_json();
            }
            alive =
                alive && write_sse(sink, completion_object(id, created, s,
                                                           completion_choice(text, lp, nullptr)));
            return alive;
          });
        } catch (const ApiError& e) {
          turn.reset();
          write_sse(sink, openai_error_body(e));
          write_all(sink, "data: [DONE]\n\n");
          sink.done();
          return true;
        }
        turn.reset();
        if (!alive) return false;
        json lp = nullptr;
        if (!echoed && c->logprobs >= 0) {  // nothing was generated: the echo comes now
          CompletionLogprobs l;
          add_prompt_logprobs(s, *c, r.prompt_logprobs, l);
          lp = l.to_json();
        }
        json last = completion_object(
            id, created, s, completion_choice(echoed ? "" : c->prompt_text, lp, r.finish_reason));
        last["timings"] = timings_json(r);
        write_sse(sink, last);
        if (c->include_usage) {
          json u = completion_object(id, created, s, {});
          u["choices"] = json::array();
          u["usage"] = usage_json(r);
          write_sse(sink, u);
        }
        write_all(sink, "data: [DONE]\n\n");
        sink.done();
        return true;
      });
}

json model_entry(const ServerState& s) {
  const models::HParams& hp = s.model.arch->hparams();
  return {{"id", s.model_id},
          {"object", "model"},
          {"created", s.created},
          {"owned_by", "kt"},
          {"meta",
           {{"n_vocab", s.tokenizer().vocab_size()},
            {"n_ctx", s.opt.n_ctx},
            {"n_ctx_train", hp.n_ctx_train},
            {"n_embd", hp.n_embd},
            {"n_params", model_parameter_count(s.model)},
            {"size", s.model.weight_bytes()}}}};
}

}  // namespace

void add_openai_routes(httplib::Server& http, ServerState& s) {
  auto models = [&s](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"object", "list"}, {"data", json::array({model_entry(s)})}});
  };
  http.Get("/v1/models", models);
  http.Get("/models", models);
  http.Get(R"(/v1/models/(.+))", [&s](const httplib::Request& req, httplib::Response& res) {
    if (!s.is_served_model(req.matches[1]))
      throw ApiError(404, "not_found_error",
                     "the model '" + req.matches[1].str() + "' does not exist", "model");
    send_json(res, 200, model_entry(s));
  });
  auto chat = [&s](const httplib::Request& req, httplib::Response& res) {
    handle_chat(s, req, res);
  };
  http.Post("/v1/chat/completions", chat);
  http.Post("/chat/completions", chat);
  auto completion = [&s](const httplib::Request& req, httplib::Response& res) {
    handle_completion(s, req, res);
  };
  http.Post("/v1/completions", completion);
  http.Post("/completions", completion);
}

}  // namespace kt::server
