// Internal to cats_rtnl (and its tests): builders for the requests rtnl.hpp does not expose,
// parsers for kernel replies, and input validation. Not part of the module's interface.
#pragma once

#include "rtnl/rtnl.hpp"

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cats::rtnl::detail {

// Requests we build are a header plus a handful of attributes; 1 KiB is far above that.
inline constexpr size_t kRequestBufSize = 1024;
// Upper bound for an IFLA_INFO_KIND string ("wireguard", "veth", ...).
inline constexpr size_t kMaxKindLen = 32;

// One RTM_SETLINK request: the link is addressed by IFLA_IFNAME (ifi_index 0), the
// kernel resolves it (rtnl_setlink -> rtnl_dev_get).
struct LinkChange {
  std::string name;
  std::optional<bool> up;
  std::optional<uint32_t> mtu;
  std::optional<int> netns_fd;
};

// RTM_GETLINK/RTM_DELLINK/RTM_SETLINK addressed by name.
std::vector<uint8_t> build_link_msg(uint16_t type, uint16_t flags, uint32_t seq,
                                    const LinkChange& change);
std::vector<uint8_t> build_addr_msg(uint16_t type, uint16_t flags, uint32_t seq, int ifindex,
                                    const Prefix& p);
// NLM_F_DUMP request with the family header that belongs to `type` (ifinfomsg, ifaddrmsg,
// rtmsg, fib_rule_hdr), zeroed except for the family.
std::vector<uint8_t> build_dump_msg(uint16_t type, uint8_t family, uint32_t seq);

// Parsers: nullopt when the message is not of the expected shape (short header, address of
// the wrong size). Unknown attributes are ignored (RFC 3549 section 2.3.2: TLVs are extensible).
std::optional<Link> parse_link(const nlmsghdr* nlh);
std::optional<AddressEntry> parse_address(const nlmsghdr* nlh);
std::optional<Route> parse_route(const nlmsghdr* nlh);
std::optional<Rule> parse_rule(const nlmsghdr* nlh);

// The kernel's view of a rule we asked for: host bits of src/dst cleared, a fwmark without
// a mask reported with mask 0xffffffff (fib_nl_newrule), so compare on that form.
Rule normalized(const Rule& r);
bool same_rule(const Rule& a, const Rule& b);

Status validate_ifname(const std::string& name);
Status validate_kind(const std::string& kind);
Status validate_route(const Route& r);
Status validate_rule(const Rule& r);
Status validate_family(int family);

}  // namespace cats::rtnl::detail
