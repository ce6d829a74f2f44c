// ctnetlink (netfilter netlink, NFNL_SUBSYS_CTNETLINK) over libmnl: delete and count
// conntrack entries by ct mark. Message format: netlink(7) header, struct nfgenmsg, then
// CTA_* attributes (include/uapi/linux/netfilter/nfnetlink_conntrack.h); multi-byte
// attribute values are big-endian (nfnetlink convention).
//
// The socket wrapper is local on purpose: common/rtnl and common/wg keep theirs internal
// (different buses, neither exported), and this module needs only request/ACK and one dump.
#include "ct/conntrack.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

namespace cats::ct {
namespace {

// A reply that never comes must not hang the daemon.
constexpr time_t kReceiveTimeoutSec = 5;
// One dump datagram is at most 32 KiB (netlink_dump's max_recvmsg_len).
constexpr size_t kReceiveBufSize = 32768;
// Requests are a header, nfgenmsg and two u32 attributes: far below this.
constexpr size_t kRequestBufSize = 256;
// nfgenmsg.version 1: since Linux 4.19 ("ctnetlink: Support L3 protocol-filter on flush")
// a flush only honours nfgen_family when version != NFNETLINK_V0; version 0 keeps the old
// "flush every family" meaning for old conntrack-tools.
constexpr uint8_t kNfnlVersionFilter = 1;

constexpr uint16_t msg_type(uint8_t op) { return static_cast<uint16_t>(NFNL_SUBSYS_CTNETLINK << 8 | op); }

Error ct_error(int err, const std::string& what) { return Error{"conntrack: " + what + ": " + std::strerror(err), err}; }

std::vector<uint8_t> build_mark_msg(uint8_t op, uint16_t flags, int family, uint32_t seq, uint32_t mark,
                                    uint32_t mask) {
  std::vector<uint8_t> buf(kRequestBufSize, 0);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = msg_type(op);
  nlh->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = static_cast<uint8_t>(family);
  nfg->version = kNfnlVersionFilter;
  nfg->res_id = 0;
  // CTA_MARK with CTA_MARK_MASK: the kernel matches (ct->mark & mask) == (mark & mask)
  // (ctnetlink_filter_match_mark); without a tuple a DELETE is a filtered flush.
  mnl_attr_put_u32(nlh, CTA_MARK, htonl(mark));
  mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mask));
  buf.resize(nlh->nlmsg_len);
  return buf;
}

Status validate_family(int family) {
  if (family != AF_INET && family != AF_INET6) return ct_error(EAFNOSUPPORT, "family " + std::to_string(family));
  return ok();
}

size_t align4(size_t n) { return (n + 3) & ~static_cast<size_t>(3); }

// CTA_MARK of one IPCTNL_MSG_CT_NEW payload (after nfgenmsg); absent = 0.
Result<uint32_t> entry_mark(const uint8_t* p, size_t len) {
  uint32_t mark = 0;
  size_t off = 0;
  while (off + sizeof(nlattr) <= len) {
    nlattr a;
    std::memcpy(&a, p + off, sizeof a);
    if (a.nla_len < sizeof(nlattr) || a.nla_len > len - off) return ct_error(EBADMSG, "malformed attribute");
    if ((a.nla_type & NLA_TYPE_MASK) == CTA_MARK) {
      if (a.nla_len != sizeof(nlattr) + sizeof(uint32_t)) return ct_error(EBADMSG, "malformed CTA_MARK");
      uint32_t be;
      std::memcpy(&be, p + off + sizeof(nlattr), sizeof be);
      mark = ntohl(be);
    }
    off += align4(a.nla_len);
  }
  return mark;
}

// The errno of a netlink error reply: the kernel sends -errno (1..4095, MAX_ERRNO). Any
// other value is a malformed reply (and negating INT_MIN would be undefined: UBSan found
// it in fuzz_ct_dump).
int reply_errno(int e) { return e < 0 && e > -4096 ? -e : EPROTO; }

}  // namespace

std::vector<uint8_t> build_delete_by_mark(int family, uint32_t seq, uint32_t mark, uint32_t mask) {
  return build_mark_msg(IPCTNL_MSG_CT_DELETE, NLM_F_ACK, family, seq, mark, mask);
}

std::vector<uint8_t> build_dump_by_mark(int family, uint32_t seq, uint32_t mark, uint32_t mask) {
  return build_mark_msg(IPCTNL_MSG_CT_GET, NLM_F_DUMP, family, seq, mark, mask);
}

