// ctnetlink: golden request bytes and reply parsing (unit); delete/count by mark on real
// conntrack entries in a private network namespace (lab).
#include "ct/conntrack.hpp"
#include "ct_traffic.hpp"
#include "netns_guard.hpp"
#include "nft/nft.hpp"

#include <catch2/catch.hpp>

#include <limits>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <cstring>
#include <optional>

using namespace cats;

namespace {

std::vector<uint8_t> bytes(std::initializer_list<int> v) { return std::vector<uint8_t>(v.begin(), v.end()); }

void put(std::vector<uint8_t>& b, const void* p, size_t n) {
  auto* c = static_cast<const uint8_t*>(p);
  b.insert(b.end(), c, c + n);
}

// One netlink message: header + payload (padded to 4).
void message(std::vector<uint8_t>& out, uint16_t type, uint32_t seq, const std::vector<uint8_t>& payload,
             uint32_t len_override = 0) {
  nlmsghdr h{};
  h.nlmsg_len = len_override ? len_override : static_cast<uint32_t>(sizeof h + payload.size());
  h.nlmsg_type = type;
  h.nlmsg_flags = NLM_F_MULTI;
  h.nlmsg_seq = seq;
  put(out, &h, sizeof h);
  out.insert(out.end(), payload.begin(), payload.end());
  while (out.size() % 4) out.push_back(0);
}

// An IPCTNL_MSG_CT_NEW payload: nfgenmsg + CTA_STATUS + (optional) CTA_MARK, big-endian.
std::vector<uint8_t> entry(std::optional<uint32_t> mark) {
  std::vector<uint8_t> p = bytes({AF_INET, 0, 0, 0});
  auto attr = [&](uint16_t type, uint32_t v) {
    nlattr a{8, type};
    put(p, &a, sizeof a);
    uint32_t be = htonl(v);
    put(p, &be, 4);
  };
  attr(CTA_STATUS, 0x8);
  if (mark) attr(CTA_MARK, *mark);
  return p;
}

constexpr uint16_t kCtNew = NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW;

}  // namespace

TEST_CASE("ct: golden bytes of the delete-by-mark request", "[ct]") {
  auto msg = ct::build_delete_by_mark(AF_INET, 0x01020304, 0x03010000, 0xffff0000);
  // nlmsghdr: len 36, type (CTNETLINK<<8)|CT_DELETE = 0x0102, flags REQUEST|ACK = 0x0005,
  // seq, pid 0; nfgenmsg: family 2, version 1 (family filter honoured), res_id 0;
  // CTA_MARK (8) and CTA_MARK_MASK (21), each 8 bytes, values big-endian. No tuple.
  CHECK(msg == bytes({0x24, 0, 0, 0, 0x02, 0x01, 0x05, 0x00, 0x04, 0x03, 0x02, 0x01, 0, 0, 0, 0,  //
                      0x02, 0x01, 0x00, 0x00,                                                    //
                      0x08, 0x00, 0x08, 0x00, 0x03, 0x01, 0x00, 0x00,                            //
                      0x08, 0x00, 0x15, 0x00, 0xff, 0xff, 0x00, 0x00}));
  auto dump = ct::build_dump_by_mark(AF_INET6, 7, 0x01000000, 0xff000000);
  // type (CTNETLINK<<8)|CT_GET = 0x0101, flags REQUEST|DUMP = 0x0301, family 10.
  CHECK(dump == bytes({0x24, 0, 0, 0, 0x01, 0x01, 0x01, 0x03, 7, 0, 0, 0, 0, 0, 0, 0,  //
                       0x0a, 0x01, 0x00, 0x00,                                         //
                       0x08, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00,                 //
                       0x08, 0x00, 0x15, 0x00, 0xff, 0x00, 0x00, 0x00}));
}

