#include "select/selector.hpp"

#include "gen.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace cats::select;
using namespace std::chrono_literals;

namespace {

struct FakeClock {
  std::chrono::steady_clock::time_point t{};
  Selector::Clock fn() {
    return [this] { return t; };
  }
};

// Scale every cost term by a factor within 1 ± delta: rtt, jitter, reported processing
// delay and service time all enter linearly, so every candidate's cost moves by ≤ delta.
void jiggle(testgen::World& w, std::mt19937& rng, double delta) {
  std::uniform_real_distribution<double> f(1 - delta, 1 + delta);
  for (auto& p : w.paths) {
    p.rtt_ms *= f(rng);
    p.jitter_ms *= f(rng);
  }
  for (auto& i : w.instances)
    if (i.processing_delay_ms) *i.processing_delay_ms *= f(rng);
}

// Move every instance's spare capacity vcpus·(1 − u) by a factor within 1 ± delta (via
// its utilisation; clamping to [0, 1] and the floor only shrink the move). Only valid
// where cost does not depend on utilisation, i.e. processing delay is reported.
void jiggle_spare(testgen::World& w, std::mt19937& rng, double delta) {
  std::uniform_real_distribution<double> f(1 - delta, 1 + delta);
  for (auto& i : w.instances)
    if (i.utilization < 1.0) i.utilization = 1.0 - (1.0 - i.utilization) * f(rng);
}

double total_spare_move(const std::vector<PublishedWeight>& a, const std::vector<PublishedWeight>& b) {
  double m = 0;
  for (std::size_t k = 0; k < a.size() && k < b.size(); ++k)
    m = std::max(m, std::abs(a[k].spare_vcpus - b[k].spare_vcpus));
  return m;
}

}  // namespace

TEST_CASE("selector: first update publishes, identical update does not") {
  FakeClock clk;
  Selector sel({0.1, 5s}, clk.fn());
  std::mt19937 rng(1);
  auto w = testgen::random_world(rng, false);
  auto c = sel.update(w.svc, w.instances, w.paths);
  REQUIRE(c.has_value());
  CHECK(c->previous.empty());
  CHECK(c->reason.rfind("first decision: ", 0) == 0);
  REQUIRE(sel.published("svc") != nullptr);
  clk.t += 60s;
  CHECK_FALSE(sel.update(w.svc, w.instances, w.paths).has_value());
}

TEST_CASE("property: no republish while inputs move within hysteresis") {
  std::mt19937 rng(424242);
  for (int iter = 0; iter < 1000; ++iter) {
    FakeClock clk;
    Selector sel({0.10, 5s}, clk.fn());
    auto w = testgen::random_world(rng, /*with_sla=*/false);  // no SLA edge to cross
    REQUIRE(sel.update(w.svc, w.instances, w.paths).has_value());
    const auto before = sel.published("svc")->candidates;
    for (int step = 0; step < 5; ++step) {
      clk.t += 30s;  // well past hold-down: only hysteresis may hold
      auto moved = w;
      jiggle(moved, rng, 0.045);  // ≤ 4.5 % from the published inputs, threshold 10 %
      REQUIRE_FALSE(sel.update(moved.svc, moved.instances, moved.paths).has_value());
    }
    const auto after = sel.published("svc")->candidates;
    REQUIRE(after.size() == before.size());
    for (std::size_t k = 0; k < after.size(); ++k) REQUIRE(after[k].weight == before[k].weight);
  }
}

