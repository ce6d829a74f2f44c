// Real kernel, private network namespace: links, addresses, routes (v4 + v6) in table 10101,
// rules, idempotency of every add/delete, cross-checked against iproute2's view.
#include "base/process.hpp"
#include "netns_guard.hpp"
#include "rtnl/internal.hpp"
#include "rtnl/rtnl.hpp"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace cats;
using namespace cats::rtnl;

namespace {

constexpr const char* kLink = "trt0";
constexpr uint32_t kTable = 10101;

Prefix pfx(const char* s) { return *parse_prefix(s); }
IpAddress addr(const char* s) { return *parse_address(s); }

// Single-interface kinds the test can use; CONFIG_DUMMY is missing on some kernels.
std::string create_test_link(Rtnl& nl, const std::string& name) {
  for (const char* kind : {"dummy", "ifb", "bridge"}) {
    auto st = nl.create_link(name, kind);
    if (st) return kind;
    if (st.error().sys_errno != EOPNOTSUPP) FAIL(st.error().message);
  }
  FAIL("no usable link kind (dummy, ifb, bridge)");
  return {};
}

std::string run(const std::vector<std::string>& argv) {
  auto out = run_command(argv);
  REQUIRE(out.has_value());
  INFO(out->output);
  REQUIRE(out->exit_status == 0);
  return out->output;
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) ++n;
  return n;
}

template <class T, class Pred>
size_t count_if(const std::vector<T>& v, Pred p) {
  return static_cast<size_t>(std::count_if(v.begin(), v.end(), p));
}

Rule mark_rule(int family) {
  Rule r;
  r.family = family;
  r.priority = kTable;
  r.table = kTable;
  r.fwmark = 0x00f10000;
  r.fwmask = slice::kPathMask;
  return r;
}

}  // namespace

