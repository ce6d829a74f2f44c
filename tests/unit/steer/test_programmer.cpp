// steer::Programmer against the kernel, each case in a private network namespace ([lab],
// needs root): idempotent apply, adopt after restart, in-place map updates, table
// replacement on structure change, rule diff within 10801..10815 only, conntrack flush on
// the unreachable transition (once, also across a restart; deferred while the service has
// no other drawn candidate), the reject of VIP connections without a candidate, a sticky
// client leaving an unreachable candidate (real TCP), and a hand edit inside the table
// that keeps its comment being repaired (issue 14).
#include "ct/conntrack.hpp"
#include "ct_traffic.hpp"
#include "fixtures.hpp"
#include "netns_guard.hpp"
#include "nft/nft.hpp"
#include "rtnl/rtnl.hpp"
#include "steer/programmer.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

using namespace cats;
using namespace cats::steer;

namespace {

using test::addr;
using test::two_services;

// Kernel handles opened inside the private namespace (declared after it, closed before it).
struct Lab {
  test::PrivateNetns ns;
  std::optional<nft::Nft> nft;
  std::optional<rtnl::Rtnl> rt;
  std::optional<ct::Conntrack> ct;
  Lab() {
    REQUIRE(ns.ok());
    auto n = nft::Nft::open();
    REQUIRE(n.has_value());
    nft.emplace(std::move(*n));
    auto r = rtnl::Rtnl::open();
    REQUIRE(r.has_value());
    rt.emplace(std::move(*r));
    auto c = ct::Conntrack::open();
    REQUIRE(c.has_value());
    ct.emplace(std::move(*c));
  }
  Programmer programmer() { return Programmer(*nft, *rt, *ct); }
  std::string list(const std::string& what) {
    auto l = nft->query("list " + what);
    REQUIRE(l.has_value());
    return *l;
  }
};

std::vector<std::string> apply_ok(Programmer& p, const State& s) {
  auto r = p.apply(s);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.has_value());
  return r->actions;
}

// What adopt reads back; nullopt when the live table is not of `structure`'s structure.
std::optional<State> adopt_ok(Programmer& p, const State& structure) {
  auto r = p.adopt(structure);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.has_value());
  return *r;
}

std::string fp_line(const State& s) { return "replace table inet cats (cats:" + structure_fingerprint(s) + ")"; }

}  // namespace

TEST_CASE("programmer: apply is idempotent, updates maps in place, adopt reads them back", "[steer][lab]") {
  Lab lab;
  auto prog = lab.programmer();
  const State s = two_services();
  CHECK(apply_ok(prog, s) == std::vector<std::string>{
                                 "add rule ipv4 prio 10801 fwmark 0x00010000/0x00ff0000 table 10101 proto 201",
                                 "add rule ipv4 prio 10802 fwmark 0x00020000/0x00ff0000 table 10102 proto 201",
                                 fp_line(s)});
  CHECK(apply_ok(prog, s).empty());

  // A sticky client (R16) and the table handle: both must survive a weight change.
  REQUIRE(lab.nft->run("add element inet cats s_web { 192.0.2.7 : 0x02020000 }\n").has_value());
  const std::string web_before = lab.list("map inet cats w_web");
  State w = s;
  w.services[1].candidates[0].weight = 0;
  w.services[1].candidates[1].weight = 600;
  w.services[1].candidates[2].weight = 400;
  CHECK(apply_ok(prog, w) == std::vector<std::string>{"update map w_ar"});
  CHECK(lab.list("map inet cats w_ar").find("elements = { 0-599 : 0x04020000, 600-999 : 0x05020000 }") !=
        std::string::npos);
  CHECK(lab.list("map inet cats w_web") == web_before);
  CHECK(lab.list("map inet cats s_web").find("192.0.2.7") != std::string::npos);
  CHECK(apply_ok(prog, w).empty());

  // Path failover: ar's 10.1.0.7 loses WAN 1, its flows move to the WAN 2 candidate.
  State f = w;
  f.services[1].candidates[0].health = Health::path_down;
  CHECK(apply_ok(prog, f) == std::vector<std::string>{"update map moved"});
  CHECK(lab.list("map inet cats moved").find("elements = { 0x03010000 : 0x04020000 }") != std::string::npos);

  // A restarted daemon: a fresh Programmer adopts the live weights and health, and applying
  // them changes nothing.
  auto fresh = lab.programmer();
  CHECK(adopt_ok(fresh, two_services()) == f);
  CHECK(apply_ok(fresh, f).empty());
  CHECK(lab.list("map inet cats s_web").find("192.0.2.7") != std::string::npos);

  // Reject mode: all of web's weights 0 empties its map, nothing else.
  State z = f;
  for (auto& c : z.services[0].candidates) c.weight = 0;
  CHECK(apply_ok(fresh, z) == std::vector<std::string>{"update map w_web"});
  auto again = lab.programmer();
  CHECK(adopt_ok(again, z) == z);

  // Structure change (web's second instance now over WAN 3): one replacement, new rule;
  // WAN 2's rule stays (ar uses it).
  State moved = z;
  moved.services[0].candidates[1].wan = 3;
  CHECK(apply_ok(fresh, moved) ==
        std::vector<std::string>{"add rule ipv4 prio 10803 fwmark 0x00030000/0x00ff0000 table 10103 proto 201",
                                 fp_line(moved)});
  CHECK(lab.list("table inet cats").find("comment \"cats:" + structure_fingerprint(moved) + "\"") !=
        std::string::npos);
  // The old structure is no longer adoptable.
  auto stale = lab.programmer();
  CHECK_FALSE(adopt_ok(stale, two_services()).has_value());

  // Nothing to steer: the table and our rules go.
  CHECK(apply_ok(fresh, State{}) ==
        std::vector<std::string>{"delete table inet cats",
                                 "delete rule ipv4 prio 10801 fwmark 0x00010000/0x00ff0000 table 10101 proto 201",
                                 "delete rule ipv4 prio 10802 fwmark 0x00020000/0x00ff0000 table 10102 proto 201",
                                 "delete rule ipv4 prio 10803 fwmark 0x00030000/0x00ff0000 table 10103 proto 201"});
  CHECK(apply_ok(fresh, State{}).empty());
}

