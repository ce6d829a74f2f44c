// Kernel backend encoding. This host's kernel has no wireguard module, so the kernel
// backend cannot be exercised end to end here: these tests pin the bytes we send
// (derived by hand from linux/netlink.h, linux/genetlink.h and linux/wireguard.h) and
// parse a dump reply we construct ourselves in the kernel's layout (netlink.c).
#include "wg/genl.hpp"
#include "wg/netlink.hpp"

#include <catch2/catch.hpp>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>

#include <cstring>
#include <sstream>

using namespace cats;
using namespace cats::wg;

namespace {

// "0a 0b ..." -> bytes; whitespace is ignored so the literal can be laid out by field.
std::vector<uint8_t> unhex(std::string_view s) {
  std::vector<uint8_t> out;
  int hi = -1;
  for (char c : s) {
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (v < 0) continue;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  REQUIRE(hi < 0);
  return out;
}

std::string dump(const std::vector<uint8_t>& b) {
  std::ostringstream os;
  for (size_t i = 0; i < b.size(); ++i) {
    static constexpr char d[] = "0123456789abcdef";
    os << d[b[i] >> 4] << d[b[i] & 15] << ((i % 16 == 15) ? "\n" : " ");
  }
  return os.str();
}

Key seq_key(uint8_t start) {
  Key k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(start + i);
  return k;
}

Prefix pfx(std::string_view s) { return *parse_prefix(s); }

constexpr uint16_t kFamily = 0x1e;  // an arbitrary resolved family id

}  // namespace

TEST_CASE("golden bytes: WG_CMD_SET_DEVICE with one peer, endpoint, allowed IPs, keepalive") {
  DeviceUpdate u;
  u.name = "wg0";
  u.listen_port = 51820;
  PeerUpdate p;
  p.public_key = seq_key(0x00);
  p.endpoint = *parse_endpoint("192.0.2.1:51820");
  p.persistent_keepalive = 25;
  p.replace_allowed_ips = true;
  p.allowed_ips = {pfx("10.0.0.0/24"), pfx("10.9.0.0/16")};
  u.peers.push_back(p);

  // Little-endian host; nla_len counts header + payload without padding, nests include
  // their padded children; nested attributes carry NLA_F_NESTED (0x8000).
  const auto expected = unhex(
      "b0 00 00 00"  // nlmsg_len = 176
      "1e 00"        // nlmsg_type = family id
      "05 00"        // NLM_F_REQUEST | NLM_F_ACK
      "07 00 00 00"  // nlmsg_seq = 7
      "00 00 00 00"  // nlmsg_pid = 0 (kernel)
      "01 01 00 00"  // genlmsghdr: cmd WG_CMD_SET_DEVICE, version 1, reserved
      "08 00 02 00 77 67 30 00"  // WGDEVICE_A_IFNAME "wg0\0"
      "06 00 06 00 6c ca 00 00"  // WGDEVICE_A_LISTEN_PORT u16 51820 (host order) + pad
      "8c 00 08 80"              // WGDEVICE_A_PEERS (nested), len 140
      "88 00 00 80"              //   peer #0 (nested), len 136
      "24 00 01 00"              //     WGPEER_A_PUBLIC_KEY, 32 bytes:
      "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f"
      "10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f"
      "14 00 04 00"              //     WGPEER_A_ENDPOINT, struct sockaddr_in (16):
      "02 00 ca 6c c0 00 02 01"  //       AF_INET, port 51820 (network order), 192.0.2.1
      "00 00 00 00 00 00 00 00"  //       sin_zero
      "06 00 05 00 19 00 00 00"  //     WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL u16 25 + pad
      "08 00 03 00 02 00 00 00"  //     WGPEER_A_FLAGS = WGPEER_F_REPLACE_ALLOWEDIPS
      "3c 00 09 80"              //     WGPEER_A_ALLOWEDIPS (nested), len 60
      "1c 00 00 80"              //       allowed IP #0 (nested), len 28
      "06 00 01 00 02 00 00 00"  //         WGALLOWEDIP_A_FAMILY AF_INET + pad
      "08 00 02 00 0a 00 00 00"  //         WGALLOWEDIP_A_IPADDR 10.0.0.0
      "05 00 03 00 18 00 00 00"  //         WGALLOWEDIP_A_CIDR_MASK 24 + pad
      "1c 00 00 80"              //       allowed IP #1
      "06 00 01 00 02 00 00 00"
      "08 00 02 00 0a 09 00 00"  //         10.9.0.0
      "05 00 03 00 10 00 00 00"  //         /16
  );
  auto msgs = genl::build_set_device(u, kFamily, 7);
  REQUIRE(msgs.has_value());
  REQUIRE(msgs->size() == 1);
  INFO("got:\n" << dump((*msgs)[0]) << "\nwant:\n" << dump(expected));
  CHECK((*msgs)[0] == expected);
}

TEST_CASE("golden bytes: peer removal, device flags and private key") {
  DeviceUpdate u;
  u.name = "wg1";
  u.private_key = seq_key(0x40);
  u.fwmark = 0x00ff0000;
  u.replace_peers = true;
  PeerUpdate p;
  p.public_key = seq_key(0x80);
  p.remove = true;
  p.endpoint = *parse_endpoint("192.0.2.1:1");  // ignored for a removal
  u.peers.push_back(p);
  const auto expected = unhex(
      "84 00 00 00 1e 00 05 00 01 00 00 00 00 00 00 00"  // nlmsghdr, len 132, seq 1
      "01 01 00 00"                                      // WG_CMD_SET_DEVICE v1
      "08 00 02 00 77 67 31 00"                          // IFNAME "wg1"
      "24 00 03 00"                                      // PRIVATE_KEY
      "40 41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f"
      "50 51 52 53 54 55 56 57 58 59 5a 5b 5c 5d 5e 5f"
      "08 00 07 00 00 00 ff 00"                          // FWMARK 0x00ff0000
      "08 00 05 00 01 00 00 00"                          // FLAGS = REPLACE_PEERS
      "34 00 08 80"                                      // PEERS, len 52
      "30 00 00 80"                                      //   peer, len 48
      "24 00 01 00"                                      //     PUBLIC_KEY
      "80 81 82 83 84 85 86 87 88 89 8a 8b 8c 8d 8e 8f"
      "90 91 92 93 94 95 96 97 98 99 9a 9b 9c 9d 9e 9f"
      "08 00 03 00 01 00 00 00"                          //     FLAGS = REMOVE_ME
  );
  auto msgs = genl::build_set_device(u, kFamily, 1);
  REQUIRE(msgs.has_value());
  REQUIRE(msgs->size() == 1);
  INFO("got:\n" << dump((*msgs)[0]) << "\nwant:\n" << dump(expected));
  CHECK((*msgs)[0] == expected);
}

TEST_CASE("golden bytes: family lookup, get device, link create/delete") {
  CHECK(genl::build_get_family(3) == unhex("24 00 00 00 10 00 05 00 03 00 00 00 00 00 00 00"  // GENL_ID_CTRL
                                           "03 01 00 00"  // CTRL_CMD_GETFAMILY v1
                                           // CTRL_ATTR_FAMILY_NAME "wireguard\0": nla_len 14, padded to 16
                                           "0e 00 02 00 77 69 72 65 67 75 61 72 64 00 00 00"));
  CHECK(genl::build_get_device(kFamily, 4, "wg0") ==
        unhex("1c 00 00 00 1e 00 05 03 04 00 00 00 00 00 00 00"  // REQUEST|ACK|DUMP(0x300)
              "00 01 00 00 08 00 02 00 77 67 30 00"));
  CHECK(nl::build_dellink("wg0", 5) ==
        unhex("28 00 00 00 11 00 05 00 05 00 00 00 00 00 00 00"  // RTM_DELLINK (17)
              "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"  // struct ifinfomsg
              "08 00 03 00 77 67 30 00"));                       // IFLA_IFNAME
  CHECK(nl::build_newlink("wg0", "wireguard", 6) ==
        unhex("3c 00 00 00 10 00 05 06 06 00 00 00 00 00 00 00"  // RTM_NEWLINK, REQ|ACK|EXCL|CREATE
              "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
              "08 00 03 00 77 67 30 00"                          // IFLA_IFNAME
              "14 00 12 80 0e 00 01 00"                          // IFLA_LINKINFO (len 20) { IFLA_INFO_KIND
              "77 69 72 65 67 75 61 72 64 00 00 00"));           //   "wireguard" }
}

TEST_CASE("set device splits large updates across messages like wireguard-tools") {
  DeviceUpdate u;
  u.name = "wg0";
  u.private_key = seq_key(1);
  u.replace_peers = true;
  for (uint8_t i = 0; i < 40; ++i) {
    PeerUpdate p;
    p.public_key = seq_key(static_cast<uint8_t>(i * 3));
    p.replace_allowed_ips = true;
    p.endpoint = *parse_endpoint("192.0.2.1:51820");
    // Peer 5 has far more allowed IPs than fit in one message.
    int n = i == 5 ? 300 : 3;
    for (int j = 0; j < n; ++j)
      p.allowed_ips.push_back(pfx("10." + std::to_string(i) + "." + std::to_string(j % 256) + "." +
                                  std::to_string(j / 256) + "/32"));
    u.peers.push_back(p);
  }
  constexpr size_t kLimit = 1024;
  auto msgs = genl::build_set_device(u, kFamily, 100, kLimit);
  REQUIRE(msgs.has_value());
  REQUIRE(msgs->size() > 5);

  // Every message fits, is numbered consecutively, and only the first carries the
  // device attributes (private key bytes 01..20 appear nowhere else).
  const auto priv = seq_key(1);
  for (size_t i = 0; i < msgs->size(); ++i) {
    const auto& m = (*msgs)[i];
    CHECK(m.size() <= kLimit);
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(m.data());
    CHECK(nlh->nlmsg_len == m.size());
    CHECK(nlh->nlmsg_seq == 100 + i);
    bool has_priv = std::search(m.begin(), m.end(), priv.begin(), priv.end()) != m.end();
    CHECK(has_priv == (i == 0));
  }

  // Reassemble with the dump parser (same attribute layout) and compare.
  genl::DumpParser parser;
  for (const auto& m : *msgs) REQUIRE(parser.parse_message(reinterpret_cast<const nlmsghdr*>(m.data())).has_value());
  Device d = parser.take();
  REQUIRE(d.peers.size() == u.peers.size());
  for (size_t i = 0; i < u.peers.size(); ++i) {
    INFO("peer " << i);
    CHECK(d.peers[i].public_key == u.peers[i].public_key);
    CHECK(d.peers[i].allowed_ips == u.peers[i].allowed_ips);
  }
}

TEST_CASE("continuation of a split peer does not repeat REPLACE_ALLOWEDIPS") {
  DeviceUpdate u;
  u.name = "wg0";
  PeerUpdate p;
  p.public_key = seq_key(9);
  p.replace_allowed_ips = true;
  for (int j = 0; j < 100; ++j) p.allowed_ips.push_back(pfx("10.0." + std::to_string(j) + ".0/24"));
  u.peers.push_back(p);
  auto msgs = genl::build_set_device(u, kFamily, 1, 512);
  REQUIRE(msgs.has_value());
  REQUIRE(msgs->size() >= 2);
  // WGPEER_A_FLAGS = REPLACE_ALLOWEDIPS: "08 00 03 00 02 00 00 00"
  const auto flag_attr = unhex("08 00 03 00 02 00 00 00");
  auto count_flag = [&](const std::vector<uint8_t>& m) {
    return std::search(m.begin(), m.end(), flag_attr.begin(), flag_attr.end()) != m.end();
  };
  CHECK(count_flag((*msgs)[0]));
  for (size_t i = 1; i < msgs->size(); ++i) CHECK_FALSE(count_flag((*msgs)[i]));
}

TEST_CASE("set device rejects bad names and impossible limits") {
  DeviceUpdate u;
  u.name = "this-name-is-too-long";
  CHECK_FALSE(genl::build_set_device(u, kFamily, 1).has_value());
  u.name = "a/b";
  CHECK_FALSE(genl::build_set_device(u, kFamily, 1).has_value());
  u.name = "wg0";
  CHECK_FALSE(genl::build_set_device(u, kFamily, 1, 16).has_value());
  CHECK(genl::build_set_device(u, kFamily, 1).has_value());
}

namespace {

// Builds datagrams shaped like the kernel's WG_CMD_GET_DEVICE dump replies.
class DumpBuilder {
 public:
  explicit DumpBuilder(uint32_t seq) : seq_(seq) {}