TEST_CASE("rtnl against the kernel in a private netns", "[lab][rtnl]") {
  test::PrivateNetns ns;
  INFO(ns.error());
  REQUIRE(ns.ok());
  auto opened = Rtnl::open();
  REQUIRE(opened.has_value());
  Rtnl nl = std::move(*opened);

  SECTION("links, addresses, routes, rules: add twice, list, delete twice") {
    // --- link ---
    const std::string kind = create_test_link(nl, kLink);
    REQUIRE(nl.create_link(kLink, kind).has_value());  // EEXIST with the same kind is fine
    auto other_kind = nl.create_link(kLink, kind == "bridge" ? "ifb" : "bridge");
    CHECK_FALSE(other_kind.has_value());  // same name, different kind: a conflict, not success
    REQUIRE(nl.set_mtu(kLink, 1400).has_value());
    REQUIRE(nl.set_link_up(kLink, true).has_value());
    auto got = nl.link(kLink);
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    const Link link = **got;
    CHECK(link.kind == kind);
    CHECK(link.up);
    CHECK(link.mtu == 1400);
    auto all = nl.links();
    REQUIRE(all.has_value());
    CHECK(count_if(*all, [&](const Link& l) { return l.name == kLink && l.index == link.index; }) == 1);
    auto absent = nl.link("trt-none");
    REQUIRE(absent.has_value());
    CHECK_FALSE(absent->has_value());

    // --- addresses ---
    const Prefix a4 = pfx("10.1.0.1/24");
    const Prefix a6 = pfx("2001:db8:1::1/64");
    for (int i = 0; i < 2; ++i) {
      REQUIRE(nl.add_address(link.index, a4).has_value());
      REQUIRE(nl.add_address(link.index, a6).has_value());
    }
    auto addrs = nl.addresses(link.index);
    REQUIRE(addrs.has_value());
    CHECK(count_if(*addrs, [&](const AddressEntry& e) { return e.prefix == a4; }) == 1);
    CHECK(count_if(*addrs, [&](const AddressEntry& e) { return e.prefix == a6; }) == 1);

    // --- routes: second add is a no-op (NLM_F_REPLACE), IPv4 and IPv6 ---
    Route r4;
    r4.table = kTable;
    r4.dst = pfx("10.2.0.0/16");
    r4.gateway = addr("10.1.0.2");
    r4.oif = link.index;
    Route r6;
    r6.table = kTable;
    r6.dst = pfx("2001:db8:2::/48");
    r6.oif = link.index;
    for (int i = 0; i < 2; ++i) {
      auto st4 = nl.add_route(r4);
      INFO((st4 ? std::string() : st4.error().message));
      REQUIRE(st4.has_value());
      auto st6 = nl.add_route(r6);
      INFO((st6 ? std::string() : st6.error().message));
      REQUIRE(st6.has_value());
    }
    auto v4 = nl.routes(AF_INET, kTable);
    REQUIRE(v4.has_value());
    REQUIRE(v4->size() == 1);
    CHECK(v4->front().dst == r4.dst);
    CHECK(v4->front().gateway == r4.gateway);
    CHECK(v4->front().oif == link.index);
    CHECK(v4->front().table == kTable);
    CHECK(v4->front().protocol == kRouteProtocol);
    auto v6 = nl.routes(AF_INET6, kTable);
    REQUIRE(v6.has_value());
    REQUIRE(v6->size() == 1);
    CHECK(v6->front().dst == r6.dst);
    CHECK(v6->front().oif == link.index);
    CHECK(v6->front().protocol == kRouteProtocol);
    auto main_routes = nl.routes(AF_INET, 254);
    REQUIRE(main_routes.has_value());
    CHECK(count_if(*main_routes, [&](const Route& r) { return r.dst == pfx("10.1.0.0/24"); }) == 1);

    const std::string ip4 = run({"ip", "-d", "route", "show", "table", "10101"});
    CHECK(count(ip4, "10.2.0.0/16 via 10.1.0.2 dev trt0 proto 201") == 1);
    const std::string ip6 = run({"ip", "-6", "-d", "route", "show", "table", "10101"});
    CHECK(count(ip6, "2001:db8:2::/48 dev trt0 proto 201") == 1);

    // A table outside our slice is refused before anything reaches the kernel.
    Route foreign = r4;
    foreign.table = 254;
    CHECK_FALSE(nl.add_route(foreign).has_value());

    // --- rules: the kernel would accept duplicates; add_rule must not create one ---
    for (int i = 0; i < 2; ++i) {
      REQUIRE(nl.add_rule(mark_rule(AF_INET)).has_value());
      REQUIRE(nl.add_rule(mark_rule(AF_INET6)).has_value());
    }
    for (int family : {AF_INET, AF_INET6}) {
      auto rules = nl.rules(family);
      REQUIRE(rules.has_value());
      CHECK(count_if(*rules, [&](const Rule& r) { return detail::same_rule(r, mark_rule(family)); }) == 1);
      CHECK(count_if(*rules, [&](const Rule& r) { return r.priority == kTable; }) == 1);
    }
    const std::string iprule = run({"ip", "rule", "show"});
    INFO(iprule);
    CHECK(count(iprule, "10101:\tfrom all fwmark 0xf10000/0xff0000 lookup 10101 proto 201") == 1);

    // --- delete everything twice: second round finds nothing and still succeeds ---
    for (int i = 0; i < 2; ++i) {
      auto d4 = nl.del_route(r4);
      INFO((d4 ? std::string() : d4.error().message));
      CHECK(d4.has_value());
      CHECK(nl.del_route(r6).has_value());
      CHECK(nl.del_rule(mark_rule(AF_INET)).has_value());
      CHECK(nl.del_rule(mark_rule(AF_INET6)).has_value());
      CHECK(nl.del_address(link.index, a4).has_value());
      CHECK(nl.del_address(link.index, a6).has_value());
    }
    v4 = nl.routes(AF_INET, kTable);
    REQUIRE(v4.has_value());
    CHECK(v4->empty());
    v6 = nl.routes(AF_INET6, kTable);
    REQUIRE(v6.has_value());
    CHECK(v6->empty());
    auto rules = nl.rules(AF_INET);
    REQUIRE(rules.has_value());
    CHECK(count_if(*rules, [&](const Rule& r) { return r.priority == kTable; }) == 0);
    addrs = nl.addresses(link.index);
    REQUIRE(addrs.has_value());
    CHECK(count_if(*addrs, [&](const AddressEntry& e) { return e.prefix == a4 || e.prefix == a6; }) == 0);

    REQUIRE(nl.set_link_up(kLink, false).has_value());
    got = nl.link(kLink);
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK_FALSE((*got)->up);
    CHECK(nl.delete_link(kLink).has_value());
    CHECK(nl.delete_link(kLink).has_value());
    got = nl.link(kLink);
    REQUIRE(got.has_value());
    CHECK_FALSE(got->has_value());
  }

  SECTION("move a link to another namespace") {
    // A second private namespace, kept alive by its fd only.
    UniqueFd target;
    {
      test::PrivateNetns inner;
      REQUIRE(inner.ok());
      target.reset(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
    }
    REQUIRE(target);
    create_test_link(nl, kLink);
    REQUIRE(nl.move_link_to_netns(kLink, target.get()).has_value());
    auto got = nl.link(kLink);
    REQUIRE(got.has_value());
    CHECK_FALSE(got->has_value());
  }

  SECTION("errors carry errno and context") {
    auto st = nl.set_link_up("trt-none", true);
    REQUIRE_FALSE(st.has_value());
    CHECK(st.error().sys_errno == ENODEV);
    CHECK(st.error().message.find("trt-none") != std::string::npos);
  }
}
