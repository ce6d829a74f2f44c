// Test fixture: one tunnel as configured (TunnelSpec) and the WireGuard device as it reports
// itself once that spec has been applied. Used by the overlay diff and the daemon's status
// and metrics tests.
#pragma once

#include "base/ip.hpp"
#include "overlay/plan.hpp"
#include "wg/wg.hpp"

namespace cats::test {

inline wg::Key key(uint8_t b) {
  wg::Key k{};
  k.fill(b);
  return k;
}
inline overlay::TunnelSpec spec() {
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
inline wg::Device converged(const wg::Key& priv) {
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
}  // namespace cats::test
