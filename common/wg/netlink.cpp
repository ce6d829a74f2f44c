#include "wg/netlink.hpp"

#include "netlink/socket.hpp"

#include <libmnl/libmnl.h>

#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace cats::wg::nl {

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
  CATS_TRY_ASSIGN(sock, netlink::Socket::open(NETLINK_ROUTE, "wg"));
  return sock.request(build_newlink(ifname, kind, sock.next_seq()),
                      "create link " + std::string(ifname) + " type " + std::string(kind));
}

Status link_del(std::string_view ifname) {
  if (!valid_ifname(ifname)) return Error::sys(EINVAL, "invalid interface name");
  CATS_TRY_ASSIGN(sock, netlink::Socket::open(NETLINK_ROUTE, "wg"));
  auto st = sock.request(build_dellink(ifname, sock.next_seq()), "delete link " + std::string(ifname));
  if (!st && st.error().sys_errno != ENODEV) return st;
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

Status link_msg(const nlmsghdr* nlh, const KindFilter& f) {
  if (nlh->nlmsg_type != RTM_NEWLINK) return ok();
  if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(ifinfomsg)) return Error::sys(EBADMSG, "short RTM_NEWLINK");
  LinkAttrs la;
  if (mnl_attr_parse(nlh, sizeof(ifinfomsg), link_attr_cb, &la) < 0) return Error::sys(EBADMSG, "RTM_NEWLINK attributes");
  if (!la.name.empty() && la.kind == f.kind) f.out->emplace_back(la.name);
  return ok();
}

}  // namespace

Result<std::vector<std::string>> links_of_kind(std::string_view kind) {
  CATS_TRY_ASSIGN(sock, netlink::Socket::open(NETLINK_ROUTE, "wg"));
  std::vector<std::string> names;
  const KindFilter f{kind, &names};
  CATS_TRY(sock.exchange(build_getlink_dump(sock.next_seq()), [&](const nlmsghdr* nlh) { return link_msg(nlh, f); },
                         "list links"));
  return names;
}

}  // namespace cats::wg::nl
