// HttpsServer, the TLS identity and https_request over real TLS on loopback.
#include "api/https.hpp"
#include "api/session.hpp"
#include "test_helpers.hpp"
#include "tls_test_client.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

#include <atomic>
#include <csignal>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace cats;
using namespace cats::api;
using namespace cats::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> kSan = {"cpe.example", "localhost", "127.0.0.1", "::1"};

mode_t mode_of(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

TlsIdentity make_identity(const std::string& dir) {
  auto id = load_or_create_identity(dir + "/cert.pem", dir + "/key.pem", "cats-cpe", kSan);
  REQUIRE(id.has_value());
  return *id;
}

struct Calls {
  std::atomic<int> n{0};
};

Router test_router(Calls& calls) {
  Router rt;
  rt.add("GET", "/who", [&calls](const Request& r) {
    ++calls.n;
    return Response::json(json::object{{"peer", r.peer}, {"local", r.local}, {"host", r.header("host")}});
  });
  rt.add("GET", "/echo", [&calls](const Request& r) {
    ++calls.n;
    return Response::json(json::object{{"n", r.query.count("n") ? r.query.at("n") : ""}});
  });
  rt.add("POST", "/echo", [&calls](const Request& r) {
    ++calls.n;
    return Response::json(json::object{{"size", r.body.size()}});
  });
  return rt;
}

uint16_t port_of(const HttpsServer& s, size_t i = 0) {
  const std::string ep = s.endpoints().at(i);
  return static_cast<uint16_t>(std::stoi(ep.substr(ep.rfind(':') + 1)));
}

struct Fixture {
  TempDir tmp;
  TlsIdentity id = make_identity(tmp.path);
  Calls calls;
  std::unique_ptr<HttpsServer> srv;
  uint16_t port = 0;

  explicit Fixture(ServerLimits lim = {}, std::vector<std::string> listen = {"127.0.0.1:0"}) {
    HttpsOptions o;
    o.listen = std::move(listen);
    o.identity = id;
    o.limits = lim;
    auto s = HttpsServer::start(o, test_router(calls));
    REQUIRE(s.has_value());
    srv = std::move(*s);
    port = port_of(*srv);
  }
  HttpsTarget target() const { return {"127.0.0.1", port, id.fingerprint_sha256, {}}; }
  Result<ClientResponse> get(const std::string& path) const { return https_request(target(), "GET", path); }
};

std::string error_code_of(const std::string& body) {
  return std::string(json::parse(body).at("error").at("code").as_string());
}

// The JSON body of a raw HTTP answer.
std::string body_of(const std::string& raw) {
  auto p = raw.find("\r\n\r\n");
  return p == std::string::npos ? std::string{} : raw.substr(p + 4);
}

}  // namespace

TEST_CASE("identity: generated once, then reloaded with the same fingerprint") {
  TempDir tmp;
  const std::string cert = tmp.path + "/tls/cert.pem", key = tmp.path + "/tls/key.pem";
  auto first = load_or_create_identity(cert, key, "cats-cpe", kSan);
  REQUIRE(first.has_value());
  CHECK(first->generated);
  CHECK(mode_of(key) == 0600);
  CHECK(mode_of(cert) == 0644);
  CHECK(first->fingerprint_sha256.size() == 95);  // 32 bytes "AB:" ... "CD"
  CHECK(cert_fingerprint_sha256(first->cert_pem).value() == first->fingerprint_sha256);

  auto again = load_or_create_identity(cert, key, "other-name", {});
  REQUIRE(again.has_value());
  CHECK_FALSE(again->generated);
  CHECK(again->fingerprint_sha256 == first->fingerprint_sha256);
  CHECK(again->cert_pem == first->cert_pem);

  // What the certificate says: P-256, SAN with names and addresses, 2 years, 128-bit serial.
  BIO* b = BIO_new_mem_buf(first->cert_pem.data(), static_cast<int>(first->cert_pem.size()));
  X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  REQUIRE(x != nullptr);
  EVP_PKEY* pk = X509_get0_pubkey(x);
  CHECK(EVP_PKEY_is_a(pk, "EC"));
  char group[64] = {};
  size_t glen = 0;
  EVP_PKEY_get_group_name(pk, group, sizeof group, &glen);
  CHECK(std::string(group) == "prime256v1");
  CHECK(X509_check_host(x, "cpe.example", 0, 0, nullptr) == 1);
  CHECK(X509_check_ip_asc(x, "127.0.0.1", 0) == 1);
  CHECK(X509_check_ip_asc(x, "::1", 0) == 1);
  CHECK(X509_check_host(x, "evil.example", 0, 0, nullptr) != 1);
  int days = 0, secs = 0;
  REQUIRE(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)) == 1);
  CHECK(days >= 730);
  CHECK(days <= 731);
  CHECK(ASN1_STRING_length(X509_get0_serialNumber(x)) == 16);
  X509_free(x);

  // Another identity gets another serial and key: fingerprints differ.
  TempDir other;
  CHECK(make_identity(other.path).fingerprint_sha256 != first->fingerprint_sha256);
}

