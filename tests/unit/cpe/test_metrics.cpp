// GET /metrics on the CPE: the exposition of the state the control API serves, in base
// units, with unknown figures left out (cpe/metrics.hpp).
#include "cpe/metrics.hpp"
#include "daemon/daemon.hpp"
#include "gunzip.hpp"

#include <catch2/catch.hpp>

using namespace cats;
using namespace cats::cpe;

namespace {
std::string render(const std::function<void(api::prom::Exposition&)>& f) {
  api::prom::Exposition e;
  f(e);
  return e.render();
}
}  // namespace

TEST_CASE("path_metrics: seconds and ratios, rtt absent until a reply, up from the damped state") {
  PathView a{"wan1", "cloud1", "cats-wan1", {}, {}, 0, 0, {}};
  a.snap.state = stamp::PathState::up;
  a.snap.rtt_ms = 12.5;
  a.snap.jitter_ms = 0.25;
  a.snap.loss_pct = 1.0;
  PathView b{"wan2", "cloud1", "cats-wan2", {}, {}, 0, 0, {}};
  b.snap.state = stamp::PathState::down;  // held down by damping although the probes say up
  b.probe_state = stamp::PathState::up;
  b.snap.loss_pct = 100;
  CHECK(render([&](auto& e) { path_metrics(e, {a, b}); }) ==
        "# HELP cats_path_rtt_seconds Smoothed round-trip time of the path (STAMP, RFC 8762).\n"
        "# TYPE cats_path_rtt_seconds gauge\n"
        "cats_path_rtt_seconds{wan=\"wan1\",vcpe=\"cloud1\"} 0.0125\n"
        "# HELP cats_path_jitter_seconds Round-trip jitter of the path.\n"
        "# TYPE cats_path_jitter_seconds gauge\n"
        "cats_path_jitter_seconds{wan=\"wan1\",vcpe=\"cloud1\"} 0.00025\n"
        "cats_path_jitter_seconds{wan=\"wan2\",vcpe=\"cloud1\"} 0\n"
        "# HELP cats_path_loss_ratio Share of probes lost on the path, 0..1.\n"
        "# TYPE cats_path_loss_ratio gauge\n"
        "cats_path_loss_ratio{wan=\"wan1\",vcpe=\"cloud1\"} 0.01\n"
        "cats_path_loss_ratio{wan=\"wan2\",vcpe=\"cloud1\"} 1\n"
        "# HELP cats_path_up 1 when the path is up (after flap damping), else 0.\n"
        "# TYPE cats_path_up gauge\n"
        "cats_path_up{wan=\"wan1\",vcpe=\"cloud1\"} 1\n"
        "cats_path_up{wan=\"wan2\",vcpe=\"cloud1\"} 0\n");
}

TEST_CASE("instance_metrics: reported figures by type, missing ones absent, availability") {
  using namespace cats::metrics;
  report::InstanceTable::Map m;
  report::InstanceState st;
  st.reported_available = true;
  st.metrics = {make(MetricType::vcpus, 6, Source::nominal), make(MetricType::cpu_utilization, 0.5),
                make(MetricType::processing_delay_ms, 12), L0Metric{0x9000, 7.0}};  // unknown: ignored
  m[{"cloud1", "app1", "app1-a"}] = st;
  report::InstanceState st2;
  st2.reported_available = true;
  st2.expired = true;
  m[{"cloud2", "app1", "app1-b"}] = st2;
  const std::string out = render([&](auto& e) { instance_metrics(e, m); });
  const std::string a = R"({service="app1",instance="app1-a",vcpe="cloud1"})";
  const std::string b = R"({service="app1",instance="app1-b",vcpe="cloud2"})";
  CHECK(out.find("cats_instance_utilization_ratio" + a + " 0.5\n") != std::string::npos);
  CHECK(out.find("cats_instance_vcpus" + a + " 6\n") != std::string::npos);
  CHECK(out.find("cats_instance_processing_delay_seconds" + a + " 0.012\n") != std::string::npos);
  CHECK(out.find("cats_instance_available" + a + " 1\n") != std::string::npos);
  CHECK(out.find("cats_instance_available" + b + " 0\n") != std::string::npos);  // expired
  CHECK(out.find("cats_instance_vcpus" + b) == std::string::npos);              // not reported
  CHECK(out.find("# TYPE cats_instance_vcpus gauge\n") != std::string::npos);
}

TEST_CASE("report_metrics: received counts every verdict, one rejected series per cause") {
  std::array<uint64_t, report::kVerdictCount> c{5, 1, 0, 0, 0, 2, 1, 0};
  CHECK(render([&](auto& e) { report_metrics(e, c); }) ==
        "# HELP cats_reports_received_total Report datagrams the collector received, accepted or rejected.\n"
        "# TYPE cats_reports_received_total counter\n"
        "cats_reports_received_total 9\n"
        "# HELP cats_reports_rejected_total Reports rejected, by cause.\n"
        "# TYPE cats_reports_rejected_total counter\n"
        "cats_reports_rejected_total{cause=\"malformed\"} 1\n"
        "cats_reports_rejected_total{cause=\"oversized\"} 0\n"
        "cats_reports_rejected_total{cause=\"unknown_vcpe\"} 0\n"
        "cats_reports_rejected_total{cause=\"peer_mismatch\"} 0\n"
        "cats_reports_rejected_total{cause=\"bad_signature\"} 2\n"
        "cats_reports_rejected_total{cause=\"replay\"} 1\n"
        "cats_reports_rejected_total{cause=\"stale\"} 0\n");
}

