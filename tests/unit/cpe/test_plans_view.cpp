// `catsctl plans` (render_plans) and the plan gauges on /metrics (plan_metrics), from
// plain data (issue 9: "the CPE shows whether each vCPE is in sync").
#include "cpe/catsctl/ctl.hpp"
#include "cpe/metrics.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace cats;
using namespace cats::cpe;

TEST_CASE("catsctl plans: one row per vCPE with its state and refusals") {
  auto body = boost::json::parse(R"({"vcpes":[
    {"vcpe":"cloud1","state":"in_sync","revision":4,"since_ms":5200,"instances":[{},{}],"applied":2,"refused":[]},
    {"vcpe":"cloud2","state":"pending","revision":4,"since_ms":1500,"instances":[{}],"applied":0,
     "refused":[{"service":"app9","instance":"10.2.2.20:8080","reason":"not_allowed"}]}]})");
  auto out = ctl::render_plans(body, 0);
  CHECK(out.find("cloud1  in_sync") != std::string::npos);
  CHECK(out.find("5.2 s") != std::string::npos);
  CHECK(out.find("app9/10.2.2.20:8080:not_allowed") != std::string::npos);
  CHECK(ctl::render_plans(boost::json::parse("[]"), 0).find("unexpected") != std::string::npos);
}

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
