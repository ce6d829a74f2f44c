#include "daemon/daemon.hpp"

#include <catch2/catch.hpp>

using namespace cats;

namespace {
api::Request req(std::string method, std::string path, std::string peer, bool local = false) {
  api::Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.peer = std::move(peer);
  r.local = local;
  return r;
}
int status(const api::Guard& g, const api::Request& r) {
  auto a = g(r);
  return a ? a->status : 0;  // 0: let through
}
}  // namespace

TEST_CASE("read-only guard: local socket anything; HTTPS only GET status/metrics from metrics_allow") {
  config::Management m;
  m.metrics_allow = {*parse_prefix("10.1.0.0/24"), *parse_prefix("fd00::/64")};
  auto g = daemon::read_only_guard(m);
  CHECK(status(g, req("POST", "/api/v1/anything", "", true)) == 0);
  CHECK(status(g, req("GET", "/metrics", "10.1.0.7")) == 0);
  CHECK(status(g, req("HEAD", "/api/v1/status", "fd00::9")) == 0);
  CHECK(status(g, req("GET", "/metrics", "10.1.1.7")) == 403);
  CHECK(status(g, req("GET", "/metrics", "not-an-ip")) == 403);
  CHECK(status(g, req("POST", "/metrics", "10.1.0.7")) == 403);
  CHECK(status(g, req("GET", "/api/v1/paths", "10.1.0.7")) == 403);
  auto nobody = daemon::read_only_guard(config::Management{});
  CHECK(status(nobody, req("GET", "/metrics", "10.1.0.7")) == 403);
  auto a = nobody(req("GET", "/metrics", "10.1.0.7"));
  REQUIRE(a);
  CHECK(a->body.at("error").at("code") == "forbidden");
}

TEST_CASE("request stats: one histogram per (route, status), unmatched as route=\"other\"") {
  daemon::RequestStats st;
  st.observe("/api/v1/status", 200, 0.002);
  st.observe("/api/v1/status", 200, 0.2);
  st.observe("", 404, 0.0001);
  api::prom::Exposition e;
  st.collect(e);
  const std::string text = e.render();
  CHECK(text.find("# TYPE cats_api_request_duration_seconds histogram") != std::string::npos);
  CHECK(text.find("cats_api_request_duration_seconds_count{route=\"/api/v1/status\",code=\"200\"} 2") != std::string::npos);
  CHECK(text.find("cats_api_request_duration_seconds_count{route=\"other\",code=\"404\"} 1") != std::string::npos);
  CHECK(text.find("cats_api_request_duration_seconds_bucket{route=\"/api/v1/status\",code=\"200\",le=\"0.005\"} 1") !=
        std::string::npos);
}
