// Golden bytes for the rtnetlink builders, written by hand from the kernel UAPI layouts:
//   struct nlmsghdr   { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }           16 bytes
//   struct rtmsg      { u8 family, dst_len, src_len, tos, table, protocol, scope, type;
//                       u32 flags; }                                                12 bytes
//   struct fib_rule_hdr { u8 family, dst_len, src_len, tos, table, res1, res2, action;
//                         u32 flags; }                                              12 bytes
//   struct ifinfomsg  { u8 family, pad; u16 type; s32 index; u32 flags, change; }   16 bytes
//   struct nlattr     { u16 len; u16 type; } + payload, padded to 4 (RFC 3549 2.3.2)
// Host byte order is little-endian (x86-64, aarch64); addresses are network order.
#include "rtnl/internal.hpp"
#include "rtnl/rtnl.hpp"

#include <catch2/catch.hpp>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstdio>
#include <string>
#include <vector>

using namespace cats;
using namespace cats::rtnl;

namespace {

Prefix pfx(const char* s) { return *parse_prefix(s); }
IpAddress addr(const char* s) { return *parse_address(s); }

// Hex dump, 16 bytes a line, so a mismatch shows where it differs.
std::string hex(const std::vector<uint8_t>& b) {
  std::string out;
  char tmp[4];
  for (size_t i = 0; i < b.size(); ++i) {
    std::snprintf(tmp, sizeof(tmp), "%02x", b[i]);
    out += tmp;
    out += (i % 16 == 15) ? "\n" : " ";
  }
  return out;
}

const nlmsghdr* as_nlh(const std::vector<uint8_t>& b) { return reinterpret_cast<const nlmsghdr*>(b.data()); }

Route golden_route() {
  Route r;
  r.table = 10101;
  r.dst = pfx("10.2.0.0/16");
  r.oif = 7;
  r.gateway = addr("10.1.0.2");
  return r;
}

Rule golden_rule() {
  Rule r;
  r.family = AF_INET;
  r.priority = 10101;
  r.table = 10101;
  r.fwmark = 0x00f10000;
  r.fwmask = 0x00ff0000;
  return r;
}

}  // namespace

TEST_CASE("build_route_msg: table 10101, 10.2.0.0/16 via 10.1.0.2 oif 7", "[rtnl][golden]") {
  const std::vector<uint8_t> expected = {
      // nlmsghdr: len 60, RTM_NEWROUTE (24), flags REQUEST|ACK|REPLACE|CREATE = 0x0505,
      // seq 1, pid 0
      0x3c, 0x00, 0x00, 0x00, 0x18, 0x00, 0x05, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      // rtmsg: AF_INET, dst_len 16, src_len 0, tos 0, table RT_TABLE_UNSPEC (10101 > 255),
      // protocol 201, scope UNIVERSE (has gateway), type RTN_UNICAST; flags 0
      0x02, 0x10, 0x00, 0x00, 0x00, 0xc9, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
      // RTA_TABLE (15) len 8: u32 10101 = 0x2775
      0x08, 0x00, 0x0f, 0x00, 0x75, 0x27, 0x00, 0x00,
      // RTA_DST (1) len 8: 10.2.0.0
      0x08, 0x00, 0x01, 0x00, 0x0a, 0x02, 0x00, 0x00,
      // RTA_GATEWAY (5) len 8: 10.1.0.2
      0x08, 0x00, 0x05, 0x00, 0x0a, 0x01, 0x00, 0x02,
      // RTA_OIF (4) len 8: 7
      0x08, 0x00, 0x04, 0x00, 0x07, 0x00, 0x00, 0x00,
  };
  auto got = build_route_msg(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK, 1, golden_route());
  INFO("got:\n" << hex(got) << "\nexpected:\n" << hex(expected));
  CHECK(got == expected);
}

