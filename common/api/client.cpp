// Synchronous client: async operations on a private io_context, because Asio's blocking
// calls cannot time out (they poll forever on EAGAIN).
#include "api/api.hpp"
#include "api/http.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace cats::api {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Local = net::local::stream_protocol;

using detail::kMaxResponseBody;

class Exchange {
 public:
  Exchange(const std::string& path, http::request<http::string_body> req, std::chrono::milliseconds timeout)
      : path_(path), stream_(ioc_), req_(std::move(req)) {
    parser_.body_limit(kMaxResponseBody);
    // One deadline for connect + write + read, not per step.
    stream_.expires_after(timeout);
  }

  Result<ClientResponse> run() {
    stream_.async_connect(Local::endpoint(path_), [this](beast::error_code ec) { on_connect(ec); });
    ioc_.run();
    if (error_) return *error_;
    return detail::to_client_response(parser_.get());
  }

 private:
  void on_connect(beast::error_code ec) {
    if (ec) return set_error(ec, "cannot connect to " + path_);
    http::async_write(stream_, req_, [this](beast::error_code e, size_t) { on_write(e); });
  }

  void on_write(beast::error_code ec) {
    // The server may answer (413) and close before reading everything; still read the reply.
    if (ec && ec != net::error::broken_pipe && ec != net::error::connection_reset)
      return set_error(ec, "sending to " + path_);
    http::async_read(stream_, buffer_, parser_, [this](beast::error_code e, size_t) { on_read(e); });
  }

  void on_read(beast::error_code ec) {
    if (ec) set_error(ec, "reading reply from " + path_);
  }

  void set_error(beast::error_code ec, const std::string& what) { error_ = detail::client_error(ec, what); }

  std::string path_;
  net::io_context ioc_{1};
  beast::basic_stream<Local> stream_;
  http::request<http::string_body> req_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
  std::optional<Error> error_;
};

}  // namespace

Error detail::client_error(const boost::beast::error_code& ec, const std::string& what) {
  if (ec == beast::error::timeout) return Error::sys(ETIMEDOUT, what + " (no reply within the timeout)");
  if (ec.category() == boost::system::system_category()) return Error::sys(ec.value(), what);
  return Error::msg(what + ": " + ec.message());
}

Result<detail::BeastRequest> detail::client_request(const std::string& method, const std::string& target,
                                                    const std::string& host, const std::string& body) {
  http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) return Error::msg("unknown HTTP method: " + method);
  if (target.empty() || target.front() != '/') return Error::msg("request target must start with '/': " + target);
  BeastRequest req{verb, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "catsctl");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.keep_alive(false);
  req.prepare_payload();
  return req;
}

Result<ClientResponse> unix_request(const std::string& socket_path, const std::string& method,
                                    const std::string& target, const std::string& body) {
  return unix_request(socket_path, method, target, body, kClientTimeout);
}

Result<ClientResponse> unix_request(const std::string& socket_path, const std::string& method,
                                    const std::string& target, const std::string& body,
                                    std::chrono::milliseconds timeout) {
  return unix_request(socket_path, method, target, body, {}, timeout);
}

Result<ClientResponse> unix_request(const std::string& socket_path, const std::string& method,
                                    const std::string& target, const std::string& body,
                                    const std::vector<std::pair<std::string, std::string>>& headers,
                                    std::chrono::milliseconds timeout) {
  CATS_TRY_ASSIGN(req, detail::client_request(method, target, "localhost", body));
  for (const auto& [k, v] : headers) req.set(k, v);
  req.prepare_payload();
  return Exchange(socket_path, std::move(req), timeout).run();
}

}  // namespace cats::api
