// Desired overlay state as plain data: tunnels with their peers, routes, rules, sysctls and
// our nft table. The CPE and vCPE each build one from their config (pure functions, golden
// tested); the Applier converges the kernel to it.
#pragma once

#include "base/hex.hpp"
#include "base/ip.hpp"
#include "rtnl/rtnl.hpp"
#include "wg/keys.hpp"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cats::overlay {

struct PeerSpec {
  std::string name;  // config name of the remote site
  wg::Key public_key{};
  std::optional<UdpEndpoint> endpoint;
  uint16_t keepalive = 0;
  std::vector<Prefix> allowed_ips;  // sorted, unique
  bool operator==(const PeerSpec&) const = default;
};

struct TunnelSpec {
  std::string ifname;
  std::string label;  // CPE: WAN name; vCPE: "<cpe>/<wan>"
  uint16_t listen_port = 0;  // 0 = kernel's choice (not enforced on adopt)
  uint32_t fwmark = 0;
  uint32_t mtu = 1420;       // WireGuard's default for a 1500-byte underlay
  // The site's inner address as a host prefix. It gives our own packets over the tunnel
  // the right source, and it matters for reverse-path filtering: the kernel rejects
  // (rp_filter 1 or 2) anything arriving on an interface without an address unless the
  // best route back uses that very interface, which fails for every path but the first.
  std::optional<Prefix> address;
  std::vector<PeerSpec> peers;
};

struct RouteSpec {
  uint32_t table = 0;
  Prefix dst;
  std::string dev;
  std::optional<IpAddress> gateway;
  bool operator==(const RouteSpec&) const = default;
};

struct Plan {
  std::vector<TunnelSpec> tunnels;
  std::vector<RouteSpec> routes;
  std::vector<rtnl::Rule> rules;
  std::vector<std::pair<std::string, std::string>> sysctls;  // /proc/sys relative path, value
  std::string nft_script;  // body of "table inet cats { ... }"; empty = no table
  // false on the CPE: table inet cats belongs to steering (common/steer/programmer.hpp),
  // which fills it from the selector's decisions. apply() then leaves the table alone;
  // teardown still removes it.
  bool nft_managed = true;
  // The CPE's WAN input filter, table inet cats_input (input_filter.hpp): its body, or ""
  // for none ([firewall] wan_input = "off": apply deletes the table). nullopt: the table
  // is not this site's business (the vCPE): nothing touches it. Unlike table inet cats it
  // outlives the daemon (a firewall that vanishes on stop is worse than none): teardown
  // leaves it, only Applier::remove_input_filter (--cleanup) deletes it.
  std::optional<std::string> input_nft_script;
  struct RequiredLink {
    std::string name;
    std::string field;  // the config field naming it, for the error message
  };
  std::vector<RequiredLink> required_links;  // must exist before we create anything
};

using cats::hex32;  // base/hex.hpp: how marks appear in nft scripts, logs and golden text

// A site's inner address (as a host prefix) followed by its subnets: what a peer may send
// from (WireGuard allowed IPs) and what we route to it.
std::vector<Prefix> inner_prefixes(const IpAddress& address, const std::vector<Prefix>& subnets);

// One line per item, stable order: what golden tests compare and what logs show.
std::string render(const Plan& p);

}  // namespace cats::overlay
