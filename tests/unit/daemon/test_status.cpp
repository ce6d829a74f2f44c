// The daemon's GET /api/v1/status and GET /metrics parts (daemon::status_json,
// daemon_metrics, MetricsRoute).
#include "daemon/daemon.hpp"
#include "gunzip.hpp"
#include "tunnel_fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace cats;
using test::converged;
using test::key;
using test::spec;

TEST_CASE("status JSON names peers and shows handshakes") {
  daemon::Site site;
  site.role = "cpe";
  site.daemon.name = "branch1";
  site.plan.tunnels.push_back(spec());
  overlay::TunnelSpec missing = spec();
  missing.ifname = "cats-wan2";
  missing.label = "wan2";
  site.plan.tunnels.push_back(missing);
  auto priv = *wg::generate_private_key();
  auto v = daemon::status_json(site, "userspace", {converged(priv)});
  auto& t = v.at("tunnels").as_array();
  REQUIRE(t.size() == 2);
  CHECK(t[0].at("wan") == "wan1");
  CHECK(t[0].at("up").as_bool());
  CHECK(t[0].at("peers").as_array()[0].at("name") == "cloud1");
  CHECK(t[0].at("peers").as_array()[0].at("last_handshake").as_double() == Approx(123e-9));
  CHECK_FALSE(t[1].at("up").as_bool());
  CHECK(t[1].at("peers").as_array().empty());
}

TEST_CASE("daemon metrics: build, start time and WireGuard peers of the plan by name") {
  daemon::Site site;
  site.role = "cpe";
  site.plan.tunnels.push_back(spec());
  overlay::TunnelSpec missing = spec();  // no device: no peer series
  missing.ifname = "cats-wan2";
  site.plan.tunnels.push_back(missing);
  auto priv = *wg::generate_private_key();
  auto dev = converged(priv);
  dev.peers[0].last_handshake_unix_ns = 1'700'000'000'500'000'000;
  dev.peers[0].rx_bytes = 1234;
  dev.peers[0].tx_bytes = 5678;
  wg::Peer stranger;  // on the device but not in the plan: left out (labels from config only)
  stranger.public_key = key(7);
  dev.peers.push_back(stranger);
  auto fresh = converged(priv);  // before the first handshake: no handshake sample
  fresh.name = "cats-wan3";
  fresh.peers[0].last_handshake_unix_ns = 0;
  overlay::TunnelSpec third = spec();
  third.ifname = "cats-wan3";
  site.plan.tunnels.push_back(third);

  api::prom::Exposition e;
  daemon::daemon_metrics(e, site, {dev, fresh}, 1700000000.25);
  const std::string v = daemon::build_version();
  CHECK(e.render() ==
        "# HELP cats_build_info Build of this daemon; the value is always 1.\n"
        "# TYPE cats_build_info gauge\n"
        "cats_build_info{version=\"" + v + "\"} 1\n"
        "# HELP cats_start_time_seconds When this daemon process started, unix time in seconds.\n"
        "# TYPE cats_start_time_seconds gauge\n"
        "cats_start_time_seconds 1700000000.25\n"
        "# HELP cats_wireguard_peer_last_handshake_seconds Last WireGuard handshake with the peer, unix time in "
        "seconds; absent before the first.\n"
        "# TYPE cats_wireguard_peer_last_handshake_seconds gauge\n"
        "cats_wireguard_peer_last_handshake_seconds{tunnel=\"cats-wan1\",peer=\"cloud1\"} 1700000000.5\n"
        "# HELP cats_wireguard_peer_receive_bytes_total Bytes received from the WireGuard peer.\n"
        "# TYPE cats_wireguard_peer_receive_bytes_total counter\n"
        "cats_wireguard_peer_receive_bytes_total{tunnel=\"cats-wan1\",peer=\"cloud1\"} 1234\n"
        "cats_wireguard_peer_receive_bytes_total{tunnel=\"cats-wan3\",peer=\"cloud1\"} 0\n"
        "# HELP cats_wireguard_peer_transmit_bytes_total Bytes sent to the WireGuard peer.\n"
        "# TYPE cats_wireguard_peer_transmit_bytes_total counter\n"
        "cats_wireguard_peer_transmit_bytes_total{tunnel=\"cats-wan1\",peer=\"cloud1\"} 5678\n"
        "cats_wireguard_peer_transmit_bytes_total{tunnel=\"cats-wan3\",peer=\"cloud1\"} 0\n");
  CHECK_FALSE(v.empty());
}

TEST_CASE("MetricsRoute runs every collector into one 0.0.4 text answer") {
  std::vector<api::prom::Collector> cs;
  cs.push_back([](api::prom::Exposition& e) { e.gauge("a_b", "A.", {}, 1); });
  cs.push_back([](api::prom::Exposition& e) { e.gauge("a_b", "A.", {{"x", "y"}}, 2); });
  // A per-request collector adding to a state family: still one group per family.
  const std::vector<api::prom::Collector> per_request{
      [](api::prom::Exposition& e) { e.gauge("a_b", "A.", {{"x", "z"}}, 3); },
      [](api::prom::Exposition& e) { e.gauge("c_d", "C.", {}, 4); }};
  auto r = daemon::MetricsRoute(cs, {})(api::Request{});
  CHECK(r.status == 200);
  CHECK(r.content_type == "text/plain; version=0.0.4; charset=utf-8");
  REQUIRE(r.raw.has_value());
  CHECK(*r.raw == "# HELP a_b A.\n# TYPE a_b gauge\na_b 1\na_b{x=\"y\"} 2\n");
  const daemon::MetricsRoute route(cs, per_request);
  api::Request gzip_req;
  gzip_req.headers["accept-encoding"] = "gzip";
  const std::string want =
      "# HELP a_b A.\n# TYPE a_b gauge\na_b 1\na_b{x=\"y\"} 2\na_b{x=\"z\"} 3\n# HELP c_d C.\n# TYPE c_d gauge\nc_d 4\n";
  CHECK(*route(api::Request{}).raw == want);
  CHECK(test::gunzip(*route(gzip_req).raw) == want);
}

TEST_CASE("MetricsRoute is gzip for a scraper that asks (Prometheus), plain otherwise") {
  std::vector<api::prom::Collector> cs;
  cs.push_back([](api::prom::Exposition& e) {
    for (int i = 0; i < 50; ++i) e.gauge("cats_x_ratio", "X.", {{"vcpe", "cloud" + std::to_string(i)}}, i / 100.0);
  });
  api::Request plain_req, gzip_req;
  gzip_req.headers["accept-encoding"] = "gzip";  // what Prometheus sends (lower case: to_request)
  const daemon::MetricsRoute route(cs, {});
  auto plain = route(plain_req);
  auto z = route(gzip_req);
  auto has = [](const api::Response& r, const std::string& k, const std::string& v) {
    return std::any_of(r.headers.begin(), r.headers.end(), [&](const auto& h) { return h.first == k && h.second == v; });
  };
  CHECK(has(plain, "Vary", "Accept-Encoding"));
  CHECK_FALSE(has(plain, "Content-Encoding", "gzip"));
  CHECK(has(z, "Vary", "Accept-Encoding"));
  CHECK(has(z, "Content-Encoding", "gzip"));
  CHECK(z.content_type == plain.content_type);
  CHECK(z.raw->size() < plain.raw->size());
  CHECK(test::gunzip(*z.raw) == *plain.raw);
}
