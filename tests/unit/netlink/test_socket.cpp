// netlink::process_datagram on constructed replies, and netlink::Socket over a
// SOCK_SEQPACKET socketpair whose other end plays the kernel (boundaries kept, a closed
// peer reads as 0, MSG_TRUNC reported): no root needed.
#include "netlink/socket.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <climits>
#include <cstring>
#include <string>
#include <vector>

using namespace cats;
using netlink::Progress;

namespace {

using Bytes = std::vector<uint8_t>;

void put(Bytes& b, const void* p, size_t n) {
  auto* c = static_cast<const uint8_t*>(p);
  b.insert(b.end(), c, c + n);
}
void pad(Bytes& b) {
  while (b.size() % 4) b.push_back(0);
}

// One message: header + payload, padded to 4.
void message(Bytes& out, uint16_t type, uint16_t flags, uint32_t seq, uint32_t pid, const Bytes& payload) {
  nlmsghdr h{};
  h.nlmsg_len = static_cast<uint32_t>(sizeof h + payload.size());
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  h.nlmsg_seq = seq;
  h.nlmsg_pid = pid;
  put(out, &h, sizeof h);
  out.insert(out.end(), payload.begin(), payload.end());
  pad(out);
}

Bytes int_payload(int v) {
  Bytes b(sizeof v);  // (not put() into an empty vector: GCC 12's -Wstringop-overflow misfires)
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}

// NLMSG_ERROR payload: nlmsgerr echoing `req` (header only, as with NLM_F_CAPPED, or the
// whole request), then an optional NLMSGERR_ATTR_MSG.
Bytes error_payload(int err, const Bytes& echoed_request, const std::string& extack) {
  Bytes b = int_payload(err);
  b.insert(b.end(), echoed_request.begin(), echoed_request.end());
  pad(b);
  if (!extack.empty()) {
    nlattr a{static_cast<uint16_t>(sizeof(nlattr) + extack.size() + 1), NLMSGERR_ATTR_MSG};
    put(b, &a, sizeof a);
    put(b, extack.c_str(), extack.size() + 1);
    pad(b);
  }
  return b;
}

Bytes request(uint32_t seq, uint16_t flags = NLM_F_REQUEST | NLM_F_ACK) {
  Bytes r;
  message(r, RTM_GETLINK, flags, seq, 0, Bytes(16, 0));  // ifinfomsg
  return r;
}

// Records the data messages handed over: (type, seq).
struct Seen {
  std::vector<std::pair<uint16_t, uint32_t>> msgs;
  netlink::MessageFn fn() {
    return [this](const nlmsghdr* h) {
      msgs.emplace_back(h->nlmsg_type, h->nlmsg_seq);
      return ok();
    };
  }
};

constexpr uint16_t kData = RTM_NEWLINK;

}  // namespace

TEST_CASE("netlink reply walk: other sequence numbers and port ids are skipped, not errors") {
  Bytes dg;
  message(dg, kData, NLM_F_MULTI, 6, 0, Bytes(4, 1));    // an earlier exchange's leftover
  message(dg, kData, NLM_F_MULTI, 7, 999, Bytes(4, 2));  // our seq, another socket's port id
  message(dg, kData, NLM_F_MULTI, 7, 42, Bytes(4, 3));   // ours
  message(dg, kData, NLM_F_MULTI, 7, 0, Bytes(4, 4));    // ours (kernel-originated, pid 0)
  Seen seen;
  auto p = netlink::process_datagram(dg, 7, 42, seen.fn());
  REQUIRE(p.has_value());
  CHECK_FALSE(p->done);
  CHECK(seen.msgs.size() == 2);
  // A stale error for another sequence number does not fail our exchange either.
  Bytes stale;
  message(stale, NLMSG_ERROR, 0, 6, 42, error_payload(-EPERM, request(6), ""));
  message(stale, NLMSG_ERROR, 0, 7, 42, error_payload(0, request(7), ""));
  auto a = netlink::process_datagram(stale, 7, 42, {});
  REQUIRE(a.has_value());
  CHECK(a->done);
}

