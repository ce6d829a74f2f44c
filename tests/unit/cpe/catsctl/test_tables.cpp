// catsctl paths / instances / reports / events / plans plain output (golden).
#include "ctl.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

namespace json = boost::json;
using namespace cats::ctl;

TEST_CASE("catsctl paths table") {
  auto body = json::parse(
      R"([{"wan":"wan1","vcpe":"cloud1","tunnel":"cats-wan1","rtt_ms":12.345,"jitter_ms":0.5,"loss_pct":0,"state":"up",)"
      R"("probe_state":"up","flaps":0,"penalty":0,"held_ms":null},)"
      R"({"wan":"wan2","vcpe":"cloud1","tunnel":"cats-wan2","rtt_ms":null,"jitter_ms":0,"loss_pct":100,"state":"down",)"
      R"("probe_state":"up","flaps":3,"penalty":2718,"held_ms":23460}])");
  CHECK(render_paths(body, 0) ==
        "WAN   VCPE        RTT  JITTER    LOSS  STATE  PROBES  FLAPS  PENALTY    HELD\n"
        "wan1  cloud1  12.3 ms  0.5 ms    0.0%  up     up          0        0       -\n"
        "wan2  cloud1        -  0.0 ms  100.0%  down   up          3     2718  23.5 s\n");
  CHECK(render_paths(json::parse("[]"), 0) == "no paths\n");
}

TEST_CASE("catsctl instances table") {
  auto body = json::parse(
      R"([{"service":"app1","instance":"app1-cloud1","vcpe":"cloud1","vcpus":6,"utilization":0.5,)"
      R"("processing_delay_ms":12,"service_time_ms":60,"service_time_source":"estimated",)"
      R"("last_processing_delay_ms":61,"last_processing_delay_age_ms":20400,"available":true},)"
      R"({"service":"app1","instance":"app1-cloud2","vcpe":"cloud2","vcpus":null,"utilization":0.2,)"
      R"("processing_delay_ms":null,"service_time_ms":5,"service_time_source":"nominal",)"
      R"("last_processing_delay_ms":null,"last_processing_delay_age_ms":null,"available":false},)"
      R"({"service":"app1","instance":"app1-cloud3","vcpe":"cloud3","vcpus":4,"utilization":0,)"
      R"("processing_delay_ms":null,"available":true}])");
  CHECK(render_instances(body, 0) ==
        "SERVICE  INSTANCE     VCPE    VCPUS  UTIL    DELAY  SERVICE TIME       LAST DELAY       AVAILABLE\n"
        "app1     app1-cloud1  cloud1      6   50%  12.0 ms  60.0 ms learned    61.0 ms 20s ago  yes\n"
        "app1     app1-cloud2  cloud2      -   20%        -  5.0 ms configured  -                no\n"
        "app1     app1-cloud3  cloud3      4    0%        -  -                  -                yes\n");
}

TEST_CASE("catsctl reports and events tables") {
  auto rep = json::parse(R"({"counters":{"accepted":3,"bad_signature":1},"vcpes":[{"vcpe":"cloud1","address":"10.2.1.1","last_seq":7}]})");
  CHECK(render_reports(rep, 0) ==
        "VERDICT        COUNT\n"
        "accepted           3\n"
        "bad_signature      1\n"
        "\n"
        "VCPE    ADDRESS   LAST SEQ\n"
        "cloud1  10.2.1.1         7\n");
  auto ev = json::parse(R"([{"ts_ms":95000,"kind":"path_up","subject":"wan1/cloud1","detail":"unknown -> up"}])");
  CHECK(render_events(ev, 100) ==
        "WHEN    KIND     SUBJECT      DETAIL\n"
        "5s ago  path_up  wan1/cloud1  unknown -> up\n");
}

TEST_CASE("catsctl lists the new commands") {
  std::vector<std::string> names;
  for (const auto& c : commands()) names.push_back(c.name);
  CHECK(std::find(names.begin(), names.end(), "paths") != names.end());
  CHECK(std::find(names.begin(), names.end(), "instances") != names.end());
  CHECK(std::find(names.begin(), names.end(), "reports") != names.end());
  CHECK(std::find(names.begin(), names.end(), "events") != names.end());
}

TEST_CASE("catsctl plans: one row per vCPE with its state and refusals") {
  auto body = json::parse(R"({"vcpes":[
    {"vcpe":"cloud1","state":"in_sync","revision":4,"since_ms":5200,"instances":[{},{}],"applied":2,"refused":[]},
    {"vcpe":"cloud2","state":"pending","revision":4,"since_ms":1500,"instances":[{}],"applied":0,
     "refused":[{"service":"app9","instance":"10.2.2.20:8080","reason":"not_allowed"}]}]})");
  auto out = render_plans(body, 0);
  CHECK(out.find("cloud1  in_sync") != std::string::npos);
  CHECK(out.find("5.2 s") != std::string::npos);
  CHECK(out.find("app9/10.2.2.20:8080:not_allowed") != std::string::npos);
  CHECK(render_plans(json::parse("[]"), 0).find("unexpected") != std::string::npos);
}
