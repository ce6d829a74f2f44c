#include "wg/netlink.hpp"

#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cstring>

namespace cats::wg::nl {

Result<Socket> Socket::open(int bus, std::chrono::milliseconds timeout) {
  Socket s;
  s.sock_.reset(mnl_socket_open2(bus, SOCK_CLOEXEC));
  if (!s.sock_) return Error::sys(errno, "netlink socket");
  if (mnl_socket_bind(s.sock_.get(), 0, MNL_SOCKET_AUTOPID) < 0) return Error::sys(errno, "netlink bind");
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  int fd = mnl_socket_get_fd(s.sock_.get());
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
    return Error::sys(errno, "netlink SO_RCVTIMEO");
  // Ask for extended ACKs so errors carry the kernel's reason; harmless if unsupported.
  int one = 1;
  ::setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  s.portid_ = mnl_socket_get_portid(s.sock_.get());
  // Sequence numbers only need to be unique per socket; start from the clock so replies
  // to a previous socket's requests can never be mistaken for ours.
  s.seq_ = static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return s;
}

Status Socket::send(std::span<const uint8_t> msg) {
  if (mnl_socket_sendto(sock_.get(), msg.data(), msg.size()) < 0) return Error::sys(errno, "netlink send");
  return ok();
}

Status Socket::receive_datagrams(const std::function<Result<bool>(std::span<const uint8_t>)>& on_datagram) {
  std::vector<uint8_t> buf(kRecvBufSize);
  while (true) {
    ssize_t n = mnl_socket_recvfrom(sock_.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Error::sys(ETIMEDOUT, "netlink reply");
      return Error::sys(errno, "netlink recv");
    }
    auto done = on_datagram(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)));
    if (!done) return done.error();
    if (*done) return ok();
  }
}

bool well_formed_datagram(std::span<const uint8_t> dg) {
  size_t off = 0;
  while (off < dg.size()) {
    if (dg.size() - off < sizeof(nlmsghdr)) return false;
    nlmsghdr h;
    std::memcpy(&h, dg.data() + off, sizeof h);
    // libmnl bounds attribute walks by the *aligned* length (mnl_nlmsg_get_payload_tail),
    // so the padding must be inside the datagram too (the kernel always sends it).
    // (Aligned in 64 bits: NLMSG_ALIGN of a length near 4 GiB wraps to 0 in 32.)
    size_t aligned = (static_cast<size_t>(h.nlmsg_len) + NLMSG_ALIGNTO - 1) & ~static_cast<size_t>(NLMSG_ALIGNTO - 1);
    if (h.nlmsg_len < sizeof(nlmsghdr) || aligned > dg.size() - off) return false;
    off += aligned;
  }
  return true;
}

Status Socket::receive(uint32_t seq, mnl_cb_t data_cb, void* data) {
  return receive_datagrams([&](std::span<const uint8_t> dg) -> Result<bool> {
    if (!well_formed_datagram(dg)) return Error::sys(EBADMSG, "malformed netlink datagram");
    errno = 0;
    int r = mnl_cb_run(dg.data(), dg.size(), seq, portid_, data_cb, data);
    if (r < 0) return Error::sys(errno != 0 ? errno : EPROTO, "netlink");
    return r == MNL_CB_STOP;
  });
}

Status Socket::request(std::span<const uint8_t> msg, uint32_t seq) {
  CATS_TRY(send(msg));
  return receive(seq, nullptr, nullptr);
}

namespace {

nlmsghdr* put_link_header(std::vector<uint8_t>& buf, uint16_t type, uint16_t flags, uint32_t seq) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = flags;
  nlh->nlmsg_seq = seq;
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  return nlh;
}

Bytes finish(std::vector<uint8_t>& buf, const nlmsghdr* nlh) {
  buf.resize(nlh->nlmsg_len);
  return std::move(buf);
}

}  // namespace