TEST_CASE("netlink reply walk: an error ACK becomes the errno with the kernel's extended-ACK text") {
  SECTION("capped ACK (header echoed only)") {
    Bytes req = request(9);
    Bytes dg;
    message(dg, NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 9, 0,
            error_payload(-ENODEV, Bytes(req.begin(), req.begin() + sizeof(nlmsghdr)), "Nexthop device is not up"));
    auto r = netlink::process_datagram(dg, 9, 0, {});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().sys_errno == ENODEV);
    CHECK(r.error().message == std::string(std::strerror(ENODEV)) + " (Nexthop device is not up)");
  }
  SECTION("uncapped ACK: the TLVs follow the whole echoed request") {
    Bytes req = request(9);
    Bytes dg;
    message(dg, NLMSG_ERROR, NLM_F_ACK_TLVS, 9, 0, error_payload(-EEXIST, req, "already there"));
    auto r = netlink::process_datagram(dg, 9, 0, {});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().sys_errno == EEXIST);
    CHECK(r.error().message.find("(already there)") != std::string::npos);
  }
  SECTION("no TLVs: strerror only; values no kernel sends are EPROTO") {
    for (auto [sent, want] : {std::pair{-EPERM, EPERM}, {INT_MIN, EPROTO}, {-4096, EPROTO}, {5, EPROTO}}) {
      Bytes dg;
      message(dg, NLMSG_ERROR, 0, 9, 0, error_payload(sent, request(9), ""));
      auto r = netlink::process_datagram(dg, 9, 0, {});
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().sys_errno == want);
      CHECK(r.error().message == std::strerror(want));
    }
  }
  SECTION("an extended-ACK attribute overrunning its message is ignored, not read") {
    Bytes dg;
    Bytes p = error_payload(-EPERM, Bytes(sizeof(nlmsghdr), 0), "x");
    p[sizeof(nlmsgerr)] = 200;  // NLMSGERR_ATTR_MSG claims 200 bytes
    message(dg, NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 9, 0, p);
    auto r = netlink::process_datagram(dg, 9, 0, {});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message == std::strerror(EPERM));
  }
  SECTION("a zero error is the ACK") {
    Bytes dg;
    message(dg, NLMSG_ERROR, NLM_F_CAPPED, 9, 0, error_payload(0, Bytes(sizeof(nlmsghdr), 0), ""));
    auto r = netlink::process_datagram(dg, 9, 0, {});
    REQUIRE(r.has_value());
    CHECK(r->done);
  }
}

TEST_CASE("netlink reply walk: multi-part dumps end at NLMSG_DONE, which may carry an error") {
  Seen seen;
  Bytes first, second;
  message(first, kData, NLM_F_MULTI, 3, 0, Bytes(8, 0));
  message(first, kData, NLM_F_MULTI | NLM_F_DUMP_INTR, 3, 0, Bytes(8, 0));
  message(second, kData, NLM_F_MULTI, 3, 0, Bytes(8, 0));
  message(second, NLMSG_NOOP, 0, 3, 0, {});
  message(second, NLMSG_DONE, NLM_F_MULTI, 3, 0, int_payload(0));
  message(second, kData, NLM_F_MULTI, 3, 0, Bytes(8, 0));  // after DONE: not read
  auto p1 = netlink::process_datagram(first, 3, 0, seen.fn());
  REQUIRE(p1.has_value());
  CHECK_FALSE(p1->done);
  CHECK(p1->interrupted);
  auto p2 = netlink::process_datagram(second, 3, 0, seen.fn());
  REQUIRE(p2.has_value());
  CHECK(p2->done);
  CHECK_FALSE(p2->interrupted);
  CHECK(seen.msgs.size() == 3);

  Bytes failed;
  message(failed, NLMSG_DONE, NLM_F_MULTI, 3, 0, int_payload(-EBUSY));
  auto f = netlink::process_datagram(failed, 3, 0, seen.fn());
  REQUIRE_FALSE(f.has_value());
  CHECK(f.error().sys_errno == EBUSY);

  Bytes overrun;
  message(overrun, NLMSG_OVERRUN, 0, 3, 0, {});
  auto o = netlink::process_datagram(overrun, 3, 0, {});
  REQUIRE_FALSE(o.has_value());
  CHECK(o.error().sys_errno == EIO);
}

