#include "overlay/apply.hpp"

#include "base/hash.hpp"
#include "base/log.hpp"
#include "nft/table.hpp"
#include "overlay/slice.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace cats::overlay {

bool is_our_rule(const rtnl::Rule& r) {
  return r.protocol == rtnl::kRouteProtocol && r.priority >= rtnl::kRulePriorityMin &&
         r.priority <= rtnl::kRulePriorityMax;
}

bool is_our_route(const rtnl::Route& r) {
  return r.protocol == rtnl::kRouteProtocol && r.table >= rtnl::kTableMin && r.table <= rtnl::kTableMax;
}

namespace {

std::vector<Prefix> sorted(std::vector<Prefix> v) {
  for (auto& p : v) p = p.network();
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

const wg::Peer* find_peer(const wg::Device& d, const wg::Key& k) {
  for (auto& p : d.peers)
    if (p.public_key == k) return &p;
  return nullptr;
}

std::string short_key(const wg::Key& k) { return wg::to_base64(k).substr(0, 8) + "…"; }

}  // namespace

wg::DeviceUpdate diff_device(const wg::Device& current, const TunnelSpec& desired, const wg::Key& private_key) {
  wg::DeviceUpdate u;
  u.name = desired.ifname;
  // Re-setting an identical private key would be harmless on the kernel, but compare the
  // derived public key so an adopted device is left exactly as it is.
  auto pub = wg::public_from_private(private_key);
  if (!current.public_key || !pub || *current.public_key != *pub) u.private_key = private_key;
  if (desired.listen_port != 0 && current.listen_port != desired.listen_port) u.listen_port = desired.listen_port;
  if (current.fwmark != desired.fwmark) u.fwmark = desired.fwmark;

  std::set<wg::Key> wanted;
  for (auto& want : desired.peers) {
    wanted.insert(want.public_key);
    const wg::Peer* have = find_peer(current, want.public_key);
    wg::PeerUpdate pu;
    pu.public_key = want.public_key;
    bool needed = have == nullptr;
    // The endpoint is only asserted when configured: a peer without one roams (WireGuard
    // learns it from authenticated packets), and overwriting a learned one would break it.
    if (want.endpoint && (!have || !have->endpoint || *have->endpoint != *want.endpoint)) {
      pu.endpoint = want.endpoint;
      needed = true;
    }
    if (!have || have->persistent_keepalive != want.keepalive) {
      pu.persistent_keepalive = want.keepalive;
      needed = true;
    }
    auto want_ips = sorted(want.allowed_ips);
    if (!have || sorted(have->allowed_ips) != want_ips) {
      pu.replace_allowed_ips = true;
      pu.allowed_ips = want_ips;
      needed = true;
    }
    if (needed) u.peers.push_back(std::move(pu));
  }
  for (auto& have : current.peers) {
    if (wanted.count(have.public_key)) continue;
    wg::PeerUpdate pu;
    pu.public_key = have.public_key;
    pu.remove = true;
    u.peers.push_back(std::move(pu));
  }
  return u;
}

bool update_is_empty(const wg::DeviceUpdate& u) {
  return !u.private_key && !u.listen_port && !u.fwmark && !u.replace_peers && u.peers.empty();
}

Status check_required(rtnl::Routing& rt, const Plan& p) {
  for (auto& req : p.required_links) {
    CATS_TRY_ASSIGN(link, rt.link(req.name));
    if (!link) return Error::msg(req.field + ": interface '" + req.name + "' does not exist");
  }
  return ok();
}

namespace {

class ProcSysctls final : public Sysctls {
 public:
  Result<std::string> read(const std::string& key) override {
    const std::string path = "/proc/sys/" + key;
    std::ifstream in(path);
    if (!in) return Error::sys(errno, "read " + path);
    std::string cur;
    std::getline(in, cur);
    return Result<std::string>(boost::system::in_place_value, std::move(cur));
  }
  Status write(const std::string& key, const std::string& value) override {
    const std::string path = "/proc/sys/" + key;
    std::ofstream out(path);
    out << value << "\n";
    out.flush();
    if (!out) return Error::sys(errno, "write " + path);
    return ok();
  }
};

}  // namespace

Sysctls& proc_sysctls() {
  static ProcSysctls s;
  return s;
}

Status Applier::apply_sysctls(const Plan& p, ApplyReport& rep) {
  for (auto& [key, value] : p.sysctls) {
    CATS_TRY_ASSIGN(cur, sysctls_.read(key));
    if (cur == value) continue;
    CATS_TRY(sysctls_.write(key, value));
    rep.actions.push_back("sysctl " + key + " = " + value + " (was " + cur + ")");
  }
  return ok();
}

Status Applier::apply_tunnel(const TunnelSpec& t, ApplyReport& rep) {
  CATS_TRY_ASSIGN(before, rt_.link(t.ifname));
  if (!before) {
    CATS_TRY(wg_.create(t.ifname));
    rep.actions.push_back("create tunnel " + t.ifname);
  }
  CATS_TRY_ASSIGN(current, wg_.get(t.ifname));
  auto u = diff_device(current, t, private_key_);
  if (!update_is_empty(u)) {
    CATS_TRY(wg_.set(u));
    std::ostringstream os;
    os << "configure tunnel " << t.ifname << ":";
    if (u.private_key) os << " private-key";
    if (u.listen_port) os << " listen-port " << *u.listen_port;
    if (u.fwmark) os << " fwmark " << *u.fwmark;
    for (auto& pu : u.peers) {
      os << (pu.remove ? " -peer " : " peer ") << short_key(pu.public_key);
      if (pu.endpoint) os << " endpoint";
      if (pu.persistent_keepalive) os << " keepalive";
      if (pu.replace_allowed_ips) os << " allowed-ips(" << pu.allowed_ips.size() << ")";
    }
    rep.actions.push_back(os.str());
  }
  CATS_TRY_ASSIGN(link, rt_.link(t.ifname));
  if (!link) return Error::msg("tunnel " + t.ifname + " vanished while configuring it");
  if (link->mtu != t.mtu) {
    CATS_TRY(rt_.set_mtu(t.ifname, t.mtu));
    rep.actions.push_back("mtu " + t.ifname + " " + std::to_string(t.mtu));
  }
  // The tunnel is wholly ours: its addresses converge to exactly the planned one.
  CATS_TRY_ASSIGN(addrs, rt_.addresses(link->index));
  bool have_addr = false;
  for (auto& a : addrs) {
    if (t.address && a.prefix == *t.address) {
      have_addr = true;
      continue;
    }
    if (a.prefix.address.is_v6() && a.prefix.address.to_v6().is_link_local()) continue;  // kernel's own
    CATS_TRY(rt_.del_address(link->index, a.prefix));
    rep.actions.push_back("delete address " + a.prefix.to_string() + " from " + t.ifname);
  }
  if (t.address && !have_addr) {
    CATS_TRY(rt_.add_address(link->index, *t.address));
    rep.actions.push_back("add address " + t.address->to_string() + " to " + t.ifname);
  }
  if (!link->up) {
    CATS_TRY(rt_.set_link_up(t.ifname, true));
    rep.actions.push_back("up " + t.ifname);
  }
  return ok();
}

Status Applier::apply_routes(const Plan& p, ApplyReport& rep, bool existing_devices_only) {
  std::vector<rtnl::Route> desired;
  for (auto& rs : p.routes) {
    CATS_TRY_ASSIGN(link, rt_.link(rs.dev));
    if (!link && existing_devices_only) continue;
    if (!link) return Error::msg("route " + rs.dst.to_string() + ": device " + rs.dev + " does not exist");
    rtnl::Route r;
    r.table = rs.table;
    r.dst = rs.dst.network();
    r.oif = link->index;
    r.gateway = rs.gateway;
    r.scope = rs.gateway ? 0 : 253;  // RT_SCOPE_LINK for directly attached tunnel routes
    desired.push_back(r);
  }
  auto same = [](const rtnl::Route& a, const rtnl::Route& b) {
    return a.table == b.table && a.dst == b.dst && a.oif == b.oif && a.gateway == b.gateway;
  };
  std::vector<rtnl::Route> current;
  for (int family : {AF_INET, AF_INET6}) {
    CATS_TRY_ASSIGN(rs, rt_.routes(family, 0));
    for (auto& r : rs)
      if (is_our_route(r)) current.push_back(r);
  }
  for (auto& want : desired) {
    bool have = std::any_of(current.begin(), current.end(), [&](auto& c) { return same(c, want); });
    if (have) continue;
    CATS_TRY(rt_.add_route(want));
    rep.actions.push_back("add route table " + std::to_string(want.table) + " " + want.dst.to_string());
  }
  if (existing_devices_only) return ok();
  for (auto& have : current) {
    bool wanted = std::any_of(desired.begin(), desired.end(), [&](auto& d) { return same(d, have); });
    if (wanted) continue;
    CATS_TRY(rt_.del_route(have));
    rep.actions.push_back("delete route table " + std::to_string(have.table) + " " + have.dst.to_string());
  }
  return ok();
}

Status Applier::apply_rules(const Plan& p, ApplyReport& rep) {
  std::vector<rtnl::Rule> current;
  for (int family : {AF_INET, AF_INET6}) {
    CATS_TRY_ASSIGN(rs, rt_.rules(family));
    for (auto& r : rs)
      if (is_our_rule(r) && !is_steer_rule_prio(r.priority)) current.push_back(r);
  }
  for (auto& want : p.rules) {
    if (std::find(current.begin(), current.end(), want) != current.end()) continue;
    CATS_TRY(rt_.add_rule(want));
    rep.actions.push_back("add rule prio " + std::to_string(want.priority));
  }
  for (auto& have : current) {
    if (std::find(p.rules.begin(), p.rules.end(), have) != p.rules.end()) continue;
    CATS_TRY(rt_.del_rule(have));
    rep.actions.push_back("delete rule prio " + std::to_string(have.priority));
  }
  return ok();
}

Status Applier::converge_table(const char* name, const std::string& body, ApplyReport& rep) {
  const std::string ref = std::string("nft table inet ") + name;
  if (body.empty()) {
    CATS_TRY_ASSIGN(exists, nft_.table_exists(kNftFamily, name));
    if (exists) {
      CATS_TRY(nft_.delete_table(kNftFamily, name));
      rep.actions.push_back("delete " + ref);
    }
    return ok();
  }
  // The fingerprint is FNV-1a of the script (base/hash.hpp): a restarted daemon recognises
  // the table it would write and leaves it alone (nft/table.hpp).
  const std::string fp = fnv1a_hex(body);
  CATS_TRY_ASSIGN(listing, nft_.list_table(kNftFamily, name));
  if (listing && nft::table_fingerprint(*listing) == fp) return ok();
  CATS_TRY(nft_.run(nft::replace_table_script(kNftFamily, name, fp, body)));
  rep.actions.push_back("replace " + ref + " (cats:" + fp + ")");
  return ok();
}

Status Applier::apply_nft(const Plan& p, ApplyReport& rep) {
  if (!p.nft_managed) return ok();
  return converge_table(kNftTable, p.nft_script, rep);
}

Status Applier::apply_input_nft(const Plan& p, ApplyReport& rep) {
  if (!p.input_nft_script) return ok();
  return converge_table(kNftInputTable, *p.input_nft_script, rep);
}

Status Applier::remove_input_filter() { return nft_.delete_table(kNftFamily, kNftInputTable); }

Result<ApplyReport> Applier::apply(const Plan& p, const std::vector<std::string>& stale_tunnels) {
  ApplyReport rep;
  CATS_TRY(check_required(rt_, p));
  CATS_TRY(apply_sysctls(p, rep));
  // The WAN input filter before any tunnel listens: its ports are open from the start.
  CATS_TRY(apply_input_nft(p, rep));
  // Routing first: a tunnel sends its first handshake as soon as it is up, and a packet
  // routed before the underlay rules exist would leave by the wrong WAN with the wrong
  // source address, which WireGuard's sticky source then keeps.
  CATS_TRY(apply_rules(p, rep));
  CATS_TRY(apply_routes(p, rep, true));
  for (auto& t : p.tunnels) {
    auto st = apply_tunnel(t, rep);
    if (!st) return st.error().context(t.ifname);
  }
  for (auto& t : p.tunnels) {
    // Tunnel-scoped sysctls need the device to exist: loose reverse-path filtering, since
    // a flow may legitimately arrive over any of several tunnels (multi-WAN).
    std::string key = "net/ipv4/conf/" + t.ifname + "/rp_filter";
    Plan one;
    one.sysctls.push_back({key, "2"});
    CATS_TRY(apply_sysctls(one, rep));
  }
  CATS_TRY(apply_routes(p, rep, false));
  CATS_TRY(apply_nft(p, rep));
  for (auto& name : stale_tunnels) {
    if (std::any_of(p.tunnels.begin(), p.tunnels.end(), [&](auto& t) { return t.ifname == name; })) continue;
    CATS_TRY_ASSIGN(link, rt_.link(name));
    if (!link) continue;
    CATS_TRY(wg_.remove(name));
    rep.actions.push_back("remove stale tunnel " + name);
  }
  return rep;
}

Status Applier::teardown(const Plan& p, const std::vector<std::string>& extra_tunnels) {
  std::optional<Error> first;
  auto note = [&](Status s) {
    if (!s && !first) first = s.error();
    if (!s) log::warn("teardown", s.error().message);
  };
  note(nft_.delete_table(kNftFamily, kNftTable));
  for (int family : {AF_INET, AF_INET6}) {
    auto rules = rt_.rules(family);
    if (!rules) {
      note(rules.error());
      continue;
    }
    for (auto& r : *rules)
      if (is_our_rule(r)) note(rt_.del_rule(r));
  }
  for (int family : {AF_INET, AF_INET6}) {
    auto routes = rt_.routes(family, 0);
    if (!routes) {
      note(routes.error());
      continue;
    }
    for (auto& r : *routes)
      if (is_our_route(r)) note(rt_.del_route(r));
  }
  std::set<std::string> names(extra_tunnels.begin(), extra_tunnels.end());
  for (auto& t : p.tunnels) names.insert(t.ifname);
  for (auto& n : names) note(wg_.remove(n));
  if (first) return *first;
  return ok();
}

}  // namespace cats::overlay