TEST_CASE("ct: dump replies are counted by mark, bounded and checked", "[ct]") {
  std::vector<uint8_t> dg;
  message(dg, kCtNew, 9, entry(0x03010000));
  message(dg, kCtNew, 9, entry(0x03017777));  // other bits outside the mask: counts
  message(dg, kCtNew, 9, entry(0x04010000));  // another candidate: does not
  message(dg, kCtNew, 9, entry(std::nullopt));  // no CTA_MARK = mark 0: does not
  message(dg, kCtNew, 8, entry(0x03010000));  // another exchange: skipped
  auto c = ct::parse_dump_datagram(dg, 9, 0x03010000, 0xffff0000);
  REQUIRE(c.has_value());
  CHECK(c->entries == 2);
  CHECK_FALSE(c->done);

  std::vector<uint8_t> done;
  message(done, NLMSG_DONE, 9, bytes({0, 0, 0, 0}));
  auto d = ct::parse_dump_datagram(done, 9, 0, 0);
  REQUIRE(d.has_value());
  CHECK(d->done);

  std::vector<uint8_t> err;
  int e = -EPERM;
  std::vector<uint8_t> ep(sizeof(nlmsgerr), 0);
  std::memcpy(ep.data(), &e, sizeof e);
  message(err, NLMSG_ERROR, 9, ep);
  auto r = ct::parse_dump_datagram(err, 9, 0, 0);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().sys_errno == EPERM);
  // An error code no kernel sends (INT_MIN: its negation overflowed, UBSan) is EPROTO.
  for (int odd : {std::numeric_limits<int>::min(), -4096}) {
    std::vector<uint8_t> oddmsg, oe(sizeof(nlmsgerr), 0);
    std::memcpy(oe.data(), &odd, sizeof odd);
    message(oddmsg, NLMSG_ERROR, 9, oe);
    auto o = ct::parse_dump_datagram(oddmsg, 9, 0, 0);
    REQUIRE_FALSE(o.has_value());
    CHECK(o.error().sys_errno == EPROTO);
  }

  // A length beyond the datagram, a truncated header, an attribute overrunning its message.
  std::vector<uint8_t> lying;
  message(lying, kCtNew, 9, entry(1), 4096);
  CHECK_FALSE(ct::parse_dump_datagram(lying, 9, 0, 0).has_value());
  std::vector<uint8_t> cut(dg.begin(), dg.begin() + 10);
  CHECK_FALSE(ct::parse_dump_datagram(cut, 9, 0, 0).has_value());
  auto bad = entry(1);
  bad[4] = 200;  // first attribute claims 200 bytes
  std::vector<uint8_t> overrun;
  message(overrun, kCtNew, 9, bad);
  CHECK_FALSE(ct::parse_dump_datagram(overrun, 9, 0, 0).has_value());
}

TEST_CASE("ct: delete_by_mark removes only the entries of that mark and family", "[ct][lab]") {
  test::PrivateNetns ns;
  REQUIRE(ns.ok());
  REQUIRE(test::loopback_up());
  auto nft = nft::Nft::open();
  REQUIRE(nft.has_value());
  auto ctn = ct::Conntrack::open();
  REQUIRE(ctn.has_value());
  constexpr uint32_t kA = 0x03010000, kB = 0x04020000, kMask = 0xffff0000;
  auto st = test::install_ct_marker(*nft, {{5001, kA}, {5002, kB}, {5003, kA | 0x1234}});
  INFO((st ? std::string() : st.error().message));
  REQUIRE(st.has_value());
  REQUIRE(test::send_udp_flows(AF_INET, 5001, 3) == 3);
  REQUIRE(test::send_udp_flows(AF_INET, 5003, 1) == 1);  // low bits not ours: same candidate
  REQUIRE(test::send_udp_flows(AF_INET, 5002, 2) == 2);
  REQUIRE(test::send_udp_flows(AF_INET6, 5001, 2) == 2);

  auto count = [&](int family, uint32_t mark) {
    auto n = ctn->count_by_mark(family, mark, kMask);
    INFO((n ? std::string() : n.error().message));
    REQUIRE(n.has_value());
    return *n;
  };
  CHECK(count(AF_INET, kA) == 4);
  CHECK(count(AF_INET, kB) == 2);
  CHECK(count(AF_INET6, kA) == 2);

  auto del = ctn->delete_by_mark(AF_INET, kA, kMask);
  INFO((del ? std::string() : del.error().message));
  REQUIRE(del.has_value());
  CHECK(count(AF_INET, kA) == 0);
  CHECK(count(AF_INET, kB) == 2);   // other candidate untouched
  CHECK(count(AF_INET6, kA) == 2);  // other family untouched (nfgenmsg version 1)

  // Nothing left to delete is success; the IPv6 ones go with their own request.
  REQUIRE(ctn->delete_by_mark(AF_INET, kA, kMask).has_value());
  REQUIRE(ctn->delete_by_mark(AF_INET6, kA, kMask).has_value());
  CHECK(count(AF_INET6, kA) == 0);
  CHECK(count(AF_INET, kB) == 2);
  CHECK_FALSE(ctn->delete_by_mark(AF_UNSPEC, kA, kMask).has_value());
}
