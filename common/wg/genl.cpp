// Generic netlink encoding for the WireGuard family. Attribute layout and semantics:
// linux/wireguard.h (the kernel's own documentation of this API) and the kernel's
// drivers/net/wireguard/netlink.c; message splitting follows wireguard-tools' ipc-linux.h.
#include "wg/genl.hpp"

#include "netlink/socket.hpp"
#include "wg/netlink.hpp"

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>

#include <cstring>
#include <limits>
#include <optional>

namespace cats::wg::genl {
namespace {

nlmsghdr* put_genl_header(std::vector<uint8_t>& buf, uint16_t type, uint8_t cmd, uint8_t version,
                          uint16_t flags, uint32_t seq) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = flags;
  nlh->nlmsg_seq = seq;
  auto* g = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(genlmsghdr)));
  g->cmd = cmd;
  g->version = version;
  return nlh;
}

Bytes finish(std::vector<uint8_t>& buf, const nlmsghdr* nlh) {
  buf.resize(nlh->nlmsg_len);
  return std::move(buf);
}

// ---- WG_CMD_SET_DEVICE ----------------------------------------------------------------

bool put_endpoint(nlmsghdr* nlh, size_t limit, const UdpEndpoint& ep) {
  // The kernel takes a struct sockaddr_in / sockaddr_in6 as the attribute payload.
  if (ep.address().is_v4()) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(ep.port());
    auto b = ep.address().to_v4().to_bytes();
    std::memcpy(&sin.sin_addr, b.data(), b.size());
    return mnl_attr_put_check(nlh, limit, WGPEER_A_ENDPOINT, sizeof sin, &sin);
  }
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(ep.port());
  auto v6 = ep.address().to_v6();
  auto b = v6.to_bytes();
  std::memcpy(&sin6.sin6_addr, b.data(), b.size());
  sin6.sin6_scope_id = static_cast<uint32_t>(v6.scope_id());
  return mnl_attr_put_check(nlh, limit, WGPEER_A_ENDPOINT, sizeof sin6, &sin6);
}

bool put_allowed_ip(nlmsghdr* nlh, size_t limit, const Prefix& p) {
  if (p.is_v4()) {
    auto b = p.address.to_v4().to_bytes();
    return mnl_attr_put_u16_check(nlh, limit, WGALLOWEDIP_A_FAMILY, AF_INET) &&
           mnl_attr_put_check(nlh, limit, WGALLOWEDIP_A_IPADDR, b.size(), b.data()) &&
           mnl_attr_put_u8_check(nlh, limit, WGALLOWEDIP_A_CIDR_MASK, p.length);
  }
  auto b = p.address.to_v6().to_bytes();
  return mnl_attr_put_u16_check(nlh, limit, WGALLOWEDIP_A_FAMILY, AF_INET6) &&
         mnl_attr_put_check(nlh, limit, WGALLOWEDIP_A_IPADDR, b.size(), b.data()) &&
         mnl_attr_put_u8_check(nlh, limit, WGALLOWEDIP_A_CIDR_MASK, p.length);
}

// Where the writer stands in the update: next peer, next allowed IP of that peer, and
// whether that peer's header (flags, endpoint ...) already went out in an earlier message.
struct Cursor {
  size_t peer = 0;
  size_t ip = 0;
  bool peer_started = false;
};

