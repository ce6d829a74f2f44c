// rtnetlink over the shared netlink::Socket: links, addresses, routes in numbered tables, ip rules.
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

// The routing operations, as an interface: the overlay Applier and steering's Programmer
// take a Routing&, so their unit tests run against an in-memory fake
// (tests/unit/overlay/fake_kernel.hpp) and only Rtnl talks to the kernel.
class Routing {
 public:
  virtual ~Routing() = default;

  virtual Result<std::vector<Link>> links() = 0;
  virtual Result<std::optional<Link>> link(const std::string& name) = 0;
  virtual Status create_link(const std::string& name, const std::string& kind) = 0;  // EEXIST ok
  virtual Status delete_link(const std::string& name) = 0;                           // absent ok
  virtual Status set_link_up(const std::string& name, bool up) = 0;
  virtual Status set_mtu(const std::string& name, uint32_t mtu) = 0;
  virtual Status move_link_to_netns(const std::string& name, int netns_fd) = 0;

  virtual Result<std::vector<AddressEntry>> addresses(int ifindex = 0) = 0;  // 0 = all
  virtual Status add_address(int ifindex, const Prefix& p) = 0;
  virtual Status del_address(int ifindex, const Prefix& p) = 0;

  virtual Result<std::vector<Route>> routes(int family, uint32_t table) = 0;  // table 0 = every table
  // add/del refuse tables outside [kTableMin, kTableMax] (nothing else is ours to change);
  // del matches any scope and only routes with r.protocol (ours: kRouteProtocol).
  virtual Status add_route(const Route& r) = 0;  // NLM_F_CREATE|NLM_F_REPLACE: converges to r
  virtual Status del_route(const Route& r) = 0;

  virtual Result<std::vector<Rule>> rules(int family) = 0;
  // add/del refuse priorities outside [kRulePriorityMin, kRulePriorityMax]. add_rule lists
  // first and does nothing if an equal rule exists (the kernel would add a duplicate).
  virtual Status add_rule(const Rule& r) = 0;
  virtual Status del_rule(const Rule& r) = 0;
};

// Routing on the kernel: one NETLINK_ROUTE netlink::Socket.
class Rtnl final : public Routing {
 public:
  static Result<Rtnl> open();
  Rtnl(Rtnl&&) noexcept;
  Rtnl& operator=(Rtnl&&) noexcept;
  ~Rtnl() override;

  Result<std::vector<Link>> links() override;
  Result<std::optional<Link>> link(const std::string& name) override;
  Status create_link(const std::string& name, const std::string& kind) override;
  Status delete_link(const std::string& name) override;
  Status set_link_up(const std::string& name, bool up) override;
  Status set_mtu(const std::string& name, uint32_t mtu) override;
  Status move_link_to_netns(const std::string& name, int netns_fd) override;

  Result<std::vector<AddressEntry>> addresses(int ifindex = 0) override;
  Status add_address(int ifindex, const Prefix& p) override;
  Status del_address(int ifindex, const Prefix& p) override;

  Result<std::vector<Route>> routes(int family, uint32_t table) override;
  Status add_route(const Route& r) override;
  Status del_route(const Route& r) override;

  Result<std::vector<Rule>> rules(int family) override;
  Status add_rule(const Rule& r) override;
  Status del_rule(const Rule& r) override;

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
