// The WireGuard cross-platform userspace API (https://www.wireguard.com/xplatform/):
// line-oriented key=value text over a unix socket. Pure functions only, so they can be
// unit-tested and fuzzed without a daemon.
#pragma once

#include "base/result.hpp"
#include "wg/wg.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace cats::wg::uapi {

// Bounds on what we accept from a daemon, sized for a hub with thousands of CPE peers;
// anything beyond them is a bug or an attack, not a configuration we could act on.
inline constexpr size_t kMaxReplyBytes = 8 << 20;  // ~350 B per peer: room for kMaxPeers
inline constexpr size_t kMaxPeers = 16384;
inline constexpr size_t kMaxAllowedIps = 65536;  // per device, over all peers
inline constexpr size_t kMaxLineBytes = 256;     // longest valid line is ~80 characters

inline constexpr std::string_view kGetRequest = "get=1\n\n";

// "set=1\n" ... "\n": the body of a set operation for `update` (name is not sent; the
// socket identifies the device).
std::string format_set(const DeviceUpdate& update);

// Parse the reply to get=1 (must end with "errno=0\n\n"). Device.name/ifindex are left
// empty; public_key is derived from private_key when one is present.
Result<Device> parse_get_reply(std::string_view reply);

// Parse the reply to set=1: "errno=N\n\n". Non-zero N becomes an Error with sys_errno N.
Status parse_set_reply(std::string_view reply);

// True once `buf` holds a complete reply (ends with the blank line "\n\n").
bool reply_complete(std::string_view buf);

}  // namespace cats::wg::uapi