TEST_CASE("property: no republish while costs and spare capacities move within hysteresis") {
  std::mt19937 rng(5150);
  int weighted_worlds = 0;
  for (int iter = 0; iter < 1000; ++iter) {
    FakeClock clk;
    Selector sel({0.10, 5s}, clk.fn());
    auto w = testgen::random_world(rng, /*with_sla=*/false);
    // Reported processing delay everywhere, so utilisation moves spare capacity only.
    for (auto& i : w.instances)
      if (!i.processing_delay_ms) i.processing_delay_ms = 10;
    REQUIRE(sel.update(w.svc, w.instances, w.paths).has_value());
    const auto before = sel.published("svc")->candidates;
    std::size_t weighted = 0;
    for (const auto& c : before) weighted += c.weight > 0;
    weighted_worlds += weighted > 1;
    for (int step = 0; step < 5; ++step) {
      clk.t += 30s;
      auto moved = w;
      jiggle(moved, rng, 0.045);
      jiggle_spare(moved, rng, 0.045);
      REQUIRE_FALSE(sel.update(moved.svc, moved.instances, moved.paths).has_value());
    }
    const auto after = sel.published("svc")->candidates;
    REQUIRE(after.size() == before.size());
    for (std::size_t k = 0; k < after.size(); ++k) REQUIRE(after[k].weight == before[k].weight);
  }
  CHECK(weighted_worlds > 100);  // the spare capacities did steer shares
}

TEST_CASE("property: a spare-capacity move beyond the threshold republishes after hold-down") {
  std::mt19937 rng(8080);
  int checked = 0;
  for (int iter = 0; iter < 500; ++iter) {
    FakeClock clk;
    // settle_units 0: every step is published, so the hysteresis rule is seen on its own
    // (a step moving no weight by settle_units is otherwise kept internal).
    SelectorConfig cfg{0.10, 5s};
    cfg.settle_units = 0;
    Selector sel(cfg, clk.fn());
    auto w = testgen::random_world(rng, false);
    for (auto& i : w.instances) {
      if (!i.processing_delay_ms) i.processing_delay_ms = 10;
      // Spare ≥ 0.15 vCPU: moves are visible; halving it keeps utilisation < 0.95, below
      // the overload threshold (which would publish at once, tested separately).
      i.utilization = std::min(i.utilization, 0.85);
    }
    auto first = sel.update(w.svc, w.instances, w.paths);
    REQUIRE(first.has_value());
    // Halve the spare capacity of the instance of some weighted candidate.
    const auto& cands = first->now.candidates;
    std::vector<std::size_t> weighted;
    for (std::size_t k = 0; k < cands.size(); ++k)
      if (cands[k].weight > 0) weighted.push_back(k);
    REQUIRE_FALSE(weighted.empty());
    const auto& victim = cands[weighted[rng() % weighted.size()]];
    for (auto& i : w.instances)
      if (i.vcpe == victim.vcpe && i.id == victim.instance) i.utilization = 1.0 - (1.0 - i.utilization) / 2;
    clk.t += 1s;
    REQUIRE_FALSE(sel.update(w.svc, w.instances, w.paths).has_value());  // hold-down
    clk.t += 5s;
    auto c = sel.update(w.svc, w.instances, w.paths);
    REQUIRE(c.has_value());
    REQUIRE(c->reason.find(victim.vcpe + "/" + victim.instance + " spare ") != std::string::npos);
    REQUIRE(c->reason.find("(-50%)") != std::string::npos);
    REQUIRE(total_spare_move(c->previous, c->now.candidates) > 0);
    ++checked;
  }
  CHECK(checked == 500);
}

TEST_CASE("property: republish at once when a weighted candidate dies, even in hold-down") {
  std::mt19937 rng(99);
  for (int iter = 0; iter < 1000; ++iter) {
    FakeClock clk;
    Selector sel({0.10, 5s}, clk.fn());
    auto w = testgen::random_world(rng, false);
    auto first = sel.update(w.svc, w.instances, w.paths);
    REQUIRE(first.has_value());
    // Pick a weighted candidate and kill its instance or its path.
    const auto& cands = first->now.candidates;
    std::vector<std::size_t> weighted;
    for (std::size_t k = 0; k < cands.size(); ++k)
      if (cands[k].weight > 0) weighted.push_back(k);
    REQUIRE_FALSE(weighted.empty());
    const auto& victim = cands[weighted[rng() % weighted.size()]];
    const bool kill_path = rng() % 2 == 0;
    for (auto& i : w.instances)
      if (!kill_path && i.vcpe == victim.vcpe && i.id == victim.instance) i.available = false;
    for (auto& p : w.paths)
      if (kill_path && p.vcpe == victim.vcpe && p.wan == victim.wan) p.up = false;
    clk.t += 1s;  // inside hold-down
    auto c = sel.update(w.svc, w.instances, w.paths);
    REQUIRE(c.has_value());
    const bool named = c->reason.find(victim.key + (kill_path ? " path down" : " unavailable")) != std::string::npos;
  CHECK(named);
    for (const auto& pw : c->now.candidates)
      if (pw.key == victim.key) REQUIRE(pw.weight == 0);
    std::uint32_t t = 0;
    for (const auto& pw : c->now.candidates) t += pw.weight;
    REQUIRE((t == kWeightTotal || (t == 0 && c->now.outcome == Outcome::rejected)));
  }
}