TEST_CASE("programmer: rules diff stays within 10801..10815", "[steer][lab]") {
  Lab lab;
  auto rule = [](uint32_t prio, uint32_t table, std::optional<uint32_t> mark) {
    rtnl::Rule r;
    r.priority = prio;
    r.table = table;
    r.fwmark = mark;
    if (mark) r.fwmask = kPathMask;
    return r;
  };
  const auto foreign_low = rule(10800, 10100, 0x00010000);
  const auto foreign_high = rule(10900, 10200, std::nullopt);
  const auto stale = rule(10805, 10105, 0x00050000);
  const auto wrong = rule(10801, 10111, 0x00010000);  // our priority, wrong table
  for (auto& r : {foreign_low, foreign_high, stale, wrong}) REQUIRE(lab.rt->add_rule(r).has_value());

  auto prog = lab.programmer();
  const auto actions = apply_ok(prog, two_services());
  CHECK(actions == std::vector<std::string>{
                       "add rule ipv4 prio 10801 fwmark 0x00010000/0x00ff0000 table 10101 proto 201",
                       "add rule ipv4 prio 10802 fwmark 0x00020000/0x00ff0000 table 10102 proto 201",
                       fp_line(two_services()),
                       "delete rule ipv4 prio 10801 fwmark 0x00010000/0x00ff0000 table 10111 proto 201",
                       "delete rule ipv4 prio 10805 fwmark 0x00050000/0x00ff0000 table 10105 proto 201"});
  auto rules = lab.rt->rules(AF_INET);
  REQUIRE(rules.has_value());
  auto has = [&](uint32_t prio, uint32_t table) {
    return std::any_of(rules->begin(), rules->end(), [&](auto& r) { return r.priority == prio && r.table == table; });
  };
  CHECK(has(10800, 10100));
  CHECK(has(10900, 10200));
  CHECK(has(10801, 10101));
  CHECK(has(10802, 10102));
  CHECK_FALSE(has(10801, 10111));
  CHECK_FALSE(has(10805, 10105));
  CHECK(apply_ok(prog, two_services()).empty());
}

