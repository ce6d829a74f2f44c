// cpe::Steering: the loop from probed paths and reported instances to the data-plane
// State, with a fake kernel seam (apply/adopt record and replay) and an injected clock.
#include "cpe/steering.hpp"

#include "metrics/metric.hpp"

#include <catch2/catch.hpp>

#include <numeric>

using namespace cats;
using namespace cats::cpe;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

IpAddress addr(const char* s) { return *parse_address(s); }
UdpEndpoint ep(const char* s) { return *parse_endpoint(s); }

// Figure 4: two WANs, two clouds with one app1 instance each.
config::CpeConfig fig4() {
  config::CpeConfig c;
  c.reporting.max_interval_ms = 1000;
  for (const char* w : {"wan1", "wan2"}) {
    config::Wan wan;
    wan.name = w;
    c.wans.push_back(wan);
  }
  for (auto [name, a] : {std::pair{"cloud1", "10.2.1.1"}, std::pair{"cloud2", "10.2.2.1"}}) {
    config::VcpePeer v;
    v.name = name;
    v.address = addr(a);
    c.vcpes.push_back(v);
  }
  config::Service s;
  s.select.id = "app1";
  s.select.service_time_ms = 20;
  s.vip = addr("10.255.0.1");
  s.ports = {80};
  s.instances = {{"cloud1", ep("10.2.1.10:8080")}, {"cloud2", ep("10.2.2.10:8080")}};
  c.services.push_back(s);
  return c;
}

PathView path(const char* wan, const char* vcpe, stamp::PathState st, double rtt = 10) {
  PathView p;
  p.wan = wan;
  p.vcpe = vcpe;
  p.snap.state = st;
  if (st == stamp::PathState::up) p.snap.rtt_ms = rtt;
  return p;
}

std::vector<PathView> all_paths(stamp::PathState st) {
  return {path("wan1", "cloud1", st), path("wan1", "cloud2", st), path("wan2", "cloud1", st),
          path("wan2", "cloud2", st)};
}

void put_report(report::InstanceTable::Map& t, const char* vcpe, const char* id, const char* address, double util,
            bool available = true) {
  report::InstanceState st;
  st.address = ep(address);
  st.reported_available = available;
  st.metrics = {metrics::make(metrics::MetricType::vcpus, 6, metrics::Source::nominal),
                metrics::make(metrics::MetricType::cpu_utilization, util)};
  t[{vcpe, "app1", id}] = st;
}

report::InstanceTable::Map fig4_reports() {
  report::InstanceTable::Map t;
  put_report(t, "cloud1", "app1-cloud1", "10.2.1.10:8080", 0.5);
  put_report(t, "cloud2", "app1-cloud2", "10.2.2.10:8080", 0.2);
  return t;
}

struct Harness {
  Clock::time_point now = Clock::time_point{} + 1000s;
  std::vector<steer::State> applied;
  std::optional<steer::State> live;  // what adopt() finds
  std::vector<std::string> events;
  bool fail_apply = false;
  Steering s;

  explicit Harness(config::CpeConfig c = fig4(), Steering::Ids ids = {})
      : s(std::move(c),
          [this](const steer::State& st) -> Result<steer::ApplyReport> {
            if (fail_apply) return Error::msg("nft: injected failure");
            applied.push_back(st);
            return steer::ApplyReport{};
          },
          [this](const steer::State&) -> Result<std::optional<steer::State>> { return live; },
          [this](const std::string& kind, const std::string& subject, const std::string& detail) {
            events.push_back(kind + " " + subject + ": " + detail);
          },
          [this] { return now; }, std::move(ids)) {}
};

uint32_t sum(const steer::Service& s) {
  return std::accumulate(s.candidates.begin(), s.candidates.end(), 0u,
                         [](uint32_t a, const steer::Candidate& c) { return a + c.weight; });
}
uint32_t weight_of(const steer::Service& s, int instance) {  // both WANs of instance i
  return s.candidates[static_cast<size_t>(instance) * 2].weight + s.candidates[static_cast<size_t>(instance) * 2 + 1].weight;
}

}  // namespace