TEST_CASE("selector: cost moves beyond threshold republish after hold-down only") {
  FakeClock clk;
  Selector sel({0.10, 5s}, clk.fn());
  Service svc;
  svc.id = "s";
  std::vector<Instance> in(2);
  in[0].vcpe = "a"; in[0].id = "x"; in[0].processing_delay_ms = 5;
  in[1].vcpe = "b"; in[1].id = "x"; in[1].processing_delay_ms = 5;
  std::vector<Path> paths{{"a", "w", 10, 0, 0, true}, {"b", "w", 11, 0, 0, true}};
  REQUIRE(sel.update(svc, in, paths).has_value());
  CHECK(sel.published("s")->candidates[0].weight == 532);
  paths[0].rtt_ms = 13;  // cost 15 → 18: beyond hysteresis, not urgent (< +50 %)
  clk.t += 1s;
  CHECK_FALSE(sel.update(svc, in, paths).has_value());  // hold-down
  clk.t += 5s;
  auto c = sel.update(svc, in, paths);
  REQUIRE(c.has_value());
  // Nothing reports utilisation (ρ̂ = 0): step 0.5·(1 − 0) = 50 % of the way from 532 to
  // the target 441 (a 18 ms vs b 16 ms: (16/18)² = 0.79 : 1).
  CHECK(c->reason == "a/x/w cost 15.0 -> 18.0 ms (+20%: network 10.0 -> 13.0 ms) [step 50 %]");
  CHECK(c->previous.size() == 2);
  CHECK(c->now.candidates[0].weight == 487);
  CHECK(c->now.candidates[1].weight > c->now.candidates[0].weight);

  SECTION("the rest of the way in damped steps, one per hold-down, then quiet") {
    std::vector<uint32_t> a{487};
    for (int i = 0; i < 10; ++i) {
      clk.t += 5s;
      if (auto s2 = sel.update(svc, in, paths)) {
        CHECK(s2->reason.rfind("settling: ", 0) == 0);
        a.push_back(s2->now.candidates[0].weight);
      }
    }
    // 532 → 487 → 464 → 452: halving the gap to 441; a step that would move no weight by
    // settle_units (10) is kept internal, so the published weights stop within ~2 × 10.
    REQUIRE(a.size() >= 3);
    CHECK(a[1] == 464);
    CHECK(a[2] == 452);
    CHECK(a.back() >= 441);
    CHECK(a.back() - 441 <= 20);
    clk.t += 60s;
    CHECK_FALSE(sel.update(svc, in, paths).has_value());
  }

  SECTION("a returning candidate is gained, subject to hold-down") {
    paths[1].up = false;  // b carries all the weight now
    clk.t += 1s;
    auto l = sel.update(svc, in, paths);
    REQUIRE(l.has_value());  // lost: at once
    CHECK(l->reason == "b/x/w path down");
    paths[1].up = true;
    clk.t += 1s;
    CHECK_FALSE(sel.update(svc, in, paths).has_value());
    clk.t += 5s;
    auto g = sel.update(svc, in, paths);
    REQUIRE(g.has_value());
    CHECK(g->reason == "b/x/w joined the pool [step 50 %]");
  }
}

