// cats-cpe's start-up warning for vCPEs whose packets the WANs' loose rp_filter would drop.
#include "cpe/underlay_check.hpp"

#include <catch2/catch.hpp>

using namespace cats;

namespace {

IpAddress ip(const char* s) { return *parse_address(s); }
Prefix pfx(const char* s) { return *parse_prefix(s); }

config::CpeConfig two_vcpes() {
  config::CpeConfig c;
  config::VcpePeer a, b;
  a.name = "cloud1";
  a.endpoint = ip("203.0.113.2");
  b.name = "cloud6";
  b.endpoint = ip("2001:db8::6");
  c.vcpes = {a, b};
  return c;
}

rtnl::Route route(const char* dst, uint8_t type = 1) {
  rtnl::Route r;
  r.table = 254;
  r.dst = pfx(dst);
  r.type = type;
  return r;
}

}  // namespace

TEST_CASE("unrouted_vcpes: a vCPE is unrouted unless a unicast route of its family contains its endpoint") {
  const auto cfg = two_vcpes();
  CHECK(cpe::unrouted_vcpes(cfg, {}) == std::vector<std::string>{"cloud1", "cloud6"});
  // Connected routes of the WANs and the LAN do not reach a remote endpoint.
  CHECK(cpe::unrouted_vcpes(cfg, {route("192.0.2.0/30"), route("10.1.0.0/24")}) ==
        std::vector<std::string>{"cloud1", "cloud6"});
  // An IPv4 default covers the IPv4 endpoint only.
  CHECK(cpe::unrouted_vcpes(cfg, {route("0.0.0.0/0")}) == std::vector<std::string>{"cloud6"});
  CHECK(cpe::unrouted_vcpes(cfg, {route("203.0.113.0/24"), route("::/0")}).empty());
  // A blackhole (RTN_BLACKHOLE = 6) or unreachable (7) route fails the check as rp_filter does.
  CHECK(cpe::unrouted_vcpes(cfg, {route("0.0.0.0/0", 6), route("::/0", 7)}) ==
        std::vector<std::string>{"cloud1", "cloud6"});
  // Narrow routes: 203.0.113.4/30 misses cloud1, 2001:db8::4/126 holds cloud6.
  CHECK(cpe::unrouted_vcpes(cfg, {route("203.0.113.4/30"), route("2001:db8::4/126")}) ==
        std::vector<std::string>{"cloud1"});
}