TEST_CASE("steering: candidates are instance x WAN in config order") {
  auto st = steer_state(fig4(), {}, {});
  REQUIRE(st.services.size() == 1);
  const auto& c = st.services[0].candidates;
  REQUIRE(c.size() == 4);
  CHECK(c[0].address == addr("10.2.1.10"));
  CHECK(c[0].wan == 1);
  CHECK(c[1].wan == 2);
  CHECK(c[2].address == addr("10.2.2.10"));
  CHECK(c[3].port == 8080);
  CHECK(sum(st.services[0]) == 0);
  CHECK(candidate_key(fig4(), fig4().services[0], 3) == "cloud2/10.2.2.10:8080/wan2");
}

TEST_CASE("steering: fresh start programs the structure with zero weights, then decides once inputs are known") {
  Harness h;
  REQUIRE(h.s.start());
  REQUIRE(h.applied.size() == 1);
  CHECK(sum(h.applied[0].services[0]) == 0);  // new VIP connections refused until a decision

  // Paths still unknown and no reports: warming up, nothing decided or applied.
  h.now += 100ms;
  h.s.tick(all_paths(stamp::PathState::unknown), {});
  CHECK_FALSE(h.s.deciding());
  CHECK(h.applied.size() == 1);

  h.now += 100ms;
  h.s.tick(all_paths(stamp::PathState::up), fig4_reports());
  CHECK(h.s.deciding());
  REQUIRE(h.applied.size() == 2);
  const auto& svc = h.applied.back().services[0];
  CHECK(sum(svc) == 1000);
  CHECK(weight_of(svc, 1) > weight_of(svc, 0));  // figure 4: cloud2 preferred
  REQUIRE(h.events.size() == 1);
  CHECK(h.events[0].rfind("weights app1: ok", 0) == 0);

  // Same inputs again: no publication, no apply.
  h.now += 100ms;
  h.s.tick(all_paths(stamp::PathState::up), fig4_reports());
  CHECK(h.applied.size() == 2);
  CHECK(h.events.size() == 1);
}

TEST_CASE("steering: /metrics sees applied weights, ct marks and publications per candidate") {
  Harness h;
  REQUIRE(h.s.start());
  auto cw = h.s.candidate_weights();
  REQUIRE(cw.size() == 4);
  CHECK(cw[0].service == "app1");
  CHECK(cw[0].wan == "wan1");
  CHECK(cw[3].wan == "wan2");
  CHECK(cw[0].mark == steer::candidate_mark(1, 1));
  CHECK(cw[3].mark == steer::candidate_mark(4, 2));
  CHECK_FALSE(cw[0].ipv6);
  for (const auto& c : cw) CHECK(c.weight == 0);  // before the first decision
  CHECK(h.s.publications() == std::vector<std::pair<std::string, uint64_t>>{{"app1", 0}});

  h.now += 100ms;
  h.s.tick(all_paths(stamp::PathState::up), fig4_reports());
  cw = h.s.candidate_weights();
  const auto& applied = h.applied.back().services[0].candidates;
  uint32_t total = 0;
  for (size_t k = 0; k < cw.size(); ++k) {
    CHECK(cw[k].weight == applied[k].weight);
    total += cw[k].weight;
  }
  CHECK(total == 1000);
  CHECK(cw[2].instance == cw[3].instance);  // one instance over both WANs
  CHECK(h.s.publications() == std::vector<std::pair<std::string, uint64_t>>{{"app1", 1}});
  h.now += 100ms;
  h.s.tick(all_paths(stamp::PathState::up), fig4_reports());  // same inputs: no publication
  CHECK(h.s.publications() == std::vector<std::pair<std::string, uint64_t>>{{"app1", 1}});
}