namespace {

// Figure 4 as the selector sees it: cloud1 / cloud2, two WANs each.
struct Fig4 {
  Service svc;
  std::vector<Instance> in;
  std::vector<Path> paths;
  Fig4() {
    svc.id = "app1";
    svc.service_time_ms = 20;
    in.resize(2);
    in[0].vcpe = "cloud1"; in[0].id = "app1"; in[0].vcpus = 6; in[0].utilization = 0.5;
    in[1].vcpe = "cloud2"; in[1].id = "app1"; in[1].vcpus = 6; in[1].utilization = 0.2;
    paths = {{"cloud1", "wan1", 20, 1, 0, true}, {"cloud1", "wan2", 20, 1, 0, true},
             {"cloud2", "wan1", 20, 1, 0, true}, {"cloud2", "wan2", 20, 1, 0, true}};
  }
};

// What a restarted CPE reads back from the data plane: keys and weights only.
std::vector<PublishedWeight> readback(std::vector<std::pair<std::string, uint32_t>> kv) {
  std::vector<PublishedWeight> out;
  for (auto& [key, weight] : kv) {
    PublishedWeight w;
    const auto a = key.find('/'), b = key.rfind('/');
    w.vcpe = key.substr(0, a);
    w.instance = key.substr(a + 1, b - a - 1);
    w.wan = key.substr(b + 1);
    w.weight = weight;  // key left empty: adopt() fills it
    out.push_back(w);
  }
  return out;
}

}  // namespace

TEST_CASE("adopt: same weighted set and outcome keeps the adopted weights") {
  FakeClock clk;
  Selector sel({0.10, 5s}, clk.fn());
  Fig4 f;
  // Weights from before the restart (any values; not what decide() would give today).
  sel.adopt("app1", Outcome::ok,
            readback({{"cloud1/app1/wan1", 200}, {"cloud1/app1/wan2", 200}, {"cloud2/app1/wan1", 300},
                      {"cloud2/app1/wan2", 300}}));
  const Publication* p = sel.published("app1");
  REQUIRE(p != nullptr);
  CHECK(p->adopted);
  CHECK(p->candidates[0].key == "cloud1/app1/wan1");
  CHECK_FALSE(p->candidates[0].inputs_known());
  CHECK(std::isnan(p->candidates[0].spare_vcpus));

  clk.t += 1s;
  CHECK_FALSE(sel.update(f.svc, f.in, f.paths).has_value());  // same set: no rewrite
  p = sel.published("app1");
  REQUIRE(p != nullptr);
  CHECK_FALSE(p->adopted);
  REQUIRE(p->candidates.size() == 4);
  CHECK(p->candidates[0].weight == 200);
  CHECK(p->candidates[2].weight == 300);
  // This decision's inputs are now the baseline.
  CHECK(p->candidates[0].inputs_known());
  CHECK(p->candidates[0].spare_vcpus == Approx(3.0));
  CHECK(p->candidates[2].spare_vcpus == Approx(4.8));
  CHECK(p->at == std::chrono::steady_clock::time_point{});  // hold-down from adoption

  SECTION("later moves are compared with that baseline") {
    clk.t += 30s;
    CHECK_FALSE(sel.update(f.svc, f.in, f.paths).has_value());
    f.in[1].utilization = 0.6;  // cloud2 spare 4.8 → 2.4
    auto c = sel.update(f.svc, f.in, f.paths);
    REQUIRE(c.has_value());
    CHECK(c->reason.find("cloud2/app1 spare 4.80 -> 2.40 vCPU (-50%)") != std::string::npos);
    CHECK(c->reason.find("restart") == std::string::npos);
    CHECK(c->previous[0].weight == 200);
    // A damped step from the adopted 400 towards cloud1's new target (~556): ρ̂ = 0.55,
    // step 0.5·0.45 = 22.5 %.
    CHECK(c->reason.find("[step 23 %]") != std::string::npos);
    const auto cloud1 = c->now.candidates[0].weight + c->now.candidates[1].weight;
    CHECK(cloud1 > 420);
    CHECK(cloud1 < 500);
  }
}