// Put one peer (or the rest of it). Returns true if the peer is complete; `wrote` says
// whether anything was committed to this message.
bool put_peer(nlmsghdr* nlh, size_t limit, const PeerUpdate& p, Cursor& c, bool& wrote) {
  nlattr* peer_nest = mnl_attr_nest_start_check(nlh, limit, 0);
  if (!peer_nest) return false;
  bool fits = mnl_attr_put_check(nlh, limit, WGPEER_A_PUBLIC_KEY, p.public_key.size(), p.public_key.data());
  uint32_t flags = 0;
  if (p.remove) flags |= WGPEER_F_REMOVE_ME;
  if (p.update_only) flags |= WGPEER_F_UPDATE_ONLY;
  if (!c.peer_started && !p.remove) {
    // Only the first chunk of a peer may replace its allowed IPs, or a continuation would
    // wipe the IPs the previous message just added.
    if (p.replace_allowed_ips) flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
    if (fits && p.preshared_key)
      fits = mnl_attr_put_check(nlh, limit, WGPEER_A_PRESHARED_KEY, p.preshared_key->size(), p.preshared_key->data());
    if (fits && p.endpoint) fits = put_endpoint(nlh, limit, *p.endpoint);
    if (fits && p.persistent_keepalive)
      fits = mnl_attr_put_u16_check(nlh, limit, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, *p.persistent_keepalive);
  }
  if (fits && flags) fits = mnl_attr_put_u32_check(nlh, limit, WGPEER_A_FLAGS, flags);
  if (!fits) {
    mnl_attr_nest_cancel(nlh, peer_nest);
    return false;
  }
  wrote = true;
  c.peer_started = true;
  if (!p.remove && c.ip < p.allowed_ips.size()) {
    nlattr* ips_nest = mnl_attr_nest_start_check(nlh, limit, WGPEER_A_ALLOWEDIPS);
    if (!ips_nest) {
      mnl_attr_nest_end(nlh, peer_nest);
      return false;
    }
    for (; c.ip < p.allowed_ips.size(); ++c.ip) {
      nlattr* ip_nest = mnl_attr_nest_start_check(nlh, limit, 0);
      if (!ip_nest || !put_allowed_ip(nlh, limit, p.allowed_ips[c.ip])) {
        if (ip_nest) mnl_attr_nest_cancel(nlh, ip_nest);
        mnl_attr_nest_end(nlh, ips_nest);
        mnl_attr_nest_end(nlh, peer_nest);
        return false;
      }
      mnl_attr_nest_end(nlh, ip_nest);
    }
    mnl_attr_nest_end(nlh, ips_nest);
  }
  mnl_attr_nest_end(nlh, peer_nest);
  return true;
}

bool put_device_attrs(nlmsghdr* nlh, size_t limit, const DeviceUpdate& u) {
  bool fits = true;
  if (u.private_key)
    fits = mnl_attr_put_check(nlh, limit, WGDEVICE_A_PRIVATE_KEY, u.private_key->size(), u.private_key->data());
  if (fits && u.listen_port) fits = mnl_attr_put_u16_check(nlh, limit, WGDEVICE_A_LISTEN_PORT, *u.listen_port);
  if (fits && u.fwmark) fits = mnl_attr_put_u32_check(nlh, limit, WGDEVICE_A_FWMARK, *u.fwmark);
  if (fits && u.replace_peers) fits = mnl_attr_put_u32_check(nlh, limit, WGDEVICE_A_FLAGS, WGDEVICE_F_REPLACE_PEERS);
  return fits;
}

Status validate_update(const DeviceUpdate& u) {
  if (!nl::valid_ifname(u.name)) return Error::sys(EINVAL, "invalid interface name '" + u.name + "'");
  for (const auto& p : u.peers)
    for (const auto& ip : p.allowed_ips)
      if (ip.length > ip.max_length()) return Error::sys(EINVAL, "invalid allowed IP " + ip.to_string());
  return ok();
}

// ---- dump parsing ----------------------------------------------------------------------

// libmnl's parse callbacks are C function pointers; they report through this context.
struct ParseCtx {
  std::optional<Error> error;
  int fail(std::string what) {
    error = Error::sys(EBADMSG, "wireguard dump: " + std::move(what));
    return MNL_CB_ERROR;
  }
};

bool payload_is(const nlattr* a, size_t len) { return mnl_attr_get_payload_len(a) == len; }

Key key_from(const nlattr* a) {
  Key k{};
  std::memcpy(k.data(), mnl_attr_get_payload(a), k.size());
  return k;
}

struct AllowedIpCtx : ParseCtx {
  std::optional<uint16_t> family;
  std::optional<uint8_t> cidr;
  const nlattr* addr = nullptr;
};

int allowed_ip_attr_cb(const nlattr* a, void* data) {
  auto* c = static_cast<AllowedIpCtx*>(data);
  switch (mnl_attr_get_type(a)) {
    case WGALLOWEDIP_A_FAMILY:
      if (!payload_is(a, 2)) return c->fail("bad allowed IP family");
      c->family = mnl_attr_get_u16(a);
      break;
    case WGALLOWEDIP_A_IPADDR:
      c->addr = a;
      break;
    case WGALLOWEDIP_A_CIDR_MASK:
      if (!payload_is(a, 1)) return c->fail("bad allowed IP mask");
      c->cidr = mnl_attr_get_u8(a);
      break;
    default:
      break;
  }
  return MNL_CB_OK;
}

