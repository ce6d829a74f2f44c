// Local control API: HTTP/1.1 + JSON. The same Router serves the root-only Unix socket
// (as tailscaled's LocalAPI does) and, in later work, HTTPS for the web UI.
#pragma once

#include "base/result.hpp"

#include <boost/json/value.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cats::api {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without query string
  std::map<std::string, std::string> query;  // decoded query parameters
  std::string body;
};

struct Response {
  int status = 200;
  boost::json::value body;  // serialised as application/json

  static Response json(boost::json::value v, int status = 200) { return {status, std::move(v)}; }
  // {"error": message}
  static Response error(int status, const std::string& message);
};

using Handler = std::function<Response(const Request&)>;

class Router {
 public:
  void add(std::string method, std::string path, Handler h);
  // 404 for an unknown path, 405 for a known path with another method.
  Response dispatch(const Request& r) const;

 private:
  std::map<std::pair<std::string, std::string>, Handler> routes_;
};

// Serves the router on a Unix stream socket (mode 0600, so only root may talk to it), on
// its own thread. Bounded: request head and body sizes, per-read timeout.
// Handlers run on the server thread; they must take the daemon's own locks.
class UnixServer {
 public:
  static Result<std::unique_ptr<UnixServer>> start(const std::string& socket_path, const Router& router);
  virtual ~UnixServer() = default;
  virtual void stop() = 0;  // idempotent; removes the socket file
};

// Client side for catsctl and tests.
struct ClientResponse {
  int status = 0;
  std::string body;
};
Result<ClientResponse> unix_request(const std::string& socket_path, const std::string& method,
                                    const std::string& target, const std::string& body = {});

}  // namespace cats::api
