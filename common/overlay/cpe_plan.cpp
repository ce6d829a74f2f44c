#include "overlay/site_plan.hpp"
#include "overlay/input_filter.hpp"
#include "overlay/slice.hpp"

#include <sys/socket.h>

namespace cats::overlay {
namespace {
Prefix default_route(const IpAddress& like) {
  return Prefix{like.is_v4() ? IpAddress(boost::asio::ip::address_v4::any()) : IpAddress(boost::asio::ip::address_v6::any()), 0};
}
}  // namespace

Plan plan_cpe(const config::CpeConfig& c) {
  Plan p;
  p.nft_managed = false;  // steering owns table inet cats on the CPE
  auto filter = cpe_input_filter(c);
  p.input_nft_script = filter ? input_filter_body(*filter) : std::string();
  p.required_links.push_back({c.lan.interface, c.file + ": lan.interface"});
  for (size_t i = 0; i < c.wans.size(); ++i)
    p.required_links.push_back({c.wans[i].interface, c.file + ": wan[" + std::to_string(i) + "].interface"});
  p.sysctls = {{"net/ipv4/ip_forward", "1"},
               // Reverse-path checks must see the fwmark of our sockets (as wg-quick sets it).
               {"net/ipv4/conf/all/src_valid_mark", "1"}};
  for (auto& w : c.wans) p.sysctls.push_back({"net/ipv4/conf/" + w.interface + "/rp_filter", "2"});

  int i = 0;
  for (auto& w : c.wans) {
    ++i;
    TunnelSpec t;
    t.ifname = w.tunnel_interface;
    t.label = w.name;
    t.listen_port = w.listen_port;
    t.fwmark = underlay_mark(i);
    t.address = Prefix::host(*c.lan.address);
    for (auto& v : c.vcpes) {
      PeerSpec peer;
      peer.name = v.name;
      peer.public_key = v.public_key;
      peer.endpoint = UdpEndpoint(v.endpoint, v.ports.at(w.name));
      peer.keepalive = v.keepalive;
      peer.allowed_ips = inner_prefixes(v.address, v.subnets);
      t.peers.push_back(std::move(peer));
    }
    p.tunnels.push_back(std::move(t));

    // Underlay: the tunnel's encrypted packets carry the WAN's mark -> that WAN's gateway.
    p.routes.push_back({underlay_table(i), default_route(w.gateway), w.interface, w.gateway});
    rtnl::Rule ur;
    ur.family = address_family(w.gateway);
    ur.priority = underlay_rule_prio(i);
    ur.fwmark = underlay_mark(i);
    ur.fwmask = kPathMask;
    ur.table = underlay_table(i);
    p.rules.push_back(ur);

    // Overlay: every vCPE's inner address and subnets over this WAN's tunnel.
    for (auto& v : c.vcpes)
      for (auto& dst : inner_prefixes(v.address, v.subnets))
        p.routes.push_back({overlay_table(i), dst, w.tunnel_interface, std::nullopt});
    for (int family : {AF_INET, AF_INET6}) {
      p.rules.push_back(tunnel_oif_rule(family, i, w.tunnel_interface));
      // LAN traffic to the clouds that steering does not mark (not a service VIP, e.g. an
      // operator's ping) uses the first WAN whose table has a route: tables hold only
      // overlay routes, so everything else falls through to main.
      rtnl::Rule fb;
      fb.family = family;
      fb.priority = fallback_rule_prio(i);
      fb.table = overlay_table(i);
      p.rules.push_back(fb);
    }
  }
  return p;
}

}  // namespace cats::overlay
