#include "overlay/plan.hpp"

#include <sys/socket.h>

#include <sstream>

namespace cats::overlay {
std::vector<Prefix> inner_prefixes(const IpAddress& address, const std::vector<Prefix>& subnets) {
  std::vector<Prefix> out{Prefix::host(address)};
  out.insert(out.end(), subnets.begin(), subnets.end());
  return out;
}

std::string render(const Plan& p) {
  std::ostringstream os;
  for (auto& l : p.required_links) os << "require link " << l.name << " (" << l.field << ")\n";
  for (auto& [k, v] : p.sysctls) os << "sysctl " << k << " = " << v << "\n";
  for (auto& t : p.tunnels) {
    os << "tunnel " << t.ifname << " (" << t.label << ") port " << t.listen_port << " fwmark " << hex32(t.fwmark)
       << " mtu " << t.mtu;
    if (t.address) os << " address " << t.address->to_string();
    os << "\n";
    for (auto& peer : t.peers) {
      os << "  peer " << peer.name << " " << wg::to_base64(peer.public_key);
      if (peer.endpoint) os << " endpoint " << endpoint_to_string(*peer.endpoint);
      if (peer.keepalive) os << " keepalive " << peer.keepalive;
      os << " allowed";
      for (auto& a : peer.allowed_ips) os << " " << a.to_string();
      os << "\n";
    }
  }
  for (auto& r : p.routes) {
    os << "route table " << r.table << " " << r.dst.to_string();
    if (r.gateway) os << " via " << r.gateway->to_string();
    os << " dev " << r.dev << "\n";
  }
  for (auto& r : p.rules) {
    os << "rule " << (r.family == AF_INET6 ? "inet6" : "inet") << " prio " << r.priority;
    if (r.fwmark) os << " fwmark " << hex32(*r.fwmark) << "/" << hex32(r.fwmask.value_or(0xffffffff));
    if (!r.iif.empty()) os << " iif " << r.iif;
    if (!r.oif.empty()) os << " oif " << r.oif;
    if (r.src) os << " from " << r.src->to_string();
    if (r.dst) os << " to " << r.dst->to_string();
    os << " lookup " << r.table << "\n";
  }
  if (!p.nft_script.empty()) os << "nft table inet cats {\n" << p.nft_script << "}\n";
  if (p.input_nft_script && !p.input_nft_script->empty())
    os << "nft table inet cats_input {\n" << *p.input_nft_script << "}\n";
  else if (p.input_nft_script)
    os << "nft table inet cats_input: none (firewall.wan_input = off)\n";
  return os.str();
}

}  // namespace cats::overlay
