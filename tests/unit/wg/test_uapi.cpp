// UAPI text protocol (https://www.wireguard.com/xplatform/): golden requests and strict,
// bounded reply parsing.
#include "wg/uapi.hpp"

#include <catch2/catch.hpp>

using namespace cats;
using namespace cats::wg;

namespace {

Key key_of(uint8_t fill) {
  Key k;
  k.fill(fill);
  return k;
}

Prefix pfx(std::string_view s) { return *parse_prefix(s); }
UdpEndpoint ep(std::string_view s) { return *parse_endpoint(s); }

const std::string k11(64, '1');  // hex of key_of(0x11)
const std::string k22(64, '2');
const std::string kAA = std::string(64, 'a');

}  // namespace

TEST_CASE("format_set: full device and peer update") {
  DeviceUpdate u;
  u.name = "wg0";
  u.private_key = key_of(0x11);
  u.listen_port = 51820;
  u.fwmark = 0x10000;
  u.replace_peers = true;
  PeerUpdate p;
  p.public_key = key_of(0x22);
  p.preshared_key = key_of(0xaa);
  p.endpoint = ep("192.0.2.1:51820");
  p.persistent_keepalive = 25;
  p.replace_allowed_ips = true;
  p.allowed_ips = {pfx("10.0.0.0/24"), pfx("fd00::/64")};
  u.peers.push_back(p);
  CHECK(uapi::format_set(u) ==
        "set=1\n"
        "private_key=" + k11 + "\n"
        "listen_port=51820\n"
        "fwmark=65536\n"
        "replace_peers=true\n"
        "public_key=" + k22 + "\n"
        "preshared_key=" + kAA + "\n"
        "endpoint=192.0.2.1:51820\n"
        "persistent_keepalive_interval=25\n"
        "replace_allowed_ips=true\n"
        "allowed_ip=10.0.0.0/24\n"
        "allowed_ip=fd00::/64\n"
        "\n");
}

TEST_CASE("format_set: removal, update_only with IPv6 endpoint, keepalive off, empty") {
  DeviceUpdate u;
  u.name = "wg0";
  PeerUpdate gone;
  gone.public_key = key_of(0x11);
  gone.remove = true;
  gone.allowed_ips = {pfx("10.0.0.0/8")};  // ignored for a removal
  PeerUpdate upd;
  upd.public_key = key_of(0x22);
  upd.update_only = true;
  upd.endpoint = ep("[2001:db8::1]:443");
  upd.persistent_keepalive = 0;
  u.peers = {gone, upd};
  CHECK(uapi::format_set(u) ==
        "set=1\n"
        "public_key=" + k11 + "\n"
        "remove=true\n"
        "public_key=" + k22 + "\n"
        "update_only=true\n"
        "endpoint=[2001:db8::1]:443\n"
        "persistent_keepalive_interval=0\n"
        "\n");

  DeviceUpdate empty;
  empty.name = "wg0";
  CHECK(uapi::format_set(empty) == "set=1\n\n");

  DeviceUpdate port_only;
  port_only.listen_port = 0;  // explicit 0 = pick a random port; must still be sent
  CHECK(uapi::format_set(port_only) == "set=1\nlisten_port=0\n\n");
}