TEST_CASE("identity: refusals change nothing") {
  TempDir a, b;
  make_identity(a.path);
  make_identity(b.path);

  SECTION("a key that belongs to another certificate") {
    auto r = load_or_create_identity(a.path + "/cert.pem", b.path + "/key.pem", "x", {});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("does not belong") != std::string::npos);
  }
  SECTION("only one of the two files") {
    std::filesystem::remove(a.path + "/cert.pem");
    auto r = load_or_create_identity(a.path + "/cert.pem", a.path + "/key.pem", "x", {});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("only one") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(a.path + "/cert.pem"));  // not regenerated
    std::filesystem::remove(b.path + "/key.pem");
    CHECK_FALSE(load_or_create_identity(b.path + "/cert.pem", b.path + "/key.pem", "x", {}).has_value());
  }
  SECTION("a key readable by others") {
    ::chmod((a.path + "/key.pem").c_str(), 0644);
    CHECK_FALSE(load_or_create_identity(a.path + "/cert.pem", a.path + "/key.pem", "x", {}).has_value());
  }
  SECTION("a name that is neither a DNS name nor an address writes nothing") {
    TempDir c;
    std::vector<std::string> bad = {"ok.example,DNS:evil.example"};
    CHECK_FALSE(load_or_create_identity(c.path + "/cert.pem", c.path + "/key.pem", "x", bad).has_value());
    CHECK_FALSE(std::filesystem::exists(c.path + "/cert.pem"));
    CHECK_FALSE(std::filesystem::exists(c.path + "/key.pem"));
  }
  SECTION("garbage is not a certificate") {
    CHECK_FALSE(cert_fingerprint_sha256("not a cert").has_value());
  }
}

TEST_CASE("HTTPS: answers carry HSTS and the security headers; peer is the client IP") {
  Fixture f;
  auto r = f.get("/who");
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->header("strict-transport-security") == "max-age=31536000");
  CHECK(r->header("X-Frame-Options") == "DENY");
  CHECK(r->header("X-Content-Type-Options") == "nosniff");
  CHECK(r->header("Referrer-Policy") == "no-referrer");
  CHECK(r->header("Content-Security-Policy").find("frame-ancestors 'none'") != std::string::npos);
  auto v = json::parse(r->body);
  CHECK(v.at("peer").as_string() == "127.0.0.1");
  CHECK(v.at("local").as_bool() == false);

  auto missing = f.get("/nope");
  REQUIRE(missing.has_value());
  CHECK(missing->status == 404);
  CHECK(missing->header("Strict-Transport-Security") == "max-age=31536000");
  CHECK(error_code_of(missing->body) == "not_found");
}

