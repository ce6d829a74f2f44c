// The WAN input filter's desired state and its nft text (contract in input_filter.hpp).
#include "overlay/input_filter.hpp"

#include <algorithm>
#include <charconv>
#include <string>

namespace cats::overlay {
namespace {

// An echo request costs a reply: enough for an operator's ping and a monitor, not for a
// flood (RFC 4890 §4.3.1 leaves the rate to the site).
constexpr const char* kEchoLimit = "limit rate 10/second burst 20 packets";

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string quoted_set(const std::vector<std::string>& names) {
  std::vector<std::string> q;
  for (const auto& n : names) q.push_back("\"" + n + "\"");
  return "{ " + join(q) + " }";
}

// Whether a packet arriving on a WAN can reach a socket bound to `a` (Linux accepts a
// packet for any local address on any interface, RFC 1122's weak host model): not for
// loopback, and the LAN address is what the operator meant to keep off the WAN.
bool wan_reachable(const IpAddress& a, const std::optional<IpAddress>& lan) {
  if (a.is_loopback()) return false;
  return !(lan && *lan == a);
}

}  // namespace

std::optional<InputFilter> cpe_input_filter(const config::CpeConfig& c) {
  if (c.firewall.wan_input == config::Firewall::WanInput::off) return std::nullopt;
  InputFilter f;
  for (const auto& w : c.wans) {
    f.wan_interfaces.push_back(w.interface);
    if (w.listen_port) f.wireguard_ports.push_back(w.listen_port);
  }
  std::sort(f.wireguard_ports.begin(), f.wireguard_ports.end());
  f.wireguard_ports.erase(std::unique(f.wireguard_ports.begin(), f.wireguard_ports.end()), f.wireguard_ports.end());
  for (const auto& ep : c.management.listen) {
    const auto a = ep.address();
    if (!wan_reachable(a, c.lan.address)) continue;
    InputFilter::Https h;
    h.v6 = a.is_v6();
    if (!a.is_unspecified()) h.address = a;
    h.port = ep.port();
    if (std::find(f.management.begin(), f.management.end(), h) == f.management.end()) f.management.push_back(h);
  }
  return f;
}

std::string input_filter_body(const InputFilter& f) {
  const std::string counter = std::string("counter name \"") + kWanInputDropCounter + "\"";
  std::string b;
  auto rule = [&](const std::string& r) { b += "\t\t" + r + "\n"; };
  b += std::string("\tcounter ") + kWanInputDropCounter + " {\n\t}\n";
  b += "\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n";
  // Only what arrives on a WAN is ours to judge; an empty WAN list filters nothing.
  if (f.wan_interfaces.empty()) rule("accept");
  else rule("iifname != " + quoted_set(f.wan_interfaces) + " accept");
  rule("ct state established,related accept");
  rule("icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } "
       "ip6 hoplimit 255 accept");
  rule("ct state invalid " + counter + " drop");
  rule("icmp type { destination-unreachable, time-exceeded, parameter-problem } accept");
  rule("icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } accept");
  rule(std::string("icmp type echo-request ") + kEchoLimit + " accept");
  rule(std::string("icmpv6 type echo-request ") + kEchoLimit + " accept");
  rule("meta nfproto ipv4 udp sport 67 udp dport 68 accept");
  rule("meta nfproto ipv6 udp sport 547 udp dport 546 accept");
  if (!f.wireguard_ports.empty()) {
    std::vector<std::string> ports;
    for (auto p : f.wireguard_ports) ports.push_back(std::to_string(p));
    rule("udp dport { " + join(ports) + " } accept");
  }
  for (const auto& h : f.management) {
    const std::string port = "tcp dport " + std::to_string(h.port) + " accept";
    // An unspecified address serves its own family only (the HTTPS server binds IPv6
    // listeners v6-only).
    if (h.address) rule(std::string(h.v6 ? "ip6" : "ip") + " daddr " + h.address->to_string() + " " + port);
    else rule(std::string("meta nfproto ") + (h.v6 ? "ipv6 " : "ipv4 ") + port);
  }
  rule(counter + " drop");
  b += "\t}\n";
  return b;
}

std::optional<uint64_t> counter_packets(std::string_view listing) {
  constexpr std::string_view key = "packets ";
  const auto at = listing.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  uint64_t n = 0;
  const char* first = listing.data() + at + key.size();
  const auto [end, ec] = std::from_chars(first, listing.data() + listing.size(), n);
  if (ec != std::errc() || end == first) return std::nullopt;
  return n;
}

}  // namespace cats::overlay