TEST_CASE("steering: warm-up ends at the expiry deadline even if a vCPE never reports") {
  Harness h;
  REQUIRE(h.s.start());
  report::InstanceTable::Map only1;
  put_report(only1, "cloud1", "app1-cloud1", "10.2.1.10:8080", 0.5);
  h.s.tick(all_paths(stamp::PathState::up), only1);
  CHECK_FALSE(h.s.deciding());
  h.now += 3001ms;
  h.s.tick(all_paths(stamp::PathState::up), only1);
  REQUIRE(h.s.deciding());
  const auto& svc = h.applied.back().services[0];
  CHECK(weight_of(svc, 0) == 1000);
  CHECK(weight_of(svc, 1) == 0);
  // The silent instance's flows are flushed (unreachable), its paths stay known.
  CHECK(svc.candidates[2].health == steer::Health::unreachable);
  CHECK(svc.candidates[3].health == steer::Health::unreachable);
  CHECK(svc.candidates[0].health == steer::Health::ok);
}

TEST_CASE("steering: a dead WAN path moves flows (path_down) and loses its weight at once") {
  Harness h;
  REQUIRE(h.s.start());
  h.s.tick(all_paths(stamp::PathState::up), fig4_reports());
  auto paths = all_paths(stamp::PathState::up);
  paths[0].snap.state = stamp::PathState::down;  // wan1 -> cloud1
  paths[1].snap.state = stamp::PathState::down;  // wan1 -> cloud2
  paths[0].snap.rtt_ms.reset();
  paths[1].snap.rtt_ms.reset();
  h.now += 100ms;  // well inside the hold-down: a lost candidate is urgent
  h.s.tick(paths, fig4_reports());
  const auto& svc = h.applied.back().services[0];
  CHECK(svc.candidates[0].weight == 0);
  CHECK(svc.candidates[2].weight == 0);
  CHECK(svc.candidates[1].weight > 0);
  CHECK(svc.candidates[3].weight > 0);
  CHECK(svc.candidates[0].health == steer::Health::path_down);
  CHECK(svc.candidates[2].health == steer::Health::path_down);
  CHECK(svc.candidates[1].health == steer::Health::ok);
  CHECK(sum(svc) == 1000);
}

TEST_CASE("steering: an unavailable instance is unreachable; reject mode leaves all weights 0 when none is left") {
  Harness h;
  REQUIRE(h.s.start());
  h.s.tick(all_paths(stamp::PathState::up), fig4_reports());
  auto t = fig4_reports();
  put_report(t, "cloud2", "app1-cloud2", "10.2.2.10:8080", 0.2, false);
  h.now += 100ms;
  h.s.tick(all_paths(stamp::PathState::up), t);
  {
    const auto& svc = h.applied.back().services[0];
    CHECK(weight_of(svc, 1) == 0);
    CHECK(weight_of(svc, 0) == 1000);
    CHECK(svc.candidates[2].health == steer::Health::unreachable);
  }
  put_report(t, "cloud1", "app1-cloud1", "10.2.1.10:8080", 0.5, false);
  h.now += 100ms;
  h.s.tick(all_paths(stamp::PathState::up), t);
  const auto& svc = h.applied.back().services[0];
  CHECK(sum(svc) == 0);
  bool rejected_event = false;
  for (auto& e : h.events) rejected_event |= e.find("weights app1: rejected") == 0;
  CHECK(rejected_event);
}

