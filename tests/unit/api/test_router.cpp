#include "api/api.hpp"
#include "api/http.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace cats::api;
namespace json = boost::json;

namespace {
Request req(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  return r;
}
std::string error_of(const Response& r) { return std::string(r.body.at("error").as_string()); }
}  // namespace

TEST_CASE("router matches exact paths and methods") {
  Router rt;
  rt.add("GET", "/api/v1/status", [](const Request&) { return Response::json(json::object{{"ok", true}}); });
  rt.add("POST", "/api/v1/status", [](const Request&) { return Response::json(nullptr, 201); });
  rt.add("GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("kaput"); });
  rt.add("GET", "/boom2", [](const Request&) -> Response { throw 42; });

  CHECK(rt.dispatch(req("GET", "/api/v1/status")).status == 200);
  CHECK(rt.dispatch(req("POST", "/api/v1/status")).status == 201);

  auto nf = rt.dispatch(req("GET", "/api/v1/status/"));  // exact match only
  CHECK(nf.status == 404);
  CHECK(error_of(nf).find("/api/v1/status/") != std::string::npos);

  auto na = rt.dispatch(req("DELETE", "/api/v1/status"));
  CHECK(na.status == 405);
  CHECK(rt.allow("/api/v1/status") == "GET, POST");
  CHECK(rt.allow("/nope").empty());

  auto boom = rt.dispatch(req("GET", "/boom"));
  CHECK(boom.status == 500);
  CHECK(error_of(boom).find("kaput") != std::string::npos);
  CHECK(rt.dispatch(req("GET", "/boom2")).status == 500);
}

TEST_CASE("Response::error is a JSON object with an error string") {
  auto r = Response::error(400, "bad thing");
  CHECK(r.status == 400);
  CHECK(json::serialize(r.body) == R"({"error":"bad thing"})");
}

TEST_CASE("query strings are percent-decoded") {
  auto q = parse_query("a=1&b=hello%20world&c=x+y&flag&&d=%2F%3d");
  REQUIRE(q.has_value());
  CHECK(q->at("a") == "1");
  CHECK(q->at("b") == "hello world");
  CHECK(q->at("c") == "x y");
  CHECK(q->at("flag").empty());
  CHECK(q->at("d") == "/=");
  CHECK(q->size() == 5);
  CHECK(parse_query("").has_value());
  CHECK_FALSE(parse_query("a=%").has_value());
  CHECK_FALSE(parse_query("a=%4").has_value());
  CHECK_FALSE(parse_query("a=%zz").has_value());
  CHECK_FALSE(parse_query("a=%00").has_value());
}

TEST_CASE("raw request parsing: the server's path without a socket") {
  using detail::parse_raw;
  ServerLimits lim;
  auto ok = parse_raw("POST /x?k=v HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", lim);
  REQUIRE(ok.request);
  auto r = detail::to_request(*ok.request);
  REQUIRE(r.has_value());
  CHECK(r->method == "POST");
  CHECK(r->path == "/x");
  CHECK(r->query.at("k") == "v");
  CHECK(r->body == "abc");

  CHECK(parse_raw("NOT HTTP AT ALL\r\n\r\n", lim).error_status == 400);
  CHECK(parse_raw("GET / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", lim).error_status == 413);
  CHECK(parse_raw("GET / HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n", lim).error_status == 431);
  CHECK(parse_raw("GET / HTTP/1.1\r\nHost: h\r\n", lim).incomplete);

  // Absolute-form and bad escapes reach the converter and become 400s.
  auto abs = parse_raw("GET http://x/ HTTP/1.1\r\n\r\n", lim);
  REQUIRE(abs.request);
  Router rt;
  CHECK(detail::handle(rt, *abs.request).result_int() == 400);
  auto esc = parse_raw("GET /a?x=%zz HTTP/1.1\r\n\r\n", lim);
  REQUIRE(esc.request);
  CHECK(detail::handle(rt, *esc.request).result_int() == 400);
  CHECK(detail::handle(rt, *ok.request).result_int() == 404);
}
