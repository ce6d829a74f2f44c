// The overlay Applier against an in-memory kernel (fake_kernel.hpp), no root: the action
// list it reports for the example configurations (golden), idempotence (a second apply
// changes nothing), what it must leave alone (other rules, steering's rules, required
// links) and teardown.
#include "base/hash.hpp"
#include "config/config.hpp"
#include "fake_kernel.hpp"
#include "overlay/apply.hpp"
#include "overlay/site_plan.hpp"
#include "golden.hpp"

#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <algorithm>

using namespace cats;
using test::check_golden;
using test::source_file;

namespace {

std::string lines(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += s + "\n";
  return out;
}

using Kernel = test::FakeKernel;

overlay::Plan vcpe_plan() {
  auto c = config::parse_vcpe(source_file("docs/examples/vcpe.toml"), "vcpe.toml");
  REQUIRE(c.has_value());
  return overlay::plan_vcpe(*c);
}

overlay::Plan cpe_plan() {
  auto c = config::parse_cpe(source_file("docs/examples/cpe.toml"), "cpe.toml");
  REQUIRE(c.has_value());
  return overlay::plan_cpe(*c);
}

}  // namespace

TEST_CASE("Applier: the vCPE example onto an empty kernel (golden actions), then nothing to do") {
  const auto plan = vcpe_plan();
  Kernel k(plan);
  auto rep = k.applier.apply(plan);
  REQUIRE(rep.has_value());
  check_golden(lines(rep->actions), "vcpe_apply.txt");
  // What the kernel now holds is the plan: tunnels up with their address, our table.
  for (auto& t : plan.tunnels) {
    auto l = k.rt.link(t.ifname);
    REQUIRE(l.has_value());
    REQUIRE(l->has_value());
    CHECK((*l)->up);
    CHECK((*l)->mtu == t.mtu);
    CHECK(k.wg.devices.at(t.ifname).peers.size() == t.peers.size());
  }
  CHECK(k.rt.rule_list.size() == plan.rules.size());
  REQUIRE(k.nft.table.has_value());
  CHECK(nft::table_fingerprint(*k.nft.table) == fnv1a_hex(plan.nft_script));

  const uint32_t gen = k.nft.gen;
  auto again = k.applier.apply(plan);
  REQUIRE(again.has_value());
  CHECK(again->actions.empty());
  CHECK(k.nft.gen == gen);  // the fingerprinted table is left alone
}

TEST_CASE("Applier: the CPE example (golden actions); the table belongs to steering there") {
  const auto plan = cpe_plan();
  Kernel k(plan);
  auto rep = k.applier.apply(plan);
  REQUIRE(rep.has_value());
  check_golden(lines(rep->actions), "cpe_apply.txt");
  CHECK_FALSE(k.nft.table.has_value());
  auto again = k.applier.apply(plan);
  REQUIRE(again.has_value());
  CHECK(again->actions.empty());
}

TEST_CASE("Applier: converges a drifted kernel and leaves what is not ours alone") {
  const auto plan = vcpe_plan();
  Kernel k(plan);
  REQUIRE(k.applier.apply(plan).has_value());

  rtnl::Rule foreign;  // someone else's rule, outside our priorities and protocol
  foreign.priority = 100;
  foreign.table = 254;
  foreign.protocol = 3;
  k.rt.rule_list.push_back(foreign);
  rtnl::Rule steering;  // steering's (CPE) priority: the Applier neither adds nor deletes it
  steering.priority = slice::steer_rule_prio(1);
  steering.table = slice::overlay_table(1);
  k.rt.rule_list.push_back(steering);
  rtnl::Rule stale;  // ours, not in the plan: removed
  stale.priority = slice::path_rule_prio(199);
  stale.table = slice::overlay_table(199);
  k.rt.rule_list.push_back(stale);
  // A hand edit of our table that drops the fingerprint: replaced.
  k.nft.table = "table inet cats {\n}\n";
  // A tunnel brought down and its address removed.
  const auto& t0 = plan.tunnels.at(0);
  REQUIRE(k.rt.set_link_up(t0.ifname, false).has_value());
  k.rt.addrs.clear();

  auto rep = k.applier.apply(plan);
  REQUIRE(rep.has_value());
  const std::string got = lines(rep->actions);
  CHECK(got.find("delete rule prio " + std::to_string(slice::path_rule_prio(199))) != std::string::npos);
  CHECK(got.find("replace nft table inet cats") != std::string::npos);
  CHECK(got.find("up " + t0.ifname) != std::string::npos);
  CHECK(got.find("add address") != std::string::npos);
  CHECK(std::count(k.rt.rule_list.begin(), k.rt.rule_list.end(), foreign) == 1);
  CHECK(std::count(k.rt.rule_list.begin(), k.rt.rule_list.end(), steering) == 1);

  // Teardown removes ours, every rule of our range (steering's too, as documented in
  // base/slice.hpp), the table and the tunnels; the foreign rule and the LAN link stay.
  REQUIRE(k.applier.teardown(plan).has_value());
  CHECK(k.rt.rule_list == std::vector<rtnl::Rule>{foreign});
  CHECK(k.rt.route_list.empty());
  CHECK_FALSE(k.nft.table.has_value());
  CHECK(k.wg.devices.empty());
  for (auto& l : plan.required_links) CHECK(k.rt.link(l.name)->has_value());
}

TEST_CASE("Applier: a missing required link fails before anything changes") {
  const auto plan = cpe_plan();
  REQUIRE_FALSE(plan.required_links.empty());
  Kernel k(plan);
  std::erase_if(k.rt.link_list, [&](auto& l) { return l.name == plan.required_links.back().name; });
  auto rep = k.applier.apply(plan);
  REQUIRE_FALSE(rep.has_value());
  CHECK(rep.error().message.find(plan.required_links.back().name) != std::string::npos);
  CHECK(k.rt.rule_list.empty());
  CHECK(k.rt.route_list.empty());
  CHECK(k.wg.devices.empty());
  CHECK(k.sys.values.empty());
}
