// WireGuard generic netlink messages (linux/wireguard.h), built and parsed as bytes with
// no I/O so tests can compare golden bytes and feed constructed dump replies.
#pragma once

#include "base/result.hpp"
#include "wg/wg.hpp"

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

struct nlmsghdr;

namespace cats::wg::genl {

using Bytes = std::vector<uint8_t>;

// wireguard-tools sizes its messages with mnl_ideal_socket_buffer_size(), i.e. the page
// size capped at 8 KiB; 4096 is that value on every platform we run on, and a fixed
// number keeps message splitting deterministic.
inline constexpr size_t kDefaultMessageLimit = 4096;

// Bounds on dump replies (same spirit as the UAPI parser).
inline constexpr size_t kMaxPeers = 16384;
inline constexpr size_t kMaxAllowedIps = 65536;

// CTRL_CMD_GETFAMILY for "wireguard" (NLM_F_REQUEST|NLM_F_ACK).
Bytes build_get_family(uint32_t seq);
// Extract CTRL_ATTR_FAMILY_ID from the reply message; nullopt-style error when absent.
Result<uint16_t> parse_family_reply(const nlmsghdr* nlh);

// WG_CMD_GET_DEVICE dump request for one device by name.
Bytes build_get_device(uint16_t family, uint32_t seq, std::string_view ifname);

// WG_CMD_SET_DEVICE messages for `u`, split so none exceeds `limit` bytes. Device
// attributes go in the first message only; peers (and a peer's allowed IPs) that do not
// fit continue in the next message, exactly as wireguard-tools' kernel_set_device() does.
// Message i carries sequence number first_seq + i.
Result<std::vector<Bytes>> build_set_device(const DeviceUpdate& u, uint16_t family, uint32_t first_seq,
                                            size_t limit = kDefaultMessageLimit);

// Accumulates a WG_CMD_GET_DEVICE dump. The kernel may split one device over several
// messages and one peer's allowed IPs over two messages (the continuation repeats the
// peer's public key); those are merged.
class DumpParser {
 public:
  // One received datagram (may hold several netlink messages). Returns true once
  // NLMSG_DONE was seen; a netlink error message becomes an Error with its errno.
  Result<bool> feed(std::span<const uint8_t> datagram, uint32_t seq, uint32_t portid);
  // One WG_CMD_GET_DEVICE message (the genl header follows nlh).
  Status parse_message(const nlmsghdr* nlh);
  Device take() { return std::move(dev_); }

 private:
  Device dev_;
  size_t allowed_ips_ = 0;
  bool failed_ = false;
};

}  // namespace cats::wg::genl
