// The management plane over HTTPS: the same Router and request pipeline as the Unix socket
// (api/session.hpp), behind TLS 1.2/1.3, per-client limits and HSTS; the appliance's TLS
// identity (configured or self-signed on first start); and the pinning client catsctl uses.
#pragma once

#include "api/api.hpp"
#include "base/result.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cats::api {

// A certificate and its private key, as PEM. The key is a secret: never logged nor
// answered, and wiped when the object goes.
struct TlsIdentity {
  std::string cert_pem;            // leaf first, then any chain
  std::string key_pem;
  std::string fingerprint_sha256;  // of the leaf's DER, "AB:CD:...", as browsers show it
  bool generated = false;          // created by this call (first start)

  TlsIdentity() = default;
  TlsIdentity(const TlsIdentity&) = default;
  TlsIdentity(TlsIdentity&&) = default;
  TlsIdentity& operator=(const TlsIdentity&) = default;
  TlsIdentity& operator=(TlsIdentity&&) = default;
  ~TlsIdentity();
};

// Both files exist: load them, and check that the key belongs to the certificate.
// Neither exists: generate a self-signed ECDSA P-256 certificate (CN common_name, SAN the
// given DNS names and IP addresses, 2 years, random 128-bit serial, serverAuth), write the
// key 0600 and the certificate 0644, each atomically (temp file + rename), parent
// directories created 0700. Only one exists: an error (a half-written identity is not
// silently replaced). The key file must not be readable by group/others.
Result<TlsIdentity> load_or_create_identity(const std::string& cert_file, const std::string& key_file,
                                            const std::string& common_name, std::span<const std::string> san);

// SHA-256 of a certificate's DER encoding, "AB:CD:..." (95 characters). Accepts DER or
// PEM (then the first certificate in it).
Result<std::string> cert_fingerprint_sha256(std::string_view der_or_pem);

struct HttpsOptions {
  // "ip:port": "0.0.0.0:8443", "[::]:8443", "127.0.0.1:0" (port 0: any free one, see
  // HttpsServer::endpoints()). At least one. An IPv6 address listens on IPv6 only.
  std::vector<std::string> listen;
  TlsIdentity identity;
  ServerLimits limits;
};

// Serves the router over HTTPS on its own thread: TLS 1.2 (Mozilla "intermediate" AEAD
// ECDHE suites) and 1.3 (all its suites) only, server cipher preference, no renegotiation,
// no compression (RFC 9325). Every answer carries the security headers and HSTS. Requests
// have `peer` = client IP and `local` = false. Plain HTTP on the port is closed unanswered.
// Handlers run on the server thread; they must take the daemon's own locks.
class HttpsServer {
 public:
  // The server keeps its own copy of the router. Fails if the identity does not load or an
  // address cannot be bound (in use, not ours...); then nothing is listening.
  static Result<std::unique_ptr<HttpsServer>> start(const HttpsOptions& options, const Router& router);
  virtual ~HttpsServer() = default;  // stops
  // Idempotent; joins the server thread. Not from a handler.
  virtual void stop() = 0;
  // The bound addresses, "127.0.0.1:43127" / "[::1]:8443", in `listen` order.
  virtual std::vector<std::string> endpoints() const = 0;
};

// Where catsctl or a test finds the server, and how it knows it is the right one.
// Exactly like ssh's known_hosts or `curl --pinnedpubkey`: with a pin, the certificate must
// have exactly that SHA-256 fingerprint and no chain validation is done; without one, the
// chain must verify against ca_file and name `host`. Neither: refused (no insecure mode).
struct HttpsTarget {
  std::string host;        // name or address ("192.0.2.1", "::1", "cpe.example")
  uint16_t port = 443;
  std::string pin_sha256;  // "AB:CD:..." or 64 hex digits, any case; empty: none
  std::string ca_file;     // PEM bundle; empty: none
};

// One request on a fresh TLS connection (TLS 1.2+). The request is sent only after the
// certificate checked out. Failures to get a complete answer (resolve, connect, TLS,
// pin mismatch - naming the fingerprint seen -, timeout) are an Error; an HTTP error
// status is not. The Host header is set from the target; `headers` add to it. The timeout
// covers connect, handshake, write and read; resolving a host name (not an address) is
// getaddrinfo's and may take longer.
Result<ClientResponse> https_request(const HttpsTarget& to, const std::string& method, const std::string& target,
                                     const std::string& body = {},
                                     const std::vector<std::pair<std::string, std::string>>& headers = {},
                                     std::chrono::milliseconds timeout = kClientTimeout);

}  // namespace cats::api
