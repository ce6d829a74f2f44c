#include "api/api.hpp"
#include "test_helpers.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <regex>
#include <stdexcept>
#include <thread>

using namespace cats;
using namespace cats::api;
using namespace cats::test;
namespace json = boost::json;

namespace {

Router echo_router() {
  Router rt;
  rt.add("GET", "/echo", [](const Request& r) {
    json::object q;
    for (const auto& [k, v] : r.query) q[k] = v;
    return Response::json(json::object{{"path", r.path}, {"query", q}});
  });
  rt.add("POST", "/echo", [](const Request& r) {
    return Response::json(json::object{{"size", r.body.size()}, {"body", r.body}}, 201);
  });
  rt.add("GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("kaput"); });
  return rt;
}

mode_t mode_of(const std::string& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

bool exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

}  // namespace

TEST_CASE("UnixServer serves requests over a 0600 socket") {
  TempDir tmp;
  const std::string sock = tmp.path + "/run/cats/api.sock";
  auto srv = UnixServer::start(sock, echo_router());
  REQUIRE(srv.has_value());

  SECTION("socket and parent directory modes") {
    CHECK(mode_of(sock) == 0600);
    CHECK(mode_of(tmp.path + "/run/cats") == 0755);
  }

  SECTION("GET with percent-encoded query parameters") {
    auto r = unix_request(sock, "GET", "/echo?name=branch%201&x=a%2Bb&empty");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    auto v = json::parse(r->body);
    CHECK(v.at("path").as_string() == "/echo");
    CHECK(v.at("query").at("name").as_string() == "branch 1");
    CHECK(v.at("query").at("x").as_string() == "a+b");
    CHECK(v.at("query").at("empty").as_string() == "");
  }

  SECTION("POST body reaches the handler") {
    auto r = unix_request(sock, "POST", "/echo", R"({"k":1})");
    REQUIRE(r.has_value());
    CHECK(r->status == 201);
    auto v = json::parse(r->body);
    CHECK(v.at("size").as_int64() == 7);
    CHECK(v.at("body").as_string() == R"({"k":1})");
  }

  SECTION("body over 64 KiB is 413") {
    auto r = unix_request(sock, "POST", "/echo", std::string(70 * 1024, 'x'));
    REQUIRE(r.has_value());
    CHECK(r->status == 413);
    CHECK(json::parse(r->body).at("error").at("code").as_string() == "too_large");
    // The server is still fine afterwards.
    CHECK(unix_request(sock, "GET", "/echo")->status == 200);
  }

  SECTION("a route that allows a larger body takes it; the others keep 64 KiB, chunked too") {
    TempDir t2;
    auto rt = echo_router();
    rt.add("POST", "/doc", [](const Request& r) { return Response::json(json::object{{"size", r.body.size()}}); });
    rt.allow_body("/doc", 512 * 1024);
    const std::string s2 = t2.path + "/api.sock";
    auto srv2 = UnixServer::start(s2, rt);
    REQUIRE(srv2.has_value());
    auto big = unix_request(s2, "POST", "/doc?x=1", std::string(300 * 1024, 'x'));
    REQUIRE(big.has_value());
    CHECK(big->status == 200);
    CHECK(json::parse(big->body).at("size").as_int64() == 300 * 1024);
    CHECK(unix_request(s2, "POST", "/doc", std::string(600 * 1024, 'x'))->status == 413);
    CHECK(unix_request(s2, "POST", "/echo", std::string(70 * 1024, 'x'))->status == 413);
    // Chunked: no Content-Length to refuse from the header, so the chunks are counted.
    std::string chunk(40 * 1024, 'y');
    char size_line[32];
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
    std::string chunked = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    for (int i = 0; i < 2; ++i) chunked += size_line + chunk + "\r\n";
    chunked += "0\r\n\r\n";
    CHECK(raw_exchange(s2, chunked).rfind("HTTP/1.1 413", 0) == 0);
    CHECK(raw_exchange(s2, std::regex_replace(chunked, std::regex("POST /echo"), "POST /doc")).rfind("HTTP/1.1 200", 0) == 0);
  }

  SECTION("404, 405 with Allow, handler exception is 500") {
    CHECK(unix_request(sock, "GET", "/nope")->status == 404);
    auto raw = raw_exchange(sock, "DELETE /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(raw.rfind("HTTP/1.1 405", 0) == 0);
    CHECK(raw.find("Allow: GET, POST\r\n") != std::string::npos);
    auto boom = unix_request(sock, "GET", "/boom");
    REQUIRE(boom.has_value());
    CHECK(boom->status == 500);
    CHECK(unix_request(sock, "GET", "/echo")->status == 200);
  }

  SECTION("malformed request bytes get a 400 JSON error") {
    auto raw = raw_exchange(sock, "HELLO THERE\x01\x02\r\n\r\n");
    CHECK(raw.rfind("HTTP/1.1 400", 0) == 0);
    CHECK(raw.find("Content-Type: application/json") != std::string::npos);
    CHECK(raw.find("{\"error\":") != std::string::npos);
  }

  SECTION("oversized header is 431") {
    auto raw = raw_exchange(sock, "GET /echo HTTP/1.1\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n");
    CHECK(raw.rfind("HTTP/1.1 431", 0) == 0);
  }

  SECTION("keep-alive: two requests on one connection") {
    auto raw = raw_exchange(sock,
                            "GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                            "GET /echo?n=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    auto first = raw.find("HTTP/1.1 200");
    REQUIRE(first != std::string::npos);
    CHECK(raw.find("HTTP/1.1 200", first + 1) != std::string::npos);
    CHECK(raw.find("\"n\":\"2\"") != std::string::npos);
  }

  SECTION("a second server on the live path fails clearly") {
    auto second = UnixServer::start(sock, echo_router());
    REQUIRE_FALSE(second.has_value());
    CHECK(second.error().message.find("already listening") != std::string::npos);
    CHECK(unix_request(sock, "GET", "/echo")->status == 200);  // the first is untouched
  }

  SECTION("stop() is idempotent and removes the socket") {
    (*srv)->stop();
    CHECK_FALSE(exists(sock));
    (*srv)->stop();
    auto r = unix_request(sock, "GET", "/echo");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().sys_errno == ENOENT);
  }
}

TEST_CASE("a stale socket file is replaced, other files are not") {
  TempDir tmp;
  const std::string sock = tmp.path + "/api.sock";
  {
    // Bound and closed without unlink: what a crashed daemon leaves behind.
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    auto a = unix_addr(sock);
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  REQUIRE(exists(sock));
  auto srv = UnixServer::start(sock, echo_router());
  REQUIRE(srv.has_value());
  CHECK(unix_request(sock, "GET", "/echo")->status == 200);
  (*srv)->stop();

  const std::string file = tmp.path + "/plain";
  { std::FILE* f = std::fopen(file.c_str(), "w"); std::fclose(f); }
  auto bad = UnixServer::start(file, echo_router());
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message.find("not a socket") != std::string::npos);
  CHECK(exists(file));

  CHECK_FALSE(UnixServer::start(tmp.path + "/" + std::string(120, 'x'), echo_router()).has_value());
}

TEST_CASE("limits: read timeout and connection cap") {
  TempDir tmp;
  const std::string sock = tmp.path + "/api.sock";
  ServerLimits lim;
  lim.read_timeout = std::chrono::milliseconds(200);
  lim.max_connections = 1;
  auto srv = UnixServer::start(sock, echo_router(), lim);
  REQUIRE(srv.has_value());

  // The first connection holds the only slot with half a request...
  UniqueFd slow = raw_connect(sock);
  REQUIRE(slow);
  REQUIRE(raw_send(slow, "GET /echo HTTP/1.1\r\n"));
  // ...so the next one is turned away...
  auto rejected = raw_exchange(sock, "GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n");
  CHECK(rejected.rfind("HTTP/1.1 503", 0) == 0);
  // ...until the read timeout answers the slow one with 408 and closes it.
  auto t0 = std::chrono::steady_clock::now();
  auto late = raw_read_all(slow);
  CHECK(late.rfind("HTTP/1.1 408", 0) == 0);
  CHECK(late.find("\"code\":\"timeout\"") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  slow.reset();
  // The slot comes back once the server has let the closed session go: soon, not at once.
  int status = 0;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
       status != 200 && std::chrono::steady_clock::now() < deadline;) {
    auto r = unix_request(sock, "GET", "/echo");
    status = r ? r->status : -1;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(status == 200);
}

TEST_CASE("unix_request times out against a server that never answers") {
  TempDir tmp;
  const std::string sock = tmp.path + "/mute.sock";
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
  auto a = unix_addr(sock);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd.get(), 4) == 0);  // never accepts: connect works, no reply comes
  auto t0 = std::chrono::steady_clock::now();
  auto r = unix_request(sock, "GET", "/x", {}, std::chrono::milliseconds(300));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().sys_errno == ETIMEDOUT);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK_FALSE(unix_request(sock, "BREW", "/x").has_value());
}
