// netlink::Socket and the reply walk (contract in socket.hpp). Plain socket calls, no
// libmnl: the walk checks every length itself, and adopt() must work on a socketpair.
#include "netlink/socket.hpp"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace cats::netlink {
namespace {

constexpr size_t align4(size_t n) { return (n + NLMSG_ALIGNTO - 1) & ~static_cast<size_t>(NLMSG_ALIGNTO - 1); }

// Longest extended-ACK text we keep (the kernel's are one short sentence).
constexpr size_t kMaxExtackLen = 256;

// The errno of an error reply: the kernel sends -errno, 1..4095 (MAX_ERRNO). Anything else
// is a malformed reply (and negating INT_MIN would be undefined: UBSan in fuzz_ct_dump).
int reply_errno(int e) { return e < 0 && e > -4096 ? -e : EPROTO; }

Error reply_error(int err, const std::string& extack) {
  std::string m = std::strerror(err);
  if (!extack.empty()) m += " (" + extack + ")";
  return Error{m, err};
}

// NLMSGERR_ATTR_MSG of an extended ACK (linux/netlink.h): TLVs follow the nlmsgerr and,
// unless NLM_F_CAPPED, the echoed request's payload. `p`/`plen`: the error message's payload.
std::string extack_message(uint16_t flags, const uint8_t* p, size_t plen) {
  if ((flags & NLM_F_ACK_TLVS) == 0) return {};
  nlmsgerr err;
  std::memcpy(&err, p, sizeof err);
  size_t off = sizeof(nlmsgerr);
  if ((flags & NLM_F_CAPPED) == 0) {
    if (err.msg.nlmsg_len < sizeof(nlmsghdr)) return {};
    off += static_cast<size_t>(err.msg.nlmsg_len) - sizeof(nlmsghdr);
  }
  off = align4(off);
  while (off < plen && plen - off >= sizeof(nlattr)) {
    nlattr a;
    std::memcpy(&a, p + off, sizeof a);
    if (a.nla_len < sizeof(nlattr) || a.nla_len > plen - off) return {};
    if ((a.nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
      const auto* s = reinterpret_cast<const char*>(p + off + sizeof(nlattr));
      const size_t n = std::min<size_t>(a.nla_len - sizeof(nlattr), kMaxExtackLen);
      return std::string(s, strnlen(s, n));
    }
    off += align4(a.nla_len);
  }
  return {};
}

}  // namespace

bool well_formed_datagram(std::span<const uint8_t> dg) {
  size_t off = 0;
  while (off < dg.size()) {
    if (dg.size() - off < sizeof(nlmsghdr)) return false;
    nlmsghdr h;
    std::memcpy(&h, dg.data() + off, sizeof h);
    // Aligned in 64 bits: NLMSG_ALIGN of a length near 4 GiB wraps to 0 in 32.
    const size_t aligned = align4(static_cast<size_t>(h.nlmsg_len));
    if (h.nlmsg_len < sizeof(nlmsghdr) || aligned > dg.size() - off) return false;
    off += aligned;
  }
  return true;
}

Result<Progress> process_datagram(std::span<const uint8_t> dg, uint32_t seq, uint32_t portid,
                                  const MessageFn& on_msg) {
  if (!well_formed_datagram(dg)) return Error::sys(EBADMSG, "malformed netlink datagram");
  Progress out;
  for (size_t off = 0; off < dg.size();) {
    // Aligned copy-free view: the buffer is the caller's; nlmsghdr needs 4-byte alignment,
    // which every offset here has when dg.data() has it (vectors, the receive buffer).
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(dg.data() + off);
    nlmsghdr h;
    std::memcpy(&h, dg.data() + off, sizeof h);
    off += align4(h.nlmsg_len);
    if (h.nlmsg_seq != seq || (h.nlmsg_pid != 0 && portid != 0 && h.nlmsg_pid != portid)) continue;
    if (h.nlmsg_flags & NLM_F_DUMP_INTR) out.interrupted = true;
    const uint8_t* payload = reinterpret_cast<const uint8_t*>(nlh) + NLMSG_HDRLEN;
    const size_t plen = h.nlmsg_len - NLMSG_HDRLEN;
    switch (h.nlmsg_type) {
      case NLMSG_NOOP:
        continue;
      case NLMSG_OVERRUN:
        return Error{"netlink overrun", EIO};
      case NLMSG_ERROR: {
        if (plen < sizeof(int)) return Error::sys(EBADMSG, "short netlink error message");
        int e;
        std::memcpy(&e, payload, sizeof e);
        if (e == 0) {  // ACK
          out.done = true;
          return out;
        }
        const std::string extack = plen >= sizeof(nlmsgerr) ? extack_message(h.nlmsg_flags, payload, plen) : "";
        return reply_error(reply_errno(e), extack);
      }
      case NLMSG_DONE: {
        // A dump that failed half-way reports the errno in NLMSG_DONE's payload.
        if (plen >= sizeof(int)) {
          int e;
          std::memcpy(&e, payload, sizeof e);
          if (e < 0) return reply_error(reply_errno(e), {});
        }
        out.done = true;
        return out;
      }
      default:
        if (on_msg) CATS_TRY(on_msg(nlh));
    }
  }
  return out;
}

Socket::Socket(UniqueFd fd, std::string name, uint32_t portid, uint32_t seq)
    : fd_(std::move(fd)), name_(std::move(name)), portid_(portid), seq_(seq), rx_(kReceiveBufSize) {}

Socket Socket::adopt(UniqueFd fd, std::string name, uint32_t portid, uint32_t first_seq) {
  return Socket(std::move(fd), std::move(name), portid, first_seq);
}

Result<Socket> Socket::open(int bus, std::string name, std::chrono::milliseconds timeout) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, bus));
  if (!fd) return Error::sys(errno, name + ": open netlink socket");
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;  // nl_pid 0: the kernel assigns our port id
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return Error::sys(errno, name + ": bind netlink socket");
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0 || len != sizeof addr)
    return Error::sys(errno != 0 ? errno : EPROTO, name + ": netlink port id");
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
    return Error::sys(errno, name + ": netlink SO_RCVTIMEO");
  // Extended ACKs (Linux >= 4.12) carry the kernel's reason ("Nexthop device is not up");
  // capped ACKs do not echo our request back. Both optional: older kernels just lack them.
  int one = 1;
  (void)::setsockopt(fd.get(), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  (void)::setsockopt(fd.get(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  // Sequence numbers need only be unique per socket; start from the clock (netlink(7)) so
  // a reply meant for an earlier socket with the same port id can never look like ours.
  const auto seq = static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return Socket(std::move(fd), std::move(name), addr.nl_pid, seq);
}

Error Socket::error(const Error& e, const std::string& what) const { return e.context(name_ + ": " + what); }

Status Socket::send(std::span<const uint8_t> msg, const std::string& what) {
  if (msg.size() < sizeof(nlmsghdr)) return error(Error::msg("request shorter than a netlink header"), what);
  // No address: an unconnected netlink socket sends to its default peer, the kernel (port 0).
  const ssize_t n = ::send(fd_.get(), msg.data(), msg.size(), MSG_NOSIGNAL);
  if (n < 0) return error(Error::sys(errno, "send"), what);
  if (static_cast<size_t>(n) != msg.size()) return error(Error::sys(EMSGSIZE, "send"), what);
  return ok();
}

Result<Progress> Socket::receive(uint32_t seq, const MessageFn& on_msg, const std::string& what) {
  Progress total;
  for (;;) {
    sockaddr_nl from{};
    iovec iov{rx_.data(), rx_.size()};
    msghdr mh{};
    mh.msg_name = &from;
    mh.msg_namelen = sizeof from;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    const ssize_t n = ::recvmsg(fd_.get(), &mh, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return error(Error{"no reply from the kernel", ETIMEDOUT}, what);
      return error(Error::sys(errno, "receive"), what);
    }
    if (n == 0) return error(Error{"netlink peer closed", ECONNRESET}, what);
    // The buffer holds a whole dump datagram; more means a bug, not data to cut.
    if (mh.msg_flags & MSG_TRUNC) return error(Error::sys(EMSGSIZE, "reply larger than the receive buffer"), what);
    // Any local process may send to our port id; only the kernel's replies count.
    if (mh.msg_namelen >= sizeof from && from.nl_family == AF_NETLINK && from.nl_pid != 0) continue;
    auto step = process_datagram(std::span<const uint8_t>(rx_.data(), static_cast<size_t>(n)), seq, portid_, on_msg);
    if (!step) return error(step.error(), what);
    total.interrupted = total.interrupted || step->interrupted;
    if (step->done) {
      total.done = true;
      return total;
    }
  }
}

Result<Progress> Socket::exchange(std::span<const uint8_t> msg, const MessageFn& on_msg, const std::string& what) {
  CATS_TRY(send(msg, what));
  nlmsghdr h;
  std::memcpy(&h, msg.data(), sizeof h);
  return receive(h.nlmsg_seq, on_msg, what);
}

Status Socket::request(std::span<const uint8_t> msg, const std::string& what) {
  CATS_TRY(exchange(msg, {}, what));
  return ok();
}

}  // namespace cats::netlink