TEST_CASE("adopt: different weighted set or outcome publishes with a restart reason") {
  FakeClock clk;
  Selector sel({0.10, 5s}, clk.fn());
  Fig4 f;
  const auto before = readback({{"cloud1/app1/wan1", 500}, {"cloud2/app1/wan1", 500}});

  SECTION("a candidate now near-best: publish, but only after the adoption's hold-down") {
    sel.adopt("app1", Outcome::ok, before);
    clk.t += 1s;
    CHECK_FALSE(sel.update(f.svc, f.in, f.paths).has_value());
    CHECK(sel.published("app1")->adopted);  // still the adopted weights
    clk.t += 5s;
    auto c = sel.update(f.svc, f.in, f.paths);
    REQUIRE(c.has_value());
    CHECK(c->reason == "restart: cloud1/app1/wan2 now near-best; cloud2/app1/wan2 now near-best");
    CHECK_FALSE(c->previous[0].inputs_known());
    CHECK_FALSE(sel.published("app1")->adopted);
    uint32_t t = 0;
    for (const auto& w : c->now.candidates) t += w.weight;
    CHECK(t == kWeightTotal);
    CHECK(c->now.candidates[2].weight + c->now.candidates[3].weight == 622);
  }
  SECTION("an adopted weighted candidate is dead: publish at once") {
    sel.adopt("app1", Outcome::ok, before);
    f.in[0].available = false;
    clk.t += 1s;
    auto c = sel.update(f.svc, f.in, f.paths);
    REQUIRE(c.has_value());
    CHECK(c->reason == "restart: cloud1/app1/wan1 unavailable; cloud2/app1/wan2 now near-best");
    CHECK(c->now.candidates[0].weight == 0);
  }
  SECTION("the outcome differs: publish at once") {
    sel.adopt("app1", Outcome::rejected, {});
    clk.t += 1s;
    auto c = sel.update(f.svc, f.in, f.paths);
    REQUIRE(c.has_value());
    CHECK(c->reason.rfind("restart: outcome rejected -> ok", 0) == 0);
  }
  SECTION("a candidate no longer reported: publish at once") {
    sel.adopt("app1", Outcome::ok, readback({{"cloud3/app1/wan1", 1000}}));
    clk.t += 1s;
    auto c = sel.update(f.svc, f.in, f.paths);
    REQUIRE(c.has_value());
    CHECK(c->reason.rfind("restart: cloud3/app1/wan1 no longer reported", 0) == 0);
  }
}

TEST_CASE("reasons: first decision, SLA breach with the measured value") {
  FakeClock clk;
  Selector sel({0.10, 5s}, clk.fn());
  Fig4 f;
  f.svc.sla.max_rtt_ms = 50;
  auto c = sel.update(f.svc, f.in, f.paths);
  REQUIRE(c.has_value());
  CHECK(c->reason == "first decision: ok, best cloud2/app1/wan1 42.0 ms, 4 weighted");
  f.paths[2].rtt_ms = 80;
  clk.t += 1s;
  c = sel.update(f.svc, f.in, f.paths);
  REQUIRE(c.has_value());
  CHECK(c->reason == "cloud2/app1/wan1 rtt 80.0 ms > SLA 50.0 ms");
}

// ---------------------------------------------------------------------------------------
// Damping and the urgent path (docs/SELECTION.md "Damping"). Deterministic: fake clock.

TEST_CASE("overload: an instance jumping to 95 % loses most new flows at once, in hold-down") {
  // The lab case: figure 4, then cloud2's load goes 20 % → 95 %. One report, 100 ms after
  // the first publication (deep in hold-down): new flows must go to cloud1 now.
  FakeClock clk;
  Selector sel({}, clk.fn());
  Fig4 f;
  auto first = sel.update(f.svc, f.in, f.paths);
  REQUIRE(first.has_value());
  CHECK(first->now.candidates[2].weight + first->now.candidates[3].weight == 622);
  clk.t += 5s;  // a settled state: nothing we steered lately explains what follows
  CHECK_FALSE(sel.update(f.svc, f.in, f.paths).has_value());
  f.in[1].utilization = 0.95;
  clk.t += 100ms;
  auto c = sel.update(f.svc, f.in, f.paths);
  REQUIRE(c.has_value());
  CHECK(c->reason.find("cloud2/app1 overloaded: utilisation 95 %, spare 4.80 -> 0.30 vCPU") != std::string::npos);
  // Utilisation jumped by 0.75: 75 % of the way from 622 to cloud2's target (~18).
  const auto cloud2 = c->now.candidates[2].weight + c->now.candidates[3].weight;
  CHECK(cloud2 < 200);
  uint32_t t = 0;
  for (const auto& w : c->now.candidates) t += w.weight;
  CHECK(t == kWeightTotal);

  SECTION("it stays overloaded: no further urgent publication (edge, not level)") {
    clk.t += 100ms;
    CHECK_FALSE(sel.update(f.svc, f.in, f.paths).has_value());
  }
  SECTION("a jump that large is not ours: all the way at once, nothing trails behind") {
    CHECK(cloud2 < 30);
    for (int i = 0; i < 10; ++i) {
      clk.t += 1s;
      CHECK_FALSE(sel.update(f.svc, f.in, f.paths).has_value());
    }
  }
}

