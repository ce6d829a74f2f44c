// The vCPE's choice among a CPE's plan entries (vcpe/plan.hpp, issue 9): within its own
// allow-list and limits, never against its file.
#include "vcpe/plan.hpp"

#include <catch2/catch.hpp>

using namespace cats;
using report::PlanInstance;
using report::Refusal;

namespace {

UdpEndpoint ep(const char* a, uint16_t port) { return UdpEndpoint(boost::asio::ip::make_address(a), port); }

config::Instance local(const char* svc, const char* id, const char* addr, uint16_t port) {
  config::Instance in;
  in.service = svc;
  in.id = id;
  in.address = ep(addr, port);
  return in;
}

config::SamplingPlanLimits limits(std::vector<const char*> allow) {
  config::SamplingPlanLimits l;
  for (auto* a : allow) l.allow.push_back(*parse_prefix(a));
  return l;
}

}  // namespace

TEST_CASE("vcpe plan: allowed entries are sampled, others refused with their reason") {
  std::vector<config::Instance> file{local("app1", "app1-cloud1", "10.2.1.10", 8080)};
  std::vector<PlanInstance> plan{
      {"app1", "10.2.1.10:8080", ep("10.2.1.10", 8080)},  // the file samples it already
      {"app9", "10.2.1.10:8080", ep("10.2.1.10", 8080)},  // new service, same host: sampled
      {"app1", "app1-cloud1", ep("10.2.1.20", 8080)},     // the file's id elsewhere: conflict
      {"app8", "10.9.0.1:80", ep("10.9.0.1", 80)},        // outside the allow-list
      {"app7", "[fd00::1]:80", ep("fd00::1", 80)},        // outside (other family)
  };
  auto d = vcpe::decide_plan(plan, file, limits({"10.2.1.0/24"}), 32);
  REQUIRE(d.sample.size() == 1);
  CHECK(d.sample[0].service_id == "app9");
  CHECK(d.covered == 1);
  CHECK(d.applied() == 2);
  REQUIRE(d.refused.size() == 3);
  CHECK(d.refused[0].reason == Refusal::local_conflict);
  CHECK(d.refused[1].reason == Refusal::not_allowed);
  CHECK(d.refused[1].service_id == "app8");
  CHECK(d.refused[2].reason == Refusal::not_allowed);

  SECTION("the same plan decides the same (idempotent)") {
    auto again = vcpe::decide_plan(plan, file, limits({"10.2.1.0/24"}), 32);
    CHECK(again.sample == d.sample);
    CHECK(again.refused == d.refused);
  }
}

TEST_CASE("vcpe plan: an empty allow-list refuses every new entry; the room bounds the rest") {
  std::vector<PlanInstance> plan{{"a", "1", ep("10.0.0.1", 80)}, {"b", "2", ep("10.0.0.2", 80)},
                                 {"c", "3", ep("10.0.0.3", 80)}};
  auto none = vcpe::decide_plan(plan, {}, limits({}), 32);
  CHECK(none.sample.empty());
  CHECK(none.refused.size() == 3);

  auto two = vcpe::decide_plan(plan, {}, limits({"10.0.0.0/8"}), 2);
  CHECK(two.sample.size() == 2);
  REQUIRE(two.refused.size() == 1);
  CHECK(two.refused[0].reason == Refusal::over_limit);
  CHECK(two.refused[0].service_id == "c");
}

TEST_CASE("vcpe plan: an entry is sampled with a TCP health check of its address") {
  auto in = vcpe::plan_instance_config({"app9", "10.2.1.10:8080", ep("10.2.1.10", 8080)});
  CHECK(in.service == "app9");
  CHECK(in.id == "10.2.1.10:8080");
  CHECK(in.health == "tcp");
  CHECK(in.load_url.empty());
  CHECK_FALSE(in.proc);
}