TEST_CASE("build_rule_msg: fwmark 0x00f10000/0x00ff0000 -> table 10101 prio 10101", "[rtnl][golden]") {
  const std::vector<uint8_t> expected = {
      // nlmsghdr: len 68, RTM_NEWRULE (32), flags REQUEST|ACK|EXCL|CREATE = 0x0605, seq 1, pid 0
      0x44, 0x00, 0x00, 0x00, 0x20, 0x00, 0x05, 0x06, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      // fib_rule_hdr: AF_INET, dst_len 0, src_len 0, tos 0, table UNSPEC, res1, res2,
      // action FR_ACT_TO_TBL (1); flags 0
      0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
      // FRA_PRIORITY (6): 10101
      0x08, 0x00, 0x06, 0x00, 0x75, 0x27, 0x00, 0x00,
      // FRA_TABLE (15): 10101
      0x08, 0x00, 0x0f, 0x00, 0x75, 0x27, 0x00, 0x00,
      // FRA_FWMARK (10): 0x00f10000 (host order, LE)
      0x08, 0x00, 0x0a, 0x00, 0x00, 0x00, 0xf1, 0x00,
      // FRA_FWMASK (16): 0x00ff0000
      0x08, 0x00, 0x10, 0x00, 0x00, 0x00, 0xff, 0x00,
      // FRA_PROTOCOL (21) len 5: u8 201, 3 bytes padding
      0x05, 0x00, 0x15, 0x00, 0xc9, 0x00, 0x00, 0x00,
  };
  auto got = build_rule_msg(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, 1, golden_rule());
  INFO("got:\n" << hex(got) << "\nexpected:\n" << hex(expected));
  CHECK(got == expected);
}

TEST_CASE("build_newlink_msg: cats-w1 wireguard", "[rtnl][golden]") {
  const std::vector<uint8_t> expected = {
      // nlmsghdr: len 64, RTM_NEWLINK (16), flags REQUEST|ACK|EXCL|CREATE = 0x0605, seq 1, pid 0
      0x40, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x06, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      // ifinfomsg: AF_UNSPEC, pad, type 0, index 0, flags 0, change 0
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      // IFLA_IFNAME (3) len 12: "cats-w1\0"
      0x0c, 0x00, 0x03, 0x00, 'c', 'a', 't', 's', '-', 'w', '1', 0x00,
      // IFLA_LINKINFO (18) nest, len 20; type carries NLA_F_NESTED (0x8000, netlink.h),
      // which mnl_attr_nest_start sets and the kernel's strict validation expects
      0x14, 0x00, 0x12, 0x80,
      //   IFLA_INFO_KIND (1) len 14: "wireguard\0" + 2 bytes padding
      0x0e, 0x00, 0x01, 0x00, 'w', 'i', 'r', 'e', 'g', 'u', 'a', 'r', 'd', 0x00, 0x00, 0x00,
  };
  auto got = build_newlink_msg(NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, 1, "cats-w1", "wireguard");
  INFO("got:\n" << hex(got) << "\nexpected:\n" << hex(expected));
  CHECK(got == expected);
}

TEST_CASE("route builder: small table in header, on-link scope, delete matches any scope", "[rtnl]") {
  Route r;
  r.table = 100;
  r.dst = pfx("10.9.0.1/24");  // host bits are cleared on the wire
  r.oif = 3;
  auto b = build_route_msg(RTM_NEWROUTE, 0, 5, r);
  REQUIRE(b.size() >= NLMSG_LENGTH(sizeof(rtmsg)));
  const auto* rtm = reinterpret_cast<const rtmsg*>(b.data() + NLMSG_HDRLEN);
  CHECK(rtm->rtm_table == 100);
  CHECK(rtm->rtm_scope == RT_SCOPE_LINK);
  auto parsed = detail::parse_route(as_nlh(b));
  REQUIRE(parsed.has_value());
  CHECK(parsed->dst == pfx("10.9.0.0/24"));

  auto del = build_route_msg(RTM_DELROUTE, NLM_F_ACK, 6, r);
  const auto* drtm = reinterpret_cast<const rtmsg*>(del.data() + NLMSG_HDRLEN);
  CHECK(drtm->rtm_scope == RT_SCOPE_NOWHERE);
  CHECK(as_nlh(del)->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK));
}