TEST_CASE("parse_get_reply: a wireguard-go reply with two peers") {
  // Shape of wireguard-go's IpcGetOperation output (device/uapi.go).
  const std::string reply =
      "private_key=77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a\n"
      "listen_port=51820\n"
      "fwmark=7\n"
      "public_key=" + k22 + "\n"
      "preshared_key=" + std::string(64, '0') + "\n"
      "protocol_version=1\n"
      "endpoint=192.0.2.7:4500\n"
      "last_handshake_time_sec=1700000000\n"
      "last_handshake_time_nsec=123\n"
      "tx_bytes=1000\n"
      "rx_bytes=2000\n"
      "persistent_keepalive_interval=25\n"
      "allowed_ip=10.1.0.0/16\n"
      "allowed_ip=fd00::/64\n"
      "some_future_key=whatever\n"
      "public_key=" + k11 + "\n"
      "preshared_key=" + kAA + "\n"
      "endpoint=[2001:db8::2]:51820\n"
      "last_handshake_time_sec=0\n"
      "last_handshake_time_nsec=0\n"
      "tx_bytes=0\n"
      "rx_bytes=0\n"
      "persistent_keepalive_interval=0\n"
      "errno=0\n"
      "\n";
  auto d = uapi::parse_get_reply(reply);
  REQUIRE(d.has_value());
  REQUIRE(d->private_key.has_value());
  REQUIRE(d->public_key.has_value());
  // RFC 7748 6.1 Alice: the public key is derived from the private one.
  CHECK(to_hex(*d->public_key) == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  CHECK(d->listen_port == 51820);
  CHECK(d->fwmark == 7);
  REQUIRE(d->peers.size() == 2);
  const auto& a = d->peers[0];
  CHECK(a.public_key == key_of(0x22));
  CHECK_FALSE(a.preshared_key.has_value());  // all zeros = none
  REQUIRE(a.endpoint.has_value());
  CHECK(endpoint_to_string(*a.endpoint) == "192.0.2.7:4500");
  CHECK(a.last_handshake_unix_ns == 1'700'000'000'000'000'123LL);
  CHECK(a.tx_bytes == 1000);
  CHECK(a.rx_bytes == 2000);
  CHECK(a.persistent_keepalive == 25);
  REQUIRE(a.allowed_ips.size() == 2);
  CHECK(a.allowed_ips[0].to_string() == "10.1.0.0/16");
  CHECK(a.allowed_ips[1].to_string() == "fd00::/64");
  const auto& b = d->peers[1];
  CHECK(b.public_key == key_of(0x11));
  REQUIRE(b.preshared_key.has_value());
  CHECK(*b.preshared_key == key_of(0xaa));
  CHECK(endpoint_to_string(*b.endpoint) == "[2001:db8::2]:51820");
  CHECK(b.last_handshake_unix_ns == 0);
  CHECK(b.allowed_ips.empty());
}

TEST_CASE("parse_get_reply: fresh device without key or peers") {
  auto d = uapi::parse_get_reply("listen_port=0\nerrno=0\n\n");
  REQUIRE(d.has_value());
  CHECK_FALSE(d->private_key.has_value());
  CHECK_FALSE(d->public_key.has_value());
  CHECK(d->peers.empty());
}

TEST_CASE("errno lines become errors carrying the errno") {
  auto g = uapi::parse_get_reply("errno=-22\n\n");  // wireguard-go sends negative values
  REQUIRE_FALSE(g.has_value());
  CHECK(g.error().sys_errno == 22);
  auto s = uapi::parse_set_reply("errno=98\n\n");  // xplatform page shows positive ones
  REQUIRE_FALSE(s.has_value());
  CHECK(s.error().sys_errno == 98);
  CHECK(uapi::parse_set_reply("errno=0\n\n").has_value());
  CHECK_FALSE(uapi::parse_set_reply("errno=4096\n\n").has_value());
  CHECK_FALSE(uapi::parse_set_reply("errno=-\n\n").has_value());
  CHECK_FALSE(uapi::parse_set_reply("errno=+1\n\n").has_value());
  CHECK_FALSE(uapi::parse_set_reply("errno=0\nerrno=0\n\n").has_value());
  CHECK_FALSE(uapi::parse_set_reply("\n").has_value());
  CHECK_FALSE(uapi::parse_set_reply("").has_value());
}

TEST_CASE("malformed get replies are rejected") {
  const std::string pk = "public_key=" + k22 + "\n";
  const char* bad_replies[] = {
      "",
      "\n",
      "errno=0\n",                         // no blank line
      "errno=0",                           // truncated
      "listen_port=1\n\n",                 // no errno
      "errno=0\n\nerrno=0\n\n",            // data after the blank line
      "junk\nerrno=0\n\n",                 // not key=value
      "=1\nerrno=0\n\n",                   // empty key
      "listen_port=65536\nerrno=0\n\n",    // out of range
      "listen_port=-1\nerrno=0\n\n",
      "listen_port=\nerrno=0\n\n",
      "listen_port=1 \nerrno=0\n\n",
      "fwmark=4294967296\nerrno=0\n\n",
      "private_key=abc\nerrno=0\n\n",
      "endpoint=192.0.2.1:1\nerrno=0\n\n",  // peer field before any public_key
      "errno=0\nlisten_port=1\n\n",        // data after errno
      "public_key=zz\nerrno=0\n\n",
  };
  for (const char* r : bad_replies) {
    INFO("reply: " << r);
    CHECK_FALSE(uapi::parse_get_reply(r).has_value());
  }
  const std::string bad_peer_lines[] = {
      "endpoint=192.0.2.1\n",
      "endpoint=192.0.2.1:0\n",
      "endpoint=[::1:1\n",
      "last_handshake_time_nsec=1000000000\n",
      "last_handshake_time_sec=99999999999999999999\n",
      "rx_bytes=18446744073709551616\n",
      "persistent_keepalive_interval=65536\n",
      "allowed_ip=10.0.0.0/33\n",
      "allowed_ip=10.0.0.0\n",
      "allowed_ip=10.0.0.0/8 \n",
      "preshared_key=00\n",
      "listen_port=1\n",  // device field after a peer
  };
  for (const auto& line : bad_peer_lines) {
    INFO("line: " << line);
    CHECK_FALSE(uapi::parse_get_reply(pk + line + "errno=0\n\n").has_value());
  }
  CHECK(uapi::parse_get_reply(pk + "errno=0\n\n").has_value());
  CHECK_FALSE(uapi::parse_get_reply(std::string("listen_port=1\0x\nerrno=0\n\n", 25)).has_value());
  CHECK_FALSE(uapi::parse_get_reply("x=" + std::string(300, 'a') + "\nerrno=0\n\n").has_value());
}

TEST_CASE("bounds: peers and reply size") {
  std::string many;
  for (size_t i = 0; i <= uapi::kMaxPeers; ++i) many += "public_key=" + k22 + "\n";
  auto r = uapi::parse_get_reply(many + "errno=0\n\n");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.find("too many peers") != std::string::npos);

  std::string huge(uapi::kMaxReplyBytes, 'x');
  CHECK_FALSE(uapi::parse_get_reply(huge + "\n\n").has_value());
  CHECK_FALSE(uapi::parse_set_reply(huge + "\n\n").has_value());
}

TEST_CASE("reply_complete detects the terminating blank line") {
  CHECK(uapi::reply_complete("errno=0\n\n"));
  CHECK_FALSE(uapi::reply_complete("errno=0\n"));
  CHECK_FALSE(uapi::reply_complete("errno=0"));
  CHECK_FALSE(uapi::reply_complete(""));
}
