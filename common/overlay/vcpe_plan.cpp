#include "overlay/site_plan.hpp"
#include "overlay/slice.hpp"

#include <sys/socket.h>

namespace cats::overlay {

Plan plan_vcpe(const config::VcpeConfig& c) {
  Plan p;
  p.required_links = {{c.lan.interface, c.file + ": lan.interface"},
                      {c.uplink_interface, c.file + ": uplink.interface"}};
  p.sysctls = {{"net/ipv4/ip_forward", "1"}, {"net/ipv4/conf/all/src_valid_mark", "1"}};

  // prerouting: a packet arriving over tunnel k stamps path k on its connection (the latest
  // path wins, so a flow the CPE moved to another WAN returns over the new one); every
  // packet of a marked connection then carries the path mark for routing. output: the same
  // for our own replies (ping, probes), and "type route" makes the kernel re-route them.
  std::string pre, out;
  const std::string keep = hex32(~kPathMask), mask = hex32(kPathMask);
  int k = 0;
  for (auto& cpe : c.cpes) {
    for (auto& path : cpe.paths) {
      ++k;
      TunnelSpec t;
      t.ifname = path.tunnel_interface;
      t.label = cpe.name + "/" + path.wan;
      t.listen_port = path.listen_port;
      t.address = Prefix::host(*c.lan.address);
      PeerSpec peer;
      peer.name = cpe.name;
      peer.public_key = cpe.public_key;
      peer.endpoint = path.endpoint;
      peer.keepalive = cpe.keepalive;
      peer.allowed_ips = inner_prefixes(cpe.address, cpe.subnets);
      t.peers.push_back(std::move(peer));
      p.tunnels.push_back(std::move(t));

      for (auto& dst : inner_prefixes(cpe.address, cpe.subnets))
        p.routes.push_back({overlay_table(k), dst, path.tunnel_interface, std::nullopt});
      for (int family : {AF_INET, AF_INET6}) {
        rtnl::Rule mr;
        mr.family = family;
        mr.priority = path_rule_prio(k);
        mr.fwmark = path_mark(k);
        mr.fwmask = kPathMask;
        mr.table = overlay_table(k);
        p.rules.push_back(mr);
        p.rules.push_back(tunnel_oif_rule(family, k, path.tunnel_interface));
      }
      pre += "\t\tiifname \"" + path.tunnel_interface + "\" ct mark set ct mark and " + keep + " or " +
             hex32(path_mark(k)) + "\n";
    }
  }
  // nft cannot OR two non-constant values, so the restore sets the whole packet mark:
  // forwarded and locally generated packets here carry no other mark bits of interest.
  const std::string restore = "\t\tct mark and " + mask + " != 0 meta mark set ct mark and " + mask + "\n";
  // Chains of our own table only; priorities are the standard mangle slot.
  p.nft_script = "\tchain prerouting {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n" + pre +
                 restore + "\t}\n\tchain output {\n\t\ttype route hook output priority mangle; policy accept;\n" +
                 restore + "\t}\n";
  return p;
}

}  // namespace cats::overlay
