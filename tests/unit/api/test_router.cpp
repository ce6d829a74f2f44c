#include "api/api.hpp"
#include "api/http.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
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
std::string error_of(const Response& r) { return std::string(r.body.at("error").at("message").as_string()); }
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

TEST_CASE("Response::error is {error: {code, message, fields}}") {
  auto r = Response::error(400, "bad thing");
  CHECK(r.status == 400);
  CHECK(json::serialize(r.body) == R"({"error":{"code":"bad_request","message":"bad thing","fields":[]}})");
  auto f = Response::error(422, "invalid", "2 fields", {{"/services/0/vip", "not an address"}, {"/name", "empty"}});
  CHECK(json::serialize(f.body) ==
        R"({"error":{"code":"invalid","message":"2 fields","fields":[{"field":"/services/0/vip","message":"not an address"},)"
        R"({"field":"/name","message":"empty"}]}})");
}

TEST_CASE("every answer carries the security headers; handler headers and raw bodies pass through") {
  Router rt;
  rt.add("GET", "/m", [](const Request&) {
    auto r = Response::text("a 1\n", "text/plain; version=0.0.4");
    r.headers = {{"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}, {"Cache-Control", "max-age=60"}};
    return r;
  });
  rt.add("GET", "/h", [](const Request& q) {
    return Response::json(json::object{{"cookie", q.header("cookie")}, {"x", q.header("x-a")}, {"local", q.local},
                                       {"peer", q.peer}, {"none", q.header("absent")}});
  });
  auto m = detail::parse_raw("GET /m HTTP/1.1\r\nHost: x\r\n\r\n", ServerLimits{});
  REQUIRE(m.request);
  auto res = detail::handle(rt, *m.request, {});
  CHECK(res[boost::beast::http::field::content_type] == "text/plain; version=0.0.4");
  CHECK(res.body() == "a 1\n");
  CHECK(res[boost::beast::http::field::cache_control] == "max-age=60");
  CHECK(std::distance(res.find("Set-Cookie"), res.end()) >= 2);
  for (const auto& [k, v] : security_headers()) {
    if (k == "Cache-Control") continue;
    CHECK(res[k] == v);
  }
  auto h = detail::parse_raw("GET /h HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\nX-A: 1\r\nCookie: b=2\r\nx-a: 2\r\n\r\n",
                             ServerLimits{});
  REQUIRE(h.request);
  auto hr = detail::handle(rt, *h.request, detail::Origin{false, "192.0.2.7"});
  auto v = json::parse(hr.body());
  CHECK(v.at("cookie") == "a=1; b=2");
  CHECK(v.at("x") == "1, 2");
  CHECK(v.at("local") == false);
  CHECK(v.at("peer") == "192.0.2.7");
  CHECK(v.at("none") == "");
  CHECK(hr[boost::beast::http::field::cache_control] == "no-store");
  CHECK(hr["X-Frame-Options"] == "DENY");
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
  CHECK(detail::handle(rt, *abs.request, {}).result_int() == 400);
  auto esc = parse_raw("GET /a?x=%zz HTTP/1.1\r\n\r\n", lim);
  REQUIRE(esc.request);
  CHECK(detail::handle(rt, *esc.request, {}).result_int() == 400);
  CHECK(detail::handle(rt, *ok.request, {}).result_int() == 404);
}

TEST_CASE("a guard runs before matched routes only and can stop them") {
  Router rt;
  int calls = 0;
  rt.add("GET", "/open", [&](const Request&) { ++calls; return Response::json(1); });
  rt.add("POST", "/closed", [&](const Request&) { ++calls; return Response::json(2); });
  std::vector<std::string> seen;
  rt.set_guard([&](const Request& q) -> std::optional<Response> {
    seen.push_back(q.method + " " + q.path);
    if (q.method == "POST") return Response::error(403, "no");
    return std::nullopt;
  });
  CHECK(rt.dispatch(req("GET", "/open")).status == 200);
  auto denied = rt.dispatch(req("POST", "/closed"));
  CHECK(denied.status == 403);
  CHECK(denied.body.at("error").at("code") == "forbidden");
  CHECK(rt.dispatch(req("GET", "/nowhere")).status == 404);
  CHECK(calls == 1);
  CHECK(seen == std::vector<std::string>{"GET /open", "POST /closed"});
}

TEST_CASE("the observer sees every request: matched route (or empty), status, duration") {
  Router rt;
  rt.add("GET", "/a", [](const Request&) { return Response::json(1); });
  std::vector<std::pair<std::string, int>> seen;
  double total = 0;
  rt.set_observer([&](const std::string& route, int status, double s) {
    seen.emplace_back(route, status);
    total += s;
  });
  rt.dispatch(req("GET", "/a"));
  rt.dispatch(req("GET", "/nope/12345"));
  rt.dispatch(req("POST", "/a"));
  CHECK(seen == std::vector<std::pair<std::string, int>>{{"/a", 200}, {"", 404}, {"", 405}});
  CHECK(total >= 0.0);
}