TEST_CASE("steering: a restart adopts the live weights and writes nothing while inputs agree") {
  Harness first;
  REQUIRE(first.s.start());
  first.s.tick(all_paths(stamp::PathState::up), fig4_reports());
  const steer::State live = first.applied.back();

  Harness h;
  h.live = live;
  REQUIRE(h.s.start());
  CHECK(h.applied.empty());  // adopted, nothing written
  REQUIRE(h.s.applied().has_value());
  CHECK(*h.s.applied() == live);
  h.now += 200ms;
  h.s.tick(all_paths(stamp::PathState::up), fig4_reports());
  // Same inputs: the kernel already holds what the selector would publish.
  for (const auto& a : h.applied) CHECK(a == live);
  h.now += 2500ms;  // past the reconcile period: a re-apply of the same state at most
  h.s.tick(all_paths(stamp::PathState::up), fig4_reports());
  for (const auto& a : h.applied) CHECK(a == live);
}

TEST_CASE("steering: a failed apply is retried on the next tick, not assumed done") {
  Harness h;
  h.fail_apply = true;
  CHECK_FALSE(h.s.start());  // the failed apply is reported, and retried on the next tick
  CHECK_FALSE(h.s.applied().has_value());
  h.s.tick(all_paths(stamp::PathState::up), fig4_reports());
  CHECK(h.applied.empty());
  h.fail_apply = false;
  h.now += 100ms;
  h.s.tick(all_paths(stamp::PathState::up), fig4_reports());
  REQUIRE(h.applied.size() == 1);
  CHECK(sum(h.applied[0].services[0]) == 1000);
}

TEST_CASE("steering: decisions and services JSON carry what an operator needs") {
  Harness h;
  REQUIRE(h.s.start());
  auto before = h.s.decisions_json();
  REQUIRE(before.size() == 4);
  CHECK(before[0].as_object().at("reason").as_string().starts_with("warming up"));
  h.s.tick(all_paths(stamp::PathState::up), fig4_reports());
  auto d = h.s.decisions_json();
  REQUIRE(d.size() == 4);
  int64_t total = 0;
  for (const auto& v : d) {
    const auto& o = v.as_object();
    for (const char* k : {"service", "instance", "vcpe", "wan", "weight", "cost_ms", "reason"})
      CHECK(o.contains(k));
    total += o.at("weight").to_number<int64_t>();
  }
  CHECK(total == 1000);
  // The cost term by term (docs/API.md "cost_parts"): the parts add up to cost_ms.
  for (const auto& v : d) {
    const auto& o = v.as_object();
    const auto& parts = o.at("cost_parts").as_object();
    double sum = 0;
    for (const char* k : {"access_ms", "delay_ms", "jitter_ms", "loss_ms", "compute_ms", "wan_cost_ms"})
      sum += parts.at(k).to_number<double>();
    CHECK(sum == Approx(o.at("cost_ms").to_number<double>()).epsilon(1e-12));
    CHECK(parts.at("delay_ms").to_number<double>() > 0);
    CHECK(parts.at("compute_ms").to_number<double>() > 0);
  }
  CHECK(d[2].as_object().at("instance").as_string() == "app1-cloud2");
  CHECK(d[2].as_object().at("vcpe").as_string() == "cloud2");
  auto sv = h.s.services_json();
  REQUIRE(sv.size() == 1);
  CHECK(sv[0].as_object().at("vip").as_string() == "10.255.0.1");
  CHECK(sv[0].as_object().at("outcome").as_string() == "ok");
}

TEST_CASE("steering: the stream's decisions message carries a whole service of one publication") {
  Harness h;
  REQUIRE(h.s.start());
  auto check = [&](uint64_t publication) {
    auto m = h.s.decisions_by_service();
    REQUIRE(m.size() == 1);
    const auto& o = m[0].as_object();
    CHECK(o.at("service").as_string() == "app1");
    CHECK(o.at("publication").to_number<uint64_t>() == publication);
    CHECK(o.at("total").to_number<uint32_t>() == steer::kWeightTotal);
    // The same items as GET /api/v1/decisions, and the weights in force (applied), whole.
    const auto& c = o.at("candidates").as_array();
    CHECK(c == h.s.decisions_json());
    uint32_t total = 0;
    for (size_t k = 0; k < c.size(); ++k) {
      CHECK(c[k].as_object().at("service").as_string() == "app1");
      total += static_cast<uint32_t>(c[k].as_object().at("weight").to_number<int64_t>());
    }
    CHECK(total == (h.applied.empty() ? 0 : sum(h.applied.back().services[0])));
    return total;
  };
  CHECK(check(0) == 0);  // warming up: no publication, every weight 0
  h.s.tick(all_paths(stamp::PathState::up), fig4_reports());
  CHECK(check(1) == steer::kWeightTotal);
  auto paths = all_paths(stamp::PathState::up);
  paths[0].snap.state = stamp::PathState::down;
  paths[0].snap.rtt_ms.reset();
  h.now += 100ms;
  h.s.tick(paths, fig4_reports());
  CHECK(check(2) == steer::kWeightTotal);
}