Result<Prefix> parse_allowed_ip(const nlattr* nest) {
  AllowedIpCtx c;
  if (mnl_attr_parse_nested(nest, allowed_ip_attr_cb, &c) < 0)
    return c.error ? *c.error : Error::sys(EBADMSG, "wireguard dump: malformed allowed IP");
  if (!c.family || !c.cidr || !c.addr) return Error::sys(EBADMSG, "wireguard dump: incomplete allowed IP");
  Prefix p;
  if (*c.family == AF_INET && payload_is(c.addr, 4)) {
    boost::asio::ip::address_v4::bytes_type b;
    std::memcpy(b.data(), mnl_attr_get_payload(c.addr), b.size());
    p.address = boost::asio::ip::address_v4(b);
  } else if (*c.family == AF_INET6 && payload_is(c.addr, 16)) {
    boost::asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), mnl_attr_get_payload(c.addr), b.size());
    p.address = boost::asio::ip::address_v6(b);
  } else {
    return Error::sys(EBADMSG, "wireguard dump: allowed IP family/address mismatch");
  }
  if (*c.cidr > p.max_length()) return Error::sys(EBADMSG, "wireguard dump: allowed IP mask too long");
  p.length = *c.cidr;
  return p;
}

struct PeerCtx : ParseCtx {
  Peer peer;
  bool has_key = false;
  size_t budget = 0;  // allowed IPs we may still accept for the device
};

int allowed_ips_list_cb(const nlattr* a, void* data) {
  auto* c = static_cast<PeerCtx*>(data);
  if (c->budget == 0) return c->fail("too many allowed IPs");
  auto p = parse_allowed_ip(a);
  if (!p) {
    c->error = p.error();
    return MNL_CB_ERROR;
  }
  c->peer.allowed_ips.push_back(*p);
  --c->budget;
  return MNL_CB_OK;
}

Result<UdpEndpoint> parse_endpoint_attr(const nlattr* a) {
  const void* d = mnl_attr_get_payload(a);
  if (payload_is(a, sizeof(sockaddr_in))) {
    sockaddr_in sin;
    std::memcpy(&sin, d, sizeof sin);
    if (sin.sin_family == AF_INET) {
      boost::asio::ip::address_v4::bytes_type b;
      std::memcpy(b.data(), &sin.sin_addr, b.size());
      return UdpEndpoint(boost::asio::ip::address_v4(b), ntohs(sin.sin_port));
    }
  } else if (payload_is(a, sizeof(sockaddr_in6))) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, d, sizeof sin6);
    if (sin6.sin6_family == AF_INET6) {
      boost::asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), &sin6.sin6_addr, b.size());
      return UdpEndpoint(boost::asio::ip::address_v6(b, sin6.sin6_scope_id), ntohs(sin6.sin6_port));
    }
  }
  return Error::sys(EBADMSG, "wireguard dump: bad endpoint");
}

Result<int64_t> parse_handshake(const nlattr* a) {
  // struct __kernel_timespec { s64 tv_sec; s64 tv_nsec; } (16 bytes on every ABI).
  if (!payload_is(a, 16)) return Error::sys(EBADMSG, "wireguard dump: bad handshake time");
  int64_t ts[2];
  std::memcpy(ts, mnl_attr_get_payload(a), sizeof ts);
  constexpr int64_t kMaxSec = std::numeric_limits<int64_t>::max() / 1'000'000'000 - 1;
  if (ts[0] < 0 || ts[0] > kMaxSec || ts[1] < 0 || ts[1] > 999'999'999)
    return Error::sys(EBADMSG, "wireguard dump: handshake time out of range");
  return ts[0] * 1'000'000'000 + ts[1];
}

