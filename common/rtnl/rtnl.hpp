// rtnetlink over libmnl: links, addresses, routes in numbered tables, ip rules.
// Idempotent: adding what exists (EEXIST) and deleting what is absent (ENOENT/ESRCH) succeed.
// Message construction is separated from the socket so tests can compare golden bytes.
#pragma once

#include "base/fd.hpp"
#include "base/ip.hpp"
#include "base/result.hpp"
#include "base/slice.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cats::rtnl {

// Our slice of shared kernel resources: base/slice.hpp. Routes and rules outside its
// tables and priorities are refused.
using slice::kRouteProtocol;
using slice::kRulePriorityMax;
using slice::kRulePriorityMin;
using slice::kTableMax;
using slice::kTableMin;

struct Link {
  int index = 0;
  std::string name;
  std::string kind;  // IFLA_INFO_KIND ("wireguard", "veth", "" ...)
  bool up = false;
  uint32_t mtu = 0;
};

struct Route {
  uint32_t table = 254;  // RT_TABLE_MAIN
  Prefix dst;            // 0.0.0.0/0 for default
  std::optional<IpAddress> gateway;
  int oif = 0;           // ifindex, 0 = none
  std::optional<IpAddress> prefsrc;
  uint32_t metric = 0;
  uint8_t protocol = kRouteProtocol;
  uint8_t scope = 0;     // RT_SCOPE_UNIVERSE; link-scope when no gateway is set by the caller
  uint8_t type = 1;      // RTN_UNICAST
  bool operator==(const Route&) const = default;
};

struct Rule {
  int family = 2;  // AF_INET
  uint32_t priority = 0;
  uint32_t table = 0;
  std::optional<uint32_t> fwmark;
  std::optional<uint32_t> fwmask;
  std::string iif;
  std::string oif;
  std::optional<Prefix> src;
  std::optional<Prefix> dst;
  uint8_t protocol = kRouteProtocol;
  bool operator==(const Rule&) const = default;
};

struct AddressEntry {
  int ifindex = 0;
  Prefix prefix;
};

class Rtnl {
 public:
  static Result<Rtnl> open();
  Rtnl(Rtnl&&) noexcept;
  Rtnl& operator=(Rtnl&&) noexcept;
  ~Rtnl();

  Result<std::vector<Link>> links();
  Result<std::optional<Link>> link(const std::string& name);
  Status create_link(const std::string& name, const std::string& kind);  // EEXIST ok
  Status delete_link(const std::string& name);                           // absent ok
  Status set_link_up(const std::string& name, bool up);
  Status set_mtu(const std::string& name, uint32_t mtu);
  Status move_link_to_netns(const std::string& name, int netns_fd);

  Result<std::vector<AddressEntry>> addresses(int ifindex = 0);  // 0 = all
  Status add_address(int ifindex, const Prefix& p);
  Status del_address(int ifindex, const Prefix& p);

  Result<std::vector<Route>> routes(int family, uint32_t table);
  // add/del refuse tables outside [kTableMin, kTableMax] (nothing else is ours to change);
  // del matches any scope and only routes with r.protocol (ours: kRouteProtocol).
  Status add_route(const Route& r);  // NLM_F_CREATE|NLM_F_REPLACE: converges to r
  Status del_route(const Route& r);

  Result<std::vector<Rule>> rules(int family);
  // add/del refuse priorities outside [kRulePriorityMin, kRulePriorityMax]. add_rule lists
  // first and does nothing if an equal rule exists (the kernel would add a duplicate).
  Status add_rule(const Rule& r);
  Status del_rule(const Rule& r);

 private:
  struct Impl;
  explicit Rtnl(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Message builders (no I/O) for golden tests. They write one netlink message into buf and
// return its bytes.
std::vector<uint8_t> build_route_msg(uint16_t type, uint16_t flags, uint32_t seq, const Route& r);
std::vector<uint8_t> build_rule_msg(uint16_t type, uint16_t flags, uint32_t seq, const Rule& r);
std::vector<uint8_t> build_newlink_msg(uint16_t flags, uint32_t seq, const std::string& name,
                                       const std::string& kind);

}  // namespace cats::rtnl
