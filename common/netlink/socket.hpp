// The one netlink socket of the code base (netlink(7), RFC 3549 section 2.3.2): open with
// close-on-exec, send a request, read its replies until the ACK or NLMSG_DONE, with
// sequence/port-id checking, error and extended-ACK decoding, multi-part dumps
// (NLM_F_MULTI / NLMSG_DONE, NLM_F_DUMP_INTR) and a bounded receive buffer.
//
// Used by every kernel interface that speaks netlink: common/rtnl (NETLINK_ROUTE),
// common/wg (NETLINK_GENERIC "wireguard" and its link operations), common/ct
// (NETLINK_NETFILTER ctnetlink) and common/nft (NFT_MSG_GETGEN). Message *contents* stay
// in those modules (builders and parsers, golden-tested); this module only moves them.
//
// The reply walk is a pure function (process_datagram), so fuzzers and unit tests feed it
// bytes; Socket::adopt takes any datagram fd (a socketpair end in tests, no root needed).
#pragma once

#include "base/fd.hpp"
#include "base/result.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

struct nlmsghdr;

namespace cats::netlink {

// One datagram of a dump is at most 32 KiB (netlink_dump's max_recvmsg_len, libmnl's
// MNL_SOCKET_DUMP_SIZE); a reply that does not fit is an error (MSG_TRUNC), never cut.
inline constexpr size_t kReceiveBufSize = 32768;
// A reply that never comes must not hang the daemon's thread.
inline constexpr std::chrono::milliseconds kDefaultTimeout{5000};

// True when `dg` is a sequence of complete netlink messages that exactly fills it, each
// message's *aligned* length included. libmnl bounds attribute walks by the aligned length
// (mnl_nlmsg_get_payload_tail), and its mnl_nlmsg_ok() compares lengths as signed int, so
// a header claiming more than 2 GiB would let a walk run off the buffer: every datagram is
// checked with this before a message of it is looked at. (Found by fuzz_wg_genl_dump.)
bool well_formed_datagram(std::span<const uint8_t> dg);

// Called with every data message of an exchange (not ACK, error, NOOP or NLMSG_DONE). The
// message lies inside a checked datagram: nlmsg_len and its padding are in bounds. An
// error stops the exchange and is returned as is.
using MessageFn = std::function<Status(const nlmsghdr*)>;

struct Progress {
  bool done = false;         // the exchange is complete (ACK, error-free NLMSG_DONE)
  bool interrupted = false;  // a dump message carried NLM_F_DUMP_INTR: retry the dump
};

// One received datagram of replies to request `seq` from our `portid`:
//  * a malformed datagram (well_formed_datagram) is EBADMSG;
//  * messages of another sequence number or port id are skipped: leftovers of an earlier,
//    abandoned exchange (a dump cut short by an error, a reply after a timeout);
//  * NLMSG_ERROR with error 0 (ACK) ends the exchange; a negative errno becomes an Error
//    with that errno and strerror text, plus the kernel's extended-ACK message when sent
//    (NLMSGERR_ATTR_MSG); a value no kernel sends (not -1..-4095) is EPROTO;
//  * NLMSG_DONE ends a dump; a negative int in its payload (a dump failing half-way) is
//    an Error like the above;
//  * NLMSG_OVERRUN is EIO; NLMSG_NOOP is skipped; anything else goes to on_msg (if any).
// Error messages are bare ("Operation not permitted (reason)"): callers add context.
Result<Progress> process_datagram(std::span<const uint8_t> dg, uint32_t seq, uint32_t portid,
                                  const MessageFn& on_msg);

// The transport below Socket: the kernel's socket, or in tests one end of a socketpair.
class Socket {
 public:
  // bus: NETLINK_ROUTE, NETLINK_GENERIC, NETLINK_NETFILTER ... `name` prefixes every
  // error ("rtnl: add route ...: File exists"). SOCK_CLOEXEC: the fd never leaks into
  // wireguard-go or an in-place restart (issue 14).
  static Result<Socket> open(int bus, std::string name, std::chrono::milliseconds timeout = kDefaultTimeout);
  // Any connected datagram fd standing in for the kernel (tests). portid is the port id
  // replies must carry (0 accepts any), first_seq the sequence number before the first.
  static Socket adopt(UniqueFd fd, std::string name, uint32_t portid, uint32_t first_seq);

  Socket(Socket&&) noexcept = default;
  Socket& operator=(Socket&&) noexcept = default;

  uint32_t next_seq() { return ++seq_; }
  // Reserve n consecutive sequence numbers (one request split over n messages); returns the first.
  uint32_t take_seqs(uint32_t n) {
    const uint32_t first = seq_ + 1;
    seq_ += n;
    return first;
  }
  uint32_t portid() const { return portid_; }
  int fd() const { return fd_.get(); }

  // Sends one or more messages (one datagram). `what` names the operation in errors.
  Status send(std::span<const uint8_t> msg, const std::string& what);
  // Reads replies to `seq` until the exchange completes (process_datagram). A reply
  // later than the timeout is ETIMEDOUT; a datagram not sent by the kernel (a non-zero
  // sender port id) is dropped unread.
  Result<Progress> receive(uint32_t seq, const MessageFn& on_msg, const std::string& what);
  // send + receive; the sequence number is the one in msg's (first) header.
  Result<Progress> exchange(std::span<const uint8_t> msg, const MessageFn& on_msg, const std::string& what);
  // A request that expects only its ACK (NLM_F_ACK set by the builder).
  Status request(std::span<const uint8_t> msg, const std::string& what);

 private:
  Socket(UniqueFd fd, std::string name, uint32_t portid, uint32_t seq);
  Error error(const Error& e, const std::string& what) const;

  UniqueFd fd_;
  std::string name_;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
  std::vector<uint8_t> rx_;
};

}  // namespace cats::netlink