TEST_CASE("programmer: an unreachable candidate's flows are flushed once, others kept", "[steer][lab]") {
  Lab lab;
  REQUIRE(test::loopback_up());
  constexpr uint32_t kAr3 = 0x05020000, kWeb1 = 0x01010000, kMask = 0xffff0000;
  // A foreign table marks loopback UDP like flows steered to ar candidate 3 / web candidate 1.
  REQUIRE(test::install_ct_marker(*lab.nft, {{5001, kAr3}, {5002, kWeb1}}).has_value());
  REQUIRE(test::send_udp_flows(AF_INET, 5001, 3) == 3);
  REQUIRE(test::send_udp_flows(AF_INET, 5002, 2) == 2);
  auto count = [&](uint32_t mark) {
    auto n = lab.ct->count_by_mark(AF_INET, mark, kMask);
    REQUIRE(n.has_value());
    return *n;
  };
  REQUIRE(count(kAr3) == 3);

  auto prog = lab.programmer();
  apply_ok(prog, two_services());
  CHECK(count(kAr3) == 3);  // healthy: untouched

  State down = two_services();
  auto& ar = down.services[1].candidates;
  ar[0].weight = 500;
  ar[1].weight = 500;
  ar[2].weight = 0;
  ar[2].health = Health::unreachable;
  CHECK(apply_ok(prog, down) == std::vector<std::string>{"update map w_ar", "update set dead",
                                                          "flush ct mark 0x05020000/0xffff0000 ipv4 (service ar candidate 3)"});
  CHECK(count(kAr3) == 0);
  CHECK(count(kWeb1) == 2);
  CHECK(lab.list("set inet cats dead").find("elements = { 0x05020000 }") != std::string::npos);

  // Only on the transition: still unreachable changes nothing, new flows stay.
  REQUIRE(test::send_udp_flows(AF_INET, 5001, 1) == 1);
  CHECK(apply_ok(prog, down).empty());
  CHECK(count(kAr3) == 1);

  // A restarted daemon adopts the candidate as unreachable (from the dead set) and does
  // not flush it again.
  auto restarted = lab.programmer();
  CHECK(adopt_ok(restarted, two_services()) == down);
  CHECK(apply_ok(restarted, down).empty());
  CHECK(count(kAr3) == 1);

  // A Programmer without history (first apply) flushes what is already unreachable.
  auto fresh = lab.programmer();
  CHECK(apply_ok(fresh, down) ==
        std::vector<std::string>{"flush ct mark 0x05020000/0xffff0000 ipv4 (service ar candidate 3)"});
  CHECK(count(kAr3) == 0);
  CHECK(count(kWeb1) == 2);
  (void)lab.nft->delete_table("inet", "cats_cttest");
}

namespace {

// Non-blocking TCP connect from `fd` to ip:port; the errno it ends with (0 = connected),
// or ETIMEDOUT after `ms`.
int connect_result(int fd, const char* ip, uint16_t port, int ms) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, ms) == 0) return ETIMEDOUT;
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err;
}

// A LAN client: veth vr (192.0.2.1, in the Lab's "router" namespace) <-> vc (192.0.2.2) in
// a client namespace of its own, default route via the router. Returns `n` TCP sockets
// created in the client namespace (sockets belong to the namespace they are created in);
// the thread is back in the router namespace. No REQUIRE while in the client namespace.
std::vector<UniqueFd> lan_client_sockets(Lab& lab, size_t n) {
  REQUIRE(std::system("ip link add vr type veth peer name vc && ip link set vr up && "
                      "ip addr add 192.0.2.1/24 dev vr") == 0);
  UniqueFd router(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  REQUIRE(router.get() >= 0);
  REQUIRE(::unshare(CLONE_NEWNET) == 0);
  UniqueFd client(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  REQUIRE(::setns(router.get(), CLONE_NEWNET) == 0);
  REQUIRE(client.get() >= 0);
  REQUIRE(lab.rt->move_link_to_netns("vc", client.get()).has_value());
  REQUIRE(::setns(client.get(), CLONE_NEWNET) == 0);
  const int setup = std::system("ip link set vc up && ip addr add 192.0.2.2/24 dev vc && "
                                "ip route add default via 192.0.2.1");
  std::vector<UniqueFd> socks;
  for (size_t k = 0; k < n; ++k) socks.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(::setns(router.get(), CLONE_NEWNET) == 0);
  REQUIRE(setup == 0);
  for (auto& fd : socks) REQUIRE(fd.get() >= 0);
  return socks;
}

// A non-blocking TCP listener on ip:port in the current namespace.
UniqueFd listener(const char* ip, uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  REQUIRE(fd.get() >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &a.sin_addr);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd.get(), 8) == 0);
  return fd;
}

