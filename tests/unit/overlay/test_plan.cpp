// Golden text of what the daemons ask of the kernel, from the example configs. To update
// after an intended change: run test_overlay with CATS_UPDATE_GOLDEN=1 and review the diff.
#include "config/config.hpp"
#include "overlay/site_plan.hpp"
#include "golden.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>

using namespace cats;

using test::check_golden;
using test::source_file;

TEST_CASE("CPE plan: tunnels per WAN, underlay marks, overlay tables, rules (golden)") {
  // Parsed under a relative name: the golden text must not depend on where the tree is.
  auto c = config::parse_cpe(source_file("docs/examples/cpe.toml"), "cpe.toml");
  REQUIRE(c.has_value());
  check_golden(overlay::render(overlay::plan_cpe(*c)), "cpe_plan.txt");
}

TEST_CASE("vCPE plan: a tunnel per path, return path by ct mark (golden)") {
  auto c = config::parse_vcpe(source_file("docs/examples/vcpe.toml"), "vcpe.toml");
  REQUIRE(c.has_value());
  check_golden(overlay::render(overlay::plan_vcpe(*c)), "vcpe_plan.txt");
}

TEST_CASE("plans stay inside our slice") {
  auto c = config::load_cpe(std::string(CATS_SOURCE_DIR) + "/docs/examples/cpe.toml");
  REQUIRE(c.has_value());
  auto p = overlay::plan_cpe(*c);
  for (auto& r : p.rules) {
    CHECK(r.priority >= rtnl::kRulePriorityMin);
    CHECK(r.priority <= rtnl::kRulePriorityMax);
    CHECK(r.table >= rtnl::kTableMin);
    CHECK(r.table <= rtnl::kTableMax);
    if (r.fwmark) CHECK((*r.fwmark & ~slice::kPathMask) == 0u);
  }
  for (auto& r : p.routes) {
    CHECK(r.table >= rtnl::kTableMin);
    CHECK(r.table <= rtnl::kTableMax);
  }
}
