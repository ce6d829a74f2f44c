// JSON shaping of GET /api/v1/paths and /api/v1/instances: the keys and null rules the
// issue requires (paths: wan, vcpe, rtt_ms, jitter_ms, loss_pct, state; instances:
// service, instance, vcpe, vcpus, utilization, processing_delay_ms, available).
#include "cpe/views.hpp"

#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include <limits>

using namespace cats;
using namespace cats::cpe;
namespace json = boost::json;

TEST_CASE("paths_json: one object per path, rtt null until a reply") {
  PathView a{"wan1", "cloud1", "cats-wan1", {}, {}, 0, 0, {}};
  a.snap.state = stamp::PathState::up;
  a.snap.rtt_ms = 12.5;
  a.snap.rtt_min_ms = 11.5;
  a.snap.rtt_avg_ms = 12.75;
  a.snap.rtt_max_ms = 30;
  a.snap.jitter_ms = 0.25;
  a.snap.loss_pct = 1.0;
  a.snap.sent = 100;
  a.snap.received = 99;
  a.snap.lost = 1;
  PathView b{"wan2", "cloud1", "cats-wan2", {}, {}, 0, 0, {}};
  b.snap.state = stamp::PathState::down;
  b.snap.sent = 3;
  b.snap.lost = 3;
  b.snap.loss_pct = 100;
  a.probe_state = stamp::PathState::up;
  // b: the probes say up again, but flap damping holds it down for 12.5 s more.
  b.probe_state = stamp::PathState::up;
  b.penalty = 1954.8;
  b.flaps = 2;
  b.held_ms = 12500;
  CHECK(json::serialize(paths_json({a, b})) ==
        R"([{"wan":"wan1","vcpe":"cloud1","tunnel":"cats-wan1","rtt_ms":1.25E1,)"
        R"("rtt_min_ms":1.15E1,"rtt_avg_ms":1.275E1,"rtt_max_ms":3E1,"jitter_ms":2.5E-1,"loss_pct":1E0,)"
        R"("state":"up","probe_state":"up","penalty":0E0,"flaps":0,"held_ms":null,"sent":100,"received":99,"lost":1,"late":0,"spikes":0},)"
        R"({"wan":"wan2","vcpe":"cloud1","tunnel":"cats-wan2","rtt_ms":null,)"
        R"("rtt_min_ms":null,"rtt_avg_ms":null,"rtt_max_ms":null,"jitter_ms":0E0,"loss_pct":1E2,)"
        R"("state":"down","probe_state":"up","penalty":1.955E3,"flaps":2,"held_ms":12500,"sent":3,"received":0,"lost":3,"late":0,"spikes":0}])");
}

TEST_CASE("instances_json: metrics by type, missing ones null, availability and age") {
  using namespace cats::metrics;
  report::InstanceTable::Map m;
  auto now = std::chrono::steady_clock::time_point(std::chrono::seconds(1000));
  report::InstanceState st;
  st.address = UdpEndpoint(boost::asio::ip::make_address("10.2.1.10"), 8080);
  st.reported_available = true;
  st.metrics = {make(MetricType::vcpus, 6, Source::nominal), make(MetricType::cpu_utilization, 0.5),
                make(MetricType::processing_delay_ms, 12), make(MetricType::active_sessions, 3),
                make(MetricType::queue_depth, 4), make(MetricType::ttft_ms, 180),
                L0Metric{0x9000, 7.0}};  // unknown type: ignored (R14)
  st.last_report = now - std::chrono::milliseconds(250);
  st.figures.service_time_ms = 9.5;
  st.figures.service_time_source = Source::estimated;
  st.figures.last_delay_ms = 12;
  st.figures.last_delay_at = now - std::chrono::seconds(20);
  st.figures.measured = true;
  m[{"cloud1", "app1", "app1-a"}] = st;
  report::InstanceState st2;
  st2.address = UdpEndpoint(boost::asio::ip::make_address("10.2.2.10"), 8080);
  st2.reported_available = true;
  st2.expired = true;
  st2.last_report = now - std::chrono::seconds(5);
  m[{"cloud2", "app1", "app1-b"}] = st2;
  CHECK(json::serialize(instances_json(m, now)) ==
        R"([{"service":"app1","instance":"app1-a","vcpe":"cloud1","address":"10.2.1.10:8080","vcpus":6E0,)"
        R"("utilization":5E-1,"processing_delay_ms":1.2E1,"active_sessions":3E0,"gpu_count":null,"gpu_utilization":null,)"
        R"("gpu_memory_utilization":null,"queue_depth":4E0,"ttft_ms":1.8E2,"service_time_ms":9.5E0,)"
        R"("service_time_source":"estimated","last_processing_delay_ms":1.2E1,"last_processing_delay_age_ms":20000,)"
        R"("measured":true,"available":true,"last_report_ms_ago":250},)"
        R"({"service":"app1","instance":"app1-b","vcpe":"cloud2","address":"10.2.2.10:8080","vcpus":null,)"
        R"("utilization":null,"processing_delay_ms":null,"active_sessions":null,"gpu_count":null,"gpu_utilization":null,)"
        R"("gpu_memory_utilization":null,"queue_depth":null,"ttft_ms":null,"service_time_ms":null,)"
        R"("service_time_source":null,"last_processing_delay_ms":null,"last_processing_delay_age_ms":null,)"
        R"("measured":false,"available":false,"last_report_ms_ago":5000}])");
}