TEST_CASE("steering_metrics: weight per candidate, flows only when counted, publications per service") {
  std::vector<CandidateMetric> cs{{"app1", "app1-a", "wan1", 700, 3}, {"app1", "10.2.2.10:8080", "wan2", 300, {}}};
  CHECK(render([&](auto& e) { steering_metrics(e, cs, {{"app1", 4}}); }) ==
        "# HELP cats_service_weight Applied weight of the candidate: its share of the service's new flows in "
        "thousandths (0..1000).\n"
        "# TYPE cats_service_weight gauge\n"
        "cats_service_weight{service=\"app1\",instance=\"app1-a\",wan=\"wan1\"} 700\n"
        "cats_service_weight{service=\"app1\",instance=\"10.2.2.10:8080\",wan=\"wan2\"} 300\n"
        "# HELP cats_service_flows Conntrack entries carrying the candidate's mark.\n"
        "# TYPE cats_service_flows gauge\n"
        "cats_service_flows{service=\"app1\",instance=\"app1-a\",wan=\"wan1\"} 3\n"
        "# HELP cats_weight_publications_total Weight publications of the selector, by service.\n"
        "# TYPE cats_weight_publications_total counter\n"
        "cats_weight_publications_total{service=\"app1\"} 4\n");
}

TEST_CASE("/metrics with its gzip cache: every answer is the fresh render, after every kind of change") {
  // The CPE's families over state the test changes, the request histograms as the daemon
  // registers them (daemon::run), and the route serving them; after each change the plain
  // and the gzip answers must equal an exposition rendered afresh, and the cached state
  // part must be deflated again exactly when the state's text changed.
  using namespace cats::metrics;
  std::vector<PathView> paths{{"wan1", "cloud1", "cats-wan1", {}, {}, 0, 0, {}}};
  paths[0].snap.state = stamp::PathState::up;
  paths[0].snap.rtt_ms = 12.5;
  report::InstanceTable::Map table;
  report::InstanceState st;
  st.reported_available = true;
  st.metrics = {make(MetricType::vcpus, 6, Source::nominal), make(MetricType::cpu_utilization, 0.5)};
  table[{"cloud1", "app1", "app1-a"}] = st;
  std::array<uint64_t, report::kVerdictCount> counters{};
  std::vector<report::PlanStatus> plans(1);
  plans[0].vcpe = "cloud1";
  plans[0].revision = 1;
  std::vector<CandidateMetric> candidates{{"app1", "app1-a", "wan1", 1000, 0}};
  std::vector<ServicePublications> pubs{{"app1", 1}};
  daemon::RequestStats requests;
  const std::vector<api::prom::Collector> state{[&](api::prom::Exposition& e) {
    path_metrics(e, paths);
    instance_metrics(e, table);
    report_metrics(e, counters);
    plan_metrics(e, plans);
    steering_metrics(e, candidates, pubs);
  }};
  const std::vector<api::prom::Collector> per_request{[&](api::prom::Exposition& e) { requests.collect(e); }};
  const daemon::MetricsRoute route(state, per_request);
  auto fresh = [&] {
    api::prom::Exposition e;
    for (const auto& c : state) c(e);
    for (const auto& c : per_request) c(e);
    return e.render();
  };
  api::Request plain, gz;
  gz.headers["accept-encoding"] = "gzip";
  // One scrape of each kind, as a client would make them, each counted afterwards in the
  // request histogram as the router's observer does. Returns the parts deflated for it.
  auto scrape = [&] {
    const uint64_t before = route.deflated_parts();
    const std::string want = fresh();
    auto p = route(plain);
    REQUIRE(p.raw);
    CHECK(*p.raw == want);
    auto z = route(gz);
    REQUIRE(z.raw);
    CHECK(test::gunzip(*z.raw) == want);
    const uint64_t n = route.deflated_parts() - before;
    requests.observe("/metrics", 200, 0.003);
    return n;
  };
  CHECK(scrape() == 2);  // first: both parts
  CHECK(scrape() == 1);  // the state unchanged: only the request histograms, which did change
  SECTION("a path's figures") {
    paths[0].snap.rtt_ms = 13.0;
    CHECK(scrape() == 2);
    paths[0].snap.state = stamp::PathState::down;
    CHECK(scrape() == 2);
    paths.push_back({"wan2", "cloud1", "cats-wan2", {}, {}, 0, 0, {}});
    CHECK(scrape() == 2);
  }
  SECTION("an instance's report, availability, a new instance") {
    table[{"cloud1", "app1", "app1-a"}].metrics[1] = make(MetricType::cpu_utilization, 0.75);
    CHECK(scrape() == 2);
    table[{"cloud1", "app1", "app1-a"}].expired = true;
    CHECK(scrape() == 2);
    table[{"cloud1", "app1", "app1-b"}] = st;
    CHECK(scrape() == 2);
  }
  SECTION("reports received and rejected") {
    ++counters[0];
    CHECK(scrape() == 2);
    ++counters[static_cast<size_t>(report::Verdict::bad_signature)];
    CHECK(scrape() == 2);
  }
  SECTION("a vCPE's sampling plan") {
    plans[0].state = report::SyncState::in_sync;
    CHECK(scrape() == 2);
    plans[0].revision = 2;
    CHECK(scrape() == 2);
  }
  SECTION("weights, flows, publications") {
    candidates[0].weight = 500;
    CHECK(scrape() == 2);
    candidates[0].flows = 7;
    CHECK(scrape() == 2);
    pubs[0].publications = 2;
    CHECK(scrape() == 2);
  }
  SECTION("requests of other routes, and a new series") {
    requests.observe("/api/v1/status", 200, 0.001);
    CHECK(scrape() == 1);
    requests.observe("", 404, 0.0001);
    CHECK(scrape() == 1);
  }
}
