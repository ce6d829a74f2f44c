// Local control API: HTTP/1.1 + JSON. The same Router serves the root-only Unix socket
// (as tailscaled's LocalAPI does) and HTTPS for the web UI and scripts (api/https.hpp).
#pragma once

#include "base/result.hpp"

#include <boost/json/value.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cats::api {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without query string
  std::map<std::string, std::string> query;  // decoded query parameters
  std::string body;
  // Header names in lower case; a repeated header's values joined with ", " (RFC 9110
  // 5.3), except Cookie, joined with "; " (RFC 6265 5.4).
  std::map<std::string, std::string> headers;
  // Who asked: the client's address over TCP; empty on the root-only Unix socket, where
  // `local` is set and no login is needed (as tailscaled's LocalAPI).
  std::string peer;
  bool local = false;

  // The header's value, or "" when absent. `name` in lower case.
  const std::string& header(const std::string& name) const;
};

// One rejected field of a request body: its JSON path ("/services/0/vip") and why.
struct FieldError {
  std::string field;
  std::string message;
};

// The body of a streamed answer (Server-Sent Events, api/sse.hpp). The session writes the
// head (no Content-Length: the body ends when the connection closes, RFC 9112 6.3 item 8),
// then calls pull() on its own thread whenever its previous write has completed, and every
// kStreamPoll while there was nothing to send, until pull() ends it or the client goes.
// Polling rather than a cross-thread wake-up: nothing outside the server ever posts into
// its io_context, which may be stopping (IoThread::stop), and a poll costs microseconds.
class StreamBody {
 public:
  struct Chunk {
    std::string bytes;  // to send now; empty: nothing yet
    bool end = false;   // close the connection once `bytes` are sent
  };
  virtual ~StreamBody() = default;
  virtual Chunk pull() = 0;
};
inline constexpr std::chrono::milliseconds kStreamPoll{50};

class Deferred;

struct Response {
  int status = 200;
  boost::json::value body;  // serialised as application/json, unless `raw` is set
  // Extra headers (Set-Cookie, ETag, Location...). The server adds the security headers
  // (security_headers()) to every answer itself.
  std::vector<std::pair<std::string, std::string>> headers;
  // A non-JSON answer (Prometheus text, static files): sent as is, with content_type.
  std::optional<std::string> raw;
  std::string content_type;
  // A streamed answer: 200 with content_type and this body, on a connection that then
  // serves nothing else. Only the session honours it (handle() with a StreamBody slot).
  std::shared_ptr<StreamBody> stream;
  // An answer computed elsewhere (Deferred): none of the fields above are used.
  std::shared_ptr<Deferred> deferred;

  static Response json(boost::json::value v, int status = 200) { return {status, std::move(v), {}, {}, {}, {}, {}}; }
  static Response later(std::shared_ptr<Deferred> d);
  static Response streamed(std::shared_ptr<StreamBody> s, std::string content_type);
  static Response text(std::string body, std::string content_type, int status = 200);
  // {"error": {"code", "message", "fields": [{"field", "message"}]}}. `code` is a stable
  // machine-readable word ("not_found", "invalid", "conflict"...); the one-argument form
  // derives it from the status (error_code_for).
  static Response error(int status, const std::string& message);
  static Response error(int status, std::string code, const std::string& message,
                        std::vector<FieldError> fields = {});
};

// An answer that a handler hands to another thread to compute (a password hash: tens of
// milliseconds of Argon2id that must not stall every other request of the server's one
// thread). The handler returns Response::later(d); whoever computes the answer calls
// fulfil() once, from any thread. The session goes on serving other connections and
// sends the answer when it is there (api/session.hpp); handle() without a session (the
// fuzzer, tests) waits for it. Thread-safe.
class Deferred {
 public:
  // The answer. Runs the on_fulfil callbacks on this thread; a second call is ignored.
  void fulfil(Response r);
  // `f` runs with the answer's status once it is there: at once on this thread when it
  // already is, else on the fulfilling thread (so it must only hand over, never block).
  void on_fulfil(std::function<void(int status)> f);
  // The answer, moved out, once fulfilled; nullopt before (or when already taken).
  std::optional<Response> take();
  // Blocks until fulfilled, then take()s it.
  Response wait();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  int status_ = 0;
  std::optional<Response> answer_;
  std::vector<std::function<void(int)>> waiters_;
};