Result<DumpChunk> parse_dump_datagram(std::span<const uint8_t> dg, uint32_t seq, uint32_t mark, uint32_t mask) {
  DumpChunk out;
  size_t off = 0;
  while (off < dg.size()) {
    if (dg.size() - off < sizeof(nlmsghdr)) return ct_error(EBADMSG, "truncated netlink header");
    nlmsghdr h;
    std::memcpy(&h, dg.data() + off, sizeof h);
    // 64-bit arithmetic: aligning a length near 4 GiB must not wrap.
    const size_t len = h.nlmsg_len;
    if (len < sizeof(nlmsghdr) || len > dg.size() - off) return ct_error(EBADMSG, "malformed netlink message");
    const uint8_t* payload = dg.data() + off + sizeof(nlmsghdr);
    const size_t plen = len - sizeof(nlmsghdr);
    off += std::min(align4(len), dg.size() - off);
    if (h.nlmsg_seq != seq) continue;  // leftovers of an earlier, abandoned exchange
    switch (h.nlmsg_type) {
      case NLMSG_NOOP:
        continue;
      case NLMSG_OVERRUN:
        return ct_error(EIO, "netlink overrun");
      case NLMSG_ERROR: {
        if (plen < sizeof(int)) return ct_error(EBADMSG, "short netlink error");
        int e;
        std::memcpy(&e, payload, sizeof e);
        if (e == 0) {  // ACK
          out.done = true;
          return out;
        }
        return ct_error(reply_errno(e), "kernel");
      }
      case NLMSG_DONE: {
        // A dump that failed half-way reports the errno in NLMSG_DONE's payload.
        if (plen >= sizeof(int)) {
          int e;
          std::memcpy(&e, payload, sizeof e);
          if (e < 0) return ct_error(reply_errno(e), "dump");
        }
        out.done = true;
        return out;
      }
      default:
        break;
    }
    if (h.nlmsg_type != msg_type(IPCTNL_MSG_CT_NEW)) continue;
    if (plen < sizeof(nfgenmsg)) return ct_error(EBADMSG, "short conntrack entry");
    const size_t attrs = align4(sizeof(nfgenmsg));
    CATS_TRY_ASSIGN(m, entry_mark(payload + std::min(attrs, plen), plen - std::min(attrs, plen)));
    if ((m & mask) == (mark & mask)) ++out.entries;
  }
  return out;
}

struct Conntrack::Impl {
  struct Closer {
    void operator()(mnl_socket* s) const { mnl_socket_close(s); }
  };
  std::unique_ptr<mnl_socket, Closer> sock;
  uint32_t seq = 0;
  std::vector<uint8_t> rx = std::vector<uint8_t>(kReceiveBufSize);

  // Sends `req` and reads replies until the exchange completes (ACK or NLMSG_DONE);
  // returns the number of matching entries seen (dumps).
  Result<size_t> exchange(const std::vector<uint8_t>& req, uint32_t want_seq, uint32_t mark, uint32_t mask,
                          const std::string& what) {
    if (mnl_socket_sendto(sock.get(), req.data(), req.size()) < 0) return ct_error(errno, what);
    size_t count = 0;
    for (;;) {
      const ssize_t n = mnl_socket_recvfrom(sock.get(), rx.data(), rx.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return ct_error(ETIMEDOUT, what + ": no reply");
        return ct_error(errno, what);
      }
      auto chunk = parse_dump_datagram(std::span<const uint8_t>(rx.data(), static_cast<size_t>(n)), want_seq,
                                       mark, mask);
      if (!chunk) return chunk.error().context(what);
      count += chunk->entries;
      if (chunk->done) return count;
    }
  }
};

Conntrack::Conntrack(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Conntrack::Conntrack(Conntrack&&) noexcept = default;
Conntrack& Conntrack::operator=(Conntrack&&) noexcept = default;
Conntrack::~Conntrack() = default;

Result<Conntrack> Conntrack::open() {
  auto impl = std::make_unique<Impl>();
  impl->sock.reset(mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC));
  if (!impl->sock) return ct_error(errno, "open NETLINK_NETFILTER socket");
  if (mnl_socket_bind(impl->sock.get(), 0, MNL_SOCKET_AUTOPID) < 0) return ct_error(errno, "bind");
  timeval tv{kReceiveTimeoutSec, 0};
  if (setsockopt(mnl_socket_get_fd(impl->sock.get()), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
    return ct_error(errno, "set receive timeout");
  // Per-socket sequence start (netlink(7)): replies to an earlier socket never look like ours.
  impl->seq = static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return Conntrack(std::move(impl));
}

Status Conntrack::delete_by_mark(int family, uint32_t mark, uint32_t mask) {
  CATS_TRY(validate_family(family));
  const uint32_t seq = ++impl_->seq;
  auto r = impl_->exchange(build_delete_by_mark(family, seq, mark, mask), seq, mark, mask, "delete by mark");
  // Nothing to delete is success (older kernels answer a flush that matched nothing with ENOENT).
  if (!r && r.error().sys_errno != ENOENT) return r.error();
  return ok();
}

Result<size_t> Conntrack::count_by_mark(int family, uint32_t mark, uint32_t mask) {
  CATS_TRY(validate_family(family));
  const uint32_t seq = ++impl_->seq;
  return impl_->exchange(build_dump_by_mark(family, seq, mark, mask), seq, mark, mask, "count by mark");
}

}  // namespace cats::ct