  nlmsghdr* begin_message() {
    size_t off = buf_.size();
    buf_.resize(off + 4096, 0);
    cur_ = mnl_nlmsg_put_header(buf_.data() + off);
    cur_->nlmsg_type = kFamily;
    cur_->nlmsg_flags = NLM_F_MULTI;
    cur_->nlmsg_seq = seq_;
    auto* g = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(cur_, sizeof(genlmsghdr)));
    g->cmd = WG_CMD_GET_DEVICE;
    g->version = WG_GENL_VERSION;
    off_ = off;
    return cur_;
  }
  void end_message() {
    buf_.resize(off_ + cur_->nlmsg_len);
    cur_ = nullptr;
  }
  void done() {
    size_t off = buf_.size();
    buf_.resize(off + 64, 0);
    auto* nlh = mnl_nlmsg_put_header(buf_.data() + off);
    nlh->nlmsg_type = NLMSG_DONE;
    nlh->nlmsg_flags = NLM_F_MULTI;
    nlh->nlmsg_seq = seq_;
    int* err = static_cast<int*>(mnl_nlmsg_put_extra_header(nlh, sizeof(int)));
    *err = 0;
    buf_.resize(off + nlh->nlmsg_len);
  }
  void error(int err) {
    size_t off = buf_.size();
    buf_.resize(off + 64, 0);
    auto* nlh = mnl_nlmsg_put_header(buf_.data() + off);
    nlh->nlmsg_type = NLMSG_ERROR;
    nlh->nlmsg_seq = seq_;
    auto* e = static_cast<nlmsgerr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nlmsgerr)));
    e->error = -err;
    buf_.resize(off + nlh->nlmsg_len);
  }
  std::vector<uint8_t> take() { return std::exchange(buf_, {}); }

 private:
  uint32_t seq_;
  std::vector<uint8_t> buf_;
  nlmsghdr* cur_ = nullptr;
  size_t off_ = 0;
};