int peer_attr_cb(const nlattr* a, void* data) {
  auto* c = static_cast<PeerCtx*>(data);
  Peer& p = c->peer;
  switch (mnl_attr_get_type(a)) {
    case WGPEER_A_PUBLIC_KEY:
      if (!payload_is(a, WG_KEY_LEN)) return c->fail("bad peer public key");
      p.public_key = key_from(a);
      c->has_key = true;
      break;
    case WGPEER_A_PRESHARED_KEY: {
      if (!payload_is(a, WG_KEY_LEN)) return c->fail("bad preshared key");
      Key k = key_from(a);
      if (k != Key{}) p.preshared_key = k;  // zeros = none
      break;
    }
    case WGPEER_A_ENDPOINT: {
      auto ep = parse_endpoint_attr(a);
      if (!ep) return c->fail("bad endpoint");
      p.endpoint = *ep;
      break;
    }
    case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
      if (!payload_is(a, 2)) return c->fail("bad keepalive");
      p.persistent_keepalive = mnl_attr_get_u16(a);
      break;
    case WGPEER_A_LAST_HANDSHAKE_TIME: {
      auto hs = parse_handshake(a);
      if (!hs) return c->fail("bad handshake time");
      p.last_handshake_unix_ns = *hs;
      break;
    }
    case WGPEER_A_RX_BYTES:
      if (!payload_is(a, 8)) return c->fail("bad rx_bytes");
      p.rx_bytes = mnl_attr_get_u64(a);
      break;
    case WGPEER_A_TX_BYTES:
      if (!payload_is(a, 8)) return c->fail("bad tx_bytes");
      p.tx_bytes = mnl_attr_get_u64(a);
      break;
    case WGPEER_A_ALLOWEDIPS:
      if (mnl_attr_parse_nested(a, allowed_ips_list_cb, c) < 0) {
        if (!c->error) c->fail("malformed allowed IPs");
        return MNL_CB_ERROR;
      }
      break;
    default:
      break;  // flags, protocol version, future attributes
  }
  return MNL_CB_OK;
}

struct DeviceCtx : ParseCtx {
  Device* dev;
  size_t* allowed_ips;
  bool first_peer_of_message = true;
};

void merge_peer(Device& dev, Peer&& p, bool first_in_message) {
  // A peer whose allowed IPs overflowed one dump message continues in the next one with
  // the same public key (kernel netlink.c get_peer()); append instead of duplicating.
  if (first_in_message && !dev.peers.empty() && dev.peers.back().public_key == p.public_key) {
    auto& last = dev.peers.back().allowed_ips;
    last.insert(last.end(), p.allowed_ips.begin(), p.allowed_ips.end());
    return;
  }
  dev.peers.push_back(std::move(p));
}

int peers_list_cb(const nlattr* a, void* data) {
  auto* c = static_cast<DeviceCtx*>(data);
  if (c->dev->peers.size() >= kMaxPeers) return c->fail("too many peers");
  PeerCtx pc;
  pc.budget = kMaxAllowedIps - *c->allowed_ips;
  if (mnl_attr_parse_nested(a, peer_attr_cb, &pc) < 0) {
    c->error = pc.error ? *pc.error : Error::sys(EBADMSG, "wireguard dump: malformed peer");
    return MNL_CB_ERROR;
  }
  if (!pc.has_key) return c->fail("peer without public key");
  *c->allowed_ips += pc.peer.allowed_ips.size();
  merge_peer(*c->dev, std::move(pc.peer), c->first_peer_of_message);
  c->first_peer_of_message = false;
  return MNL_CB_OK;
}

int device_attr_cb(const nlattr* a, void* data) {
  auto* c = static_cast<DeviceCtx*>(data);
  Device& d = *c->dev;
  switch (mnl_attr_get_type(a)) {
    case WGDEVICE_A_IFINDEX:
      if (!payload_is(a, 4)) return c->fail("bad ifindex");
      d.ifindex = static_cast<int>(mnl_attr_get_u32(a));
      break;
    case WGDEVICE_A_IFNAME:
      if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0) return c->fail("bad ifname");
      d.name = mnl_attr_get_str(a);
      break;
    case WGDEVICE_A_PRIVATE_KEY:
      if (!payload_is(a, WG_KEY_LEN)) return c->fail("bad private key");
      d.private_key = key_from(a);
      break;
    case WGDEVICE_A_PUBLIC_KEY:
      if (!payload_is(a, WG_KEY_LEN)) return c->fail("bad public key");
      d.public_key = key_from(a);
      break;
    case WGDEVICE_A_LISTEN_PORT:
      if (!payload_is(a, 2)) return c->fail("bad listen port");
      d.listen_port = mnl_attr_get_u16(a);
      break;
    case WGDEVICE_A_FWMARK:
      if (!payload_is(a, 4)) return c->fail("bad fwmark");
      d.fwmark = mnl_attr_get_u32(a);
      break;
    case WGDEVICE_A_PEERS:
      if (mnl_attr_parse_nested(a, peers_list_cb, c) < 0) {
        if (!c->error) c->fail("malformed peer list");
        return MNL_CB_ERROR;
      }
      break;
    default:
      break;
  }
  return MNL_CB_OK;
}

