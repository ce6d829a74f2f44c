// overlay::diff_device: what a WireGuard device needs to match its TunnelSpec.
#include "overlay/apply.hpp"
#include "tunnel_fixture.hpp"

#include <catch2/catch.hpp>

using namespace cats;
using test::converged;
using test::key;
using test::spec;

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
