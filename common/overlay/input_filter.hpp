// The CPE's WAN input filter: table inet cats_input (base/slice.hpp), a default-deny
// `input` chain for packets arriving on the WAN interfaces. Nothing but the management
// HTTPS port and the WireGuard ports answers there (issue 11); LAN, loopback and tunnel
// input is not this table's business (decrypted tunnel traffic arrives on the tunnel
// interface, not the WAN one).
//
// What is let in on a WAN, in order (the first match decides; drops are counted in the
// named counter `wan_input_dropped`, `nft list counter inet cats_input wan_input_dropped`):
//  * replies: ct state established,related (our own connections, WireGuard handshakes the
//    CPE initiated, ICMP errors about them: RFC 1191 / RFC 8201 path MTU discovery);
//  * IPv6 neighbour discovery (RFC 4861 §6.1.1, §7.1.1: NS/NA/RS/RA are only valid with
//    hop limit 255, i.e. from the link), before the invalid-state drop: conntrack does
//    not track them (RFC 4890 §4.4.1 "must not be dropped");
//  * ct state invalid: dropped;
//  * ICMP errors and echo (RFC 4890 §4.3.1 for ICMPv6; RFC 1122 §3.2.2 for IPv4):
//    destination unreachable (carries IPv4's "fragmentation needed"), packet too big,
//    time exceeded, parameter problem; echo requests rate limited;
//  * DHCP client replies (RFC 2131 server 67 -> client 68; RFC 8415 server 547 -> client
//    546): a WAN that gets its address by DHCP; the reply to a broadcast / multicast
//    request is not a conntrack reply;
//  * the WireGuard listen ports of our tunnels (UDP). A tunnel with listen_port 0 has a
//    port the kernel chooses: only replies to the CPE's own handshakes reach it then;
//  * the management HTTPS ports ([management] listen), per listen address: an unspecified
//    address (0.0.0.0, ::) opens the port, a specific one the port at that address only;
//    loopback and the LAN address are not reachable from a WAN and open nothing.
// Everything else arriving on a WAN is counted and dropped (and the chain's policy is
// drop, should a rule ever fall through).
//
// The STAMP probes and the vCPEs' reports travel inside the tunnels: nothing for them
// here. Forwarded traffic is not filtered here either (hook input only).
#pragma once

#include "base/ip.hpp"
#include "config/config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cats::overlay {

struct InputFilter {
  std::vector<std::string> wan_interfaces;  // the filtered ones (iifname), config order
  std::vector<uint16_t> wireguard_ports;    // UDP, sorted, unique, non-zero
  struct Https {
    std::optional<IpAddress> address;  // nullopt: any address of that family
    bool v6 = false;                   // the family, for an unspecified address
    uint16_t port = 0;
    bool operator==(const Https&) const = default;
  };
  std::vector<Https> management;
  bool operator==(const InputFilter&) const = default;
};

// The filter a CPE configuration asks for; nullopt with [firewall] wan_input = "off".
std::optional<InputFilter> cpe_input_filter(const config::CpeConfig& c);

// The table's body (its chain, one tab-indented statement per line), for
// nft::replace_table_script. Pure: golden-tested.
std::string input_filter_body(const InputFilter& f);

// The named counter of the packets dropped on a WAN.
inline constexpr const char* kWanInputDropCounter = "wan_input_dropped";

// The packets of a `list counter` answer ("... packets N bytes M ..."); nullopt when it
// has none.
std::optional<uint64_t> counter_packets(std::string_view listing);

}  // namespace cats::overlay