TEST_CASE("netlink reply walk: truncated or lying messages are EBADMSG before any is handed over") {
  Seen seen;
  Bytes dg;
  message(dg, kData, NLM_F_MULTI, 3, 0, Bytes(8, 0));
  message(dg, kData, NLM_F_MULTI, 3, 0, Bytes(8, 0));
  for (size_t cut : {size_t{1}, sizeof(nlmsghdr) - 1, dg.size() - 1, dg.size() - 4}) {
    auto r = netlink::process_datagram(std::span<const uint8_t>(dg.data(), cut), 3, 0, seen.fn());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().sys_errno == EBADMSG);
  }
  Bytes lying = dg;
  lying[0] = 0xff;  // first nlmsg_len beyond the datagram
  CHECK_FALSE(netlink::process_datagram(lying, 3, 0, seen.fn()).has_value());
  Bytes short_err;
  message(short_err, NLMSG_ERROR, 0, 3, 0, Bytes(2, 0));
  auto s = netlink::process_datagram(short_err, 3, 0, {});
  REQUIRE_FALSE(s.has_value());
  CHECK(s.error().sys_errno == EBADMSG);
  CHECK(seen.msgs.empty());
}

TEST_CASE("netlink reply walk: a handler's error stops the exchange and is returned as is") {
  Bytes dg;
  message(dg, kData, NLM_F_MULTI, 3, 0, Bytes(8, 0));
  message(dg, NLMSG_DONE, NLM_F_MULTI, 3, 0, int_payload(0));
  auto r = netlink::process_datagram(dg, 3, 0, [](const nlmsghdr*) -> Status { return Error{"bad entry", EBADMSG}; });
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "bad entry");
}

