#include "cpe/underlay_check.hpp"

#include "base/log.hpp"

#include <sys/socket.h>

#include <algorithm>

namespace cats::cpe {

namespace {
constexpr uint32_t kMainTable = 254;  // RT_TABLE_MAIN
constexpr uint8_t kUnicast = 1;       // RTN_UNICAST: blackhole/unreachable routes fail rp_filter too
}  // namespace

std::vector<std::string> unrouted_vcpes(const config::CpeConfig& cfg, const std::vector<rtnl::Route>& main) {
  std::vector<std::string> out;
  for (const auto& v : cfg.vcpes) {
    bool routed = false;
    for (const auto& r : main) routed = routed || (r.type == kUnicast && r.dst.contains(v.endpoint));
    if (!routed) out.push_back(v.name);
  }
  return out;
}

void warn_unrouted_vcpes(const config::CpeConfig& cfg) {
  auto rt = rtnl::Rtnl::open();
  if (!rt) {
    log::debug("cpe", "route check skipped: " + rt.error().message);
    return;
  }
  std::vector<rtnl::Route> main;
  for (int family : {AF_INET, AF_INET6}) {
    auto routes = rt->routes(family, kMainTable);
    if (!routes) {
      log::debug("cpe", "route check skipped: " + routes.error().message);
      return;
    }
    main.insert(main.end(), routes->begin(), routes->end());
  }
  for (const auto& name : unrouted_vcpes(cfg, main)) {
    const auto& v = *std::find_if(cfg.vcpes.begin(), cfg.vcpes.end(), [&](auto& x) { return x.name == name; });
    log::warn("cpe", "vCPE " + name + ": no route to its endpoint " + v.endpoint.to_string() +
                         " in the main table; the WANs' loose reverse-path filter drops its packets and the tunnel "
                         "never completes a handshake, unless another table routes it: add a default route via a "
                         "WAN (docs/CONFIG.md \"First deployment\")");
  }
}

}  // namespace cats::cpe
