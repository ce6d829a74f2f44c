// Issue 14, first defect: a UDP socket bound to a tunnel with SO_BINDTODEVICE keeps the
// interface's old index, so after the tunnel is deleted and created again every send
// fails with ENODEV for good. The CPE's desired-interval sender cached such a socket.
// This test re-creates the interface in a private network namespace (a veth pair stands
// in for the tunnel: what matters is the index changing under the same name) and shows
// that a cached socket stays broken while TunnelUdpSocket follows.
//
// Needs CAP_SYS_ADMIN for unshare(CLONE_NEWNET) and the `ip` tool; without them it says
// so and checks nothing.
#include "tunsock/tunnel_socket.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>

#include <cstdlib>
#include <string>
#include <thread>

using namespace cats;

namespace {

bool sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

bool make_link() {
  return sh("ip link add tun0 type veth peer name tun0p") && sh("ip addr add 10.77.0.1/24 dev tun0") &&
         sh("ip link set tun0 up") && sh("ip link set tun0p up");
}

struct Outcome {
  bool ran = false;
  std::string why;
  bool first_ok = false, cached_after = true, helper_after = false;
  int cached_errno = 0;
  uint64_t reopens = 0;
};

}  // namespace

TEST_CASE("tunnel socket: follows a re-created interface; a cached socket does not") {
  Outcome o;
  // A thread of its own: unshare(CLONE_NEWNET) moves only the calling thread, and the
  // `ip` commands it runs inherit its namespace.
  std::thread t([&o] {
    if (::unshare(CLONE_NEWNET) != 0) {
      o.why = "unshare(CLONE_NEWNET) not permitted";
      return;
    }
    if (!sh("ip link set lo up") || !make_link()) {
      o.why = "cannot create a veth pair with ip(8)";
      return;
    }
    o.ran = true;
    boost::asio::io_context io;
    const auto local = boost::asio::ip::make_address("10.77.0.1");
    const UdpEndpoint dst(boost::asio::ip::make_address("10.77.0.2"), 9);
    const std::vector<uint8_t> msg{1, 2, 3};
    tunsock::TunnelUdpSocket helper(io, {"tun0", local, std::nullopt});
    tunsock::TunnelUdpSocket cached(io, {"tun0", local, std::nullopt});
    o.first_ok = helper.send(msg, dst).has_value() && cached.open().has_value();

    sh("ip link del tun0");
    make_link();

    // What cnma.cpp did: keep the socket and send on it.
    boost::system::error_code ec;
    cached.socket().send_to(boost::asio::buffer(msg), dst, 0, ec);
    o.cached_after = !ec;
    o.cached_errno = ec.value();
    o.helper_after = helper.send(msg, dst).has_value();
    o.reopens = helper.reopens();
  });
  t.join();
  if (!o.ran) {
    WARN("skipped: " << o.why);
    return;
  }
  CHECK(o.first_ok);
  CHECK_FALSE(o.cached_after);  // the defect: the old socket is bound to a dead index
  CHECK(tunsock::device_gone(o.cached_errno));
  CHECK(o.helper_after);
  CHECK(o.reopens == 1);
}

TEST_CASE("tunnel socket: a missing interface is an error, not a crash; close-on-exec is set") {
  boost::asio::io_context io;
  tunsock::TunnelUdpSocket s(io, {"", boost::asio::ip::make_address("127.0.0.1"), std::nullopt});
  REQUIRE(s.open().has_value());
  const int fl = ::fcntl(s.socket().native_handle(), F_GETFD);
  CHECK((fl & FD_CLOEXEC) != 0);
  const auto g = s.generation();
  s.close();
  CHECK(s.generation() != g);
  tunsock::TunnelUdpSocket bad(io, {"cats-nonexist0", boost::asio::ip::make_address("127.0.0.1"), std::nullopt});
  auto st = bad.send(std::vector<uint8_t>{1}, UdpEndpoint(boost::asio::ip::make_address("127.0.0.1"), 9));
  CHECK_FALSE(st.has_value());
  CHECK_FALSE(bad.is_open());
}
