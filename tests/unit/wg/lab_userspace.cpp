// Lab test (label "lab"): two network namespaces joined by a veth pair, a wireguard-go
// device in each driven through our userspace backend, UDP across the tunnel, then
// get() must show a handshake and traffic. Needs root, ip(8), /dev/net/tun and
// wireguard-go; exits 77 (ctest: skipped) without them. The namespaces and devices are
// removed by an RAII guard whether the test passes or not.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "base/fd.hpp"
#include "base/process.hpp"
#include "wg/wg.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

using namespace cats;
using namespace std::chrono_literals;

namespace {

const std::string kNsA = "twg-a", kNsB = "twg-b";
const std::string kWgA = "twga0", kWgB = "twgb0";
const std::string kUapiDir = "/var/run/wireguard";

// Underlay on the veth pair and overlay inside the tunnel; both exist only inside the
// namespaces this test creates.
const std::string kUnderA = "198.18.250.1", kUnderB = "198.18.250.2";
const std::string kOverA = "100.64.250.1", kOverB = "100.64.250.2";

bool sh(const std::vector<std::string>& argv) {
  auto r = run_command(argv, 10s);
  if (!r) return false;
  if (r->exit_status != 0) {
    std::string cmd;
    for (auto& a : argv) cmd += a + " ";
    std::fprintf(stderr, "lab: '%s' failed (%d): %s", cmd.c_str(), r->exit_status, r->output.c_str());
  }
  return r->exit_status == 0;
}

bool socket_answers(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
}

// Removes everything the test creates. Deleting a namespace is not enough on its own:
// wireguard-go's sockets keep the namespace alive, so delete the WireGuard links first
// (wireguard-go exits when its TUN disappears), then the namespaces.
void cleanup(bool quiet) {
  auto run_quiet = [&](const std::vector<std::string>& argv) {
    if (quiet)
      (void)run_command(argv, 10s);
    else
      sh(argv);
  };
  for (auto [ns, wg] : {std::pair{kNsA, kWgA}, std::pair{kNsB, kWgB}}) {
    struct stat st {};
    if (::stat(("/var/run/netns/" + ns).c_str(), &st) != 0) continue;
    (void)run_command({"ip", "-n", ns, "link", "del", wg}, 10s);  // usually already gone
  }
  for (const auto& wg : {kWgA, kWgB}) {
    std::string path = kUapiDir + "/" + wg + ".sock";
    for (int i = 0; i < 100 && socket_answers(path); ++i) std::this_thread::sleep_for(20ms);
    if (socket_answers(path))
      std::fprintf(stderr, "lab: warning: %s still answers after cleanup\n", path.c_str());
    else
      ::unlink(path.c_str());
  }
  for (const auto& ns : {kNsA, kNsB}) {
    struct stat st {};
    if (::stat(("/var/run/netns/" + ns).c_str(), &st) == 0) run_quiet({"ip", "netns", "del", ns});
  }
}

struct LabGuard {
  LabGuard() { cleanup(true); }  // leftovers of an earlier, killed run
  ~LabGuard() { cleanup(false); }
  LabGuard(const LabGuard&) = delete;
  LabGuard& operator=(const LabGuard&) = delete;
};

// Moves the calling thread into a named namespace for the scope's lifetime. Processes we
// spawn meanwhile (wireguard-go) and sockets we open are created in that namespace.
class NetnsScope {
 public:
  explicit NetnsScope(const std::string& name) : orig_(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
    REQUIRE(orig_);
    UniqueFd target(::open(("/var/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(target);
    REQUIRE(::setns(target.get(), CLONE_NEWNET) == 0);
  }
  ~NetnsScope() {
    if (::setns(orig_.get(), CLONE_NEWNET) != 0) std::abort();  // would poison every later step
  }
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;

 private:
  UniqueFd orig_;
};

void setup_underlay() {
  REQUIRE(sh({"ip", "netns", "add", kNsA}));
  REQUIRE(sh({"ip", "netns", "add", kNsB}));
  REQUIRE(sh({"ip", "link", "add", "twg-va", "netns", kNsA, "type", "veth", "peer", "name", "twg-vb", "netns", kNsB}));
  for (auto [ns, dev, addr] : {std::tuple{kNsA, "twg-va", kUnderA}, std::tuple{kNsB, "twg-vb", kUnderB}}) {
    REQUIRE(sh({"ip", "-n", ns, "link", "set", "lo", "up"}));
    REQUIRE(sh({"ip", "-n", ns, "addr", "add", addr + "/24", "dev", dev}));
    REQUIRE(sh({"ip", "-n", ns, "link", "set", dev, "up"}));
  }
}

wg::DeviceUpdate side_config(const std::string& name, const wg::Key& priv, const wg::Key& peer_pub,
                             const std::string& peer_underlay, const std::string& peer_overlay) {
  wg::DeviceUpdate u;
  u.name = name;
  u.private_key = priv;
  u.listen_port = 51820;
  u.replace_peers = true;
  wg::PeerUpdate p;
  p.public_key = peer_pub;
  p.endpoint = *parse_endpoint(peer_underlay + ":51820");
  p.replace_allowed_ips = true;
  p.allowed_ips = {*parse_prefix(peer_overlay + "/32")};
  u.peers.push_back(p);
  return u;
}

UniqueFd udp_socket(const std::string& bind_addr, uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  REQUIRE(::inet_pton(AF_INET, bind_addr.c_str(), &sin.sin_addr) == 1);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  timeval tv{0, 300'000};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("userspace WireGuard between two namespaces: handshake, traffic, get, list, remove") {
  LabGuard guard;
  setup_underlay();

  auto priv_a = wg::generate_private_key();
  auto priv_b = wg::generate_private_key();
  REQUIRE(priv_a.has_value());
  REQUIRE(priv_b.has_value());
  auto pub_a = *wg::public_from_private(*priv_a);
  auto pub_b = *wg::public_from_private(*priv_b);

  wg::Options opts;
  opts.mode = wg::Options::Mode::automatic;  // no kernel module here: must pick userspace
  std::unique_ptr<wg::Control> ctl;
  {
    NetnsScope in(kNsA);
    auto c = wg::make_control(opts);
    REQUIRE(c.has_value());
    ctl = std::move(*c);
  }
  INFO("backend: " << (ctl->kind() == wg::BackendKind::userspace ? "userspace" : "kernel"));

  for (auto [ns, name, priv, peer_pub, peer_under, peer_over, self_over] :
       {std::tuple{kNsA, kWgA, *priv_a, pub_b, kUnderB, kOverB, kOverA},
        std::tuple{kNsB, kWgB, *priv_b, pub_a, kUnderA, kOverA, kOverB}}) {
    {
      NetnsScope in(ns);
      auto created = ctl->create(name);
      INFO("create " << name << ": " << (created ? "ok" : created.error().message));
      REQUIRE(created.has_value());
      auto set = ctl->set(side_config(name, priv, peer_pub, peer_under, peer_over));
      INFO("set " << name << ": " << (set ? "ok" : set.error().message));
      REQUIRE(set.has_value());
    }
    REQUIRE(sh({"ip", "-n", ns, "addr", "add", self_over + "/30", "dev", name}));
    REQUIRE(sh({"ip", "-n", ns, "link", "set", name, "up"}));
  }

  // UDP from A's overlay address to B's, through the tunnel. The first datagram triggers
  // the handshake; retry a few times in case it is dropped meanwhile.
  UniqueFd rx, tx;
  {
    NetnsScope in(kNsB);
    rx = udp_socket(kOverB, 9000);
  }
  {
    NetnsScope in(kNsA);
    tx = udp_socket(kOverA, 9001);
  }
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(9000);
  ::inet_pton(AF_INET, kOverB.c_str(), &dst.sin_addr);
  bool received = false;
  for (int attempt = 0; attempt < 20 && !received; ++attempt) {
    const char msg[] = "cats-wg-lab";
    ::sendto(tx.get(), msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
    char buf[64];
    ssize_t n = ::recv(rx.get(), buf, sizeof buf, 0);
    received = n == static_cast<ssize_t>(sizeof msg) && std::memcmp(buf, msg, sizeof msg) == 0;
  }
  CHECK(received);

  {
    NetnsScope in(kNsA);
    auto dev = ctl->get(kWgA);
    REQUIRE(dev.has_value());
    CHECK(dev->name == kWgA);
    CHECK(dev->ifindex > 0);
    CHECK(dev->listen_port == 51820);
    REQUIRE(dev->public_key.has_value());
    CHECK(*dev->public_key == pub_a);
    REQUIRE(dev->peers.size() == 1);
    const auto& p = dev->peers[0];
    CHECK(p.public_key == pub_b);
    CHECK(p.last_handshake_unix_ns > 0);
    CHECK(p.tx_bytes > 0);
    CHECK(p.rx_bytes > 0);
    REQUIRE(p.endpoint.has_value());
    CHECK(endpoint_to_string(*p.endpoint) == kUnderB + ":51820");
    REQUIRE(p.allowed_ips.size() == 1);
    CHECK(p.allowed_ips[0].to_string() == kOverB + "/32");

    // The UAPI directory is shared by all namespaces; list() shows only ours.
    auto names = ctl->list();
    REQUIRE(names.has_value());
    CHECK(contains(*names, kWgA));
    CHECK_FALSE(contains(*names, kWgB));

    // Errors come back as errors: a set for a device that has no UAPI socket.
    wg::DeviceUpdate bogus;
    bogus.name = "twgnone0";
    CHECK_FALSE(ctl->set(bogus).has_value());

    // B's socket answers from here (shared directory) but B's link is not in this
    // namespace: get() must not report B's device as if it were local, and create()
    // must not adopt it.
    auto other = ctl->get(kWgB);
    REQUIRE_FALSE(other.has_value());
    CHECK(other.error().sys_errno == ENODEV);
    auto clash = ctl->create(kWgB);
    REQUIRE_FALSE(clash.has_value());
    CHECK(clash.error().sys_errno == EADDRINUSE);

    // An update the daemon rejects comes back with its errno: moving the listen port onto
    // a port already bound in this namespace gives errno=-98 (EADDRINUSE).
    UniqueFd blocker = udp_socket("0.0.0.0", 51999);
    wg::DeviceUpdate port;
    port.name = kWgA;
    port.listen_port = 51999;
    auto moved = ctl->set(port);
    REQUIRE_FALSE(moved.has_value());
    CHECK(moved.error().sys_errno == EADDRINUSE);
  }

  {
    // create() on a running device adopts it (our daemon restarting) and keeps its config.
    NetnsScope in(kNsB);
    REQUIRE(ctl->create(kWgB).has_value());
    auto dev = ctl->get(kWgB);
    REQUIRE(dev.has_value());
    CHECK(dev->peers.size() == 1);
  }

  {
    NetnsScope in(kNsA);
    auto removed = ctl->remove(kWgA);
    INFO("remove: " << (removed ? "ok" : removed.error().message));
    REQUIRE(removed.has_value());
    CHECK(::if_nametoindex(kWgA.c_str()) == 0);
    auto names = ctl->list();
    REQUIRE(names.has_value());
    CHECK_FALSE(contains(*names, kWgA));
    CHECK_FALSE(socket_answers(kUapiDir + "/" + kWgA + ".sock"));
    CHECK(ctl->remove(kWgA).has_value());  // absent = success
  }
}

int main(int argc, char** argv) {
  if (::geteuid() != 0) {
    std::fprintf(stderr, "lab.wg_userspace: needs root, skipped\n");
    return 77;
  }
  if (::access("/dev/net/tun", R_OK | W_OK) != 0) {
    std::fprintf(stderr, "lab.wg_userspace: no /dev/net/tun, skipped\n");
    return 77;
  }
  auto v = run_command({"wireguard-go", "--version"}, 5s);
  auto ipv = run_command({"ip", "-V"}, 5s);
  if (!v || v->exit_status != 0 || !ipv || ipv->exit_status != 0) {
    std::fprintf(stderr, "lab.wg_userspace: wireguard-go or ip(8) missing, skipped\n");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