TEST_CASE("route round trip through the parser, IPv4 and IPv6", "[rtnl]") {
  Route v4 = golden_route();
  v4.prefsrc = addr("10.1.0.1");
  v4.metric = 42;
  Route v6;
  v6.table = 10102;
  v6.dst = pfx("2001:db8:2::/48");
  v6.gateway = addr("fe80::1");
  v6.oif = 9;
  for (const Route& r : {v4, v6}) {
    auto b = build_route_msg(RTM_NEWROUTE, 0, 1, r);
    auto parsed = detail::parse_route(as_nlh(b));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == r);
  }
}

TEST_CASE("rule round trip and equality as the kernel reports it", "[rtnl]") {
  Rule r = golden_rule();
  r.iif = "cats-w1";
  r.oif = "eth0";
  r.src = pfx("10.1.2.3/16");
  r.dst = pfx("192.0.2.0/24");
  auto b = build_rule_msg(RTM_NEWRULE, 0, 1, r);
  auto parsed = detail::parse_rule(as_nlh(b));
  REQUIRE(parsed.has_value());
  CHECK(parsed->src == pfx("10.1.0.0/16"));
  CHECK(parsed->iif == "cats-w1");
  CHECK(parsed->oif == "eth0");
  CHECK(detail::same_rule(*parsed, r));

  Rule other = r;
  other.fwmark = 0x00f20000;
  CHECK_FALSE(detail::same_rule(other, r));
  other = r;
  other.protocol = 0;
  CHECK_FALSE(detail::same_rule(other, r));

  // A mark without mask is reported back with mask 0xffffffff.
  Rule nomask = golden_rule();
  nomask.fwmask.reset();
  Rule reported = nomask;
  reported.fwmask = 0xffffffffu;
  CHECK(detail::same_rule(nomask, reported));

  Rule v6;
  v6.family = AF_INET6;
  v6.priority = 10200;
  v6.table = 10102;
  v6.dst = pfx("2001:db8::/32");
  auto b6 = build_rule_msg(RTM_NEWRULE, 0, 1, v6);
  auto p6 = detail::parse_rule(as_nlh(b6));
  REQUIRE(p6.has_value());
  CHECK(detail::same_rule(*p6, v6));
}

TEST_CASE("newlink round trip: kind in IFLA_LINKINFO", "[rtnl]") {
  auto b = build_newlink_msg(0, 1, "cats-w1", "wireguard");
  auto l = detail::parse_link(as_nlh(b));
  REQUIRE(l.has_value());
  CHECK(l->name == "cats-w1");
  CHECK(l->kind == "wireguard");
}

TEST_CASE("validation keeps us inside our slice", "[rtnl]") {
  Route r = golden_route();
  CHECK(detail::validate_route(r).has_value());
  r.table = 254;  // main
  CHECK_FALSE(detail::validate_route(r).has_value());
  r = golden_route();
  r.gateway = addr("2001:db8::1");
  CHECK_FALSE(detail::validate_route(r).has_value());

  Rule ru = golden_rule();
  CHECK(detail::validate_rule(ru).has_value());
  ru.priority = 32766;
  CHECK_FALSE(detail::validate_rule(ru).has_value());
  ru = golden_rule();
  ru.src = pfx("2001:db8::/32");
  CHECK_FALSE(detail::validate_rule(ru).has_value());

  CHECK(detail::validate_ifname("cats-w1").has_value());
  CHECK_FALSE(detail::validate_ifname("").has_value());
  CHECK_FALSE(detail::validate_ifname("a-name-far-too-long").has_value());
  CHECK_FALSE(detail::validate_ifname("a/b").has_value());
}

TEST_CASE("parsers reject truncated messages", "[rtnl]") {
  auto b = build_route_msg(RTM_NEWROUTE, 0, 1, golden_route());
  // Claim a length shorter than the rtmsg header.
  auto* nlh = reinterpret_cast<nlmsghdr*>(b.data());
  nlh->nlmsg_len = NLMSG_HDRLEN + 4;
  CHECK_FALSE(detail::parse_route(nlh).has_value());
  // An address attribute of the wrong size.
  auto good = build_route_msg(RTM_NEWROUTE, 0, 1, golden_route());
  good[NLMSG_HDRLEN] = AF_INET6;  // family says v6, RTA_DST holds 4 bytes
  CHECK_FALSE(detail::parse_route(as_nlh(good)).has_value());
}
