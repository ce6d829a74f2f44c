// Pure rtnetlink message construction and parsing (no sockets). Layouts are those of
// linux/rtnetlink.h (rtmsg, ifaddrmsg), linux/if_link.h (ifinfomsg attributes),
// linux/fib_rules.h (fib_rule_hdr); attribute encoding is RFC 3549 section 2.3.2.
#include "rtnl/internal.hpp"
#include "rtnl/rtnl.hpp"

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

namespace cats::rtnl {
namespace {

// Appends one netlink message into a zeroed, fixed-size buffer. Every put is bounds-checked
// (the *_check variants of libmnl); an overflow poisons the writer and take() returns an empty
// vector, which the sender rejects. Inputs are validated before building, so that never
// happens in practice.
class Writer {
 public:
  Writer(uint16_t type, uint16_t flags, uint32_t seq) : buf_(detail::kRequestBufSize, 0) {
    nlh_ = mnl_nlmsg_put_header(buf_.data());
    nlh_->nlmsg_type = type;
    // Every message to the kernel is a request (RFC 3549 2.3.2.1, NLM_F_REQUEST).
    nlh_->nlmsg_flags = static_cast<uint16_t>(flags | NLM_F_REQUEST);
    nlh_->nlmsg_seq = seq;
    nlh_->nlmsg_pid = 0;  // to the kernel
  }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  template <class T>
  T* extra() {
    return static_cast<T*>(mnl_nlmsg_put_extra_header(nlh_, sizeof(T)));
  }
  void u8(uint16_t type, uint8_t v) { ok_ = ok_ && mnl_attr_put_u8_check(nlh_, buf_.size(), type, v); }
  void u32(uint16_t type, uint32_t v) { ok_ = ok_ && mnl_attr_put_u32_check(nlh_, buf_.size(), type, v); }
  void strz(uint16_t type, const std::string& s) {
    ok_ = ok_ && mnl_attr_put_strz_check(nlh_, buf_.size(), type, s.c_str());
  }
  // Addresses travel in network byte order, 4 or 16 bytes by family.
  void addr(uint16_t type, const IpAddress& a) {
    if (a.is_v4()) {
      auto b = a.to_v4().to_bytes();
      ok_ = ok_ && mnl_attr_put_check(nlh_, buf_.size(), type, b.size(), b.data());
    } else {
      auto b = a.to_v6().to_bytes();
      ok_ = ok_ && mnl_attr_put_check(nlh_, buf_.size(), type, b.size(), b.data());
    }
  }
  nlattr* nest_start(uint16_t type) {
    nlattr* n = ok_ ? mnl_attr_nest_start_check(nlh_, buf_.size(), type) : nullptr;
    ok_ = n != nullptr;
    return n;
  }
  void nest_end(nlattr* n) {
    if (n != nullptr) mnl_attr_nest_end(nlh_, n);
  }
  std::vector<uint8_t> take() && {
    if (!ok_) return {};
    buf_.resize(nlh_->nlmsg_len);
    return std::move(buf_);
  }

