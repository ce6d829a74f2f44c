// Test-only raw TLS client (blocking OpenSSL over a TCP socket): sends arbitrary bytes,
// pins the TLS version range, and binds any 127.0.0.0/8 source address, which the real
// client (api::https_request) deliberately cannot do.
#pragma once

#include "base/fd.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cstdint>
#include <memory>
#include <string>

namespace cats::test {

// TCP to 127.0.0.1:port (or [::1]) from source `src` (a loopback address), with a 3 s
// receive timeout; empty fd on failure.
inline UniqueFd tcp_connect(uint16_t port, const std::string& src = "127.0.0.1") {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval tv{3, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, src.c_str(), &from.sin_addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) return {};
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) return {};
  return fd;
}

class TlsConn {
 public:
  // Connects and handshakes with a client restricted to [min_version, max_version]; ok()
  // tells whether the handshake succeeded. Security level 0 so that the client itself
  // is willing to offer TLS 1.0/1.1: a refusal then comes from the server.
  // `tls12_ciphers` is the OpenSSL cipher list offered for TLS <= 1.2.
  TlsConn(uint16_t port, int min_version = TLS1_2_VERSION, int max_version = TLS1_3_VERSION,
          const std::string& src = "127.0.0.1", const std::string& tls12_ciphers = "ALL")
      : fd_(tcp_connect(port, src)), ctx_(SSL_CTX_new(TLS_client_method())) {
    SSL_CTX_set_security_level(ctx_.get(), 0);
    SSL_CTX_set_cipher_list(ctx_.get(), (tls12_ciphers + ":@SECLEVEL=0").c_str());
    SSL_CTX_set_min_proto_version(ctx_.get(), min_version);
    SSL_CTX_set_max_proto_version(ctx_.get(), max_version);
    if (!fd_) return;
    ssl_.reset(SSL_new(ctx_.get()));
    SSL_set_fd(ssl_.get(), fd_.get());
    ERR_clear_error();
    ok_ = SSL_connect(ssl_.get()) == 1;
    if (!ok_) reason_ = ERR_GET_REASON(ERR_peek_last_error());
  }

  bool ok() const { return ok_; }
  // Why the handshake failed (an SSL_R_* reason), 0 when it did not.
  int failure_reason() const { return reason_; }
  int version() const { return ssl_ ? SSL_version(ssl_.get()) : 0; }

  bool send(const std::string& bytes) {
    return ok_ && SSL_write(ssl_.get(), bytes.data(), static_cast<int>(bytes.size())) == static_cast<int>(bytes.size());
  }

  // Everything until the server closes (or the 3 s receive timeout).
  std::string read_all() {
    std::string out;
    char buf[4096];
    while (ok_) {
      int n = SSL_read(ssl_.get(), buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };
  UniqueFd fd_;
  std::unique_ptr<SSL_CTX, SslFree> ctx_;
  std::unique_ptr<SSL, SslFree> ssl_;
  bool ok_ = false;
  int reason_ = 0;
};

inline std::string tls_exchange(uint16_t port, const std::string& bytes, const std::string& src = "127.0.0.1") {
  TlsConn c(port, TLS1_2_VERSION, TLS1_3_VERSION, src);
  if (!c.ok()) return {};
  c.send(bytes);
  return c.read_all();
}

}  // namespace cats::test