struct FamilyCtx {
  std::optional<uint16_t> id;
};

int family_attr_cb(const nlattr* a, void* data) {
  auto* c = static_cast<FamilyCtx*>(data);
  if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID && payload_is(a, 2)) c->id = mnl_attr_get_u16(a);
  return MNL_CB_OK;
}

}  // namespace

Bytes build_get_family(uint32_t seq) {
  std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE, 0);
  auto* nlh = put_genl_header(buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, NLM_F_REQUEST | NLM_F_ACK, seq);
  mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
  return finish(buf, nlh);
}

Result<uint16_t> parse_family_reply(const nlmsghdr* nlh) {
  if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(genlmsghdr)) return Error::sys(EBADMSG, "short genl reply");
  FamilyCtx c;
  mnl_attr_parse(nlh, sizeof(genlmsghdr), family_attr_cb, &c);
  if (!c.id) return Error::sys(EBADMSG, "genl family reply without id");
  return *c.id;
}

Bytes build_get_device(uint16_t family, uint32_t seq, std::string_view ifname) {
  std::vector<uint8_t> buf(MNL_SOCKET_BUFFER_SIZE, 0);
  auto* nlh = put_genl_header(buf, family, WG_CMD_GET_DEVICE, WG_GENL_VERSION,
                              NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, seq);
  mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, std::string(ifname).c_str());
  return finish(buf, nlh);
}

Result<std::vector<Bytes>> build_set_device(const DeviceUpdate& u, uint16_t family, uint32_t first_seq,
                                            size_t limit) {
  CATS_TRY(validate_update(u));
  if (limit < 256 || limit > 65536) return Error::sys(EINVAL, "netlink message limit out of range");
  std::vector<Bytes> out;
  Cursor c;
  do {
    std::vector<uint8_t> buf(limit, 0);
    auto* nlh = put_genl_header(buf, family, WG_CMD_SET_DEVICE, WG_GENL_VERSION, NLM_F_REQUEST | NLM_F_ACK,
                                first_seq + static_cast<uint32_t>(out.size()));
    mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, u.name.c_str());
    bool wrote = false;
    if (out.empty()) {
      if (!put_device_attrs(nlh, limit, u)) return Error::sys(EMSGSIZE, "wireguard device attributes do not fit");
      wrote = true;  // the first message always goes out: it carries the device attributes
    }
    if (c.peer < u.peers.size()) {
      nlattr* peers_nest = mnl_attr_nest_start_check(nlh, limit, WGDEVICE_A_PEERS);
      while (peers_nest && c.peer < u.peers.size() && put_peer(nlh, limit, u.peers[c.peer], c, wrote)) {
        ++c.peer;
        c.ip = 0;
        c.peer_started = false;
      }
      if (peers_nest) mnl_attr_nest_end(nlh, peers_nest);
    }
    // A later message that could not take even one peer header would loop forever.
    if (!wrote) return Error::sys(EMSGSIZE, "wireguard peer does not fit in a netlink message");
    out.push_back(finish(buf, nlh));
  } while (c.peer < u.peers.size());
  return out;
}

Result<bool> DumpParser::feed(std::span<const uint8_t> datagram, uint32_t seq, uint32_t portid) {
  if (failed_) return Error::sys(EBADMSG, "wireguard dump: parser already failed");
  auto step = netlink::process_datagram(datagram, seq, portid,
                                        [this](const nlmsghdr* nlh) { return parse_message(nlh); });
  if (!step) {
    failed_ = true;
    return step.error().context("wireguard get device");
  }
  return step->done;
}

Status DumpParser::parse_message(const nlmsghdr* nlh) {
  if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(genlmsghdr))
    return Error::sys(EBADMSG, "wireguard dump: short message");
  DeviceCtx c;
  c.dev = &dev_;
  c.allowed_ips = &allowed_ips_;
  if (mnl_attr_parse(nlh, sizeof(genlmsghdr), device_attr_cb, &c) < 0) {
    failed_ = true;
    return c.error ? *c.error : Error::sys(EBADMSG, "wireguard dump: malformed message");
  }
  return ok();
}

}  // namespace cats::wg::genl
