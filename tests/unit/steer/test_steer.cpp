// Steering desired state: golden nft script, weight-update transaction, ip rules,
// validation, JSON read-back (unit). The kernel side is in test_programmer.cpp.
#include "fixtures.hpp"
#include "steer/steer.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

using namespace cats;
using namespace cats::steer;

namespace {

using test::addr;
using test::two_services;

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
      "\tset c_web {\n"
      "\t\ttype mark\n"
      "\t\telements = { 0x01010000, 0x02020000 }\n"
      "\t}\n"
      "\tmap w_ar {\n"
      "\t\ttypeof numgen random mod 1000 : meta mark\n"
      "\t\tflags interval\n"
      "\t\telements = { 0-499 : 0x03010000, 500-749 : 0x04020000, 750-999 : 0x05020000 }\n"
      "\t}\n"
      "\tset c_ar {\n"
      "\t\ttype mark\n"
      "\t\telements = { 0x03010000, 0x04020000, 0x05020000 }\n"
      "\t}\n"
      "\tmap targets {\n"
      "\t\ttype mark : ipv4_addr . inet_service\n"
      "\t\telements = { 0x01010000 : 10.1.0.5 . 8080, 0x02020000 : 10.2.0.5 . 8080, "
      "0x03010000 : 10.1.0.7 . 9000, 0x04020000 : 10.1.0.7 . 9000, 0x05020000 : 10.2.0.7 . 9000 }\n"
      "\t}\n"
      "\tmap moved {\n"
      "\t\ttype mark : mark\n"
      "\t}\n"
      "\tset dead {\n"
      "\t\ttype mark\n"
      "\t}\n"
      "\tchain steer_prerouting {\n"
      "\t\ttype filter hook prerouting priority mangle; policy accept;\n"
      "\t\tct state new ip daddr 100.100.0.10 tcp dport { 443, 8443 } ct mark set ip saddr map @s_web\n"
      "\t\tct state new ip daddr 100.100.0.10 tcp dport { 443, 8443 } ct mark @dead "
      "delete @s_web { ip saddr : ct mark } ct mark set 0\n"
      "\t\tct state new ip daddr 100.100.0.10 tcp dport { 443, 8443 } ct mark and 0xff000000 == 0 "
      "ct mark set numgen random mod 1000 map @w_web\n"
      "\t\tct state new ip daddr 100.100.0.10 tcp dport { 443, 8443 } ct mark and 0xff000000 != 0 "
      "update @s_web { ip saddr : ct mark }\n"
      "\t\tct state new ip daddr 100.100.0.11 udp dport 4000 ct mark set numgen random mod 1000 map @w_ar\n"
      "\t\tct mark and 0xff000000 != 0 ct mark set ct mark map @moved\n"
      "\t\tct mark and 0xff000000 != 0 meta mark set ct mark and 0xffff0000\n"
      "\t}\n"
      "\tchain steer_dstnat {\n"
      "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
      "\t\tct mark and 0xff000000 != 0 meta nfproto ipv4 meta l4proto { tcp, udp } dnat ip to ct mark map @targets\n"
      "\t}\n"
      "\tchain steer_forward {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\tct state new ip daddr 100.100.0.10 tcp dport { 443, 8443 } ct mark and 0xff000000 == 0 reject with tcp reset\n"
      "\t\tct state new ip daddr 100.100.0.11 udp dport 4000 ct mark and 0xff000000 == 0 reject\n"
      "\t}\n";
  REQUIRE(p->fingerprint.size() == 16);
  CHECK(p->fingerprint == structure_fingerprint(two_services()));
  CHECK(p->nft_body == "\tcomment \"cats:" + p->fingerprint + "\"\n" + body);
  CHECK(p->nft_script == "table inet cats\ndelete table inet cats\ntable inet cats {\n" + p->nft_body + "}\n");

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

TEST_CASE("steer: dynamic update is flush + add element of the changed maps only", "[steer]") {
  State cur = two_services();
  const Dynamic live = dynamic_of(cur);
  State next = cur;
  next.services[1].candidates[0].weight = 0;  // drain instance 10.1.0.7 over WAN 1
  next.services[1].candidates[1].weight = 600;
  next.services[1].candidates[2].weight = 400;
  CHECK(render_dynamic_update(live, next) ==
        "flush map inet cats w_ar\n"
        "add element inet cats w_ar { 0-599 : 0x04020000, 600-999 : 0x05020000 }\n");
  CHECK(changed_maps(live, next) == std::vector<std::string>{"update map w_ar"});

  // Nothing differs: nothing to send.
  CHECK(render_dynamic_update(live, cur).empty());
  CHECK(changed_maps(live, cur).empty());

  // Reject mode: the map is emptied (no add element for an empty set of elements).
  State reject = cur;
  for (auto& c : reject.services[0].candidates) c.weight = 0;
  CHECK(render_dynamic_update(live, reject) == "flush map inet cats w_web\n");

  // Path failover: ar's instance 10.1.0.7:9000 loses WAN 1; it is still reachable over
  // WAN 2 (candidate 4), so candidate 3's flows move there. Weights move too.
  State failover = cur;
  auto& ar = failover.services[1].candidates;
  ar[0].health = Health::path_down;
  ar[0].weight = 0;
  ar[1].weight = 750;
  CHECK(render_dynamic_update(live, failover) ==
        "flush map inet cats w_ar\n"
        "add element inet cats w_ar { 0-749 : 0x04020000, 750-999 : 0x05020000 }\n"
        "flush map inet cats moved\n"
        "add element inet cats moved { 0x03010000 : 0x04020000 }\n");
  // Back to ok: moved is emptied.
  CHECK(render_dynamic_update(dynamic_of(failover), cur) ==
        "flush map inet cats w_ar\n"
        "add element inet cats w_ar { 0-499 : 0x03010000, 500-749 : 0x04020000, 750-999 : 0x05020000 }\n"
        "flush map inet cats moved\n");
  // Instance failure: web's 10.1.0.5 is down. Its mark goes into the dead set, so a sticky
  // client whose entry names it is drawn anew; the ar map and moved are untouched.
  State dead = cur;
  auto& web = dead.services[0].candidates;
  web[0].health = Health::unreachable;
  web[0].weight = 0;
  web[1].weight = 1000;
  CHECK(dynamic_of(dead).dead == std::set<uint32_t>{0x01010000});
  CHECK(render_dynamic_update(live, dead) ==
        "flush map inet cats w_web\n"
        "add element inet cats w_web { 0-999 : 0x02020000 }\n"
        "flush set inet cats dead\n"
        "add element inet cats dead { 0x01010000 }\n");
  CHECK(changed_maps(live, dead) == std::vector<std::string>{"update map w_web", "update set dead"});
  auto& ar2 = dead.services[1].candidates;
  ar2[2].health = Health::unreachable;
  ar2[2].weight = 0;
  ar2[1].weight = 500;
  CHECK(render_dynamic_update(dynamic_of(cur), dead).find("add element inet cats dead { 0x01010000, 0x05020000 }\n") !=
        std::string::npos);
  // Back up: the set is emptied (flush only).
  State up = dead;
  up.services[1] = cur.services[1];
  CHECK(render_dynamic_update(dynamic_of(dead), up) ==
        "flush map inet cats w_ar\n"
        "add element inet cats w_ar { 0-499 : 0x03010000, 500-749 : 0x04020000, 750-999 : 0x05020000 }\n"
        "flush set inet cats dead\n"
        "add element inet cats dead { 0x01010000 }\n");
  CHECK(render_dynamic_update(dynamic_of(dead), cur) ==
        "flush map inet cats w_web\n"
        "add element inet cats w_web { 0-299 : 0x01010000, 300-999 : 0x02020000 }\n"
        "flush map inet cats w_ar\n"
        "add element inet cats w_ar { 0-499 : 0x03010000, 500-749 : 0x04020000, 750-999 : 0x05020000 }\n"
        "flush set inet cats dead\n");
  // The full rendering carries the elements; the fingerprint does not see them.
  auto pd = plan(dead);
  REQUIRE(pd.has_value());
  CHECK(pd->nft_body.find("\tset dead {\n\t\ttype mark\n\t\telements = { 0x01010000, 0x05020000 }\n\t}\n") !=
        std::string::npos);
  CHECK(pd->fingerprint == structure_fingerprint(cur));

  // A live map missing altogether (cannot happen under the same fingerprint) is rewritten.
  Dynamic partial = live;
  partial.weights.erase("w_web");
  CHECK(render_dynamic_update(partial, cur) ==
        "flush map inet cats w_web\nadd element inet cats w_web { 0-299 : 0x01010000, 300-999 : 0x02020000 }\n");
}

TEST_CASE("steer: moved picks the ok sibling of the same instance, highest weight then lowest WAN", "[steer]") {
  State s;
  Service sv;
  sv.id = "m";
  sv.vip = addr("100.100.0.12");
  sv.ports = {80};
  // Same instance 10.3.0.1:80 over WANs 1, 2, 3, 4; another instance on WAN 5.
  sv.candidates = {{addr("10.3.0.1"), 80, 1, 0, Health::path_down},
                   {addr("10.3.0.1"), 80, 2, 300, Health::ok},
                   {addr("10.3.0.1"), 80, 3, 300, Health::ok},
                   {addr("10.3.0.1"), 80, 4, 400, Health::unreachable},
                   {addr("10.3.0.9"), 80, 5, 0, Health::ok},
                   {addr("10.3.0.9"), 81, 2, 0, Health::path_down}};  // other port: no sibling
  s.services = {sv};
  REQUIRE(validate(s).has_value());
  auto d = dynamic_of(s);
  // Candidate 1 -> candidate 2 (weight tie with 3, lower WAN); unreachable 4 is no target.
  CHECK(d.moved == std::map<uint32_t, uint32_t>{{0x01010000, 0x02020000}});
  s.services[0].candidates[2].weight = 301;
  s.services[0].candidates[1].weight = 299;
  CHECK(dynamic_of(s).moved == std::map<uint32_t, uint32_t>{{0x01010000, 0x03030000}});
}

TEST_CASE("steer: structure fingerprint ignores weights and health only", "[steer]") {
  const State s = two_services();
  const std::string fp = structure_fingerprint(s);
  State w = s;
  w.services[0].candidates[0].weight = 1000;
  w.services[0].candidates[1].weight = 0;
  w.services[1].candidates[0].health = Health::path_down;
  w.services[1].candidates[2].health = Health::unreachable;
  CHECK(structure_fingerprint(w) == fp);
  CHECK(same_structure(s, w));
  State wan = s;
  wan.services[0].candidates[1].wan = 3;
  CHECK(structure_fingerprint(wan) != fp);
  CHECK_FALSE(same_structure(s, wan));
  State sticky = s;
  sticky.services[0].sticky_timeout_s = 60;
  CHECK(structure_fingerprint(sticky) != fp);
  State port = s;
  port.services[1].ports = {4001};
  CHECK(structure_fingerprint(port) != fp);
  CHECK(structure_fingerprint(State{}).empty());
}

TEST_CASE("steer: dynamic contents read back from libnftables JSON", "[steer]") {
  // Shape of `nft -j list table inet cats` (nft 1.0.6): ranges and single keys.
  const std::string json =
      R"({"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},)"
      R"({"table": {"family": "inet", "name": "cats", "handle": 1}},)"
      R"({"map": {"family": "inet", "name": "w_web", "table": "cats", "type": "integer", "map": "mark",)"
      R"( "flags": ["interval"], "elem": [[{"range": [300, 999]}, 33685504], [{"range": [0, 299]}, 16842752]]}},)"
      R"({"map": {"family": "inet", "name": "s_web", "table": "cats", "type": "ipv4_addr", "map": "mark"}},)"
      R"({"map": {"family": "inet", "name": "w_ar", "table": "cats", "type": "integer", "map": "mark",)"
      R"( "flags": ["interval"], "elem": [[0, 50397184], [{"range": [1, 749]}, 67239936], [{"range": [750, 999]}, 84017152]]}},)"
      R"({"map": {"family": "inet", "name": "w_web", "table": "other", "elem": [[1, 2]]}},)"
      R"({"map": {"family": "inet", "name": "targets", "table": "cats", "type": ["mark"], "map": "x", "elem": [[1, 2]]}},)"
      R"({"map": {"family": "inet", "name": "moved", "table": "cats", "type": "mark", "map": "mark", "elem": [[50397184, 67239936]]}},)"
      R"({"chain": {"family": "inet", "table": "cats", "name": "steer_prerouting", "handle": 1}}]})";
  auto d = parse_dynamic_json(json);
  REQUIRE(d.has_value());
  REQUIRE(d->weights.size() == 2);
  CHECK(d->weights.at("w_web") == std::vector<WeightElement>{{0, 299, 0x01010000}, {300, 999, 0x02020000}});
  CHECK(d->weights.at("w_ar") ==
        std::vector<WeightElement>{{0, 0, 0x03010000}, {1, 749, 0x04020000}, {750, 999, 0x05020000}});
  CHECK(d->moved == std::map<uint32_t, uint32_t>{{0x03010000, 0x04020000}});

  auto st = state_from_dynamic(two_services(), *d);
  REQUIRE(st.has_value());
  auto& ar = st->services[1].candidates;
  CHECK(ar[0].weight == 1);
  CHECK(ar[0].health == Health::path_down);
  CHECK(ar[1].weight == 749);
  CHECK(ar[2].weight == 250);
  CHECK(st->services[0].candidates[0].weight == 300);

  // A mark of another service, a gap, or a missing map: not this structure's dynamic state.
  Dynamic foreign = *d;
  foreign.weights["w_web"][0].mark = 0x03010000;
  CHECK_FALSE(state_from_dynamic(two_services(), foreign).has_value());
  Dynamic gap = *d;
  gap.weights["w_web"][0].lo = 1;
  CHECK_FALSE(state_from_dynamic(two_services(), gap).has_value());
  Dynamic missing = *d;
  missing.weights.erase("w_ar");
  CHECK_FALSE(state_from_dynamic(two_services(), missing).has_value());
  // Empty map = reject mode (all 0) is a valid state.
  Dynamic reject = *d;
  reject.weights["w_web"].clear();
  auto rs = state_from_dynamic(two_services(), reject);
  REQUIRE(rs.has_value());
  CHECK(rs->services[0].candidates[1].weight == 0);

  // Unreachable candidates come back from the dead set, which libnftables lists in a second
  // document ("list maps inet; list sets inet" prints one document per command).
  const std::string sets =
      R"({"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},)"
      R"({"set": {"family": "inet", "name": "dead", "table": "other", "type": "mark", "elem": [1]}},)"
      R"({"set": {"family": "inet", "name": "dead", "table": "cats", "type": "mark", "handle": 9,)"
      R"( "elem": [33685504, 84017152]}}]})";
  auto both = parse_dynamic_json(json + "\n" + sets + "\n");
  REQUIRE(both.has_value());
  CHECK(both->weights == d->weights);
  CHECK(both->moved == d->moved);
  CHECK(both->dead == std::set<uint32_t>{0x02020000, 0x05020000});
  auto sd = state_from_dynamic(two_services(), *both);
  REQUIRE(sd.has_value());
  CHECK(sd->services[0].candidates[0].health == Health::ok);
  CHECK(sd->services[0].candidates[1].health == Health::unreachable);
  CHECK(sd->services[1].candidates[0].health == Health::path_down);
  CHECK(sd->services[1].candidates[2].health == Health::unreachable);
  // What dynamic_of writes reads back to the same State.
  State down = two_services();
  down.services[0].candidates[0].health = Health::unreachable;
  down.services[1].candidates[0].health = Health::path_down;
  CHECK(state_from_dynamic(two_services(), dynamic_of(down)) == down);
  // An empty dead set (no "elem"), or none at all, is all alive.
  auto no_dead = parse_dynamic_json(R"({"nftables": [{"set": {"name": "dead", "table": "cats", "type": "mark"}}]})");
  REQUIRE(no_dead.has_value());
  CHECK(no_dead->dead.empty());
  // A dead mark that is no candidate's, or that is also moved: not ours.
  Dynamic stray = *both;
  stray.dead.insert(0x06010000);
  CHECK_FALSE(state_from_dynamic(two_services(), stray).has_value());
  Dynamic twice = *both;
  twice.dead.insert(0x03010000);
  CHECK_FALSE(state_from_dynamic(two_services(), twice).has_value());

  CHECK_FALSE(parse_dynamic_json("{").has_value());
  CHECK_FALSE(parse_dynamic_json("").has_value());
  CHECK_FALSE(parse_dynamic_json(" \n").has_value());
  CHECK_FALSE(parse_dynamic_json(json + " x").has_value());
  CHECK_FALSE(parse_dynamic_json(json + " {").has_value());
  CHECK_FALSE(parse_dynamic_json(json + " []").has_value());
  CHECK_FALSE(parse_dynamic_json(R"({"nftables": [{"set": {"name": "dead", "elem": [[1, 2]]}}]})").has_value());
  CHECK_FALSE(parse_dynamic_json(R"({"nftables": [{"set": {"name": "dead", "elem": 1}}]})").has_value());
  CHECK_FALSE(parse_dynamic_json(R"({"nftables": [{"set": {"elem": [1]}}]})").has_value());
  CHECK_FALSE(parse_dynamic_json(R"({"nftables": [{"map": {"name": "w_x", "elem": [[{"range": [5, 1]}, 1]]}}]})")
                  .has_value());
  CHECK_FALSE(parse_dynamic_json(R"({"nftables": [{"map": {"name": "moved", "elem": [[-1, 1]]}}]})").has_value());
  CHECK_FALSE(parse_dynamic_json(R"({"nftables": [{"map": {"name": "moved", "elem": [[4294967296, 1]]}}]})")
                  .has_value());
}