void put_allowed_ip(nlmsghdr* nlh, int family, const void* addr, size_t len, uint8_t cidr) {
  nlattr* n = mnl_attr_nest_start(nlh, 0);
  mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, static_cast<uint16_t>(family));
  mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, len, addr);
  mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, cidr);
  mnl_attr_nest_end(nlh, n);
}

void put_v4_ip(nlmsghdr* nlh, uint8_t a, uint8_t b, uint8_t cidr) {
  uint8_t addr[4] = {10, a, b, 0};
  put_allowed_ip(nlh, AF_INET, addr, 4, cidr);
}

// One datagram with two messages (peer 2's allowed IPs continue in the second, as the
// kernel does when a peer overflows a message), then a datagram with NLMSG_DONE.
std::vector<std::vector<uint8_t>> sample_dump(uint32_t seq) {
  DumpBuilder b(seq);
  auto* m = b.begin_message();
  mnl_attr_put_u32(m, WGDEVICE_A_IFINDEX, 7);
  mnl_attr_put_strz(m, WGDEVICE_A_IFNAME, "wg0");
  Key priv = seq_key(0x40), pub = seq_key(0x60);
  mnl_attr_put(m, WGDEVICE_A_PRIVATE_KEY, 32, priv.data());
  mnl_attr_put(m, WGDEVICE_A_PUBLIC_KEY, 32, pub.data());
  mnl_attr_put_u16(m, WGDEVICE_A_LISTEN_PORT, 51820);
  mnl_attr_put_u32(m, WGDEVICE_A_FWMARK, 0x10000);
  nlattr* peers = mnl_attr_nest_start(m, WGDEVICE_A_PEERS);
  {
    nlattr* peer = mnl_attr_nest_start(m, 0);
    Key k = seq_key(0x80), psk = seq_key(0xa0);
    mnl_attr_put(m, WGPEER_A_PUBLIC_KEY, 32, k.data());
    mnl_attr_put(m, WGPEER_A_PRESHARED_KEY, 32, psk.data());
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(4500);
    sin6.sin6_addr.s6_addr[0] = 0x20;
    sin6.sin6_addr.s6_addr[1] = 0x01;
    sin6.sin6_addr.s6_addr[2] = 0x0d;
    sin6.sin6_addr.s6_addr[3] = 0xb8;
    sin6.sin6_addr.s6_addr[15] = 0x05;
    mnl_attr_put(m, WGPEER_A_ENDPOINT, sizeof sin6, &sin6);
    mnl_attr_put_u16(m, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
    int64_t ts[2] = {1'700'000'000, 5};
    mnl_attr_put(m, WGPEER_A_LAST_HANDSHAKE_TIME, sizeof ts, ts);
    mnl_attr_put_u64(m, WGPEER_A_RX_BYTES, 1234);
    mnl_attr_put_u64(m, WGPEER_A_TX_BYTES, 5678);
    mnl_attr_put_u32(m, WGPEER_A_PROTOCOL_VERSION, 1);
    mnl_attr_put_u32(m, 200, 42);  // an attribute from the future: ignored
    nlattr* ips = mnl_attr_nest_start(m, WGPEER_A_ALLOWEDIPS);
    put_v4_ip(m, 1, 0, 16);
    uint8_t v6[16] = {0xfd};
    put_allowed_ip(m, AF_INET6, v6, 16, 64);
    mnl_attr_nest_end(m, ips);
    mnl_attr_nest_end(m, peer);
  }
  {
    nlattr* peer = mnl_attr_nest_start(m, 0);
    Key k = seq_key(0xc0);
    mnl_attr_put(m, WGPEER_A_PUBLIC_KEY, 32, k.data());
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(51820);
    sin.sin_addr.s_addr = htonl(0xc0000201);
    mnl_attr_put(m, WGPEER_A_ENDPOINT, sizeof sin, &sin);
    nlattr* ips = mnl_attr_nest_start(m, WGPEER_A_ALLOWEDIPS);
    put_v4_ip(m, 2, 0, 24);
    put_v4_ip(m, 2, 1, 24);
    mnl_attr_nest_end(m, ips);
    mnl_attr_nest_end(m, peer);
  }
  mnl_attr_nest_end(m, peers);
  b.end_message();
  // Second message: device attributes repeated, peer 2 continues, then peer 3.
  m = b.begin_message();
  mnl_attr_put_u32(m, WGDEVICE_A_IFINDEX, 7);
  mnl_attr_put_strz(m, WGDEVICE_A_IFNAME, "wg0");
  peers = mnl_attr_nest_start(m, WGDEVICE_A_PEERS);
  {
    nlattr* peer = mnl_attr_nest_start(m, 0);
    Key k = seq_key(0xc0);
    mnl_attr_put(m, WGPEER_A_PUBLIC_KEY, 32, k.data());
    nlattr* ips = mnl_attr_nest_start(m, WGPEER_A_ALLOWEDIPS);
    put_v4_ip(m, 2, 2, 24);
    mnl_attr_nest_end(m, ips);
    mnl_attr_nest_end(m, peer);
  }
  {
    nlattr* peer = mnl_attr_nest_start(m, 0);
    Key k = seq_key(0xe0);
    mnl_attr_put(m, WGPEER_A_PUBLIC_KEY, 32, k.data());
    mnl_attr_nest_end(m, peer);
  }
  mnl_attr_nest_end(m, peers);
  b.end_message();
  auto first = b.take();
  b.done();
  return {first, b.take()};
}

}  // namespace

TEST_CASE("dump parser merges a multi-part WG_CMD_GET_DEVICE reply") {
  auto dgs = sample_dump(42);
  genl::DumpParser parser;
  auto r1 = parser.feed(dgs[0], 42, 0);
  REQUIRE(r1.has_value());
  CHECK_FALSE(*r1);
  auto r2 = parser.feed(dgs[1], 42, 0);
  REQUIRE(r2.has_value());
  CHECK(*r2);
  Device d = parser.take();
  CHECK(d.name == "wg0");
  CHECK(d.ifindex == 7);
  REQUIRE(d.private_key.has_value());
  CHECK(*d.private_key == seq_key(0x40));
  CHECK(*d.public_key == seq_key(0x60));
  CHECK(d.listen_port == 51820);
  CHECK(d.fwmark == 0x10000);
  REQUIRE(d.peers.size() == 3);
  const auto& a = d.peers[0];
  CHECK(a.public_key == seq_key(0x80));
  CHECK(*a.preshared_key == seq_key(0xa0));
  CHECK(endpoint_to_string(*a.endpoint) == "[2001:db8::5]:4500");
  CHECK(a.persistent_keepalive == 25);
  CHECK(a.last_handshake_unix_ns == 1'700'000'000'000'000'005LL);
  CHECK(a.rx_bytes == 1234);
  CHECK(a.tx_bytes == 5678);
  REQUIRE(a.allowed_ips.size() == 2);
  CHECK(a.allowed_ips[0].to_string() == "10.1.0.0/16");
  CHECK(a.allowed_ips[1].to_string() == "fd00::/64");
  const auto& b = d.peers[1];
  CHECK(b.public_key == seq_key(0xc0));
  CHECK(endpoint_to_string(*b.endpoint) == "192.0.2.1:51820");
  REQUIRE(b.allowed_ips.size() == 3);  // 2 + 1 continued in the second message
  CHECK(b.allowed_ips[2].to_string() == "10.2.2.0/24");
  CHECK(d.peers[2].public_key == seq_key(0xe0));
  CHECK(d.peers[2].allowed_ips.empty());
}

TEST_CASE("dump parser reports netlink errors and malformed messages") {
  {
    DumpBuilder b(9);
    b.error(ENODEV);
    genl::DumpParser parser;
    auto r = parser.feed(b.take(), 9, 0);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().sys_errno == ENODEV);
  }
  {
    // Allowed IP with an IPv6 family but a 4-byte address.
    DumpBuilder b(9);
    auto* m = b.begin_message();
    nlattr* peers = mnl_attr_nest_start(m, WGDEVICE_A_PEERS);
    nlattr* peer = mnl_attr_nest_start(m, 0);
    Key k = seq_key(1);
    mnl_attr_put(m, WGPEER_A_PUBLIC_KEY, 32, k.data());
    nlattr* ips = mnl_attr_nest_start(m, WGPEER_A_ALLOWEDIPS);
    uint8_t addr[4] = {10, 0, 0, 0};
    put_allowed_ip(m, AF_INET6, addr, 4, 8);
    mnl_attr_nest_end(m, ips);
    mnl_attr_nest_end(m, peer);
    mnl_attr_nest_end(m, peers);
    b.end_message();
    genl::DumpParser parser;
    auto r = parser.feed(b.take(), 9, 0);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().sys_errno == EBADMSG);
  }
  {
    // Peer without a public key; short key attribute.
    DumpBuilder b(9);
    auto* m = b.begin_message();
    nlattr* peers = mnl_attr_nest_start(m, WGDEVICE_A_PEERS);
    nlattr* peer = mnl_attr_nest_start(m, 0);
    mnl_attr_put_u64(m, WGPEER_A_RX_BYTES, 1);
    mnl_attr_nest_end(m, peer);
    mnl_attr_nest_end(m, peers);
    b.end_message();
    genl::DumpParser parser;
    CHECK_FALSE(parser.feed(b.take(), 9, 0).has_value());
  }
  {
    DumpBuilder b(9);
    auto* m = b.begin_message();
    mnl_attr_put_u16(m, WGDEVICE_A_PRIVATE_KEY, 1);
    b.end_message();
    genl::DumpParser parser;
    CHECK_FALSE(parser.feed(b.take(), 9, 0).has_value());
  }
}

TEST_CASE("dump parser survives every truncation and single-byte corruption") {
  auto dg = sample_dump(1)[0];
  size_t parsed = 0;
  for (size_t len = 0; len <= dg.size(); ++len) {
    genl::DumpParser parser;
    parsed += parser.feed(std::span<const uint8_t>(dg.data(), len), 1, 0).has_value();
  }
  CHECK(parsed >= 1);  // at least the full datagram parses
  for (size_t i = 0; i < dg.size(); ++i) {
    for (uint8_t x : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      auto copy = dg;
      copy[i] ^= x;
      genl::DumpParser parser;
      (void)parser.feed(copy, 1, 0);
    }
  }
  SUCCEED("no crash");
}
