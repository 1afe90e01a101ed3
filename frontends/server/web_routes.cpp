// The chat UI, embedded at build time (web/), served at /web; "/" and "/web" lead to it.
#include "frontends/server/routes.h"
#include "web/assets.h"

namespace kt::server {

void add_web_routes(httplib::Server& http) {
  auto to_ui = [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/web/index.html#/chat");
  };
  http.Get("/web", to_ui);
  http.Get("/web/", to_ui);
  http.Get(R"(/web/(.+))", [](const httplib::Request& req, httplib::Response& res) {
    const web::Asset* a = web::find_asset(req.matches[1].str());
    if (!a) {
      res.status = 404;
      res.set_content("not found: " + req.path, "text/plain");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::string(a->data), std::string(a->content_type));
  });
}

}  // namespace kt::server