 private:
  std::vector<uint8_t> buf_;
  nlmsghdr* nlh_ = nullptr;
  bool ok_ = true;
};

// rtm_table / fib_rule_hdr.table are 8 bits; ids above 255 go in RTA_TABLE/FRA_TABLE
// (u32) with the header field RT_TABLE_UNSPEC, as iproute2 does. We always send the
// u32 attribute too: the kernel prefers it when present (rtm_to_fib_config, fib_nl2rule).
uint8_t table_header_byte(uint32_t table) {
  return table < 256 ? static_cast<uint8_t>(table) : static_cast<uint8_t>(RT_TABLE_UNSPEC);
}

// Scope we put on the wire. Deletes match "any scope" (RT_SCOPE_NOWHERE, what iproute2
// sends) unless the caller asked for one: fib_table_delete compares scope otherwise, and a
// mismatch would turn into ESRCH, i.e. a silent no-op on an idempotent delete. An IPv4
// unicast route without gateway is on-link (RT_SCOPE_LINK), as `ip route add` infers;
// IPv6 ignores rtm_scope.
uint8_t wire_scope(uint16_t type, const Route& r) {
  if (r.scope != RT_SCOPE_UNIVERSE) return r.scope;
  if (type == RTM_DELROUTE) return RT_SCOPE_NOWHERE;
  if (type == RTM_NEWROUTE && !r.gateway && r.type == RTN_UNICAST && r.dst.is_v4())
    return RT_SCOPE_LINK;
  return RT_SCOPE_UNIVERSE;
}

// ---- parsing helpers -------------------------------------------------------------------

// Attribute table indexed by type; later duplicates win, unknown (too large) types are
// skipped. mnl_attr_parse already rejects attributes running past the message.
template <size_t Max>
struct Attrs {
  std::array<const nlattr*, Max + 1> tb{};
  const nlattr* operator[](int type) const { return tb[static_cast<size_t>(type)]; }
};

template <size_t Max>
int collect_attr(const nlattr* a, void* data) {
  auto* attrs = static_cast<Attrs<Max>*>(data);
  const uint16_t type = mnl_attr_get_type(a);
  if (type <= Max) attrs->tb[type] = a;
  return MNL_CB_OK;
}

template <class Hdr>
const Hdr* family_header(const nlmsghdr* nlh) {
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(Hdr)) return nullptr;
  return static_cast<const Hdr*>(mnl_nlmsg_get_payload(nlh));
}

template <size_t Max, class Hdr>
std::optional<Attrs<Max>> parse_attrs(const nlmsghdr* nlh) {
  Attrs<Max> attrs;
  if (mnl_attr_parse(nlh, sizeof(Hdr), collect_attr<Max>, &attrs) < 0) return std::nullopt;
  return attrs;
}

std::optional<uint32_t> get_u32(const nlattr* a) {
  if (a == nullptr || mnl_attr_get_payload_len(a) < sizeof(uint32_t)) return std::nullopt;
  return mnl_attr_get_u32(a);
}

std::optional<uint8_t> get_u8(const nlattr* a) {
  if (a == nullptr || mnl_attr_get_payload_len(a) < sizeof(uint8_t)) return std::nullopt;
  return mnl_attr_get_u8(a);
}

// NUL-terminated or not, never read past the attribute (bounded by IFNAMSIZ-like limits
// of the caller).
std::string get_str(const nlattr* a, size_t max_len) {
  if (a == nullptr) return {};
  const auto* p = static_cast<const char*>(mnl_attr_get_payload(a));
  const size_t n = std::min<size_t>(mnl_attr_get_payload_len(a), max_len);
  return std::string(p, strnlen(p, n));
}

// An address attribute must be exactly the family's size.
std::optional<IpAddress> get_addr(const nlattr* a, int family) {
  if (a == nullptr) return std::nullopt;
  const size_t len = mnl_attr_get_payload_len(a);
  const auto* p = static_cast<const unsigned char*>(mnl_attr_get_payload(a));
  if (family == AF_INET && len == 4) {
    boost::asio::ip::address_v4::bytes_type b;
    std::memcpy(b.data(), p, b.size());
    return IpAddress(boost::asio::ip::address_v4(b));
  }
  if (family == AF_INET6 && len == 16) {
    boost::asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), p, b.size());
    return IpAddress(boost::asio::ip::address_v6(b));
  }
  return std::nullopt;
}

IpAddress any_address(int family) {
  if (family == AF_INET6) return boost::asio::ip::address_v6::any();
  return boost::asio::ip::address_v4::any();
}

// Prefix from an address attribute and a header length byte; absent attribute with length
// 0 is "any" (default route / "from all").
std::optional<Prefix> get_prefix(const nlattr* a, int family, uint8_t len) {
  if (a == nullptr) {
    if (len != 0) return std::nullopt;
    return Prefix{any_address(family), 0};
  }
  auto addr = get_addr(a, family);
  if (!addr) return std::nullopt;
  Prefix p{*addr, len};
  if (len > p.max_length()) return std::nullopt;
  return p;
}

bool valid_prefix(const Prefix& p) { return p.length <= p.max_length(); }

}  // namespace

// ---- public builders ---------------------------------------------------------------------

std::vector<uint8_t> build_route_msg(uint16_t type, uint16_t flags, uint32_t seq, const Route& r) {
  Writer w(type, flags, seq);
  const Prefix dst = r.dst.network();  // the kernel rejects host bits (EINVAL) for IPv4
  auto* rtm = w.extra<rtmsg>();
  rtm->rtm_family = static_cast<uint8_t>(dst.family());
  rtm->rtm_dst_len = dst.length;
  rtm->rtm_table = table_header_byte(r.table);
  rtm->rtm_protocol = r.protocol;
  rtm->rtm_scope = wire_scope(type, r);
  rtm->rtm_type = r.type;
  w.u32(RTA_TABLE, r.table);
  if (dst.length > 0) w.addr(RTA_DST, dst.address);
  if (r.gateway) w.addr(RTA_GATEWAY, *r.gateway);
  if (r.oif > 0) w.u32(RTA_OIF, static_cast<uint32_t>(r.oif));
  if (r.prefsrc) w.addr(RTA_PREFSRC, *r.prefsrc);
  if (r.metric != 0) w.u32(RTA_PRIORITY, r.metric);
  return std::move(w).take();
}

