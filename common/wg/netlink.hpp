// Internal to cats_wg: the three rtnetlink link operations the WireGuard backends need
// (create a link of a kind, delete by name, list links of a kind), over the shared
// netlink::Socket (common/netlink/socket.hpp). The messages are local: the module must not
// depend on common/rtnl (whose create_link also accepts an existing link, where the probe
// in control.cpp needs the kernel's EEXIST/EOPNOTSUPP as is).
#pragma once

#include "base/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cats::wg::nl {

using Bytes = std::vector<uint8_t>;

// Pure message builders (golden-testable).
Bytes build_newlink(std::string_view ifname, std::string_view kind, uint32_t seq);
Bytes build_dellink(std::string_view ifname, uint32_t seq);
Bytes build_getlink_dump(uint32_t seq);

// Valid Linux interface name: 1..15 bytes, no '/', whitespace or ':' (dev_valid_name()).
bool valid_ifname(std::string_view name);

// RTM_NEWLINK with NLM_F_CREATE|NLM_F_EXCL; the kernel's errno is kept (EEXIST, EOPNOTSUPP).
Status link_add(std::string_view ifname, std::string_view kind);
// RTM_DELLINK by name; an absent link (ENODEV) is success.
Status link_del(std::string_view ifname);
// Names of links whose IFLA_INFO_KIND equals kind, in the current network namespace.
Result<std::vector<std::string>> links_of_kind(std::string_view kind);

}  // namespace cats::wg::nl
