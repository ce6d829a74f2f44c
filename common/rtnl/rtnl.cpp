// Rtnl: one NETLINK_ROUTE netlink::Socket (request/ACK and dump handling live there), dump
// retries on NLM_F_DUMP_INTR, and the idempotent link/address/route/rule operations on top.
#include "rtnl/rtnl.hpp"

#include "base/log.hpp"
#include "netlink/socket.hpp"
#include "rtnl/internal.hpp"

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <initializer_list>

namespace cats::rtnl {
namespace {

// A dump interrupted by concurrent changes (NLM_F_DUMP_INTR) is retried this many times.
constexpr int kDumpAttempts = 3;

// The operation succeeded, or failed with one of `benign` errnos (idempotency: "already
// there" on add, "already gone" on delete).
Status tolerate(Status st, std::initializer_list<int> benign) {
  if (st) return st;
  for (int e : benign) {
    if (st.error().sys_errno == e) return ok();
  }
  return st;
}

// Flags for a change request: always ask for an ACK so errors are reported synchronously.
constexpr uint16_t kCreateExcl = NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
constexpr uint16_t kCreateReplace = NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK;
constexpr uint16_t kAck = NLM_F_ACK;

}  // namespace

struct Rtnl::Impl {
  netlink::Socket sock;

  uint32_t next_seq() { return sock.next_seq(); }

  // Sends `req` and consumes replies until its ACK (change requests, NLM_F_ACK) or
  // NLMSG_DONE (dumps); the loop, sequence checks and error decoding are netlink::Socket's.
  Status exchange(const std::vector<uint8_t>& req, const std::string& what, const netlink::MessageFn& on_msg,
                  bool* interrupted = nullptr) {
    CATS_TRY_ASSIGN(progress, sock.exchange(req, on_msg, what));
    if (interrupted != nullptr) *interrupted = progress.interrupted;
    return ok();
  }

  Status change(const std::vector<uint8_t>& req, const std::string& what) {
    return exchange(req, what, {});
  }