std::vector<uint8_t> build_rule_msg(uint16_t type, uint16_t flags, uint32_t seq, const Rule& in) {
  const Rule r = detail::normalized(in);
  Writer w(type, flags, seq);
  auto* frh = w.extra<fib_rule_hdr>();
  frh->family = static_cast<uint8_t>(r.family);
  frh->table = table_header_byte(r.table);
  frh->action = FR_ACT_TO_TBL;
  if (r.src) frh->src_len = r.src->length;
  if (r.dst) frh->dst_len = r.dst->length;
  w.u32(FRA_PRIORITY, r.priority);
  w.u32(FRA_TABLE, r.table);
  if (r.fwmark) w.u32(FRA_FWMARK, *r.fwmark);
  if (r.fwmask) w.u32(FRA_FWMASK, *r.fwmask);
  if (!r.iif.empty()) w.strz(FRA_IFNAME, r.iif);  // FRA_IFNAME == FRA_IIFNAME
  if (!r.oif.empty()) w.strz(FRA_OIFNAME, r.oif);
  if (r.src && r.src->length > 0) w.addr(FRA_SRC, r.src->address);
  if (r.dst && r.dst->length > 0) w.addr(FRA_DST, r.dst->address);
  w.u8(FRA_PROTOCOL, r.protocol);  // kernel >= 4.17; lets us (and `ip rule`) find ours
  return std::move(w).take();
}

std::vector<uint8_t> build_newlink_msg(uint16_t flags, uint32_t seq, const std::string& name,
                                       const std::string& kind) {
  Writer w(RTM_NEWLINK, flags, seq);
  auto* ifi = w.extra<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  w.strz(IFLA_IFNAME, name);
  nlattr* info = w.nest_start(IFLA_LINKINFO);
  w.strz(IFLA_INFO_KIND, kind);
  w.nest_end(info);
  return std::move(w).take();
}

namespace detail {

std::vector<uint8_t> build_link_msg(uint16_t type, uint16_t flags, uint32_t seq,
                                    const LinkChange& c) {
  Writer w(type, flags, seq);
  auto* ifi = w.extra<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  if (c.up) {
    ifi->ifi_change = IFF_UP;  // only IFF_UP changes (rtnetlink(7): ifi_change mask)
    ifi->ifi_flags = *c.up ? static_cast<unsigned>(IFF_UP) : 0u;
  }
  w.strz(IFLA_IFNAME, c.name);
  if (c.mtu) w.u32(IFLA_MTU, *c.mtu);
  if (c.netns_fd) w.u32(IFLA_NET_NS_FD, static_cast<uint32_t>(*c.netns_fd));
  return std::move(w).take();
}

std::vector<uint8_t> build_addr_msg(uint16_t type, uint16_t flags, uint32_t seq, int ifindex,
                                    const Prefix& p) {
  Writer w(type, flags, seq);
  auto* ifa = w.extra<ifaddrmsg>();
  ifa->ifa_family = static_cast<uint8_t>(p.family());
  ifa->ifa_prefixlen = p.length;
  ifa->ifa_index = static_cast<uint32_t>(ifindex);
  // IFA_LOCAL is the interface's own address, IFA_ADDRESS the peer (same when not
  // point-to-point); iproute2 sends both for both families (if_addr.h comment).
  w.addr(IFA_LOCAL, p.address);
  w.addr(IFA_ADDRESS, p.address);
  return std::move(w).take();
}

std::vector<uint8_t> build_dump_msg(uint16_t type, uint8_t family, uint32_t seq) {
  Writer w(type, NLM_F_DUMP, seq);
  switch (type) {
    case RTM_GETLINK: w.extra<ifinfomsg>()->ifi_family = family; break;
    case RTM_GETADDR: w.extra<ifaddrmsg>()->ifa_family = family; break;
    case RTM_GETROUTE: w.extra<rtmsg>()->rtm_family = family; break;
    case RTM_GETRULE: w.extra<fib_rule_hdr>()->family = family; break;
    default: return {};
  }
  return std::move(w).take();
}

// ---- parsers -----------------------------------------------------------------------------

std::optional<Link> parse_link(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWLINK) return std::nullopt;
  const auto* ifi = family_header<ifinfomsg>(nlh);
  if (ifi == nullptr) return std::nullopt;
  auto tb = parse_attrs<IFLA_MAX, ifinfomsg>(nlh);
  if (!tb) return std::nullopt;
  Link l;
  l.index = ifi->ifi_index;
  l.up = (ifi->ifi_flags & IFF_UP) != 0;
  l.name = get_str((*tb)[IFLA_IFNAME], IFNAMSIZ);
  l.mtu = get_u32((*tb)[IFLA_MTU]).value_or(0);
  if (const nlattr* info = (*tb)[IFLA_LINKINFO]) {
    Attrs<IFLA_INFO_MAX> nested;
    if (mnl_attr_parse_nested(info, collect_attr<IFLA_INFO_MAX>, &nested) >= 0)
      l.kind = get_str(nested[IFLA_INFO_KIND], kMaxKindLen);
  }
  return l;
}