TEST_CASE("overload: an instance already hot when published does not bypass hold-down") {
  FakeClock clk;
  Selector sel({}, clk.fn());
  Fig4 f;
  f.in[1].utilization = 0.96;
  REQUIRE(sel.update(f.svc, f.in, f.paths).has_value());
  f.in[1].utilization = 0.98;  // spare 0.24 → 0.12 vCPU (−50 %), still in hold-down
  clk.t += 100ms;
  CHECK_FALSE(sel.update(f.svc, f.in, f.paths).has_value());
}

TEST_CASE("urgent: a network delay jump of +50 % of the cost acts at once") {
  FakeClock clk;
  Selector sel({}, clk.fn());
  Service svc;
  svc.id = "s";
  std::vector<Instance> in(2);
  in[0].vcpe = "a"; in[0].id = "x"; in[0].processing_delay_ms = 5;
  in[1].vcpe = "b"; in[1].id = "x"; in[1].processing_delay_ms = 5;
  std::vector<Path> paths{{"a", "w", 10, 0, 0, true}, {"b", "w", 11, 0, 0, true}};
  REQUIRE(sel.update(svc, in, paths).has_value());
  paths[0].rtt_ms = 20;  // cost 15 → 25: +10 ms = 67 % of the published cost
  clk.t += 100ms;
  auto c = sel.update(svc, in, paths);
  REQUIRE(c.has_value());
  CHECK(c->reason == "a/x/w cost 15.0 -> 25.0 ms (+67%: network 10.0 -> 20.0 ms)");
  // a is now outside the 25 % window (target 0); it moves 10/25 = 40 % of the way at once
  // (at least the damped step, here 50 %): 532 → 266.
  CHECK(c->now.candidates[0].weight == 266);
  CHECK(c->now.candidates[1].weight == 734);
}

TEST_CASE("urgent: a compute cost rise from load alone waits for hold-down (overload rule covers load)") {
  FakeClock clk;
  Selector sel({}, clk.fn());
  Fig4 f;
  REQUIRE(sel.update(f.svc, f.in, f.paths).has_value());
  f.in[1].utilization = 0.9;  // M/M/6 cost 42.0 → 66.7 (+59 %), below the overload threshold
  clk.t += 100ms;
  CHECK_FALSE(sel.update(f.svc, f.in, f.paths).has_value());
  clk.t += 1s;
  auto c = sel.update(f.svc, f.in, f.paths);
  REQUIRE(c.has_value());
  CHECK(c->reason.find("[step ") != std::string::npos);
}

namespace {

// Closed loop: one CPE sends all the load to two equal instances (8 vCPUs each) and
// each report shows exactly what the published weights cause, u_i = 2ρ·x_i (x_i: share
// of flows). The first report is skewed (a 10 %, b 90 %), so the first publication sends
// ~90 % to a. Returns a's share after every update, one per second.
std::vector<double> closed_loop(SelectorConfig cfg, double rho, int seconds) {
  FakeClock clk;
  Selector sel(cfg, clk.fn());
  Service svc;
  svc.id = "app";
  svc.service_time_ms = 20;
  std::vector<Instance> in(2);
  in[0].vcpe = "a"; in[0].id = "app"; in[0].vcpus = 8; in[0].utilization = 0.1;
  in[1].vcpe = "b"; in[1].id = "app"; in[1].vcpus = 8; in[1].utilization = 0.9;
  std::vector<Path> paths{{"a", "w", 20, 0, 0, true}, {"b", "w", 20, 0, 0, true}};
  std::vector<double> xs;
  for (int s = 0; s < seconds; ++s) {
    sel.update(svc, in, paths);
    const auto& c = sel.published("app")->candidates;
    const double x = static_cast<double>(c[0].weight) / kWeightTotal;
    xs.push_back(x);
    in[0].utilization = std::min(1.0, 2 * rho * x);
    in[1].utilization = std::min(1.0, 2 * rho * (1 - x));
    clk.t += 1s;
  }
  return xs;
}

}  // namespace