// The stable error code for a status: 400 bad_request, 401 unauthorized, 403 forbidden,
// 404 not_found, 405 method_not_allowed, 408 timeout, 409 conflict, 413 too_large,
// 415 unsupported_media_type, 429 too_many_requests, 431 headers_too_large,
// 500 internal, 503 unavailable; anything else "error".
std::string error_code_for(int status);

// Headers sent with every answer of every server (Unix socket and HTTPS alike): a strict
// CSP (nothing but our own origin; no inline script), no framing, no MIME sniffing, no
// referrer (OWASP Secure Headers; RFC 7034; W3C CSP3).
const std::vector<std::pair<std::string, std::string>>& security_headers();

using Handler = std::function<Response(const Request&)>;
// Runs before every matched route's handler: an answer (401, 403...) stops the request
// there; nullopt lets it through. Access control lives here, not in each handler.
using Guard = std::function<std::optional<Response>(const Request&)>;
// Told of every dispatched request: the matched route's path ("" when none matched, so
// the label set stays bounded by the route table), the status, and the seconds taken.
// A deferred answer is told when it is fulfilled, on the fulfilling thread.
using Observer = std::function<void(const std::string& route, int status, double seconds)>;

class Router {
 public:
  void add(std::string method, std::string path, Handler h);
  // 404 for an unknown path, 405 for a known path with another method.
  // Handler exceptions become a 500 JSON error; they never reach the server loop.
  Response dispatch(const Request& r) const;
  // Comma-separated methods registered for path ("GET, POST"), empty when none; the
  // server sends it as the Allow header of a 405.
  std::string allow(const std::string& path) const;
  // Every (method, path) added, in order.
  std::vector<std::pair<std::string, std::string>> routes() const;
  // Requests to `path` (any method) may carry a body up to `limit` instead of
  // ServerLimits::body_limit: a whole configuration document is larger than any other body.
  void allow_body(std::string path, size_t limit) { body_limits_[std::move(path)] = limit; }
  const std::map<std::string, size_t, std::less<>>& body_limits() const { return body_limits_; }
  // At most one guard; set it after the routes, before serving.
  void set_guard(Guard g) { guard_ = std::move(g); }
  bool has_guard() const { return static_cast<bool>(guard_); }
  void set_observer(Observer o) { observer_ = std::move(o); }

 private:
  Response run(const Request& r) const;

  std::map<std::pair<std::string, std::string>, Handler> routes_;
  std::map<std::string, size_t, std::less<>> body_limits_;
  Guard guard_;
  Observer observer_;
};

