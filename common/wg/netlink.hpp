// Internal to cats_wg: a small libmnl socket wrapper and the three rtnetlink link
// operations the WireGuard backends need (create a link of a kind, delete by name, list
// links of a kind). Deliberately local: the module must not depend on common/rtnl.
#pragma once

#include "base/result.hpp"

#include <libmnl/libmnl.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cats::wg::nl {

using Bytes = std::vector<uint8_t>;

// Large enough for one datagram of a dump (libmnl's MNL_SOCKET_DUMP_SIZE).
inline constexpr size_t kRecvBufSize = 32768;

class Socket {
 public:
  // bus: NETLINK_ROUTE or NETLINK_GENERIC. Replies slower than `timeout` are an error.
  static Result<Socket> open(int bus, std::chrono::milliseconds timeout = std::chrono::seconds(5));

  uint32_t next_seq() { return ++seq_; }
  // Reserve n consecutive sequence numbers (for a request split over n messages).
  uint32_t take_seqs(uint32_t n) {
    uint32_t first = seq_ + 1;
    seq_ += n;
    return first;
  }
  uint32_t portid() const { return portid_; }
  Status send(std::span<const uint8_t> msg);
  // Read datagrams and run libmnl's callback loop on them until the request `seq` is
  // finished (ACK or NLMSG_DONE). A netlink error reply becomes an Error with its errno.
  Status receive(uint32_t seq, mnl_cb_t data_cb, void* data);
  // Read datagrams and hand each, whole, to on_datagram until it returns true (done).
  Status receive_datagrams(const std::function<Result<bool>(std::span<const uint8_t>)>& on_datagram);
  // send + receive for a request that expects only an ACK.
  Status request(std::span<const uint8_t> msg, uint32_t seq);

 private:
  struct Closer {
    void operator()(mnl_socket* s) const { mnl_socket_close(s); }
  };
  std::unique_ptr<mnl_socket, Closer> sock_;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
};

// True when `dg` is a sequence of complete netlink messages that exactly fills it.
// libmnl's mnl_nlmsg_ok() compares nlmsg_len as a signed int, so a header claiming more
// than 2 GiB passes it and mnl_cb_run() walks off the buffer: check before handing any
// datagram to libmnl.
bool well_formed_datagram(std::span<const uint8_t> dg);

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
