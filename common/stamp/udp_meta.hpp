// UDP receive/send with the ancillary data STAMP needs (Linux). Thin, non-blocking,
// errno-returning wrappers so the Asio classes above them stay about protocol logic.
#pragma once

#include "base/ip.hpp"
#include "base/result.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>

namespace cats::stamp {

struct RecvMeta {
  UdpEndpoint source;
  std::size_t length = 0;     // octets received (<= buffer size)
  bool truncated = false;     // datagram was longer than the buffer
  int ifindex = 0;            // arrival interface (IP_PKTINFO / IPV6_PKTINFO)
  std::optional<IpAddress> destination;  // the address the sender targeted
  std::optional<int> ttl;     // IP_TTL / IPV6_HOPLIMIT of the received packet
  std::optional<std::chrono::system_clock::time_point> kernel_time;  // SO_TIMESTAMPNS
};

// Enable the ancillary data recv_with_meta() reads, for a socket of this family.
Status enable_recv_meta(int fd, bool ipv6);
// One non-blocking recvmsg. Returns false with errno set on failure (EAGAIN when empty).
bool recv_with_meta(int fd, std::span<uint8_t> buf, RecvMeta& meta);
// sendmsg to `to`, leaving through `ifindex` with `source` as the source address
// (IP_PKTINFO / IPV6_PKTINFO), so a reply goes back over the interface the request came
// in on even when several interfaces route to the same peer. Returns 0 or an errno.
int send_via(int fd, std::span<const uint8_t> data, const UdpEndpoint& to, int ifindex,
             const std::optional<IpAddress>& source);

}  // namespace cats::stamp
