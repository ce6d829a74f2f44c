// [sampling_plan] in the vCPE's file (config::check_vcpe): default, explicit, refusals.
#include "config/config.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace cats;

namespace {
std::string example() {
  std::ifstream f(std::string(CATS_SOURCE_DIR) + "/docs/examples/vcpe.toml");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("vcpe config: sampling_plan.allow defaults to the LAN subnets") {
  auto v = config::parse_vcpe(example(), "vcpe.toml");
  REQUIRE(v.has_value());
  REQUIRE(v->sampling_plan.allow.size() == 1);
  CHECK(v->sampling_plan.allow[0].to_string() == "10.2.1.0/24");
  CHECK(v->sampling_plan.max_instances == 32);
}

TEST_CASE("vcpe config: an explicit allow-list, an empty one, and bad values") {
  auto v = config::parse_vcpe(example() + "\n[sampling_plan]\nallow = [\"10.2.1.10/32\", \"fd00::/64\"]\nmax_instances = 4\n",
                              "vcpe.toml");
  REQUIRE(v.has_value());
  CHECK(v->sampling_plan.allow.size() == 2);
  CHECK(v->sampling_plan.max_instances == 4);
  auto none = config::parse_vcpe(example() + "\n[sampling_plan]\nallow = []\n", "vcpe.toml");
  REQUIRE(none.has_value());
  CHECK(none->sampling_plan.allow.empty());

  auto bad = config::check_vcpe(example() + "\n[sampling_plan]\nallow = [\"10.2.1.10/33\"]\nmax_instances = 33\nx = 1\n",
                                "vcpe.toml");
  REQUIRE_FALSE(bad.config);
  std::vector<std::string> fields;
  for (const auto& p : bad.problems) fields.push_back(p.field);
  CHECK(std::find(fields.begin(), fields.end(), "sampling_plan.allow[0]") != fields.end());
  CHECK(std::find(fields.begin(), fields.end(), "sampling_plan.max_instances") != fields.end());
  CHECK(std::find(fields.begin(), fields.end(), "sampling_plan.x") != fields.end());
}