TEST_CASE("damping: the re-solve loop oscillates at 70 % load, the damped one settles") {
  // Loop gain of re-solving shares ∝ spare from measured utilisation: −ρ/(1−ρ) = −2.3 at
  // 70 %: every publication overshoots to the other side (BENCHMARKS.md).
  SelectorConfig undamped;
  undamped.step_gain = 0;
  undamped.step_min = undamped.step_max = 1;
  const auto u = closed_loop(undamped, 0.7, 30);
  int sides = 0;
  for (std::size_t k = 20; k + 1 < u.size(); ++k) sides += (u[k] - 0.5) * (u[k + 1] - 0.5) < 0;
  CHECK(sides >= 8);  // still flipping sides every second or two at the end

  // Damped (defaults): gain 1 − α/(1−ρ) with α = 0.5·(1 − ρ̂) ≈ 0.5: converges.
  const auto d = closed_loop({}, 0.7, 30);
  // Within hysteresis the goal is frozen (settling does not chase noise), so it stops
  // where the inputs last moved beyond hysteresis: near, not at, the fixed point.
  for (std::size_t k = 20; k < d.size(); ++k) CHECK(std::abs(d[k] - 0.5) < 0.05);
  // Settling towards a frozen goal leaves a small limit cycle in this noise-free, fully
  // closed loop (every flow is ours): ±0.015 around the fixed point, a step every ~2.5 s
  // (issue 8 note: a known cost of not chasing noise). Bounded here.
  int changes = 0;
  for (std::size_t k = 21; k < d.size(); ++k) changes += d[k] != d[k - 1];
  CHECK(changes <= 5);
}

TEST_CASE("damping: settles at 90 % load too") {
  const auto d = closed_loop({}, 0.9, 60);
  for (std::size_t k = 40; k < d.size(); ++k) CHECK(std::abs(d[k] - 0.5) < 0.05);
}

TEST_CASE("property: damped publications sum to 1000 and never weight a dead or excluded candidate") {
  std::mt19937 rng(31337);
  int published = 0;
  for (int iter = 0; iter < 300; ++iter) {
    FakeClock clk;
    Selector sel({}, clk.fn());
    auto w = testgen::random_world(rng, /*with_sla=*/true);
    for (int step = 0; step < 12; ++step) {
      // Random drift, deaths and revivals, at random intervals (inside and past hold-down).
      auto u01 = [&] { return std::uniform_real_distribution<double>(0, 1)(rng); };
      for (auto& i : w.instances) {
        i.utilization = std::clamp(i.utilization + (u01() - 0.5) * 0.6, 0.0, 1.05);
        if (u01() < 0.1) i.available = !i.available;
      }
      for (auto& p : w.paths) {
        p.rtt_ms *= 0.6 + 0.8 * u01();
        if (u01() < 0.1) p.up = !p.up;
      }
      clk.t += std::chrono::milliseconds(static_cast<int>(u01() * 3000));
      auto c = sel.update(w.svc, w.instances, w.paths);
      if (!c) continue;
      ++published;
      uint32_t t = 0;
      for (const auto& pw : c->now.candidates) {
        t += pw.weight;
        if (c->now.outcome == Outcome::ok) REQUIRE((pw.excluded == Exclusion::none || pw.weight == 0));
        else REQUIRE((is_sla(pw.excluded) || pw.weight == 0));
      }
      REQUIRE((t == kWeightTotal || (t == 0 && c->now.outcome == Outcome::rejected)));
    }
  }
  CHECK(published > 1000);
}
