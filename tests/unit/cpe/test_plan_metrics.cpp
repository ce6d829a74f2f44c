// The plan gauges on /metrics (plan_metrics), from plain data (issue 9: "the CPE shows
// whether each vCPE is in sync"). `catsctl plans` is in tests/unit/cpe/catsctl/test_tables.cpp.
#include "cpe/metrics.hpp"

#include <catch2/catch.hpp>

using namespace cats;
using namespace cats::cpe;

TEST_CASE("metrics: plan gauges per vCPE; refusals only once in sync") {
  report::PlanStatus a, b;
  a.vcpe = "cloud1";
  a.state = report::SyncState::in_sync;
  a.revision = 4;
  a.refused = {{"s", "i", report::Refusal::not_allowed}};
  b.vcpe = "cloud2";
  b.state = report::SyncState::pending;
  b.revision = 4;
  api::prom::Exposition e;
  plan_metrics(e, {a, b});
  auto text = e.render();
  CHECK(text.find("cats_vcpe_plan_in_sync{vcpe=\"cloud1\"} 1\n") != std::string::npos);
  CHECK(text.find("cats_vcpe_plan_in_sync{vcpe=\"cloud2\"} 0\n") != std::string::npos);
  CHECK(text.find("cats_vcpe_plan_revision{vcpe=\"cloud2\"} 4\n") != std::string::npos);
  CHECK(text.find("cats_vcpe_plan_refused{vcpe=\"cloud1\"} 1\n") != std::string::npos);
  CHECK(text.find("cats_vcpe_plan_refused{vcpe=\"cloud2\"}") == std::string::npos);
}