TEST_CASE("steer: validation errors name the service and the problem", "[steer]") {
  State s = two_services();
  CHECK(error_of(s) == "(valid)");

  State w = s;
  w.services[0].candidates[0].weight = 200;
  CHECK(error_of(w) == "service web: weights sum to 900, must be 1000 or all 0");
  // All 0 is reject mode, valid.
  State zero = s;
  for (auto& c : zero.services[0].candidates) c.weight = 0;
  CHECK(error_of(zero) == "(valid)");

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

TEST_CASE("steer: candidate_marks are the marks the weight maps use", "[steer]") {
  const State s = two_services();
  const auto marks = candidate_marks(s);
  CHECK(marks == std::vector<std::vector<uint32_t>>{{0x01010000, 0x02020000}, {0x03010000, 0x04020000, 0x05020000}});
  // The same marks as dynamic_of's weight ranges, service by service.
  const Dynamic d = dynamic_of(s);
  for (size_t n = 0; n < s.services.size(); ++n) {
    std::set<uint32_t> in_map;
    for (const auto& e : d.weights.at("w_" + s.services[n].id)) in_map.insert(e.mark);
    CHECK(in_map == std::set<uint32_t>(marks[n].begin(), marks[n].end()));
  }
  CHECK(candidate_marks(State{}).empty());
}

namespace {

std::vector<std::vector<int>> ids_of(const Result<State>& s) {
  REQUIRE(s.has_value());
  return candidate_ids(*s);
}

}  // namespace

TEST_CASE("steer: candidate ids are kept across remove and re-add; a removed id waits for its flows", "[steer]") {
  // No history, no flows: positional, the marks of before ids were kept.
  auto first = assign_ids(two_services(), {}, nullptr);
  CHECK(ids_of(first) == std::vector<std::vector<int>>{{1, 2}, {3, 4, 5}});
  CHECK(candidate_marks(*first) == candidate_marks(two_services()));
  CHECK(plan(*first)->nft_body == plan(two_services())->nft_body);

  // web (the first service) removed: ar keeps 3, 4, 5 instead of becoming 1, 2, 3.
  State ar_only;
  ar_only.services = {two_services().services[1]};
  std::vector<int> asked;
  Carried none = [&](int id) -> Result<bool> {
    asked.push_back(id);
    return false;
  };
  auto removed = assign_ids(ar_only, assignment_of(*first), none);
  CHECK(ids_of(removed) == std::vector<std::vector<int>>{{3, 4, 5}});
  CHECK(asked.empty());  // nothing new: conntrack is not asked

  // In the change that removes web, a new service does not take web's ids (the old table
  // draws them until it is replaced) even with no flow carrying them.
  State swap = ar_only;
  Service x = two_services().services[0];
  x.id = "x";
  x.vip = addr("100.100.0.12");
  x.candidates.resize(1);
  swap.services.push_back(x);
  CHECK(ids_of(assign_ids(swap, assignment_of(*first), none)) == std::vector<std::vector<int>>{{3, 4, 5}, {6}});

  // web back, while flows of its old candidate 1 (id 1) still exist: id 1 waits, id 2 is
  // free again; ar is untouched. Conntrack is asked only for otherwise free ids.
  State back = two_services();
  asked.clear();
  Carried one = [&](int id) -> Result<bool> {
    asked.push_back(id);
    return id == 1;
  };
  auto readded = assign_ids(back, assignment_of(*removed), one);
  CHECK(ids_of(readded) == std::vector<std::vector<int>>{{2, 6}, {3, 4, 5}});
  CHECK(asked == std::vector<int>{1, 2, 6});
  REQUIRE(validate(*readded));
  // Once its flows are gone, id 1 is free: the next new candidate takes it.
  State more = *readded;
  more.services.push_back(x);
  CHECK(ids_of(assign_ids(more, assignment_of(*readded), none)) ==
        std::vector<std::vector<int>>{{2, 6}, {3, 4, 5}, {1}});

  // A failing conntrack query fails the assignment (nothing is guessed).
  Carried broken = [](int) -> Result<bool> { return Error::msg("ctnetlink: injected"); };
  auto e = assign_ids(back, assignment_of(*removed), broken);
  REQUIRE_FALSE(e.has_value());
  CHECK_THAT(e.error().message, Catch::Contains("injected"));
}

TEST_CASE("steer: running out of candidate ids names the candidate and why", "[steer]") {
  // 250 ids held by candidates that stay, 4 by a removed service whose flows still run.
  State s;
  Assignment previous;
  Service big = two_services().services[1];
  big.id = "big";
  big.candidates.clear();
  for (int i = 0; i < 250; ++i) {
    Candidate c{addr(("10.9." + std::to_string(i / 15) + "." + std::to_string(i % 15 + 1)).c_str()), 80, 1, 0};
    big.candidates.push_back(c);
    previous[candidate_ref("big", c)] = i + 1;
  }
  for (int id = 251; id <= 254; ++id) previous[{"gone", addr("10.8.0.1"), 80, id - 250}] = id;
  s.services = {big};
  Service x = two_services().services[0];
  x.id = "x";
  x.vip = addr("100.100.0.12");
  s.services.push_back(x);  // two new candidates
  Carried flows = [](int id) -> Result<bool> { return id >= 251 && id <= 254; };
  auto one = s;
  one.services[1].candidates.resize(1);
  auto ok1 = assign_ids(one, previous, nullptr);  // 255 is free: fits
  REQUIRE(ok1.has_value());
  CHECK(candidate_ids(*ok1)[1] == std::vector<int>{255});
  auto r = assign_ids(s, previous, flows);
  REQUIRE_FALSE(r.has_value());
  CHECK_THAT(r.error().message, Catch::Contains("service x: no candidate id left for 10.2.0.5:8080 over WAN 2") &&
                                    Catch::Contains("255 ids"));
  // The same without the just-removed service in `previous` (a later change): its ids are
  // quarantined by their flows, and the message says so.
  Assignment later;
  for (auto& [ref, id] : previous)
    if (std::get<0>(ref) == "big") later[ref] = id;
  auto q = assign_ids(s, later, flows);
  REQUIRE_FALSE(q.has_value());
  CHECK_THAT(q.error().message, Catch::Contains("4 by the flows of removed candidates"));
  // Duplicate or out-of-range ids in a State are refused by validate, naming both owners.
  State dup = two_services();
  dup.services[1].candidates[0].id = 2;
  CHECK_THAT(validate(dup).error().message, Catch::Contains("service ar candidate 1: id 2 is also service web candidate 2's"));
}

TEST_CASE("steer: candidate ids read back from libnftables JSON (restart)", "[steer]") {
  // A restart after web was removed and re-added: ids not positional.
  State s = two_services();
  s.services[0].candidates[0].id = 2;
  s.services[0].candidates[1].id = 6;
  REQUIRE(validate(s));
  // Shape of `nft -j list sets inet` / `list maps inet` (nft 1.0.6), one document each.
  const std::string json =
      R"({"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},)"
      R"({"set": {"family": "inet", "name": "dead", "table": "cats", "type": "mark", "handle": 9}},)"
      R"({"set": {"family": "inet", "name": "c_web", "table": "cats", "type": "mark", "handle": 3, "elem": [33619968, 100794368]}},)"
      R"({"set": {"family": "inet", "name": "c_ar", "table": "cats", "type": "mark", "handle": 4,)"
      R"( "elem": [50397184, 67239936, 84017152]}},)"
      R"({"set": {"family": "inet", "name": "c_web", "table": "other", "type": "mark", "elem": [1]}}]})"
      "\n"
      R"({"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},)"
      R"({"map": {"family": "inet", "name": "targets", "table": "cats", "type": "mark", "handle": 1,)"
      R"( "map": "ipv4_addr . inet_service", "elem": [[33619968, {"concat": ["10.1.0.5", 8080]}],)"
      R"( [100794368, {"concat": ["10.2.0.5", 8080]}], [50397184, {"concat": ["10.1.0.7", 9000]}],)"
      R"( [67239936, {"concat": ["10.1.0.7", 9000]}], [84017152, {"concat": ["10.2.0.7", 9000]}]]}}]})";
  auto a = parse_assignment_json(json);
  INFO((a ? std::string() : a.error().message));
  REQUIRE(a.has_value());
  CHECK(*a == assignment_of(s));
  // Those ids rebuild the same table: the restarted daemon's structure equals the live one.
  auto again = assign_ids(two_services(), *a, [](int) -> Result<bool> { return true; });
  REQUIRE(again.has_value());
  CHECK(structure_fingerprint(*again) == structure_fingerprint(s));
  // What plan() renders is what the parser reads: every c_ set names the service's marks.
  const auto body = plan(s)->nft_body;
  CHECK(body.find("set c_web {\n\t\ttype mark\n\t\telements = { 0x02010000, 0x06020000 }\n\t}") != std::string::npos);

  // A table without c_ sets (none yet, or written before ids were kept): nothing kept.
  auto none = parse_assignment_json(R"({"nftables": [{"metainfo": {"version": "1.0.6"}}]})");
  REQUIRE(none.has_value());
  CHECK(none->empty());
  // A mark that no targets map names is an error, not a guess.
  auto orphan = parse_assignment_json(
      R"({"nftables": [{"set": {"family": "inet", "name": "c_web", "table": "cats", "type": "mark", "elem": [33619968]}}]})");
  REQUIRE_FALSE(orphan.has_value());
  CHECK_THAT(orphan.error().message, Catch::Contains("c_web") && Catch::Contains("no target"));
}