TEST_CASE("steering: --check describes the table and rules before the first decision") {
  auto d = describe_steering(fig4());
  CHECK_THAT(d, Catch::Contains("rule ipv4 prio 10801 fwmark 0x00010000/0x00ff0000 table 10101 proto 201"));
  CHECK_THAT(d, Catch::Contains("rule ipv4 prio 10802 fwmark 0x00020000/0x00ff0000 table 10102 proto 201"));
  CHECK_THAT(d, Catch::Contains("0x04020000 : 10.2.2.10 . 8080"));
  CHECK_THAT(d, Catch::Contains("ip daddr 10.255.0.1 tcp dport 80 ct mark and 0xff000000 == 0 reject with tcp reset"));
  CHECK(d.find("elements = { 0-") == std::string::npos);  // no weights yet
  config::CpeConfig none = fig4();
  none.services.clear();
  CHECK(describe_steering(none) == "steering: no services (table inet cats absent)\n");
}

TEST_CASE("service_inputs: an instance is priced by its own figures once it has given any") {
  using metrics::MetricType;
  using metrics::Source;
  using metrics::Statistic;
  const auto cfg = fig4();  // service_time_ms 20
  const auto& svc = cfg.services[0];
  const auto paths = all_paths(stamp::PathState::up);
  const auto t0 = Clock::time_point{} + 100s;
  report::InstanceTable table;
  auto apply = [&](const char* vcpe, const char* id, const char* address, std::vector<metrics::L0Metric> extra,
                   Clock::time_point at) {
    report::Report r;
    r.vcpe_id = vcpe;
    r.seq = static_cast<uint64_t>(at.time_since_epoch().count());
    report::InstanceReport in;
    in.service_id = "app1";
    in.instance_id = id;
    in.address = ep(address);
    in.available = true;
    in.metrics = {metrics::make(MetricType::vcpus, 4, Source::nominal),
                  metrics::make(MetricType::cpu_utilization, 0.1)};
    in.metrics.insert(in.metrics.end(), extra.begin(), extra.end());
    r.instances.push_back(in);
    table.apply(r, at);
  };

  // cloud1: service time configured at its vCPE. cloud2: nothing about its processing yet.
  apply("cloud1", "app1-cloud1", "10.2.1.10:8080", {metrics::make(MetricType::service_time_ms, 5.0, Source::nominal)},
        t0);
  apply("cloud2", "app1-cloud2", "10.2.2.10:8080", {}, t0);
  auto in = service_inputs(cfg, svc, paths, table.entries());
  REQUIRE(in.instances.size() == 2);
  CHECK(in.instances[0].measured);
  CHECK(in.instances[0].service_time_ms == 5.0);
  CHECK_FALSE(in.instances[1].measured);  // explored only, priced with the service's 20 ms
  CHECK_FALSE(in.instances[1].service_time_ms);

  // cloud2 measured once (exploration traffic): 60 ms, fresh.
  apply("cloud2", "app1-cloud2", "10.2.2.10:8080",
        {metrics::make(MetricType::processing_delay_ms, 60.0, Source::measured, Statistic::mean)}, t0 + 1s);
  in = service_inputs(cfg, svc, paths, table.entries());
  CHECK(in.instances[1].measured);
  CHECK(in.instances[1].processing_delay_ms == 60.0);
  // No service time reported yet: the measured delay bounds it (min with the constant).
  CHECK(in.instances[1].service_time_ms == 20.0);

  // Its traffic stops: no fresh delay any more, but the learned figure and the last delay
  // (20 s old) keep it priced as itself, never as the service's constant again.
  apply("cloud2", "app1-cloud2", "10.2.2.10:8080",
        {metrics::make(MetricType::service_time_ms, 59.0, Source::estimated, Statistic::mean),
         metrics::make(MetricType::last_processing_delay_ms, 60.0, Source::measured, Statistic::mean),
         metrics::make(MetricType::last_processing_delay_age_ms, 20'000.0)},
        t0 + 21s);
  in = service_inputs(cfg, svc, paths, table.entries());
  CHECK(in.instances[1].measured);
  CHECK_FALSE(in.instances[1].processing_delay_ms);
  CHECK(in.instances[1].service_time_ms == 59.0);
  // ...also in a later report that carries none of it (e.g. its vCPE restarted).
  apply("cloud2", "app1-cloud2", "10.2.2.10:8080", {}, t0 + 30s);
  in = service_inputs(cfg, svc, paths, table.entries());
  CHECK(in.instances[1].measured);
  CHECK(in.instances[1].service_time_ms == 59.0);

  // A last delay below the constant (an instance faster than the service's figure) is the
  // better bound: 8 ms.
  report::InstanceTable t2;
  report::Report r;
  r.vcpe_id = "cloud1";
  r.seq = 1;
  report::InstanceReport x;
  x.service_id = "app1";
  x.instance_id = "app1-cloud1";
  x.address = ep("10.2.1.10:8080");
  x.available = true;
  x.metrics = {metrics::make(MetricType::last_processing_delay_ms, 8.0, Source::measured, Statistic::mean),
               metrics::make(MetricType::last_processing_delay_age_ms, 5'000.0)};
  r.instances.push_back(x);
  t2.apply(r, t0);
  in = service_inputs(cfg, svc, paths, t2.entries());
  CHECK(in.instances[0].measured);
  CHECK(in.instances[0].service_time_ms == 8.0);
  CHECK_FALSE(in.instances[1].measured);  // never reported at all
  CHECK_FALSE(in.instances[1].available);
}

TEST_CASE("steering: decisions name an instance that is only explored, and one whose weight decays outside the window") {
  using metrics::MetricType;
  Harness h;
  REQUIRE(h.s.start());
  auto reports = fig4_reports();
  // cloud1 gave its service time (configured at its vCPE); cloud2 never gave any figure.
  auto& c1 = reports.begin()->second;
  REQUIRE(reports.begin()->first.vcpe_id == "cloud1");
  c1.metrics.push_back(metrics::make(MetricType::service_time_ms, 20.0, metrics::Source::nominal));
  report::update_figures(c1.figures, c1.metrics, h.now);
  REQUIRE(c1.figures.measured);
  h.s.tick(all_paths(stamp::PathState::up), reports);
  auto d = h.s.decisions_json();
  REQUIRE(d.size() == 4);
  for (size_t k = 0; k < 4; ++k) {
    const auto& o = d[k].as_object();
    INFO(k << " " << o.at("reason").as_string());
    CHECK(o.at("measured").as_bool() == (k < 2));
    if (k < 2) CHECK(o.at("reason").as_string() != "not scored");
  }
  // cloud2: explored (a bounded share), not "best" even though its guessed cost may be lower.
  uint32_t explored = 0;
  for (size_t k = 2; k < 4; ++k) {
    const auto& o = d[k].as_object();
    explored += static_cast<uint32_t>(o.at("weight").to_number<int64_t>());
    if (o.at("weight").to_number<int64_t>() > 0) CHECK(o.at("reason").as_string().starts_with("exploring"));
  }
  CHECK(explored > 0);
  CHECK(explored <= 100);  // select's explore_share 5 %, explore_max 10 %
  CHECK(d[0].as_object().at("reason").as_string() == "best");
  {
    // Nobody measured (fig4 at start): no exploration, ranked by cost as before.
    Harness h2;
    REQUIRE(h2.s.start());
    h2.s.tick(all_paths(stamp::PathState::up), fig4_reports());
    auto d2 = h2.s.decisions_json();
    REQUIRE(d2.size() == 4);
    for (const auto& x : d2) {
      INFO(x.as_object().at("reason").as_string());
      CHECK_FALSE(x.as_object().at("measured").as_bool());
      CHECK_FALSE(x.as_object().at("reason").as_string().starts_with("exploring"));
    }
    CHECK(d2[2].as_object().at("reason").as_string() == "best");  // cloud2 (20 %) is cheapest
  }

  // cloud2 measured now, at 200 ms per request: far outside the window. The selector takes
  // it down in damped steps; meanwhile its weight is named as decaying, not "near-best".
  auto& c2 = std::next(reports.begin())->second;
  REQUIRE(std::next(reports.begin())->first.vcpe_id == "cloud2");
  c2.metrics.push_back(metrics::make(MetricType::service_time_ms, 200.0, metrics::Source::estimated));
  report::update_figures(c2.figures, c2.metrics, h.now);
  // Until the selector publishes its next step (it names the costs it stepped on).
  const size_t published = h.events.size();
  for (int step = 0; step < 20 && h.events.size() == published; ++step) {
    h.now += 1100ms;
    h.s.tick(all_paths(stamp::PathState::up), reports);
  }
  REQUIRE(h.events.size() > published);
  CHECK_THAT(h.events.back(), Catch::Contains("cloud2/10.2.2.10:8080 service time"));
  d = h.s.decisions_json();
  uint32_t decaying = 0;
  for (size_t k = 2; k < 4; ++k) {
    const auto& o = d[k].as_object();
    CHECK(o.at("measured").as_bool());
    const auto w = static_cast<uint32_t>(o.at("weight").to_number<int64_t>());
    decaying += w;
    INFO(o.at("reason").as_string());
    if (w > 0) CHECK(o.at("reason").as_string().starts_with("leaving: cost outside the spread window"));
    else CHECK(o.at("reason").as_string() == "cost outside the spread window");
  }
  CHECK(decaying < explored);  // on its way down
  CHECK(d[2].as_object().at("cost_ms").to_number<double>() > 1.25 * d[0].as_object().at("cost_ms").to_number<double>());
}

TEST_CASE("steering: a configuration change keeps the weights of unchanged services only") {
  Harness first;
  REQUIRE(first.s.start());
  first.s.tick(all_paths(stamp::PathState::up), fig4_reports());
  const steer::State before = first.applied.back();
  REQUIRE(sum(before.services[0]) == 1000);

  // A second service added, app1 untouched: app1 keeps its weights, app2 starts at 0.
  config::CpeConfig two = fig4();
  auto app2 = two.services[0];
  app2.select.id = "app2";
  app2.vip = addr("10.255.0.9");
  two.services.push_back(app2);
  Harness h(two);
  REQUIRE(h.s.start(before));
  REQUIRE(h.applied.size() == 1);
  CHECK(h.applied[0].services[0] == before.services[0]);
  CHECK(sum(h.applied[0].services[1]) == 0);

  // app1 itself changed (another port): it is new, so it starts at 0 too.
  config::CpeConfig changed = fig4();
  changed.services[0].ports = {8443};
  Harness c(changed);
  REQUIRE(c.s.start(before));
  CHECK(sum(c.applied.back().services[0]) == 0);

  // A refused first apply fails start(): the reload is undone by the caller.
  Harness f(two);
  f.fail_apply = true;
  CHECK_FALSE(f.s.start(before));
}

TEST_CASE("steering: a candidate keeps its mark when a service before it is removed; no id left refuses the change") {
  config::CpeConfig two = fig4();
  config::Service b = two.services[0];
  b.select.id = "app2";
  b.vip = addr("10.255.0.2");
  two.services.push_back(b);
  Harness before(two);
  REQUIRE(before.s.start());
  auto marks_of = [](const Steering& s, const std::string& svc) {
    std::vector<uint32_t> out;
    for (const auto& c : s.candidate_weights())
      if (c.service == svc) out.push_back(c.mark);
    return out;
  };
  const auto app2 = marks_of(before.s, "app2");
  CHECK(app2 == std::vector<uint32_t>{0x05010000, 0x06020000, 0x07010000, 0x08020000});

  // The kernel seam: ids as the live table holds them (the applied State's).
  const steer::State live = *before.s.applied();
  config::CpeConfig only_b = two;
  only_b.services.erase(only_b.services.begin());
  Harness after(only_b, {[&]() -> Result<steer::Assignment> { return steer::assignment_of(live); }, nullptr});
  REQUIRE(after.s.start(live));
  CHECK(marks_of(after.s, "app2") == app2);  // not renumbered to 1..4
  REQUIRE(after.applied.size() == 1);
  CHECK(steer::candidate_ids(after.applied[0]) == std::vector<std::vector<int>>{{5, 6, 7, 8}});

  // A change whose new candidates find no free id (every other id carried by flows) is
  // refused before anything is applied.
  config::CpeConfig grown = two;
  config::Service c = b;
  c.select.id = "app3";
  c.vip = addr("10.255.0.3");
  grown.services.push_back(c);
  Harness full(grown, {[&]() -> Result<steer::Assignment> { return steer::assignment_of(live); },
                       [](int) -> Result<bool> { return true; }});
  auto r = full.s.start(live);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("candidate ids") && Catch::Contains("service app3") &&
                                    Catch::Contains("by the flows of removed candidates"));
  CHECK(full.applied.empty());
}

TEST_CASE("steering: a retuned WAN cost takes that WAN's flows away without a restart") {
  Harness h;
  REQUIRE(h.s.start());
  h.s.tick(all_paths(stamp::PathState::up), fig4_reports());
  REQUIRE(h.applied.back().services[0].candidates[1].weight > 0);  // cloud1 over wan2

  // The inputs carry the configured figures (service_inputs).
  config::CpeConfig next = fig4();
  next.wans[1].cost = 100;  // wan2: metered, far outside the 25 % window of ~30 ms
  next.wans[0].weight = 3;
  auto in = service_inputs(next, next.services[0], all_paths(stamp::PathState::up), fig4_reports());
  REQUIRE(in.paths.size() == 4);
  CHECK(in.paths[0].weight == 3);
  CHECK(in.paths[2].cost_ms == 100);  // paths are WAN-major: wan2/cloud1

  h.s.retune(next);
  h.now += 100ms;  // within the hold-down: a configuration change is applied at once
  h.s.tick(all_paths(stamp::PathState::up), fig4_reports());
  const auto& svc = h.applied.back().services[0];
  CHECK(svc.candidates[1].weight == 0);
  CHECK(svc.candidates[3].weight == 0);
  CHECK(sum(svc) == 1000);
  REQUIRE_FALSE(h.events.empty());
  CHECK(h.events.back().find("configured: wan1 weight 1 -> 3, wan2 cost 0 -> 100 ms") != std::string::npos);
  for (int k = 0; k < 100; ++k) {  // and it stays: no decay, no return
    h.now += 100ms;
    h.s.tick(all_paths(stamp::PathState::up), fig4_reports());
  }
  CHECK(h.applied.back().services[0].candidates[1].weight == 0);
  CHECK(h.applied.back().services[0].candidates[3].weight == 0);
}