TEST_CASE("HTTPS: TLS 1.2 and 1.3 only") {
  Fixture f;
  // The client offers the old version; the server's protocol_version alert refuses it.
  TlsConn v10(f.port, TLS1_VERSION, TLS1_VERSION);
  CHECK_FALSE(v10.ok());
  CHECK(v10.failure_reason() == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION);
  TlsConn v11(f.port, TLS1_1_VERSION, TLS1_1_VERSION);
  CHECK_FALSE(v11.ok());
  CHECK(v11.failure_reason() == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION);
  TlsConn v12(f.port, TLS1_2_VERSION, TLS1_2_VERSION);
  REQUIRE(v12.ok());
  CHECK(v12.version() == TLS1_2_VERSION);
  TlsConn v13(f.port, TLS1_3_VERSION, TLS1_3_VERSION);
  REQUIRE(v13.ok());
  CHECK(v13.version() == TLS1_3_VERSION);
  REQUIRE(v12.send("GET /echo?n=12 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  CHECK(v12.read_all().rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("HTTPS: TLS 1.2 offers AEAD suites with ECDHE only") {
  Fixture f;
  auto tls12 = [&](const std::string& ciphers) {
    return TlsConn(f.port, TLS1_2_VERSION, TLS1_2_VERSION, "127.0.0.1", ciphers).ok();
  };
  CHECK(tls12("ECDHE-ECDSA-AES128-GCM-SHA256"));
  CHECK(tls12("ECDHE-ECDSA-AES256-GCM-SHA384"));
  CHECK(tls12("ECDHE-ECDSA-CHACHA20-POLY1305"));
  CHECK_FALSE(tls12("ECDHE-ECDSA-AES128-SHA"));     // CBC
  CHECK_FALSE(tls12("ECDHE-ECDSA-AES256-SHA384"));  // CBC
  CHECK_FALSE(tls12("AES128-GCM-SHA256"));          // no forward secrecy
  CHECK_FALSE(tls12("aNULL:eNULL"));
}

TEST_CASE("HTTPS: plain HTTP on the TLS port is never served") {
  Fixture f;
  UniqueFd fd = tcp_connect(f.port);
  REQUIRE(fd);
  REQUIRE(raw_send(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto reply = raw_read_all(fd);
  CHECK(reply.find("HTTP/1.1 200") == std::string::npos);
  CHECK(f.calls.n == 0);
  CHECK(f.get("/echo")->status == 200);
}

TEST_CASE("HTTPS client: trust is a pin or a CA, never nothing") {
  Fixture f;
  auto t = f.target();

  SECTION("right pin, in any spelling") {
    std::string plain;
    for (char c : t.pin_sha256)
      if (c != ':') plain += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    t.pin_sha256 = plain;
    CHECK(https_request(t, "GET", "/echo")->status == 200);
  }
  SECTION("wrong pin: refused before the request is sent") {
    TempDir other;
    t.pin_sha256 = make_identity(other.path).fingerprint_sha256;
    auto r = https_request(t, "GET", "/echo");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find(f.id.fingerprint_sha256) != std::string::npos);  // says what it saw
    CHECK(f.calls.n == 0);
  }
  SECTION("malformed pin") {
    t.pin_sha256 = "AB:CD";
    CHECK_FALSE(https_request(t, "GET", "/echo").has_value());
  }
  SECTION("neither pin nor CA") {
    t.pin_sha256.clear();
    auto r = https_request(t, "GET", "/echo");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("not offered") != std::string::npos);
    CHECK(f.calls.n == 0);
  }
  SECTION("CA file: the server's own certificate verifies, with its names") {
    t.pin_sha256.clear();
    t.ca_file = f.tmp.path + "/cert.pem";
    CHECK(https_request(t, "GET", "/echo")->status == 200);
    t.host = "localhost";
    CHECK(https_request(t, "GET", "/echo")->status == 200);
  }
  SECTION("CA file of another identity: refused") {
    TempDir other;
    make_identity(other.path);
    t.pin_sha256.clear();
    t.ca_file = other.path + "/cert.pem";
    CHECK_FALSE(https_request(t, "GET", "/echo").has_value());
    CHECK(f.calls.n == 0);
  }
}

TEST_CASE("HTTPS limits: each gets its status and a JSON error, and the server goes on") {
  ServerLimits lim;
  lim.header_limit = 1024;
  lim.body_limit = 1024;
  lim.read_timeout = 300ms;
  lim.idle_timeout = 10s;
  lim.max_connections = 3;
  lim.max_connections_per_client = 2;
  Fixture f(lim);

  SECTION("body: 413") {
    auto r = https_request(f.target(), "POST", "/echo", std::string(4096, 'x'));
    REQUIRE(r.has_value());
    CHECK(r->status == 413);
    CHECK(error_code_of(r->body) == "too_large");
    CHECK(r->header("Strict-Transport-Security") == "max-age=31536000");
    CHECK(f.calls.n == 0);
  }
  SECTION("header: 431") {
    auto raw = tls_exchange(f.port, "GET /echo HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
    CHECK(raw.rfind("HTTP/1.1 431", 0) == 0);
    CHECK(error_code_of(body_of(raw)) == "headers_too_large");
  }
  SECTION("whole-request time (slowloris): 408, then close") {
    TlsConn slow(f.port);
    REQUIRE(slow.ok());
    REQUIRE(slow.send("GET /echo HTTP/1.1\r\nHost: x\r\n"));
    auto t0 = std::chrono::steady_clock::now();
    // Not a wait for the server: the pause is the slow client's (a header line a third of
    // the way into read_timeout), and trickling does not extend the deadline.
    std::this_thread::sleep_for(100ms);
    slow.send("X-Drip: 1\r\n");
    auto raw = slow.read_all();
    CHECK(raw.rfind("HTTP/1.1 408", 0) == 0);
    CHECK(error_code_of(body_of(raw)) == "timeout");
    CHECK(raw.find("Strict-Transport-Security: max-age=31536000") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    CHECK(f.calls.n == 0);
  }
  SECTION("connections per client: 429; in total: 503") {
    // A completed handshake means counted: the server counts a connection when it accepts
    // it (Session's constructor), before its side of the handshake runs.
    TlsConn a(f.port), b(f.port);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    auto r = f.get("/echo");
    REQUIRE(r.has_value());
    CHECK(r->status == 429);
    CHECK(error_code_of(r->body) == "too_many_requests");
    // Another client still gets in, and fills the server...
    TlsConn c(f.port, TLS1_2_VERSION, TLS1_3_VERSION, "127.0.0.2");
    REQUIRE(c.ok());
    // ...so a third client is turned away with 503.
    auto raw = tls_exchange(f.port, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", "127.0.0.3");
    CHECK(raw.rfind("HTTP/1.1 503", 0) == 0);
    CHECK(error_code_of(body_of(raw)) == "unavailable");
    CHECK(f.calls.n == 0);
    // The held connections are still served.
    REQUIRE(c.send("GET /echo?n=c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    CHECK(c.read_all().find("\"n\":\"c\"") != std::string::npos);
  }
  SECTION("pipelined requests are answered one by one, in order") {
    auto raw = tls_exchange(f.port,
                            "GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                            "GET /echo?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"
                            "GET /echo?n=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    auto p1 = raw.find("\"n\":\"1\""), p2 = raw.find("\"n\":\"2\""), p3 = raw.find("\"n\":\"3\"");
    REQUIRE(p3 != std::string::npos);
    CHECK(p1 < p2);
    CHECK(p2 < p3);
    CHECK(f.calls.n == 3);
  }
  // Whatever was refused above, the server answers afterwards (the refused connections'
  // slots come back once they close).
  bool served = false;
  for (int i = 0; i < 40 && !served; ++i) {
    auto r = f.get("/echo");
    served = r.has_value() && r->status == 200;
    if (!served) std::this_thread::sleep_for(50ms);
  }
  CHECK(served);
}

TEST_CASE("HTTPS lingering close: a 413 reaches a client still sending its upload; the linger is bounded") {
  // A write to a connection the server has reset must fail, not kill the test.
  ::signal(SIGPIPE, SIG_IGN);
  ServerLimits lim;
  lim.body_limit = 1024;
  lim.max_connections_per_client = 1;  // a lingering connection holds the client's only slot
  lim.linger_idle = 300ms;
  lim.linger_time = 800ms;
  const std::string head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8388608\r\n\r\n";
  const std::string chunk(64 * 1024, 'x');

  SECTION("the whole upload is taken (and dropped) and the 413 read after it") {
    lim.linger_time = 30s;
    Fixture f(lim);
    TlsConn c(f.port);
    REQUIRE(c.ok());
    REQUIRE(c.send(head));
    // 4 MiB after the answer was sent: the server must keep reading (and dropping) them, or
    // its close becomes a reset that fails these writes and can destroy the answer.
    for (int i = 0; i < 64; ++i) REQUIRE(c.send(chunk));
    auto raw = c.read_all();
    CHECK(raw.rfind("HTTP/1.1 413", 0) == 0);
    CHECK(error_code_of(body_of(raw)) == "too_large");
    CHECK(f.calls.n == 0);
  }
  auto slot_back_within = [](const Fixture& f, std::chrono::milliseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
      auto r = f.get("/echo");
      if (r.has_value() && r->status == 200) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  };
  SECTION("a client that goes quiet is let go after linger_idle") {
    lim.linger_time = 30s;
    Fixture f(lim);
    TlsConn quiet(f.port);
    REQUIRE(quiet.ok());
    REQUIRE(quiet.send(head + chunk));
    CHECK(quiet.read_all().rfind("HTTP/1.1 413", 0) == 0);
    auto r = f.get("/echo");  // the quiet connection still lingers: its slot is taken
    REQUIRE(r.has_value());
    CHECK(r->status == 429);
    CHECK(slot_back_within(f, 5s));  // linger_idle (0.3 s), while `quiet` stays open
  }
  SECTION("a client that never pauses is let go after linger_time") {
    Fixture f(lim);
    TlsConn busy(f.port);
    REQUIRE(busy.ok());
    REQUIRE(busy.send(head));
    const auto t0 = std::chrono::steady_clock::now();
    bool cut = false;
    while (!cut && std::chrono::steady_clock::now() - t0 < 10s) {
      cut = !busy.send(std::string(1024, 'y'));
      std::this_thread::sleep_for(20ms);  // the client's pace: well inside linger_idle
    }
    CHECK(cut);  // linger_time (0.8 s) ended it although the client never paused
    CHECK(slot_back_within(f, 5s));
  }
}

TEST_CASE("HTTPS timeouts: a silent TLS client and an idle keep-alive are closed without an answer") {
  ServerLimits lim;
  lim.handshake_timeout = 200ms;
  lim.idle_timeout = 200ms;
  Fixture f(lim);

  UniqueFd silent = tcp_connect(f.port);  // TCP, but never a ClientHello
  REQUIRE(silent);
  auto t0 = std::chrono::steady_clock::now();
  CHECK(raw_read_all(silent).empty());
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);

  TlsConn idle(f.port);
  REQUIRE(idle.ok());
  t0 = std::chrono::steady_clock::now();
  CHECK(idle.read_all().empty());  // no 408: no request had begun
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}

TEST_CASE("HTTPS: IPv6 listen address") {
  TempDir probe;
  Fixture f({}, {"127.0.0.1:0", "[::1]:0"});
  REQUIRE(f.srv->endpoints().size() == 2);
  CHECK(f.srv->endpoints()[1].rfind("[::1]:", 0) == 0);
  HttpsTarget t{"::1", port_of(*f.srv, 1), f.id.fingerprint_sha256, {}};
  auto r = https_request(t, "GET", "/who");
  REQUIRE(r.has_value());
  CHECK(json::parse(r->body).at("peer").as_string() == "::1");
  CHECK(json::parse(r->body).at("host").as_string() == "[::1]:" + std::to_string(t.port));
}

TEST_CASE("HTTPS start: bad options fail and nothing listens") {
  TempDir a, b;
  Calls calls;
  HttpsOptions o;
  o.identity = make_identity(a.path);
  SECTION("no address") { CHECK_FALSE(HttpsServer::start(o, test_router(calls)).has_value()); }
  SECTION("not ip:port") {
    o.listen = {"localhost:443"};
    CHECK_FALSE(HttpsServer::start(o, test_router(calls)).has_value());
  }
  SECTION("a key that is not the certificate's") {
    o.listen = {"127.0.0.1:0"};
    o.identity.key_pem = make_identity(b.path).key_pem;
    CHECK_FALSE(HttpsServer::start(o, test_router(calls)).has_value());
  }
  SECTION("an address in use") {
    o.listen = {"127.0.0.1:0"};
    auto first = HttpsServer::start(o, test_router(calls));
    REQUIRE(first.has_value());
    o.listen = {(*first)->endpoints()[0]};
    CHECK_FALSE(HttpsServer::start(o, test_router(calls)).has_value());
    (*first)->stop();
    (*first)->stop();  // idempotent
  }
}

TEST_CASE("per-client limit key: an IPv4 address, an IPv6 /64") {
  CHECK(detail::client_key("192.0.2.7") == "192.0.2.7");
  CHECK(detail::client_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64");
  CHECK(detail::client_key("2001:db8:1:2:ffff:1:2:3") == detail::client_key("2001:db8:1:2::9"));
  CHECK(detail::client_key("2001:db8:1:3::9") != detail::client_key("2001:db8:1:2::9"));
  CHECK(detail::client_key("").empty());  // the Unix socket: no per-client bound
}

TEST_CASE("HSTS is for HTTPS only: the Unix socket's answers do not carry it") {
  TempDir tmp;
  Calls calls;
  auto srv = UnixServer::start(tmp.path + "/api.sock", test_router(calls));
  REQUIRE(srv.has_value());
  auto r = unix_request(tmp.path + "/api.sock", "GET", "/who");
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->header("X-Frame-Options") == "DENY");
  CHECK(r->header("Strict-Transport-Security").empty());
  CHECK(json::parse(r->body).at("local").as_bool() == true);
}