// Index of the one listener that has a connection to accept (accepting it), -1 for none
// within a second, -2 for more than one.
int accepted_by(const std::vector<UniqueFd*>& ls) {
  std::vector<pollfd> ps;
  for (auto* l : ls) ps.push_back({l->get(), POLLIN, 0});
  // The client's connect completes on the SYN-ACK; the final ACK may still be on its way.
  if (::poll(ps.data(), ps.size(), 1000) <= 0) return -1;
  // The bounded wait is the assertion that no second listener gets the connection: the
  // kernel has no clock to inject and nothing to wait on for "did not happen". 50 ms is
  // hundreds of loopback round trips between the namespaces, and short.
  ::usleep(50'000);
  int which = -1;
  for (size_t k = 0; k < ls.size(); ++k) {
    UniqueFd c(::accept4(ls[k]->get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (c.get() >= 0) which = which == -1 ? static_cast<int>(k) : -2;
  }
  return which;
}

}  // namespace

TEST_CASE("programmer: a flow with nowhere else to go is not cut; its flush waits for an alternative",
          "[steer][lab]") {
  Lab lab;
  REQUIRE(test::loopback_up());
  constexpr uint32_t kWeb1 = 0x01010000, kMask = 0xffff0000;
  REQUIRE(test::install_ct_marker(*lab.nft, {{5003, kWeb1}}).has_value());
  REQUIRE(test::send_udp_flows(AF_INET, 5003, 2) == 2);
  auto count = [&] {
    auto n = lab.ct->count_by_mark(AF_INET, kWeb1, kMask);
    REQUIRE(n.has_value());
    return *n;
  };
  auto flushes = [](const std::vector<std::string>& actions) {
    return std::count_if(actions.begin(), actions.end(), [](auto& a) { return a.rfind("flush ct", 0) == 0; });
  };
  State s = two_services();
  auto& web = s.services[0].candidates;
  web[0].weight = 1000;  // the only drawn candidate
  web[1].weight = 0;     // reachable but not drawn (excluded, e.g. by its SLA)
  auto prog = lab.programmer();
  apply_ok(prog, s);

  // Its only drawn candidate unreachable: a late health check or a vCPE restart looks
  // like this at first. No flush; the flows survive a recovery.
  State alone = s;
  alone.services[0].candidates[0].weight = 0;
  alone.services[0].candidates[0].health = Health::unreachable;
  CHECK(flushes(apply_ok(prog, alone)) == 0);
  CHECK(count() == 2);
  CHECK(flushes(apply_ok(prog, s)) == 0);
  CHECK(count() == 2);

  // Unreachable again, still alone; then the other candidate is drawn: the pending flush
  // happens on that apply, once.
  CHECK(flushes(apply_ok(prog, alone)) == 0);
  CHECK(count() == 2);
  State moved = alone;
  moved.services[0].candidates[1].weight = 1000;
  const auto acts = apply_ok(prog, moved);
  CHECK(std::find(acts.begin(), acts.end(), "flush ct mark 0x01010000/0xffff0000 ipv4 (service web candidate 1)") !=
        acts.end());
  CHECK(flushes(acts) == 1);
  CHECK(count() == 0);
  REQUIRE(test::send_udp_flows(AF_INET, 5003, 1) == 1);
  CHECK(flushes(apply_ok(prog, moved)) == 0);
  CHECK(count() == 1);
  (void)lab.nft->delete_table("inet", "cats_cttest");
}

TEST_CASE("programmer: a VIP with all weights 0 refuses TCP at once (RST)", "[steer][lab]") {
  Lab lab;  // the CPE ("router") namespace
  auto socks = lan_client_sockets(lab, 2);
  auto& probe = socks[0];
  auto& conn = socks[1];
  // The VIP's subnet routes out of an ifb (no dummy module here), so an unsteered SYN
  // would be forwarded into the void.
  REQUIRE(std::system("ip link add d0 type ifb && ip link set d0 up && "
                      "ip addr add 100.100.0.1/24 dev d0 && sysctl -qw net.ipv4.ip_forward=1") == 0);

  // Without our table nothing answers: the SYN leaves by the ifb.
  CHECK(connect_result(probe.get(), "100.100.0.10", 443, 300) == ETIMEDOUT);

  State s;
  Service web;
  web.id = "web";
  web.vip = addr("100.100.0.10");
  web.ports = {443};
  web.candidates = {{addr("10.1.0.5"), 8080, 1, 0}, {addr("10.2.0.5"), 8080, 2, 0}};
  s.services = {web};
  auto prog = lab.programmer();
  apply_ok(prog, s);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(connect_result(conn.get(), "100.100.0.10", 443, 2000) == ECONNREFUSED);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(500));
}

TEST_CASE("programmer: a sticky client of an unreachable candidate is drawn anew", "[steer][lab]") {
  Lab lab;  // the CPE ("router") namespace, which also hosts both instances' listeners
  REQUIRE(test::loopback_up());
  auto socks = lan_client_sockets(lab, 4);
  // The instances are local addresses of the router: DNAT to them is local delivery.
  REQUIRE(std::system("ip addr add 10.1.0.5/32 dev vr && ip addr add 10.2.0.5/32 dev vr") == 0);
  UniqueFd la = listener("10.1.0.5", 8080), lb = listener("10.2.0.5", 8080);
  const std::vector<UniqueFd*> ls{&la, &lb};
  constexpr uint32_t kA = 0x01010000, kB = 0x02020000, kMask = 0xffff0000;

  State s;
  Service web;
  web.id = "web";
  web.vip = addr("100.100.0.10");
  web.ports = {443};
  web.sticky_timeout_s = 300;
  web.candidates = {{addr("10.1.0.5"), 8080, 1, 1000}, {addr("10.2.0.5"), 8080, 2, 0}};
  s.services = {web};
  auto prog = lab.programmer();
  apply_ok(prog, s);
  auto sticky = [&] { return lab.list("map inet cats s_web"); };
  auto connect_vip = [&](size_t k) { return connect_result(socks[k].get(), "100.100.0.10", 443, 2000); };

  // First connection: only A can be drawn; the client is remembered with A's mark.
  REQUIRE(connect_vip(0) == 0);
  CHECK(accepted_by(ls) == 0);
  CHECK(sticky().find(": 0x01010000") != std::string::npos);

  // A drained (weight 0, still ok): the client sticks to A (R16).
  State drained = s;
  drained.services[0].candidates[0].weight = 0;
  drained.services[0].candidates[1].weight = 1000;
  CHECK(apply_ok(prog, drained) == std::vector<std::string>{"update map w_web"});
  REQUIRE(connect_vip(1) == 0);
  CHECK(accepted_by(ls) == 0);

  // A unreachable (its listener still answers, so only steering can keep the client off
  // it): the client's next connection is drawn anew, lands on B, and the sticky entry is
  // overwritten with B's mark at once, long before its 300 s timeout.
  State down = drained;
  down.services[0].candidates[0].health = Health::unreachable;
  CHECK(apply_ok(prog, down) ==
        std::vector<std::string>{"update set dead", "flush ct mark 0x01010000/0xffff0000 ipv4 (service web candidate 1)"});
  REQUIRE(connect_vip(2) == 0);
  CHECK(accepted_by(ls) == 1);
  const std::string after = sticky();
  INFO(after);
  CHECK(after.find("192.0.2.2") != std::string::npos);
  CHECK(after.find(": 0x02020000") != std::string::npos);
  CHECK(after.find(": 0x01010000") == std::string::npos);
  auto on = [&](uint32_t mark) {
    auto n = lab.ct->count_by_mark(AF_INET, mark, kMask);
    REQUIRE(n.has_value());
    return *n;
  };
  CHECK(on(kB) == 1);
  CHECK(on(kA) == 0);

  // A restarted daemon adopts A as unreachable: nothing to change, no second flush; the
  // client now sticks to B.
  auto restarted = lab.programmer();
  CHECK(adopt_ok(restarted, s) == down);
  CHECK(apply_ok(restarted, down).empty());
  REQUIRE(connect_vip(3) == 0);
  CHECK(accepted_by(ls) == 1);
  CHECK(on(kB) == 2);
}

TEST_CASE("programmer: a hand edit inside table inet cats that keeps the comment is repaired", "[steer][lab]") {
  // Issue 14: "same table" was judged by the comment alone, so such an edit stayed.
  Lab lab;
  auto prog = lab.programmer();
  const State s = two_services();
  apply_ok(prog, s);
  const std::string intact = lab.list("table inet cats");
  const std::string repaired = fp_line(s) + ": its rules differ from what we applied";

  // A commit elsewhere moves the generation: the table is compared, found intact, left alone.
  REQUIRE(lab.nft->run("add table inet other\n").has_value());
  CHECK(apply_ok(prog, s).empty());

  // A chain's rules flushed by hand, then a rule added by hand: each is replaced back.
  REQUIRE(lab.nft->run("flush chain inet cats steer_forward\n").has_value());
  REQUIRE(lab.list("table inet cats").find("comment \"cats:") != std::string::npos);
  CHECK(apply_ok(prog, s) == std::vector<std::string>{repaired});
  CHECK(lab.list("table inet cats") == intact);
  CHECK(apply_ok(prog, s).empty());
  REQUIRE(lab.nft->run("insert rule inet cats steer_prerouting meta mark set 0x1\n").has_value());
  CHECK(apply_ok(prog, s) == std::vector<std::string>{repaired});
  CHECK(lab.list("table inet cats") == intact);

  // Elements changed by hand are the dynamic part: only that map is rewritten, as before.
  REQUIRE(lab.nft->run("flush map inet cats w_web\n").has_value());
  CHECK(apply_ok(prog, s) == std::vector<std::string>{"update map w_web"});
  CHECK(lab.list("table inet cats") == intact);
  CHECK(apply_ok(prog, s).empty());

  // A restarted daemon takes the live content as its baseline: it does not replace.
  auto fresh = lab.programmer();
  CHECK(adopt_ok(fresh, two_services()) == s);
  CHECK(apply_ok(fresh, s).empty());
  REQUIRE(lab.nft->run("flush chain inet cats steer_dstnat\n").has_value());
  CHECK(apply_ok(fresh, s) == std::vector<std::string>{repaired});
  CHECK(lab.list("table inet cats") == intact);
}

TEST_CASE("programmer: candidate ids are read back from the table; a removed one waits for its flows", "[steer][lab]") {
  Lab lab;
  REQUIRE(test::loopback_up());
  auto prog = lab.programmer();
  auto assign = [&](const State& s, Programmer& p) {
    auto live = p.live_assignment();
    INFO((live ? std::string() : live.error().message));
    REQUIRE(live.has_value());
    auto r = assign_ids(s, *live, [&](int id) { return p.carried(id); });
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r.has_value());
    return *r;
  };
  // No table yet: nothing kept, positional.
  const State first = assign(two_services(), prog);
  CHECK(candidate_ids(first) == std::vector<std::vector<int>>{{1, 2}, {3, 4, 5}});
  apply_ok(prog, first);

  // web removed: ar keeps its ids, so its structure is unchanged but for web.
  State ar_only;
  ar_only.services = {first.services[1]};
  for (auto& c : ar_only.services[0].candidates) c.id = 0;
  const State removed = assign(ar_only, prog);
  CHECK(candidate_ids(removed) == std::vector<std::vector<int>>{{3, 4, 5}});
  apply_ok(prog, removed);

  // Flows of web's old candidate 1 (mark 0x01010000) outlive its removal.
  REQUIRE(test::install_ct_marker(*lab.nft, {{5002, 0x01010000}}).has_value());
  REQUIRE(test::send_udp_flows(AF_INET, 5002, 2) == 2);
  auto c1 = prog.carried(1);
  REQUIRE(c1.has_value());
  CHECK(*c1);
  CHECK_FALSE(*prog.carried(2));

  // A restarted daemon (a fresh Programmer) re-adding web: ar's ids come from the table,
  // id 1 is quarantined by the flows, 2 is free again.
  auto restarted = lab.programmer();
  const State back = assign(two_services(), restarted);
  CHECK(candidate_ids(back) == std::vector<std::vector<int>>{{2, 6}, {3, 4, 5}});
  apply_ok(restarted, back);
  auto live = restarted.live_assignment();
  REQUIRE(live.has_value());
  CHECK(*live == assignment_of(back));
  // And adopt, given those ids, finds the live structure.
  auto again = lab.programmer();
  CHECK(adopt_ok(again, assign(two_services(), again)).has_value());

  // The flows gone, id 1 is free for the next new candidate.
  REQUIRE(lab.ct->delete_by_mark(AF_INET, 0x01010000, 0xffff0000).has_value());
  State more = two_services();
  Service x = more.services[0];
  x.id = "x";
  x.vip = addr("100.100.0.12");
  x.candidates.resize(1);
  more.services.push_back(x);
  CHECK(candidate_ids(assign(more, again)) == std::vector<std::vector<int>>{{2, 6}, {3, 4, 5}, {1}});
  (void)lab.nft->delete_table("inet", "cats_cttest");
}