std::optional<AddressEntry> parse_address(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWADDR) return std::nullopt;
  const auto* ifa = family_header<ifaddrmsg>(nlh);
  if (ifa == nullptr) return std::nullopt;
  auto tb = parse_attrs<IFA_MAX, ifaddrmsg>(nlh);
  if (!tb) return std::nullopt;
  // IFA_LOCAL is our address when present (IPv4); IPv6 only sends IFA_ADDRESS.
  const nlattr* a = (*tb)[IFA_LOCAL] != nullptr ? (*tb)[IFA_LOCAL] : (*tb)[IFA_ADDRESS];
  auto addr = get_addr(a, ifa->ifa_family);
  if (!addr) return std::nullopt;
  Prefix p{*addr, ifa->ifa_prefixlen};
  if (!valid_prefix(p)) return std::nullopt;
  return AddressEntry{static_cast<int>(ifa->ifa_index), p};
}

std::optional<Route> parse_route(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWROUTE) return std::nullopt;
  const auto* rtm = family_header<rtmsg>(nlh);
  if (rtm == nullptr) return std::nullopt;
  auto tb = parse_attrs<RTA_MAX, rtmsg>(nlh);
  if (!tb) return std::nullopt;
  const int family = rtm->rtm_family;
  if (family != AF_INET && family != AF_INET6) return std::nullopt;
  auto dst = get_prefix((*tb)[RTA_DST], family, rtm->rtm_dst_len);
  if (!dst) return std::nullopt;
  Route r;
  r.table = get_u32((*tb)[RTA_TABLE]).value_or(rtm->rtm_table);
  r.dst = *dst;
  r.gateway = get_addr((*tb)[RTA_GATEWAY], family);
  r.oif = static_cast<int>(get_u32((*tb)[RTA_OIF]).value_or(0));
  r.prefsrc = get_addr((*tb)[RTA_PREFSRC], family);
  r.metric = get_u32((*tb)[RTA_PRIORITY]).value_or(0);
  r.protocol = rtm->rtm_protocol;
  r.scope = rtm->rtm_scope;
  r.type = rtm->rtm_type;
  return r;
}

std::optional<Rule> parse_rule(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWRULE) return std::nullopt;
  const auto* frh = family_header<fib_rule_hdr>(nlh);
  if (frh == nullptr) return std::nullopt;
  auto tb = parse_attrs<FRA_MAX, fib_rule_hdr>(nlh);
  if (!tb) return std::nullopt;
  const int family = frh->family;
  if (family != AF_INET && family != AF_INET6) return std::nullopt;
  Rule r;
  r.family = family;
  r.priority = get_u32((*tb)[FRA_PRIORITY]).value_or(0);
  r.table = get_u32((*tb)[FRA_TABLE]).value_or(frh->table);
  r.fwmark = get_u32((*tb)[FRA_FWMARK]);
  r.fwmask = get_u32((*tb)[FRA_FWMASK]);
  r.iif = get_str((*tb)[FRA_IFNAME], IFNAMSIZ);
  r.oif = get_str((*tb)[FRA_OIFNAME], IFNAMSIZ);
  if (frh->src_len > 0 || (*tb)[FRA_SRC] != nullptr) {
    r.src = get_prefix((*tb)[FRA_SRC], family, frh->src_len);
    if (!r.src) return std::nullopt;
  }
  if (frh->dst_len > 0 || (*tb)[FRA_DST] != nullptr) {
    r.dst = get_prefix((*tb)[FRA_DST], family, frh->dst_len);
    if (!r.dst) return std::nullopt;
  }
  r.protocol = get_u8((*tb)[FRA_PROTOCOL]).value_or(0);  // RTPROT_UNSPEC before 4.17
  return r;
}

