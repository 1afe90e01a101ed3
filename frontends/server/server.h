#pragma once
// The HTTP server: routes of both API dialects, the UI, and what wraps them all: API-key
// checks, CORS, body-size limits, JSON errors for every failure, a log line per request.
#include <memory>

#include "frontends/server/server_state.h"

namespace httplib {
class Server;
}

namespace kt::server {

class Server {
 public:
  explicit Server(ServerState& state);
  ~Server();

  // Binds host:port; throws kt::Error naming them when that fails (port taken, bad host).
  void bind();
  // Serves until stop() (from a signal handler's thread or another thread).
  void listen();
  void stop();
  int port() const { return port_; }

 private:
  ServerState& s_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
};

}  // namespace kt::server