bool valid_ifname(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  for (char c : name)
    if (c == '/' || c == ':' || c == '\0' || static_cast<unsigned char>(c) <= ' ') return false;
  return true;
}

Bytes build_newlink(std::string_view ifname, std::string_view kind, uint32_t seq) {
  std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE, 0);
  auto* nlh = put_link_header(buf, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, std::string(ifname).c_str());
  nlattr* li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, std::string(kind).c_str());
  mnl_attr_nest_end(nlh, li);
  return finish(buf, nlh);
}

Bytes build_dellink(std::string_view ifname, uint32_t seq) {
  std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE, 0);
  auto* nlh = put_link_header(buf, RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, std::string(ifname).c_str());
  return finish(buf, nlh);
}

Bytes build_getlink_dump(uint32_t seq) {
  std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE, 0);
  auto* nlh = put_link_header(buf, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq);
  return finish(buf, nlh);
}

Status link_add(std::string_view ifname, std::string_view kind) {
  if (!valid_ifname(ifname)) return Error::sys(EINVAL, "invalid interface name");
  CATS_TRY_ASSIGN(sock, Socket::open(NETLINK_ROUTE));
  uint32_t seq = sock.next_seq();
  auto st = sock.request(build_newlink(ifname, kind, seq), seq);
  if (!st) return st.error().context("create link " + std::string(ifname) + " type " + std::string(kind));
  return ok();
}

Status link_del(std::string_view ifname) {
  if (!valid_ifname(ifname)) return Error::sys(EINVAL, "invalid interface name");
  CATS_TRY_ASSIGN(sock, Socket::open(NETLINK_ROUTE));
  uint32_t seq = sock.next_seq();
  auto st = sock.request(build_dellink(ifname, seq), seq);
  if (!st && st.error().sys_errno != ENODEV)
    return st.error().context("delete link " + std::string(ifname));
  return ok();
}

namespace {

struct KindFilter {
  std::string_view kind;
  std::vector<std::string>* out;
};

int linkinfo_kind_cb(const nlattr* a, void* data) {
  auto* kind = static_cast<std::string_view*>(data);
  if (mnl_attr_get_type(a) == IFLA_INFO_KIND && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
    *kind = mnl_attr_get_str(a);
  return MNL_CB_OK;
}

struct LinkAttrs {
  std::string_view name, kind;
};

int link_attr_cb(const nlattr* a, void* data) {
  auto* la = static_cast<LinkAttrs*>(data);
  switch (mnl_attr_get_type(a)) {
    case IFLA_IFNAME:
      if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0) la->name = mnl_attr_get_str(a);
      break;
    case IFLA_LINKINFO:
      if (mnl_attr_validate(a, MNL_TYPE_NESTED) >= 0) mnl_attr_parse_nested(a, linkinfo_kind_cb, &la->kind);
      break;
    default:
      break;
  }
  return MNL_CB_OK;
}

int link_msg_cb(const nlmsghdr* nlh, void* data) {
  auto* f = static_cast<KindFilter*>(data);
  if (nlh->nlmsg_type != RTM_NEWLINK) return MNL_CB_OK;
  LinkAttrs la;
  if (mnl_attr_parse(nlh, sizeof(ifinfomsg), link_attr_cb, &la) < 0) return MNL_CB_ERROR;
  if (!la.name.empty() && la.kind == f->kind) f->out->emplace_back(la.name);
  return MNL_CB_OK;
}

}  // namespace

Result<std::vector<std::string>> links_of_kind(std::string_view kind) {
  CATS_TRY_ASSIGN(sock, Socket::open(NETLINK_ROUTE));
  uint32_t seq = sock.next_seq();
  std::vector<std::string> names;
  KindFilter f{kind, &names};
  CATS_TRY(sock.send(build_getlink_dump(seq)));
  auto st = sock.receive(seq, link_msg_cb, &f);
  if (!st) return st.error().context("list links");
  return names;
}

}  // namespace cats::wg::nl