// ---- comparison & validation -----------------------------------------------------------

Rule normalized(const Rule& in) {
  Rule r = in;
  if (r.src) r.src = r.src->network();
  if (r.dst) r.dst = r.dst->network();
  // A "from all" selector is the absence of one (the kernel reports no FRA_SRC for /0).
  if (r.src && r.src->length == 0) r.src.reset();
  if (r.dst && r.dst->length == 0) r.dst.reset();
  if (r.fwmark && *r.fwmark == 0 && !r.fwmask) r.fwmark.reset();
  // fib_nl2rule: a mark without mask gets mask 0xffffffff.
  if (r.fwmark && !r.fwmask) r.fwmask = 0xffffffffu;
  return r;
}

bool same_rule(const Rule& a, const Rule& b) {
  const Rule x = normalized(a);
  const Rule y = normalized(b);
  auto mark = [](const Rule& r) { return r.fwmark.value_or(0); };
  auto mask = [](const Rule& r) { return r.fwmask.value_or(0); };
  return x.family == y.family && x.priority == y.priority && x.table == y.table &&
         mark(x) == mark(y) && mask(x) == mask(y) && x.iif == y.iif && x.oif == y.oif &&
         x.src == y.src && x.dst == y.dst && x.protocol == y.protocol;
}

Status validate_family(int family) {
  if (family == AF_INET || family == AF_INET6) return ok();
  return Error::msg("rtnl: address family " + std::to_string(family) + " is neither IPv4 nor IPv6");
}

Status validate_ifname(const std::string& name) {
  // dev_valid_name(): 1..IFNAMSIZ-1 bytes, not "." / "..", no '/', ':' or whitespace.
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..")
    return Error::msg("rtnl: invalid interface name '" + name + "'");
  for (char c : name) {
    if (c == '/' || c == ':' || c == '\0' || std::isspace(static_cast<unsigned char>(c)))
      return Error::msg("rtnl: invalid interface name '" + name + "'");
  }
  return ok();
}

Status validate_kind(const std::string& kind) {
  if (kind.empty() || kind.size() > kMaxKindLen || kind.find('\0') != std::string::npos)
    return Error::msg("rtnl: invalid link kind '" + kind + "'");
  return ok();
}

Status validate_route(const Route& r) {
  // Our slice only: never write into main/local or another daemon's tables.
  if (r.table < kTableMin || r.table > kTableMax)
    return Error::msg("rtnl: route table " + std::to_string(r.table) + " is outside our range " +
                      std::to_string(kTableMin) + "-" + std::to_string(kTableMax));
  if (!valid_prefix(r.dst)) return Error::msg("rtnl: invalid route prefix " + r.dst.to_string());
  const int family = r.dst.family();
  if (r.gateway && address_family(*r.gateway) != family)
    return Error::msg("rtnl: gateway " + r.gateway->to_string() + " does not match " + r.dst.to_string());
  if (r.prefsrc && address_family(*r.prefsrc) != family)
    return Error::msg("rtnl: prefsrc " + r.prefsrc->to_string() + " does not match " + r.dst.to_string());
  if (r.oif < 0) return Error::msg("rtnl: invalid oif " + std::to_string(r.oif));
  return ok();
}

Status validate_rule(const Rule& r) {
  CATS_TRY(validate_family(r.family));
  if (r.priority < kRulePriorityMin || r.priority > kRulePriorityMax)
    return Error::msg("rtnl: rule priority " + std::to_string(r.priority) + " is outside our range " +
                      std::to_string(kRulePriorityMin) + "-" + std::to_string(kRulePriorityMax));
  if (r.table == 0) return Error::msg("rtnl: rule without table");
  if (!r.iif.empty()) CATS_TRY(validate_ifname(r.iif));
  if (!r.oif.empty()) CATS_TRY(validate_ifname(r.oif));
  for (const auto* p : {&r.src, &r.dst}) {
    if (!*p) continue;
    if ((*p)->family() != r.family || !valid_prefix(**p))
      return Error::msg("rtnl: rule selector " + (*p)->to_string() + " does not match the rule family");
  }
  return ok();
}

}  // namespace detail
}  // namespace cats::rtnl