// Bounds on what one client may make the server hold or wait for. The same limits apply to
// the Unix socket and HTTPS (which adds the handshake and per-client bounds). Every refusal
// is a JSON error (Response::error) sent before the connection closes, and changes nothing.
//
// Pipelining (RFC 9112 9.3): a connection parses its next request only once the previous
// answer is fully written, so one connection holds at most kPipelineDepth parsed request
// and answer. Bytes a client sends ahead stay unparsed in a read buffer capped at
// header_limit + kReadAhead; beyond that TCP flow control keeps them in the client's
// socket. So a client that pipelines N requests costs the server no more than one.
struct ServerLimits {
  size_t header_limit = 8 * 1024;   // request line + headers; beyond it: 431
  size_t body_limit = 64 * 1024;    // beyond it: 413
  // Paths allowed another body limit (Router::allow_body; the servers copy the router's
  // at start). The request's header decides, before a byte of its body is read.
  std::map<std::string, size_t, std::less<>> route_body_limits;
  // Whole request, from its first byte to its last (slowloris): 408, then close.
  std::chrono::milliseconds read_timeout = std::chrono::seconds(5);
  // Keep-alive: how long a connection may wait for the first byte of its next request
  // (and, over TLS, of its first one after the handshake); then it is closed silently.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(15);
  // Sending one answer to a client that does not read: then the connection is dropped.
  std::chrono::milliseconds write_timeout = std::chrono::seconds(10);
  // TLS handshake, from accept (HTTPS only): then the connection is dropped.
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(5);
  // A deferred answer (Deferred) not there by then: 503, then close. The configuration
  // routes wait up to 30 s for the services thread; nothing deferred should take longer.
  std::chrono::milliseconds answer_timeout = std::chrono::seconds(30);
  size_t max_connections = 64;             // served at once, in total; beyond it: 503 and close
  // Per client (HTTPS only): an IPv4 address, or an IPv6 /64. Beyond it: 429 and close.
  size_t max_connections_per_client = 16;
  // Lingering close (RFC 9112 9.6), after an answer that ends the connection: the server
  // shuts its sending side and reads and discards what the client still sends, until the
  // client closes, or it has been quiet for linger_idle, or linger_time has passed, or
  // linger_bytes came. Closing with request bytes unread makes the kernel send a TCP reset,
  // which can destroy the answer (a 413 to a large upload) before the client reads it.
  // nginx's lingering_time and lingering_timeout (30 s, 5 s) are the defaults.
  std::chrono::milliseconds linger_time = std::chrono::seconds(30);
  std::chrono::milliseconds linger_idle = std::chrono::seconds(5);
  size_t linger_bytes = 64u << 20;
};
inline constexpr size_t kPipelineDepth = 1;
inline constexpr size_t kReadAhead = 64 * 1024;

// Serves the router on a Unix stream socket (mode 0600, so only root may talk to it), on
// its own thread. Bounded: request head and body sizes, per-read timeout.
// Handlers run on the server thread; they must take the daemon's own locks.
class UnixServer {
 public:
  // The server keeps its own copy of the router. A stale socket file is replaced; a path
  // another process is still listening on is an error. Parent directories are created 0755.
  static Result<std::unique_ptr<UnixServer>> start(const std::string& socket_path, const Router& router);
  static Result<std::unique_ptr<UnixServer>> start(const std::string& socket_path, const Router& router,
                                                   const ServerLimits& limits);
  virtual ~UnixServer() = default;  // stops
  // Idempotent; joins the server thread and removes the socket file. Must not be called
  // from a handler (it would join its own thread).
  virtual void stop() = 0;
};

// Client side for catsctl and tests.
struct ClientResponse {
  int status = 0;
  std::string body;
  // Response headers in arrival order, names as sent.
  std::vector<std::pair<std::string, std::string>> headers;
  // The first header with this name (case-insensitive), or "" when absent.
  std::string header(std::string_view name) const;
};
// Any failure to get a complete response (connect, I/O, timeout, malformed reply) is an
// Error naming the socket; sys_errno is set when the OS said why (ENOENT, ECONNREFUSED...).
// An HTTP error status is not an Error: it comes back in ClientResponse.
Result<ClientResponse> unix_request(const std::string& socket_path, const std::string& method,
                                    const std::string& target, const std::string& body = {});
Result<ClientResponse> unix_request(const std::string& socket_path, const std::string& method,
                                    const std::string& target, const std::string& body,
                                    std::chrono::milliseconds timeout);
// `headers` are set after the defaults (a Content-Type here replaces application/json).
Result<ClientResponse> unix_request(const std::string& socket_path, const std::string& method,
                                    const std::string& target, const std::string& body,
                                    const std::vector<std::pair<std::string, std::string>>& headers,
                                    std::chrono::milliseconds timeout);
inline constexpr std::chrono::milliseconds kClientTimeout = std::chrono::seconds(5);

// "a=1&b=%20x" -> {a:1, b:" x"}; '+' is a space. Bad escapes or NUL bytes are an error.
Result<std::map<std::string, std::string>> parse_query(std::string_view query);

}  // namespace cats::api
