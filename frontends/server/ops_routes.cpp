// Operations routes: /health (public), /metrics (Prometheus text), /tokenize and /detokenize
// (llama.cpp's shapes), /apply-template, /props.
#include "frontends/server/chat_prompt.h"
#include "frontends/server/http_util.h"
#include "frontends/server/routes.h"

namespace kt::server {

namespace {

json piece_json(const std::string& p) {
  // Valid UTF-8 pieces are strings; a piece that is part of a character is its byte list.
  try {
    (void)json(p).dump();
    return p;
  } catch (const json::type_error&) {
    json b = json::array();
    for (unsigned char ch : p) b.push_back(int(ch));
    return b;
  }
}

}  // namespace

void add_ops_routes(httplib::Server& http, ServerState& s) {
  auto health = [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"status", "ok"}});
  };
  http.Get("/health", health);
  http.Get("/v1/health", health);

  http.Get("/metrics", [&s](const httplib::Request&, httplib::Response& res) {
    res.set_content(s.metrics.render(s.queue.waiting(), s.queue.busy(), s.opt.n_ctx),
                    "text/plain; version=0.0.4");
  });

  http.Post("/tokenize", [&s](const httplib::Request& req, httplib::Response& res) {
    const json body = parse_body(req.body);
    const std::string text = get_string(body, "content").value_or("");
    const bool add_special = get_bool(body, "add_special").value_or(false);
    const bool parse_special = get_bool(body, "parse_special").value_or(true);
    const bool with_pieces = get_bool(body, "with_pieces").value_or(false);
    const std::vector<int32_t> ids = s.tokenizer().encode(text, add_special, parse_special);
    json tokens = json::array();
    for (int32_t id : ids) {
      if (with_pieces)
        tokens.push_back({{"id", id}, {"piece", piece_json(s.tokenizer().token_to_piece(id))}});
      else
        tokens.push_back(id);
    }
    send_json(res, 200, {{"tokens", tokens}});
  });

  http.Post("/detokenize", [&s](const httplib::Request& req, httplib::Response& res) {
    const json body = parse_body(req.body);
    const json tokens = get_array(body, "tokens").value_or(json::array());
    std::vector<int32_t> ids;
    const int64_t n_vocab = int64_t(s.tokenizer().vocab_size());
    for (const json& v : tokens) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= n_vocab)
        throw bad_request("'tokens' must hold token ids between 0 and " +
                              std::to_string(n_vocab - 1) + ", got " + v.dump(),
                          "tokens");
      ids.push_back(int32_t(v.get<int64_t>()));
    }
    send_json(res, 200, {{"content", s.tokenizer().decode(ids)}});
  });

  http.Post("/apply-template", [&s](const httplib::Request& req, httplib::Response& res) {
    const json body = parse_body(req.body);
    auto messages = body.find("messages");
    if (messages == body.end()) throw bad_request("'messages' is required", "messages");
    const json tools = get_array(body, "tools").value_or(json(nullptr));
    send_json(res, 200, {{"prompt", render_chat(s, *messages, tools)}});
  });

  http.Get("/props", [&s](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200,
              {{"model_alias", s.model_id},
               {"model_path", s.model.file ? s.model.file->name() : ""},
               {"n_ctx", s.opt.n_ctx},
               {"total_slots", 1},
               {"max_queue", s.opt.max_queue},
               {"chat_template", s.model.chat_template ? s.model.chat_template->source() : ""},
               {"build_info", "kt 0.1.0"}});
  });
}

}  // namespace kt::server
