// Regressions found by fuzz_wg_genl_dump (then in common/wg): datagrams libmnl would walk
// out of bounds. netlink::process_datagram checks every datagram with this first.
#include "netlink/socket.hpp"

#include <catch2/catch.hpp>

#include <linux/netlink.h>

#include <cstring>
#include <vector>

namespace {
std::vector<uint8_t> datagram(uint32_t nlmsg_len, size_t size) {
  std::vector<uint8_t> d(size, 0);
  nlmsghdr h{};
  h.nlmsg_len = nlmsg_len;
  std::memcpy(d.data(), &h, sizeof h);
  return d;
}
}  // namespace

TEST_CASE("netlink datagrams: the aligned length must fit (libmnl walks attributes up to it)") {
  CHECK(cats::netlink::well_formed_datagram(datagram(32, 32)));
  // 29 bytes claimed, 29 present: libmnl would read the 3 padding bytes beyond the buffer.
  CHECK_FALSE(cats::netlink::well_formed_datagram(datagram(29, 29)));
  CHECK(cats::netlink::well_formed_datagram(datagram(29, 32)));
}

TEST_CASE("netlink datagrams: a length near 4 GiB is rejected, not wrapped to 0 (no endless loop)") {
  CHECK_FALSE(cats::netlink::well_formed_datagram(datagram(0xfffffffe, 64)));
  CHECK_FALSE(cats::netlink::well_formed_datagram(datagram(8, 64)));  // shorter than a header
}
