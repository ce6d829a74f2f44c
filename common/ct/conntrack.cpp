// ctnetlink (netfilter netlink, NFNL_SUBSYS_CTNETLINK) over libmnl: delete and count
// conntrack entries by ct mark. Message format: netlink(7) header, struct nfgenmsg, then
// CTA_* attributes (include/uapi/linux/netfilter/nfnetlink_conntrack.h); multi-byte
// attribute values are big-endian (nfnetlink convention).
//
// The socket, reply loop and error decoding are the shared netlink::Socket's
// (common/netlink/socket.hpp); this file holds only the ctnetlink messages. Why our own
// codec and not libnetfilter_conntrack: docs/ARCHITECTURE.md "Conntrack".
#include "ct/conntrack.hpp"

#include "netlink/socket.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace cats::ct {
namespace {

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

// One IPCTNL_MSG_CT_NEW of a dump: whether its mark matches (mark & mask).
Result<bool> entry_matches(const nlmsghdr* nlh, uint32_t mark, uint32_t mask) {
  if (nlh->nlmsg_type != msg_type(IPCTNL_MSG_CT_NEW)) return false;
  const size_t plen = nlh->nlmsg_len - NLMSG_HDRLEN;
  if (plen < sizeof(nfgenmsg)) return ct_error(EBADMSG, "short conntrack entry");
  const auto* payload = reinterpret_cast<const uint8_t*>(nlh) + NLMSG_HDRLEN;
  const size_t attrs = std::min(align4(sizeof(nfgenmsg)), plen);
  CATS_TRY_ASSIGN(m, entry_mark(payload + attrs, plen - attrs));
  return (m & mask) == (mark & mask);
}

}  // namespace

std::vector<uint8_t> build_delete_by_mark(int family, uint32_t seq, uint32_t mark, uint32_t mask) {
  return build_mark_msg(IPCTNL_MSG_CT_DELETE, NLM_F_ACK, family, seq, mark, mask);
}

std::vector<uint8_t> build_dump_by_mark(int family, uint32_t seq, uint32_t mark, uint32_t mask) {
  return build_mark_msg(IPCTNL_MSG_CT_GET, NLM_F_DUMP, family, seq, mark, mask);
}

Result<DumpChunk> parse_dump_datagram(std::span<const uint8_t> dg, uint32_t seq, uint32_t mark, uint32_t mask) {
  DumpChunk out;
  auto count = [&](const nlmsghdr* nlh) -> Status {
    CATS_TRY_ASSIGN(match, entry_matches(nlh, mark, mask));
    if (match) ++out.entries;
    return ok();
  };
  // Port id 0: this parser (fuzzed, unit-tested) checks sequence numbers only.
  auto step = netlink::process_datagram(dg, seq, 0, count);
  if (!step) return step.error().context("conntrack");
  out.done = step->done;
  return out;
}

struct Conntrack::Impl {
  netlink::Socket sock;

  // Sends `req` and reads replies until the exchange completes (ACK or NLMSG_DONE);
  // returns the number of matching entries seen (dumps).
  Result<size_t> exchange(const std::vector<uint8_t>& req, uint32_t mark, uint32_t mask, const std::string& what) {
    size_t count = 0;
    auto on_msg = [&](const nlmsghdr* nlh) -> Status {
      CATS_TRY_ASSIGN(match, entry_matches(nlh, mark, mask));
      if (match) ++count;
      return ok();
    };
    CATS_TRY(sock.exchange(req, on_msg, what));
    return count;
  }
};

Conntrack::Conntrack(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Conntrack::Conntrack(Conntrack&&) noexcept = default;
Conntrack& Conntrack::operator=(Conntrack&&) noexcept = default;
Conntrack::~Conntrack() = default;

Result<Conntrack> Conntrack::open() {
  CATS_TRY_ASSIGN(sock, netlink::Socket::open(NETLINK_NETFILTER, "conntrack"));
  return Conntrack(std::make_unique<Impl>(Impl{std::move(sock)}));
}

Status Conntrack::delete_by_mark(int family, uint32_t mark, uint32_t mask) {
  CATS_TRY(validate_family(family));
  auto r = impl_->exchange(build_delete_by_mark(family, impl_->sock.next_seq(), mark, mask), mark, mask,
                           "delete by mark");
  // Nothing to delete is success (older kernels answer a flush that matched nothing with ENOENT).
  if (!r && r.error().sys_errno != ENOENT) return r.error();
  return ok();
}

Result<size_t> Conntrack::count_by_mark(int family, uint32_t mark, uint32_t mask) {
  CATS_TRY(validate_family(family));
  return impl_->exchange(build_dump_by_mark(family, impl_->sock.next_seq(), mark, mask), mark, mask,
                         "count by mark");
}

}  // namespace cats::ct
