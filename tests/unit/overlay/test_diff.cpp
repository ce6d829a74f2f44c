#include "daemon/daemon.hpp"
#include "overlay/apply.hpp"

#include <catch2/catch.hpp>

using namespace cats;

namespace {
wg::Key key(uint8_t b) {
  wg::Key k{};
  k.fill(b);
  return k;
}
overlay::TunnelSpec spec() {
  overlay::TunnelSpec t;
  t.ifname = "cats-wan1";
  t.label = "wan1";
  t.listen_port = 51801;
  t.fwmark = 0x00f10000;
  overlay::PeerSpec p;
  p.name = "cloud1";
  p.public_key = key(1);
  p.endpoint = *parse_endpoint("203.0.113.2:51811");
  p.keepalive = 5;
  p.allowed_ips = {*parse_prefix("10.2.1.0/24"), *parse_prefix("10.2.1.1/32")};
  t.peers.push_back(p);
  return t;
}
// The device as WireGuard reports it once `spec()` has been applied.
wg::Device converged(const wg::Key& priv) {
  wg::Device d;
  d.name = "cats-wan1";
  d.public_key = *wg::public_from_private(priv);
  d.listen_port = 51801;
  d.fwmark = 0x00f10000;
  wg::Peer p;
  p.public_key = key(1);
  p.endpoint = *parse_endpoint("203.0.113.2:51811");
  p.persistent_keepalive = 5;
  // Reported in another order: the diff must not care.
  p.allowed_ips = {*parse_prefix("10.2.1.1/32"), *parse_prefix("10.2.1.0/24")};
  p.last_handshake_unix_ns = 123;
  d.peers.push_back(p);
  return d;
}
}  // namespace

TEST_CASE("diff of a converged device is empty (adoption changes nothing)") {
  auto priv = *wg::generate_private_key();
  auto u = overlay::diff_device(converged(priv), spec(), priv);
  CHECK(overlay::update_is_empty(u));
}

TEST_CASE("a fresh device gets key, port, fwmark and the peer") {
  auto priv = *wg::generate_private_key();
  wg::Device empty;
  empty.name = "cats-wan1";
  auto u = overlay::diff_device(empty, spec(), priv);
  REQUIRE(u.private_key.has_value());
  CHECK(*u.listen_port == 51801);
  CHECK(*u.fwmark == 0x00f10000u);
  REQUIRE(u.peers.size() == 1);
  CHECK(u.peers[0].replace_allowed_ips);
  CHECK(u.peers[0].allowed_ips.size() == 2);
  CHECK(*u.peers[0].persistent_keepalive == 5);
}

TEST_CASE("only what differs is updated; unknown peers are removed") {
  auto priv = *wg::generate_private_key();
  auto dev = converged(priv);
  dev.peers[0].allowed_ips.pop_back();
  wg::Peer stranger;
  stranger.public_key = key(9);
  dev.peers.push_back(stranger);
  auto u = overlay::diff_device(dev, spec(), priv);
  CHECK_FALSE(u.private_key.has_value());
  CHECK_FALSE(u.listen_port.has_value());
  REQUIRE(u.peers.size() == 2);
  CHECK(u.peers[0].public_key == key(1));
  CHECK(u.peers[0].replace_allowed_ips);
  CHECK_FALSE(u.peers[0].endpoint.has_value());
  CHECK(u.peers[1].public_key == key(9));
  CHECK(u.peers[1].remove);
}

TEST_CASE("a learned endpoint is kept when none is configured (roaming)") {
  auto priv = *wg::generate_private_key();
  auto t = spec();
  t.peers[0].endpoint.reset();
  auto dev = converged(priv);
  dev.peers[0].endpoint = *parse_endpoint("192.0.2.2:40000");
  CHECK(overlay::update_is_empty(overlay::diff_device(dev, t, priv)));
}

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

TEST_CASE("metrics_response runs every collector into one 0.0.4 text answer") {
  std::vector<api::prom::Collector> cs;
  cs.push_back([](api::prom::Exposition& e) { e.gauge("a_b", "A.", {}, 1); });
  cs.push_back([](api::prom::Exposition& e) { e.gauge("a_b", "A.", {{"x", "y"}}, 2); });
  auto r = daemon::metrics_response(cs);
  CHECK(r.status == 200);
  CHECK(r.content_type == "text/plain; version=0.0.4; charset=utf-8");
  REQUIRE(r.raw.has_value());
  CHECK(*r.raw == "# HELP a_b A.\n# TYPE a_b gauge\na_b 1\na_b{x=\"y\"} 2\n");
}
