#include "frontends/server/server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "frontends/server/http_util.h"
#include "frontends/server/routes.h"
#include "tensor/error.h"

namespace kt::server {

namespace {

bool is_ollama_path(const std::string& path) {
  return path.rfind("/api/", 0) == 0;
}

void send_error(const httplib::Request& req, httplib::Response& res, const ApiError& e) {
  if (is_ollama_path(req.path))
    send_ollama_error(res, e);
  else
    send_openai_error(res, e);
}

// Paths anyone may read with an API key set: the health probe and the UI's static files (a
// browser cannot add a Bearer header to page loads; the UI sends the key with its API calls).
bool is_public(const std::string& path) {
  return path == "/health" || path == "/v1/health" || path == "/" || path == "/web" ||
         path.rfind("/web/", 0) == 0;
}

// Compares without an early exit, so timing does not reveal how much of a key matched.
bool same_key(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= unsigned(a[i] ^ b[i]);
  return diff == 0;
}

std::string presented_key(const httplib::Request& req) {
  if (req.has_header("Authorization")) {
    std::string v = req.get_header_value("Authorization");
    if (v.rfind("Bearer ", 0) == 0) v = v.substr(7);
    return v;
  }
  return req.get_header_value("X-Api-Key");
}

const char* status_type(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 404:
      return "not_found_error";
    case 405:
      return "invalid_request_error";
    case 413:
      return "invalid_request_error";
    case 503:
      return "unavailable_error";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

// cpp-httplib (Debian's build) listens with a backlog of 5: a burst of clients connecting at
// once overflows the accept queue and some get reset before any handler sees them. Linux lets
// listen() be called again on a listening socket to change its backlog; find ours by its port.
void widen_listen_backlog(int port) {
  const int most =
      int(sysconf(_SC_OPEN_MAX) > 0 ? std::min<long>(sysconf(_SC_OPEN_MAX), 65536) : 1024);
  for (int fd = 0; fd < most; ++fd) {
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    int accepting = 0;
    socklen_t len = sizeof accepting;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting) continue;
    sockaddr_storage addr{};
    socklen_t alen = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) continue;
    int p = -1;
    if (addr.ss_family == AF_INET) p = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) p = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    if (p == port) ::listen(fd, SOMAXCONN);
  }
}

}  // namespace

Server::Server(ServerState& state) : s_(state), http_(std::make_unique<httplib::Server>()) {
  httplib::Server& h = *http_;
  const int threads = std::max(4, s_.opt.http_threads);
  h.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  h.set_payload_max_length(s_.opt.max_body_bytes);
  h.set_read_timeout(30, 0);
  h.set_write_timeout(30, 0);

  h.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Access-Control-Allow-Origin", "*");
    if (req.method == "OPTIONS") {  // CORS preflight: no key needed, no body
      res.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
      res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Api-Key");
      res.set_header("Access-Control-Max-Age", "86400");
      res.status = 204;
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!is_public(req.path)) s_.metrics.request();
    if (!s_.opt.api_key.empty() && !is_public(req.path) &&
        !same_key(presented_key(req), s_.opt.api_key)) {
      send_error(req, res, ApiError(401, "authentication_error", "Invalid API Key"));
      res.set_header("WWW-Authenticate", "Bearer");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  h.set_exception_handler(
      [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        try {
          std::rethrow_exception(ep);
        } catch (const ApiError& e) {
          send_error(req, res, e);
        } catch (const Error& e) {
          send_error(req, res, bad_request(e.what()));
        } catch (const std::exception& e) {
          send_error(req, res,
                     ApiError(500, "server_error", std::string("internal error: ") + e.what()));
        } catch (...) {
          send_error(req, res, ApiError(500, "server_error", "internal error"));
        }
      });

  // Statuses without a body (unknown route, body over the limit) get one in the right dialect.
  h.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& req, httplib::Response& res) {
        if (res.status >= 400) s_.metrics.failed();
        if (!res.body.empty() || res.status < 400)
          return httplib::Server::HandlerResponse::Unhandled;
        std::string msg = res.status == 404   ? "no route " + req.method + " " + req.path
                          : res.status == 413 ? "the request body is larger than " +
                                                    std::to_string(s_.opt.max_body_bytes) + " bytes"
                                              : "HTTP error " + std::to_string(res.status);
        send_error(req, res, ApiError(res.status, status_type(res.status), msg));
        return httplib::Server::HandlerResponse::Handled;
      }));

  h.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    std::fprintf(stderr, "%s %s %s -> %d\n", req.remote_addr.c_str(), req.method.c_str(),
                 req.path.c_str(), res.status);
  });

  add_ops_routes(h, s_);
  add_openai_routes(h, s_);
  add_ollama_routes(h, s_);
  if (s_.opt.web) add_web_routes(h);
  h.Get("/", [](const httplib::Request&, httplib::Response& res) {
    // Ollama clients probe "/" for this text; people get a pointer to the UI.
    res.set_content("Ollama is running (kt: OpenAI API at /v1, chat UI at /web)\n", "text/plain");
  });
}

Server::~Server() = default;

void Server::bind() {
  port_ = s_.opt.port;
  if (port_ == 0) {
    port_ = http_->bind_to_any_port(s_.opt.host);
    if (port_ < 0) throw Error("cannot listen on " + s_.opt.host + " (any port)");
  } else if (!http_->bind_to_port(s_.opt.host, port_)) {
    throw Error("cannot listen on " + s_.opt.host + ":" + std::to_string(port_) +
                " (is the port in use, or the host not an address of this machine?)");
  }
  widen_listen_backlog(port_);
}

void Server::listen() {
  http_->listen_after_bind();
}

void Server::stop() {
  http_->stop();
}

}  // namespace kt::server
