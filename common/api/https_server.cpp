// HttpsServer: the shared session (api/session.hpp) over TLS on TCP, one acceptor per
// listen address, all on one io_context thread like UnixServer.
#include "api/https.hpp"
#include "api/session.hpp"
#include "base/ip.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <openssl/ssl.h>

#include <fcntl.h>

namespace cats::api {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace ssl = net::ssl;
using Tcp = net::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using Listener = detail::Listener<Tcp>;

// Mozilla's "intermediate" TLS 1.2 suites (AEAD with ECDHE only; its DHE ones are left
// out since we load no DH parameters), and every TLS 1.3 suite. RFC 9325 4.2.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:prime256v1:secp384r1";

Result<std::shared_ptr<ssl::context>> make_tls_context(const TlsIdentity& id) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* c = ctx->native_handle();
  // TLS 1.0/1.1 are deprecated (RFC 8996); compression invites CRIME; renegotiation is a
  // DoS lever and needless since TLS 1.3 dropped it; our cipher order, not the client's.
  if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 || SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1)
    return Error::msg("TLS: cannot restrict versions to 1.2-1.3");
  // (OpenSSL 3 refuses client-initiated renegotiation unless ALLOW_CLIENT_RENEGOTIATION.)
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1 || SSL_CTX_set_ciphersuites(c, kTls13Suites) != 1 ||
      SSL_CTX_set1_groups_list(c, kGroups) != 1)
    return Error::msg("TLS: cipher configuration refused");
  beast::error_code ec;
  ctx->use_certificate_chain(net::buffer(id.cert_pem), ec);
  if (ec) return Error::msg("TLS: certificate: " + ec.message());
  ctx->use_private_key(net::buffer(id.key_pem), ssl::context::pem, ec);
  if (ec) return Error::msg("TLS: private key: " + ec.message());
  if (SSL_CTX_check_private_key(c) != 1) return Error::msg("TLS: the private key does not belong to the certificate");
  return ctx;
}

// "ip:port"; port 0 picks a free port (tests), which parse_endpoint alone refuses.
Result<Tcp::endpoint> parse_listen(const std::string& s) {
  bool any_port = s.size() > 2 && s.compare(s.size() - 2, 2, ":0") == 0;
  CATS_TRY_ASSIGN(ep, parse_endpoint(any_port ? s.substr(0, s.size() - 1) + "1" : s));
  return Tcp::endpoint(ep.address(), any_port ? 0 : ep.port());
}

std::string to_string(const Tcp::endpoint& ep) {
  return ep.address().is_v6() ? "[" + ep.address().to_string() + "]:" + std::to_string(ep.port())
                              : ep.address().to_string() + ":" + std::to_string(ep.port());
}

Result<Tcp::acceptor> open_acceptor(net::io_context& ioc, const Tcp::endpoint& ep, const std::string& what) {
  Tcp::acceptor acc(ioc);
  beast::error_code ec;
  acc.open(ep.protocol(), ec);
  if (ec) return Error::sys(ec.value(), "socket for " + what);
  detail::set_cloexec(acc.native_handle());
  acc.set_option(net::socket_base::reuse_address(true), ec);
  // "[::]:443" means IPv6 only; IPv4 gets its own address, so each family is explicit.
  if (!ec && ep.address().is_v6()) acc.set_option(net::ip::v6_only(true), ec);
  if (ec) return Error::sys(ec.value(), "socket options for " + what);
  acc.bind(ep, ec);
  if (ec) return Error::sys(ec.value(), "bind " + what);
  acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Error::sys(ec.value(), "listen " + what);
  return acc;
}

// The client's IP as handlers and the per-client limit see it; an IPv4-mapped IPv6
// address is the IPv4 client it is.
std::string peer_of(const Tcp::socket& s) {
  beast::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "unknown";
  auto a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}

class HttpsServerImpl final : public HttpsServer {
 public:
  HttpsServerImpl(std::unique_ptr<detail::IoThread> io, std::vector<std::shared_ptr<Listener>> ls,
                  std::vector<std::string> eps)
      : io_(std::move(io)), listeners_(std::move(ls)), endpoints_(std::move(eps)) {
    io_->start();
  }
  ~HttpsServerImpl() override { stop(); }

  void stop() override {
    if (listeners_.empty()) return;
    // As UnixServer: the listeners (acceptors, timers) go before their io_context.
    io_->stop([this] {
      for (auto& l : listeners_) l->close();
      listeners_.clear();
    });
    log::info("api", "stopped serving HTTPS");
  }
  std::vector<std::string> endpoints() const override { return endpoints_; }

 private:
  std::unique_ptr<detail::IoThread> io_;
  std::vector<std::shared_ptr<Listener>> listeners_;
  std::vector<std::string> endpoints_;
};

}  // namespace

Result<std::unique_ptr<HttpsServer>> HttpsServer::start(const HttpsOptions& options, const Router& router) {
  if (options.listen.empty()) return Error::msg("HTTPS: no listen address");
  auto state = std::make_shared<detail::ServerState>();
  state->router = router;
  state->limits = options.limits;
  state->limits.route_body_limits.insert(router.body_limits().begin(), router.body_limits().end());
  CATS_TRY_ASSIGN(tls, make_tls_context(options.identity));
  state->tls = std::move(tls);

  auto io = std::make_unique<detail::IoThread>();
  state->poster = io->poster();
  std::vector<std::shared_ptr<Listener>> listeners;
  std::vector<std::string> bound;
  for (const auto& addr : options.listen) {
    CATS_TRY_ASSIGN(ep, parse_listen(addr));
    CATS_TRY_ASSIGN(acc, open_acceptor(io->ioc(), ep, "HTTPS " + addr));
    bound.push_back(to_string(acc.local_endpoint()));
    listeners.push_back(std::make_shared<Listener>(io->ioc(), std::move(acc), [state](Tcp::socket s) {
      std::string peer = peer_of(s);
      beast::error_code ignored;
      s.set_option(Tcp::no_delay(true), ignored);  // small JSON answers: no Nagle delay
      detail::start_session<TlsStream>(state, detail::Origin{false, std::move(peer)}, std::move(s), *state->tls);
    }));
  }
  for (auto& l : listeners) l->run();
  std::string all;
  for (const auto& b : bound) all += (all.empty() ? "" : ", ") + b;
  auto fp = cert_fingerprint_sha256(options.identity.cert_pem);
  log::info("api", "serving HTTPS on " + all + " (certificate SHA-256 " + (fp ? *fp : "?") + ")");
  return std::unique_ptr<HttpsServer>(new HttpsServerImpl(std::move(io), std::move(listeners), std::move(bound)));
}

}  // namespace cats::api