TEST_CASE("steer: table_content ignores map and set elements, sees every rule", "[steer]") {
  const std::string with =
      "table inet cats {\n\tcomment \"cats:abc123\"\n\tmap w_web {\n\t\ttype integer : mark\n\t\tflags interval\n"
      "\t\telements = { 0-299 : 0x01010000,\n\t\t\t     300-999 : 0x02020000 }\n\t}\n"
      "\tset dead {\n\t\ttype mark\n\t\telements = { 0x01010000 }\n\t}\n"
      "\tchain steer_forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\tct mark @dead reject\n\t}\n}\n";
  const std::string without =
      "table inet cats {\n\tcomment \"cats:abc123\"\n\tmap w_web {\n\t\ttype integer : mark\n\t\tflags interval\n\t}\n"
      "\tset dead {\n\t\ttype mark\n\t}\n"
      "\tchain steer_forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\tct mark @dead reject\n\t}\n}\n";
  CHECK(table_content(with) == table_content(without));
  CHECK(table_content(without) == without);  // nothing else is touched
  CHECK(table_fingerprint(with) == "abc123");
  CHECK(table_fingerprint("table inet cats {\n}\n").empty());

  // A rule edited, removed or added (the comment kept) is a different content.
  std::string edited = with;
  edited.replace(edited.find("reject"), 6, "accept");
  CHECK(table_content(edited) != table_content(with));
  std::string removed = with;
  removed.erase(removed.find("\t\tct mark @dead reject\n"), std::string("\t\tct mark @dead reject\n").size());
  CHECK(table_content(removed) != table_content(with));
  CHECK(table_fingerprint(removed) == "abc123");
  // An unterminated elements statement swallows the rest, it does not read past the end.
  CHECK(table_content("\tset dead {\n\t\telements = { 0x1, ") == "\tset dead {\n");
}
