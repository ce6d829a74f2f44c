// Steering desired state: golden nft script, weight-update transaction, ip rules,
// validation (unit); and, in a private network namespace, the real kernel accepting it.
#include "netns_guard.hpp"
#include "nft/nft.hpp"
#include "steer/steer.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace cats;
using namespace cats::steer;

namespace {

IpAddress addr(const char* s) { return *parse_address(s); }

// Two services (DESIGN §2): "web" sticky per client for 300 s (R16), one instance per WAN;
// "ar" per-flow over (instance x path) pairs, one instance reachable over both WANs.
State two_services() {
  State s;
  Service web;
  web.id = "web";
  web.vip = addr("100.100.0.10");
  web.protocol = Protocol::tcp;
  web.ports = {443, 8443};
  web.candidates = {{addr("10.1.0.5"), 8080, 1, 300}, {addr("10.2.0.5"), 8080, 2, 700}};
  web.sticky_timeout_s = 300;
  Service ar;
  ar.id = "ar";
  ar.vip = addr("100.100.0.11");
  ar.protocol = Protocol::udp;
  ar.ports = {4000};
  ar.candidates = {{addr("10.1.0.7"), 9000, 1, 500}, {addr("10.1.0.7"), 9000, 2, 250}, {addr("10.2.0.7"), 9000, 2, 250}};
  s.services = {web, ar};
  return s;
}

std::string error_of(const State& s) {
  auto st = validate(s);
  return st ? std::string("(valid)") : st.error().message;
}

}  // namespace

TEST_CASE("steer: golden script for two services, one sticky", "[steer]") {
  auto p = plan(two_services());
  REQUIRE(p.has_value());
  const std::string body =
      "\tmap w_web {\n"
      "\t\ttypeof numgen random mod 1000 : meta mark\n"
      "\t\tflags interval\n"
      "\t\telements = { 0-299 : 0x01010000, 300-999 : 0x02020000 }\n"
      "\t}\n"
      "\tmap s_web {\n"
      "\t\ttype ipv4_addr : mark\n"
      "\t\tflags dynamic,timeout\n"
      "\t\ttimeout 300s\n"
      "\t}\n"
      "\tmap w_ar {\n"
      "\t\ttypeof numgen random mod 1000 : meta mark\n"
      "\t\tflags interval\n"
      "\t\telements = { 0-499 : 0x03010000, 500-749 : 0x04020000, 750-999 : 0x05020000 }\n"
      "\t}\n"
      "\tmap targets {\n"
      "\t\ttype mark : ipv4_addr . inet_service\n"
      "\t\telements = { 0x01010000 : 10.1.0.5 . 8080, 0x02020000 : 10.2.0.5 . 8080, "
      "0x03010000 : 10.1.0.7 . 9000, 0x04020000 : 10.1.0.7 . 9000, 0x05020000 : 10.2.0.7 . 9000 }\n"
      "\t}\n"
      "\tchain steer_prerouting {\n"
      "\t\ttype filter hook prerouting priority mangle; policy accept;\n"
      "\t\tct state new ip daddr 100.100.0.10 tcp dport { 443, 8443 } ct mark set ip saddr map @s_web\n"
      "\t\tct state new ip daddr 100.100.0.10 tcp dport { 443, 8443 } ct mark and 0xff000000 == 0 "
      "ct mark set numgen random mod 1000 map @w_web\n"
      "\t\tct state new ip daddr 100.100.0.10 tcp dport { 443, 8443 } ct mark and 0xff000000 != 0 "
      "update @s_web { ip saddr : ct mark }\n"
      "\t\tct state new ip daddr 100.100.0.11 udp dport 4000 ct mark set numgen random mod 1000 map @w_ar\n"
      "\t\tct mark and 0xff000000 != 0 meta mark set ct mark and 0xffff0000\n"
      "\t}\n"
      "\tchain steer_dstnat {\n"
      "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
      "\t\tct mark and 0xff000000 != 0 meta nfproto ipv4 meta l4proto { tcp, udp } dnat ip to ct mark map @targets\n"
      "\t}\n";
  CHECK(p->nft_body == body);
  CHECK(p->nft_script == "table inet cats\ndelete table inet cats\ntable inet cats {\n" + body + "}\n");

  // Path bits -> the WAN's overlay table, one rule per WAN in use (DESIGN "Path choice").
  REQUIRE(p->rules.size() == 2);
  CHECK(rule_to_string(p->rules[0]) == "ipv4 prio 10801 fwmark 0x00010000/0x00ff0000 table 10101 proto 201");
  CHECK(rule_to_string(p->rules[1]) == "ipv4 prio 10802 fwmark 0x00020000/0x00ff0000 table 10102 proto 201");
}

TEST_CASE("steer: IPv6 service uses targets6 and ipv6 rules", "[steer]") {
  State s;
  Service v6;
  v6.id = "v6";
  v6.vip = addr("fd64::10");
  v6.ports = {80};
  v6.candidates = {{addr("fd00:3::5"), 80, 3, 1000}};
  s.services = {v6};
  auto p = plan(s);
  REQUIRE(p.has_value());
  CHECK(p->nft_body.find("elements = { 0-999 : 0x01030000 }") != std::string::npos);
  CHECK(p->nft_body.find("type mark : ipv6_addr . inet_service\n\t\telements = { 0x01030000 : fd00:3::5 . 80 }") !=
        std::string::npos);
  CHECK(p->nft_body.find("ct state new ip6 daddr fd64::10 tcp dport 80 ct mark set") != std::string::npos);
  CHECK(p->nft_body.find("dnat ip6 to ct mark map @targets6") != std::string::npos);
  CHECK(p->nft_body.find("map targets {") == std::string::npos);
  REQUIRE(p->rules.size() == 1);
  CHECK(rule_to_string(p->rules[0]) == "ipv6 prio 10803 fwmark 0x00030000/0x00ff0000 table 10103 proto 201");
}