TEST_CASE("reports_json: every verdict counted, last_seq null before the first report") {
  std::array<uint64_t, report::kVerdictCount> c{5, 0, 0, 0, 0, 2, 1, 0};
  auto o = reports_json(c, {{"cloud1", "10.2.1.1", 42}, {"cloud2", "10.2.2.1", std::nullopt}});
  CHECK(json::serialize(o) ==
        R"({"counters":{"accepted":5,"malformed":0,"oversized":0,"unknown_vcpe":0,"peer_mismatch":0,)"
        R"("bad_signature":2,"replay":1,"stale":0},"vcpes":[{"vcpe":"cloud1","address":"10.2.1.1","last_seq":42},)"
        R"({"vcpe":"cloud2","address":"10.2.2.1","last_seq":null}]})");
}

TEST_CASE("store samples mirror the current state") {
  PathView a{"wan1", "cloud1", "cats-wan1", {}, {}, 0, 0, {}};
  a.snap.state = stamp::PathState::unknown;
  auto ps = path_samples({a}, 1234);
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].wan == "wan1");
  CHECK(ps[0].ts_ms == 1234);
  CHECK(ps[0].rtt_ms == 0);
  CHECK(ps[0].state == "unknown");
}

TEST_CASE("event_query: GET /api/v1/events parameters, each bad one named") {
  store::EventQuery q;
  const int64_t now = 1'800'000'000'000;
  REQUIRE_FALSE(event_query({}, now, q));
  CHECK(q.to_ms == now);
  CHECK(q.from_ms == now - 3600'000);
  CHECK(q.kinds.empty());
  CHECK(q.limit == store::EventQuery::kMaxEvents);
  CHECK_FALSE(q.newest);

  REQUIRE_FALSE(event_query({{"since", "5"}, {"until", "9"}, {"kind", "path_*,weights"}, {"subject", "cloud1"},
                             {"limit", "20"}, {"newest", "1"}},
                            now, q));
  CHECK(q.from_ms == 5);
  CHECK(q.to_ms == 9);
  CHECK(q.kinds == std::vector<std::string>{"path_*", "weights"});
  CHECK(q.subject == "cloud1");
  CHECK(q.limit == 20);
  CHECK(q.newest);
  CHECK(q.points == 0);
  REQUIRE_FALSE(event_query({{"since", "5"}, {"until", "9"}, {"points", "2000"}}, now, q));
  CHECK(q.points == 2000);
  REQUIRE_FALSE(event_query({{"from", "5"}, {"to", "9"}}, now, q));  // the older names
  CHECK(q.from_ms == 5);

  auto field = [&](std::map<std::string, std::string> m) {
    auto e = event_query(m, now, q);
    return e ? e->field : std::string("(accepted)");
  };
  CHECK(field({{"since", "yesterday"}}) == "since");
  CHECK(field({{"until", "1e3"}}) == "until");
  CHECK(field({{"since", "10"}, {"until", "9"}}) == "since");
  CHECK(field({{"since", "1"}, {"from", "1"}}) == "since");
  CHECK(field({{"kind", "path_down,"}}) == "kind");
  CHECK(field({{"kind", "path down"}}) == "kind");
  CHECK(field({{"kind", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q"}}) == "kind");
  CHECK(field({{"subject", ""}}) == "subject");
  CHECK(field({{"subject", std::string(300, 'x')}}) == "subject");
  CHECK(field({{"limit", "0"}}) == "limit");
  CHECK(field({{"limit", "1001"}}) == "limit");
  CHECK(field({{"limit", "ten"}}) == "limit");
  CHECK(field({{"newest", "yes"}}) == "newest");
  CHECK(field({{"points", "0"}}) == "points");
  CHECK(field({{"points", "2001"}}) == "points");
  CHECK(field({{"points", "-1"}}) == "points");
  CHECK(field({{"points", "6x"}}) == "points");
  CHECK(field({{"points", ""}}) == "points");
  CHECK(field({{"since", "-9223372036854775808"}, {"until", "9223372036854775807"}, {"points", "10"}}) == "points");
  CHECK(field({{"vcpe", "cloud1"}}) == "vcpe");  // unknown: refused, not ignored
}

TEST_CASE("cost_parts_json: the cost term by term, null where not known") {
  select::CostParts p{2.5, 40, 6, 40, 3, 7};
  CHECK(json::serialize(cost_parts_json(p)) ==
        R"({"access_ms":2.5E0,"delay_ms":4E1,"jitter_ms":6E0,"loss_ms":4E1,"compute_ms":3E0,"wan_cost_ms":7E0})");
  // Weights adopted at a restart: the inputs are not known (NaN), JSON says null.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  select::CostParts q{nan, nan, nan, nan, nan, nan};
  CHECK(json::serialize(cost_parts_json(q)) ==
        R"({"access_ms":null,"delay_ms":null,"jitter_ms":null,"loss_ms":null,"compute_ms":null,"wan_cost_ms":null})");
}