namespace {

// A Socket whose "kernel" is the other end of a SOCK_SEQPACKET socketpair.
struct Pair {
  netlink::Socket sock = netlink::Socket::adopt(UniqueFd(), "test", 0, 0);
  UniqueFd kernel;
  explicit Pair(uint32_t portid = 42, uint32_t first_seq = 100) {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0);
    sock = netlink::Socket::adopt(UniqueFd(fds[0]), "test", portid, first_seq);
    kernel.reset(fds[1]);
    timeval tv{2, 0};  // a test that goes wrong fails instead of hanging
    REQUIRE(::setsockopt(fds[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
  }
  void reply(const Bytes& dg) const { REQUIRE(::send(kernel.get(), dg.data(), dg.size(), 0) == ssize_t(dg.size())); }
  Bytes read_request() const {
    Bytes b(65536);
    const ssize_t n = ::recv(kernel.get(), b.data(), b.size(), MSG_DONTWAIT);
    REQUIRE(n >= 0);
    b.resize(static_cast<size_t>(n));
    return b;
  }
};

}  // namespace

TEST_CASE("netlink socket: a dump over several datagrams, with leftovers of an earlier exchange") {
  Pair p;
  const uint32_t seq = p.sock.next_seq();
  CHECK(seq == 101);
  const Bytes req = request(seq, NLM_F_REQUEST | NLM_F_DUMP);
  // The stale datagram first: what a timed-out earlier exchange left behind.
  Bytes stale, d1, d2;
  message(stale, kData, NLM_F_MULTI, seq - 1, 42, Bytes(8, 0));
  message(stale, NLMSG_DONE, NLM_F_MULTI, seq - 1, 42, int_payload(0));
  message(d1, kData, NLM_F_MULTI, seq, 42, Bytes(8, 0));
  message(d1, kData, NLM_F_MULTI, seq, 42, Bytes(8, 0));
  message(d2, kData, NLM_F_MULTI, seq, 42, Bytes(8, 0));
  message(d2, NLMSG_DONE, NLM_F_MULTI, seq, 42, int_payload(0));
  p.reply(stale);
  p.reply(d1);
  p.reply(d2);
  Seen seen;
  auto r = p.sock.exchange(req, seen.fn(), "list");
  REQUIRE(r.has_value());
  CHECK(r->done);
  CHECK(seen.msgs.size() == 3);
  for (auto& [type, s] : seen.msgs) CHECK(s == seq);
  CHECK(p.read_request() == req);  // sent unchanged, as one datagram
}

TEST_CASE("netlink socket: errors carry the socket's name, the operation and the errno") {
  Pair p;
  const uint32_t seq = p.sock.next_seq();
  Bytes err;
  message(err, NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, seq, 42,
          error_payload(-EEXIST, Bytes(sizeof(nlmsghdr), 0), "File exists here"));
  p.reply(err);
  auto st = p.sock.request(request(seq), "add thing");
  REQUIRE_FALSE(st.has_value());
  CHECK(st.error().sys_errno == EEXIST);
  CHECK(st.error().message == "test: add thing: " + std::string(std::strerror(EEXIST)) + " (File exists here)");
}

TEST_CASE("netlink socket: no reply is ETIMEDOUT, a closed peer ECONNRESET, an oversized reply EMSGSIZE") {
  {
    Pair p;
    timeval tv{0, 50 * 1000};
    REQUIRE(::setsockopt(p.sock.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    auto st = p.sock.request(request(p.sock.next_seq()), "wait");
    REQUIRE_FALSE(st.has_value());
    CHECK(st.error().sys_errno == ETIMEDOUT);
  }
  {
    Pair p;
    p.kernel.reset();
    auto st = p.sock.receive(1, {}, "wait");
    REQUIRE_FALSE(st.has_value());
    CHECK(st.error().sys_errno == ECONNRESET);
  }
  {
    Pair p;
    const uint32_t seq = p.sock.next_seq();
    Bytes big;
    message(big, kData, 0, seq, 0, Bytes(netlink::kReceiveBufSize, 0));
    int sz = 4 * static_cast<int>(netlink::kReceiveBufSize);
    REQUIRE(::setsockopt(p.kernel.get(), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) == 0);
    p.reply(big);
    auto st = p.sock.receive(seq, {}, "dump");
    REQUIRE_FALSE(st.has_value());
    CHECK(st.error().sys_errno == EMSGSIZE);
  }
  {
    Pair p;
    auto st = p.sock.send(Bytes(8, 0), "tiny");
    REQUIRE_FALSE(st.has_value());
  }
}

TEST_CASE("netlink socket: a kernel socket is close-on-exec and its dump replies pass the checks") {
  // NETLINK_ROUTE link dumps need no privilege.
  auto s = netlink::Socket::open(NETLINK_ROUTE, "rtnl");
  REQUIRE(s.has_value());
  const int flags = ::fcntl(s->fd(), F_GETFD);
  REQUIRE(flags >= 0);
  CHECK((flags & FD_CLOEXEC) != 0);
  CHECK(s->portid() != 0);
  Bytes req = request(s->next_seq(), NLM_F_REQUEST | NLM_F_DUMP);
  size_t links = 0;
  auto r = s->exchange(req, [&](const nlmsghdr* h) {
    if (h->nlmsg_type == RTM_NEWLINK) ++links;
    return ok();
  }, "list links");
  REQUIRE(r.has_value());
  CHECK(r->done);
  CHECK(links >= 1);  // lo, in any network namespace
}
