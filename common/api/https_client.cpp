// https_request: catsctl's and the tests' HTTPS client. Async operations on a private
// io_context under one deadline, as unix_request. Trust is explicit: a pinned certificate
// fingerprint (ssh known-hosts style) or a CA bundle, never neither.
#include "api/http.hpp"
#include "api/https.hpp"
#include "base/ip.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <optional>

namespace cats::api {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using Tcp = net::ip::tcp;

// "ab:cd:..." or "ABCD..." -> 64 upper-case hex digits, or nullopt.
std::optional<std::string> normalise_pin(std::string_view pin) {
  std::string out;
  for (char c : pin) {
    if (c == ':') continue;
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return std::nullopt;
    out += c;
  }
  if (out.size() != 64) return std::nullopt;
  return out;
}

Result<std::unique_ptr<ssl::context>> client_context(const HttpsTarget& to) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);  // RFC 8996
  if (!to.pin_sha256.empty()) {
    // The pin replaces chain validation; it is checked after the handshake, before any
    // request byte (which may carry a token) is sent.
    ctx->set_verify_mode(ssl::verify_none);
    return ctx;
  }
  beast::error_code ec;
  ctx->load_verify_file(to.ca_file, ec);
  if (ec) return Error::msg("CA file " + to.ca_file + ": " + ec.message());
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

class TlsExchange {
 public:
  TlsExchange(const HttpsTarget& to, std::optional<std::string> pin, ssl::context& ctx, detail::BeastRequest req,
              std::chrono::milliseconds timeout)
      : to_(to), pin_(std::move(pin)), what_(to.host + ":" + std::to_string(to.port)),
        resolver_(ioc_), stream_(ioc_, ctx), req_(std::move(req)), timeout_(timeout) {
    parser_.body_limit(detail::kMaxResponseBody);
  }

  Result<ClientResponse> run() {
    if (!pin_) stream_.set_verify_callback(ssl::host_name_verification(to_.host));
    // SNI carries names only (RFC 6066 3).
    if (!parse_address(to_.host) && SSL_set_tlsext_host_name(stream_.native_handle(), to_.host.c_str()) != 1)
      return Error::msg("bad host name " + to_.host);
    auto flags = parse_address(to_.host) ? Tcp::resolver::numeric_host : Tcp::resolver::flags{};
    resolver_.async_resolve(to_.host, std::to_string(to_.port), flags,
                            [this](beast::error_code ec, Tcp::resolver::results_type r) { on_resolve(ec, r); });
    ioc_.run();
    if (error_) return *error_;
    return detail::to_client_response(parser_.get());
  }

 private:
  void on_resolve(beast::error_code ec, const Tcp::resolver::results_type& r) {
    if (ec) return fail(ec, "cannot resolve " + to_.host);
    auto& tcp = beast::get_lowest_layer(stream_);
    tcp.expires_after(timeout_);  // one deadline for connect + handshake + write + read
    tcp.async_connect(r, [this](beast::error_code e, const Tcp::endpoint&) { on_connect(e); });
  }

  void on_connect(beast::error_code ec) {
    if (ec) return fail(ec, "cannot connect to " + what_);
    stream_.async_handshake(ssl::stream_base::client, [this](beast::error_code e) { on_handshake(e); });
  }

  void on_handshake(beast::error_code ec) {
    if (ec) return fail(ec, "TLS handshake with " + what_);
    if (pin_) {
      X509* cert = SSL_get0_peer_certificate(stream_.native_handle());
      std::string seen = "(none)";
      if (cert) {
        unsigned char* der = nullptr;
        int len = i2d_X509(cert, &der);
        if (len > 0) {
          auto fp = cert_fingerprint_sha256(std::string_view(reinterpret_cast<char*>(der), static_cast<size_t>(len)));
          if (fp) seen = *fp;
        }
        OPENSSL_free(der);
      }
      if (normalise_pin(seen) != pin_) {
        error_ = Error::msg("certificate of " + what_ + " has SHA-256 fingerprint " + seen +
                            ", not the pinned one: refusing to talk to it");
        return close();
      }
    }
    http::async_write(stream_, req_, [this](beast::error_code e, size_t) { on_write(e); });
  }

  void on_write(beast::error_code ec) {
    // The server may answer (413) and close before reading everything; still read the reply.
    if (ec && ec != net::error::broken_pipe && ec != net::error::connection_reset)
      return fail(ec, "sending to " + what_);
    http::async_read(stream_, buffer_, parser_, [this](beast::error_code e, size_t) { on_read(e); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return fail(ec, "reading reply from " + what_);
    close();
  }

  void fail(beast::error_code ec, const std::string& what) {
    error_ = detail::client_error(ec, what);
    close();
  }

  void close() {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  HttpsTarget to_;
  std::optional<std::string> pin_;
  std::string what_;
  net::io_context ioc_{1};
  Tcp::resolver resolver_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  detail::BeastRequest req_;
  std::chrono::milliseconds timeout_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
  std::optional<Error> error_;
};

}  // namespace

Result<ClientResponse> https_request(const HttpsTarget& to, const std::string& method, const std::string& target,
                                     const std::string& body,
                                     const std::vector<std::pair<std::string, std::string>>& headers,
                                     std::chrono::milliseconds timeout) {
  if (to.host.empty()) return Error::msg("HTTPS: no host");
  if (to.pin_sha256.empty() && to.ca_file.empty())
    return Error::msg("HTTPS to " + to.host + ": give the server certificate's SHA-256 fingerprint or a CA file; "
                      "an unverified connection is not offered");
  std::optional<std::string> pin;
  if (!to.pin_sha256.empty()) {
    pin = normalise_pin(to.pin_sha256);
    if (!pin) return Error::msg("certificate pin must be a SHA-256 fingerprint (64 hex digits, ':' allowed)");
  }
  bool v6 = to.host.find(':') != std::string::npos;
  std::string host_header = (v6 ? "[" + to.host + "]" : to.host) + ":" + std::to_string(to.port);
  CATS_TRY_ASSIGN(req, detail::client_request(method, target, host_header, body));
  for (const auto& [k, v] : headers) req.set(k, v);
  CATS_TRY_ASSIGN(ctx, client_context(to));
  return TlsExchange(to, std::move(pin), *ctx, std::move(req), timeout).run();
}

}  // namespace cats::api