TEST_CASE("steer: empty state renders nothing", "[steer]") {
  auto p = plan(State{});
  REQUIRE(p.has_value());
  CHECK(p->nft_script.empty());
  CHECK(p->rules.empty());
}

TEST_CASE("steer: weight update is flush + add element of the changed maps only", "[steer]") {
  State cur = two_services();
  State next = cur;
  next.services[1].candidates[0].weight = 0;  // drain instance 10.1.0.7 over WAN 1
  next.services[1].candidates[1].weight = 600;
  next.services[1].candidates[2].weight = 400;
  auto up = render_weight_update(cur, next);
  REQUIRE(up.has_value());
  CHECK(*up ==
        "flush map inet cats w_ar\n"
        "add element inet cats w_ar { 0-599 : 0x04020000, 600-999 : 0x05020000 }\n");

  auto same = render_weight_update(cur, cur);
  REQUIRE(same.has_value());
  CHECK(same->empty());

  State moved = cur;
  moved.services[0].candidates[1].wan = 3;
  auto refused = render_weight_update(cur, moved);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().message ==
        "service web candidate 2 changed: not a weights-only change, apply the full script");
}

TEST_CASE("steer: validation errors name the service and the problem", "[steer]") {
  State s = two_services();
  CHECK(error_of(s) == "(valid)");

  State w = s;
  w.services[0].candidates[0].weight = 200;
  CHECK(error_of(w) == "service web: weights sum to 900, must be 1000");

  State wan = s;
  wan.services[1].candidates[2].wan = 16;
  CHECK(error_of(wan) == "service ar: candidate 3 (10.2.0.7): WAN index 16 outside 1..15");
  wan.services[1].candidates[2].wan = 0;
  CHECK(error_of(wan) == "service ar: candidate 3 (10.2.0.7): WAN index 0 outside 1..15");

  State many = s;
  auto& c = many.services[1].candidates;
  c.clear();
  for (int k = 0; k < 65; ++k)
    c.push_back({addr("10.1.0.7"), static_cast<uint16_t>(9000 + k), 1, k == 0 ? 1000u : 0u});
  CHECK(error_of(many) == "service ar: 65 candidates, at most 64");

  State total;
  for (int i = 0; i < 5; ++i) {
    Service sv;
    sv.id = "s" + std::to_string(i);
    sv.vip = addr("100.100.0.20");
    sv.ports = {static_cast<uint16_t>(1000 + i)};
    for (int k = 0; k < 60; ++k)
      sv.candidates.push_back({addr("10.1.0.9"), static_cast<uint16_t>(2000 + k), 1, k == 0 ? 1000u : 0u});
    total.services.push_back(sv);
  }
  CHECK(error_of(total) == "300 candidates in all services, at most 255 (candidate id bits 0xff000000)");

  State bad_id = s;
  bad_id.services[0].id = "Web-1";
  CHECK(error_of(bad_id) == "service \"Web-1\": id must be [a-z][a-z0-9_]*, at most 24 characters");

  State fam = s;
  fam.services[0].candidates[0].address = addr("fd00::1");
  CHECK(error_of(fam) == "service web: candidate 1 (fd00::1): address family differs from the VIP's");

  State dup = s;
  dup.services[1].id = "web";
  CHECK(error_of(dup) == "service web: duplicate id");

  // plan() refuses what validate() refuses.
  CHECK_FALSE(plan(w).has_value());
}

TEST_CASE("steer: the kernel accepts the script, the weight update and a re-apply", "[steer][lab]") {
  test::PrivateNetns ns;
  REQUIRE(ns.ok());
  auto nft = nft::Nft::open();
  REQUIRE(nft.has_value());
  State cur = two_services();
  auto p = plan(cur);
  REQUIRE(p.has_value());
  auto st = nft->run(p->nft_script);
  INFO((st ? std::string() : st.error().message));
  REQUIRE(st.has_value());

  State next = cur;
  next.services[0].candidates[0].weight = 650;
  next.services[0].candidates[1].weight = 350;
  auto up = render_weight_update(cur, next);
  REQUIRE(up.has_value());
  auto st2 = nft->run(*up);
  INFO((st2 ? std::string() : st2.error().message));
  REQUIRE(st2.has_value());
  auto listing = nft->query("list map inet cats w_web");
  REQUIRE(listing.has_value());
  INFO(*listing);
  CHECK(listing->find("elements = { 0-649 : 0x01010000, 650-999 : 0x02020000 }") != std::string::npos);
  // The other service's map is untouched by the update.
  auto ar = nft->query("list map inet cats w_ar");
  REQUIRE(ar.has_value());
  CHECK(ar->find("0-499 : 0x03010000, 500-749 : 0x04020000, 750-999 : 0x05020000") != std::string::npos);

  // Idempotent: the same full script again (create, delete, define in one transaction)
  // is accepted, and it restores the planned weights.
  auto st3 = nft->run(p->nft_script);
  REQUIRE(st3.has_value());
  auto st4 = nft->run(p->nft_script);
  REQUIRE(st4.has_value());
  auto again = nft->query("list map inet cats w_web");
  REQUIRE(again.has_value());
  CHECK(again->find("0-299 : 0x01010000, 300-999 : 0x02020000") != std::string::npos);
  auto table = nft->query("list table inet cats");
  REQUIRE(table.has_value());
  INFO(*table);
  CHECK(table->find("dnat ip to ct mark map @targets") != std::string::npos);
  CHECK(table->find("update @s_web { ip saddr : ct mark }") != std::string::npos);
}