  // Full dump of `type` for `family`, each message turned into a T by `parse` (messages
  // that do not parse are skipped). Retries a dump the kernel marks inconsistent.
  template <class T, class Parse>
  Result<std::vector<T>> dump(uint16_t type, int family, Parse parse, const std::string& what) {
    for (int attempt = 0; attempt < kDumpAttempts; ++attempt) {
      std::vector<T> out;
      bool interrupted = false;
      auto collect = [&](const nlmsghdr* nlh) -> Status {
        if (auto v = parse(nlh)) out.push_back(std::move(*v));
        return ok();
      };
      CATS_TRY(exchange(detail::build_dump_msg(type, static_cast<uint8_t>(family), next_seq()), what,
                        collect, &interrupted));
      if (!interrupted) return out;
    }
    return Error{"rtnl: " + what + ": dump kept being interrupted by concurrent changes", EINTR};
  }
};

Rtnl::Rtnl(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Rtnl::Rtnl(Rtnl&&) noexcept = default;
Rtnl& Rtnl::operator=(Rtnl&&) noexcept = default;
Rtnl::~Rtnl() = default;

Result<Rtnl> Rtnl::open() {
  CATS_TRY_ASSIGN(sock, netlink::Socket::open(NETLINK_ROUTE, "rtnl"));
  return Rtnl(std::make_unique<Impl>(Impl{std::move(sock)}));
}

// ---- links ---------------------------------------------------------------------------------

Result<std::vector<Link>> Rtnl::links() {
  return impl_->dump<Link>(RTM_GETLINK, AF_UNSPEC, detail::parse_link, "list links");
}

Result<std::optional<Link>> Rtnl::link(const std::string& name) {
  CATS_TRY(detail::validate_ifname(name));
  std::optional<Link> found;
  auto on_msg = [&](const nlmsghdr* nlh) -> Status {
    if (auto l = detail::parse_link(nlh)) found = std::move(*l);
    return ok();
  };
  auto req = detail::build_link_msg(RTM_GETLINK, kAck, impl_->next_seq(), {name, {}, {}, {}});
  auto st = impl_->exchange(req, "get link " + name, on_msg);
  if (!st && st.error().sys_errno == ENODEV) return std::optional<Link>{};
  if (!st) return st.error();
  return found;
}

Status Rtnl::create_link(const std::string& name, const std::string& kind) {
  CATS_TRY(detail::validate_ifname(name));
  CATS_TRY(detail::validate_kind(kind));
  auto st = impl_->change(build_newlink_msg(kCreateExcl, impl_->next_seq(), name, kind),
                          "create link " + name + " (" + kind + ")");
  if (st || st.error().sys_errno != EEXIST) return st;
  // Already there: fine if it is what we asked for; a different kind under our name is a
  // conflict the caller must see (it would otherwise be configured as if it were ours).
  CATS_TRY_ASSIGN(existing, link(name));
  if (existing && existing->kind == kind) return ok();
  return Error{"rtnl: create link " + name + ": exists with kind '" +
                   (existing ? existing->kind : std::string("?")) + "', wanted '" + kind + "'",
               EEXIST};
}

Status Rtnl::delete_link(const std::string& name) {
  CATS_TRY(detail::validate_ifname(name));
  auto req = detail::build_link_msg(RTM_DELLINK, kAck, impl_->next_seq(), {name, {}, {}, {}});
  return tolerate(impl_->change(req, "delete link " + name), {ENODEV});
}

Status Rtnl::set_link_up(const std::string& name, bool up) {
  CATS_TRY(detail::validate_ifname(name));
  auto req = detail::build_link_msg(RTM_SETLINK, kAck, impl_->next_seq(), {name, up, {}, {}});
  return impl_->change(req, std::string("set link ") + name + (up ? " up" : " down"));
}

Status Rtnl::set_mtu(const std::string& name, uint32_t mtu) {
  CATS_TRY(detail::validate_ifname(name));
  auto req = detail::build_link_msg(RTM_SETLINK, kAck, impl_->next_seq(), {name, {}, mtu, {}});
  return impl_->change(req, "set link " + name + " mtu " + std::to_string(mtu));
}

Status Rtnl::move_link_to_netns(const std::string& name, int netns_fd) {
  CATS_TRY(detail::validate_ifname(name));
  if (netns_fd < 0) return Error::msg("rtnl: move link " + name + ": invalid netns fd");
  auto req = detail::build_link_msg(RTM_SETLINK, kAck, impl_->next_seq(), {name, {}, {}, netns_fd});
  return impl_->change(req, "move link " + name + " to netns");
}

// ---- addresses -----------------------------------------------------------------------------

Result<std::vector<AddressEntry>> Rtnl::addresses(int ifindex) {
  CATS_TRY_ASSIGN(all, impl_->dump<AddressEntry>(RTM_GETADDR, AF_UNSPEC, detail::parse_address,
                                                 "list addresses"));
  if (ifindex == 0) return all;
  std::vector<AddressEntry> out;
  for (auto& a : all) {
    if (a.ifindex == ifindex) out.push_back(a);
  }
  return out;
}

namespace {
Status check_address(int ifindex, const Prefix& p) {
  if (ifindex <= 0) return Error::msg("rtnl: invalid ifindex " + std::to_string(ifindex));
  if (p.length > p.max_length()) return Error::msg("rtnl: invalid prefix " + p.to_string());
  return ok();
}
}  // namespace

Status Rtnl::add_address(int ifindex, const Prefix& p) {
  CATS_TRY(check_address(ifindex, p));
  auto req = detail::build_addr_msg(RTM_NEWADDR, kCreateExcl, impl_->next_seq(), ifindex, p);
  return tolerate(impl_->change(req, "add address " + p.to_string()), {EEXIST});
}

Status Rtnl::del_address(int ifindex, const Prefix& p) {
  CATS_TRY(check_address(ifindex, p));
  auto req = detail::build_addr_msg(RTM_DELADDR, kAck, impl_->next_seq(), ifindex, p);
  // Absent address: EADDRNOTAVAIL (inet_rtm_deladdr, inet6_addr_del); gone link: ENODEV.
  return tolerate(impl_->change(req, "delete address " + p.to_string()), {EADDRNOTAVAIL, ENODEV, ENOENT});
}

// ---- routes --------------------------------------------------------------------------------

Result<std::vector<Route>> Rtnl::routes(int family, uint32_t table) {
  CATS_TRY(detail::validate_family(family));
  auto parse = [table](const nlmsghdr* nlh) -> std::optional<Route> {
    const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
    // Cached/cloned entries (PMTU exceptions) are not configuration.
    if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(rtmsg) && (rtm->rtm_flags & RTM_F_CLONED)) return std::nullopt;
    auto r = detail::parse_route(nlh);
    if (!r || (table != 0 && r->table != table)) return std::nullopt;  // 0 = every table
    return r;
  };
  return impl_->dump<Route>(RTM_GETROUTE, family, parse,
                            "list routes table " + std::to_string(table));
}

namespace {
std::string describe(const Route& r) {
  std::string s = r.dst.to_string() + " table " + std::to_string(r.table);
  if (r.gateway) s += " via " + r.gateway->to_string();
  if (r.oif) s += " oif " + std::to_string(r.oif);
  return s;
}
}  // namespace

Status Rtnl::add_route(const Route& r) {
  CATS_TRY(detail::validate_route(r));
  auto req = build_route_msg(RTM_NEWROUTE, kCreateReplace, impl_->next_seq(), r);
  return impl_->change(req, "add route " + describe(r));
}

Status Rtnl::del_route(const Route& r) {
  CATS_TRY(detail::validate_route(r));
  auto req = build_route_msg(RTM_DELROUTE, kAck, impl_->next_seq(), r);
  // Absent: ESRCH (fib_table_delete, ip6_route_del); ENODEV if the oif is already gone.
  return tolerate(impl_->change(req, "delete route " + describe(r)), {ESRCH, ENOENT, ENODEV});
}

// ---- rules ---------------------------------------------------------------------------------

Result<std::vector<Rule>> Rtnl::rules(int family) {
  CATS_TRY(detail::validate_family(family));
  return impl_->dump<Rule>(RTM_GETRULE, family, detail::parse_rule, "list rules");
}

namespace {
std::string describe(const Rule& r) {
  return "priority " + std::to_string(r.priority) + " table " + std::to_string(r.table);
}
}  // namespace

Status Rtnl::add_rule(const Rule& r) {
  CATS_TRY(detail::validate_rule(r));
  // The kernel accepts duplicate rules without NLM_F_EXCL, and older kernels ignore EXCL
  // for rules, so look first. NLM_F_EXCL still closes the race with a concurrent adder.
  CATS_TRY_ASSIGN(existing, rules(r.family));
  for (const auto& e : existing) {
    if (detail::same_rule(e, r)) return ok();
  }
  auto req = build_rule_msg(RTM_NEWRULE, kCreateExcl, impl_->next_seq(), r);
  return tolerate(impl_->change(req, "add rule " + describe(r)), {EEXIST});
}

Status Rtnl::del_rule(const Rule& r) {
  CATS_TRY(detail::validate_rule(r));
  auto req = build_rule_msg(RTM_DELRULE, kAck, impl_->next_seq(), r);
  // fib_nl_delrule: ENOENT when no rule matches every attribute we sent.
  return tolerate(impl_->change(req, "delete rule " + describe(r)), {ENOENT, ESRCH});
}

}  // namespace cats::rtnl
