// An in-memory kernel for the overlay Applier's unit tests: links, addresses, routes and
// rules (rtnl::Routing), table inet cats (nft::Tables), WireGuard devices (wg::Control)
// and /proc/sys (overlay::Sysctls). Each behaves as the real one does for what the Applier
// asks (idempotent adds and deletes, range checks of our slice, wireguard links appearing
// as links), so applying a Plan twice shows the second apply changing nothing.
#pragma once

#include "base/slice.hpp"
#include "nft/nft.hpp"
#include "nft/table.hpp"
#include "overlay/apply.hpp"
#include "rtnl/rtnl.hpp"
#include "wg/wg.hpp"

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cats::test {

class FakeRouting final : public rtnl::Routing {
 public:
  std::vector<rtnl::Link> link_list;
  std::vector<rtnl::AddressEntry> addrs;
  std::vector<rtnl::Route> route_list;
  std::vector<rtnl::Rule> rule_list;

  void add_existing_link(const std::string& name, const std::string& kind = "veth") {
    link_list.push_back({next_index_++, name, kind, true, 1500});
  }

  Result<std::vector<rtnl::Link>> links() override { return link_list; }
  Result<std::optional<rtnl::Link>> link(const std::string& name) override {
    auto* l = find(name);
    if (!l) return std::optional<rtnl::Link>{};
    return std::optional<rtnl::Link>(*l);
  }
  Status create_link(const std::string& name, const std::string& kind) override {
    if (auto* l = find(name)) {
      if (l->kind == kind) return ok();
      return Error{"fake: link " + name + " exists with another kind", EEXIST};
    }
    link_list.push_back({next_index_++, name, kind, false, 1420});
    return ok();
  }
  Status delete_link(const std::string& name) override {
    auto* l = find(name);
    if (!l) return ok();
    const int index = l->index;
    std::erase_if(addrs, [&](auto& a) { return a.ifindex == index; });
    std::erase_if(route_list, [&](auto& r) { return r.oif == index; });  // the kernel drops them too
    std::erase_if(link_list, [&](auto& x) { return x.name == name; });
    return ok();
  }
  Status set_link_up(const std::string& name, bool up) override {
    auto* l = find(name);
    if (!l) return Error{"fake: no link " + name, ENODEV};
    l->up = up;
    return ok();
  }
  Status set_mtu(const std::string& name, uint32_t mtu) override {
    auto* l = find(name);
    if (!l) return Error{"fake: no link " + name, ENODEV};
    l->mtu = mtu;
    return ok();
  }
  Status move_link_to_netns(const std::string& name, int) override { return delete_link(name); }

  Result<std::vector<rtnl::AddressEntry>> addresses(int ifindex) override {
    std::vector<rtnl::AddressEntry> out;
    for (auto& a : addrs)
      if (ifindex == 0 || a.ifindex == ifindex) out.push_back(a);
    return out;
  }
  Status add_address(int ifindex, const Prefix& p) override {
    for (auto& a : addrs)
      if (a.ifindex == ifindex && a.prefix == p) return ok();
    addrs.push_back({ifindex, p});
    return ok();
  }
  Status del_address(int ifindex, const Prefix& p) override {
    std::erase_if(addrs, [&](auto& a) { return a.ifindex == ifindex && a.prefix == p; });
    return ok();
  }

  Result<std::vector<rtnl::Route>> routes(int family, uint32_t table) override {
    std::vector<rtnl::Route> out;
    for (auto& r : route_list)
      if ((r.dst.is_v4() == (family == AF_INET)) && (table == 0 || r.table == table)) out.push_back(r);
    return out;
  }
  Status add_route(const rtnl::Route& r) override {
    if (r.table < slice::kTableMin || r.table > slice::kTableMax) return Error{"fake: table outside our slice", EINVAL};
    if (r.oif != 0 && !find_index(r.oif)) return Error{"fake: no such oif", ENODEV};
    std::erase_if(route_list, [&](auto& x) { return x.table == r.table && x.dst == r.dst && x.metric == r.metric; });
    route_list.push_back(r);  // NLM_F_REPLACE
    return ok();
  }
  Status del_route(const rtnl::Route& r) override {
    if (r.table < slice::kTableMin || r.table > slice::kTableMax) return Error{"fake: table outside our slice", EINVAL};
    std::erase_if(route_list, [&](auto& x) { return x == r; });
    return ok();
  }

  Result<std::vector<rtnl::Rule>> rules(int family) override {
    std::vector<rtnl::Rule> out;
    for (auto& r : rule_list)
      if (r.family == family) out.push_back(r);
    return out;
  }
  Status add_rule(const rtnl::Rule& r) override {
    if (r.priority < slice::kRulePriorityMin || r.priority > slice::kRulePriorityMax)
      return Error{"fake: priority outside our slice", EINVAL};
    if (std::find(rule_list.begin(), rule_list.end(), r) == rule_list.end()) rule_list.push_back(r);
    return ok();
  }
  Status del_rule(const rtnl::Rule& r) override {
    if (r.priority < slice::kRulePriorityMin || r.priority > slice::kRulePriorityMax)
      return Error{"fake: priority outside our slice", EINVAL};
    std::erase(rule_list, r);
    return ok();
  }

 private:
  rtnl::Link* find(const std::string& name) {
    for (auto& l : link_list)
      if (l.name == name) return &l;
    return nullptr;
  }
  rtnl::Link* find_index(int index) {
    for (auto& l : link_list)
      if (l.index == index) return &l;
    return nullptr;
  }
  int next_index_ = 2;  // 1 is lo
};

// Tables inet cats and inet cats_input only: what the Applier writes
// (nft::replace_table_script) and reads back.
class FakeTables final : public nft::Tables {
 public:
  std::optional<std::string> table;        // inet cats: the script that defined it
  std::optional<std::string> input_table;  // inet cats_input, the same way
  uint32_t gen = 1;
  int runs = 0;  // scripts run (transactions)

  Status run(std::string_view script) override {
    // Only the one shape the Applier may send: create, delete, define (nft/table.hpp).
    for (auto* name : {slice::kNftTable, slice::kNftInputTable}) {
      const std::string want = nft::replace_table_script(slice::kNftFamily, name, "", "");
      const std::string head = want.substr(0, want.find('{'));
      if (script.substr(0, head.size()) != head) continue;
      slot(name) = std::string(script);
      ++gen;
      ++runs;
      return ok();
    }
    return Error::msg("fake nft: unexpected script: " + std::string(script));
  }
  Result<std::string> query(std::string_view) override { return Error::msg("fake nft: query not supported"); }
  Result<std::string> query_json(std::string_view) override { return Error::msg("fake nft: query_json not supported"); }
  Result<bool> table_exists(std::string_view family, std::string_view name) override {
    if (family != slice::kNftFamily) return false;
    if (name == slice::kNftTable) return table.has_value();
    if (name == slice::kNftInputTable) return input_table.has_value();
    return false;
  }
  Result<std::optional<std::string>> list_table(std::string_view family, std::string_view name) override {
    CATS_TRY_ASSIGN(exists, table_exists(family, name));
    if (!exists) return std::optional<std::string>{};
    return name == slice::kNftTable ? table : input_table;
  }
  Status delete_table(std::string_view family, std::string_view name) override {
    if (family != slice::kNftFamily) return ok();
    if (name != slice::kNftTable && name != slice::kNftInputTable) return ok();
    auto& t = slot(name);
    if (t) ++gen;
    t.reset();
    return ok();
  }
  Result<uint32_t> generation() override { return gen; }

 private:
  std::optional<std::string>& slot(std::string_view name) { return name == slice::kNftTable ? table : input_table; }
};

// WireGuard devices whose links live in a FakeRouting, as with the kernel backend.
class FakeWg final : public wg::Control {
 public:
  explicit FakeWg(FakeRouting& rt) : rt_(rt) {}
  std::map<std::string, wg::Device> devices;

  wg::BackendKind kind() const override { return wg::BackendKind::kernel; }
  Result<std::vector<std::string>> list() override {
    std::vector<std::string> out;
    for (auto& [n, d] : devices) out.push_back(n);
    return out;
  }
  Result<wg::Device> get(const std::string& name) override {
    auto it = devices.find(name);
    if (it == devices.end()) return Error{"fake wg: no device " + name, ENODEV};
    return it->second;
  }
  Status set(const wg::DeviceUpdate& u) override {
    auto it = devices.find(u.name);
    if (it == devices.end()) return Error{"fake wg: no device " + u.name, ENODEV};
    auto& d = it->second;
    if (u.private_key) {
      d.private_key = *u.private_key;
      CATS_TRY_ASSIGN(pub, wg::public_from_private(*u.private_key));
      d.public_key = pub;
    }
    if (u.listen_port) d.listen_port = *u.listen_port;
    if (u.fwmark) d.fwmark = *u.fwmark;
    if (u.replace_peers) d.peers.clear();
    for (auto& pu : u.peers) {
      auto p = std::find_if(d.peers.begin(), d.peers.end(), [&](auto& x) { return x.public_key == pu.public_key; });
      if (pu.remove) {
        if (p != d.peers.end()) d.peers.erase(p);
        continue;
      }
      if (p == d.peers.end()) {
        if (pu.update_only) continue;
        d.peers.push_back({});
        p = d.peers.end() - 1;
        p->public_key = pu.public_key;
      }
      if (pu.endpoint) p->endpoint = pu.endpoint;
      if (pu.persistent_keepalive) p->persistent_keepalive = *pu.persistent_keepalive;
      if (pu.replace_allowed_ips) p->allowed_ips.clear();
      p->allowed_ips.insert(p->allowed_ips.end(), pu.allowed_ips.begin(), pu.allowed_ips.end());
    }
    return ok();
  }
  Status create(const std::string& name) override {
    CATS_TRY(rt_.create_link(name, "wireguard"));
    devices.emplace(name, wg::Device{name, 0, {}, {}, 0, 0, {}});
    return ok();
  }
  Status remove(const std::string& name) override {
    devices.erase(name);
    return rt_.delete_link(name);
  }

 private:
  FakeRouting& rt_;
};

// /proc/sys: every key reads "0" until written (what a fresh namespace mostly shows).
class FakeSysctls final : public overlay::Sysctls {
 public:
  std::map<std::string, std::string> values;
  Result<std::string> read(const std::string& key) override {
    auto it = values.find(key);
    return Result<std::string>(boost::system::in_place_value, it == values.end() ? std::string("0") : it->second);
  }
  Status write(const std::string& key, const std::string& value) override {
    values[key] = value;
    return ok();
  }
};

// An Applier over fakes for plan `p` (its required links exist), with a fixed key.
struct FakeKernel {
  static wg::Key key() {
    wg::Key k{};
    for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i + 1);
    return k;
  }
  FakeRouting rt;
  FakeWg wg{rt};
  FakeTables nft;
  FakeSysctls sys;
  overlay::Applier applier{rt, wg, nft, key(), sys};

  explicit FakeKernel(const overlay::Plan& p) {
    for (auto& l : p.required_links) rt.add_existing_link(l.name);
  }
};

}  // namespace cats::test
