#include <cstdio>
#include <cstdlib>
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
// Sixty reports with a little noise (±0.5 % of RTT, jitter and delay, ±0.2 points of utilisation,
// alternating), 100 ms apart, then the inputs as they were: the selector has measured
// their noise (the first samples of an input only teach it its noise).
template <class Sel>
void warm(Sel& sel, FakeClock& clk, const Service& svc, std::vector<Instance> in, std::vector<Path> paths) {
  const auto in0 = in;
  const auto p0 = paths;
  for (int k = 0; k < 60; ++k) {
    const double s = k % 2 ? 1.0 : -1.0;
    for (std::size_t i = 0; i < in.size(); ++i) {
      in[i].utilization = std::clamp(in0[i].utilization + 0.002 * s, 0.0, 1.0);
      if (in0[i].processing_delay_ms) in[i].processing_delay_ms = *in0[i].processing_delay_ms * (1 + 0.005 * s);
    }
    for (std::size_t j = 0; j < paths.size(); ++j) {
      paths[j].rtt_ms = p0[j].rtt_ms * (1 + 0.005 * s);
      paths[j].jitter_ms = p0[j].jitter_ms * (1 + 0.005 * s);
    }
    clk.t += 100ms;
    sel.update(svc, in, paths);
  }
  clk.t += 100ms;
  sel.update(svc, in0, p0);
}

// Defaults with a longer hold-down.
SelectorConfig held(std::chrono::milliseconds hold_down) {
  SelectorConfig c;
  c.hold_down = hold_down;
  return c;
}

}  // namespace

TEST_CASE("selector: first update publishes, identical update does not") {
  FakeClock clk;
  Selector sel(held(5s), clk.fn());
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

TEST_CASE("deadband property: noisy steady inputs publish nothing once their noise is measured") {
  // Every input keeps its mean and gets Gaussian noise (2 % of its value, utilisation
  // ±1.5 points) on each of 10 reports per second. After 30 s (learning the noise and
  // converging), the next 30 s publish nothing: the weights settled.
  std::mt19937 rng(424242);
  int weighted_worlds = 0, quiet_worlds = 0, total_late = 0;
  for (int iter = 0; iter < 200; ++iter) {
    FakeClock clk;
    Selector sel({}, clk.fn());
    auto w = testgen::random_world(rng, /*with_sla=*/false);  // no SLA edge to cross
    if (iter % 2)
      for (auto& i : w.instances)
        if (!i.processing_delay_ms) i.processing_delay_ms = 10;
    for (auto& i : w.instances) i.utilization = std::min(i.utilization, 0.85);  // no overload edge
    REQUIRE(sel.update(w.svc, w.instances, w.paths).has_value());
    std::normal_distribution<double> g(0.0, 1.0);
    int late = 0;
    for (int step = 1; step <= 600; ++step) {
      clk.t += 100ms;
      auto noisy = w;
      for (auto& p : noisy.paths) {
        p.rtt_ms = std::max(0.0, p.rtt_ms * (1 + 0.02 * g(rng)));
        p.jitter_ms = std::max(0.0, p.jitter_ms * (1 + 0.02 * g(rng)));
      }
      for (auto& i : noisy.instances) {
        i.utilization = std::clamp(i.utilization + 0.015 * g(rng), 0.0, 0.9);
        if (i.processing_delay_ms) *i.processing_delay_ms *= 1 + 0.02 * g(rng);
      }
      auto ch = sel.update(noisy.svc, noisy.instances, noisy.paths);
      if (ch && step > 300) {
        ++late;
        if (late < 3 && std::getenv("DEBUG_DEADBAND")) std::printf("iter %d step %d: %s\n", iter, step, ch->reason.c_str());
      }
    }
    quiet_worlds += late == 0;
    total_late += late;
    std::size_t weighted = 0;
    for (const auto& c : sel.published("svc")->candidates) weighted += c.weight > 0;
    weighted_worlds += weighted > 1;
  }
  CHECK(weighted_worlds > 50);  // the noise did reach spread weights
  // Random worlds put candidates right at the ε window's edge, where the target flips
  // between 0 and a share on noise alone: a few still step there (docs/SELECTION.md).
  std::printf("deadband property: %d of 200 worlds quiet after 30 s, %d late publications\n", quiet_worlds,
              total_late);
  // Measured (seed 424242): 149 of 200 quiet, 726 late publications with the settling goal
  // (rule 9, 2026-12-02); 127 and 1296 before it (goal_time 0), 121 and 1229 before rule 8;
  // the selector before the deadband (99b1313, 10 % hysteresis, same worlds and noise):
  // 111 quiet, 949 late. Without band_max (the 5 % cap, before rule 9): 138 and 855
  // (docs/SELECTION.md "Deadband").
  CHECK(quiet_worlds >= 145);
  CHECK(total_late <= 800);
}

TEST_CASE("load move: one our steering cannot explain goes to decide()'s target at once") {
  // Issue 8 item 2: a cost-only load change moves new flows at once, with no damped steps
  // trailing behind. Nothing was stepped for a while, so nothing we did explains it.
  std::mt19937 rng(8080);
  int checked = 0;
  for (int iter = 0; iter < 300; ++iter) {
    FakeClock clk;
    Selector sel(held(5s), clk.fn());
    auto w = testgen::random_world(rng, false);
    for (auto& i : w.instances) i.utilization = std::min(i.utilization, 0.4);
    auto first = sel.update(w.svc, w.instances, w.paths);
    REQUIRE(first.has_value());
    const auto& cands = first->now.candidates;
    std::vector<std::size_t> weighted;
    for (std::size_t k = 0; k < cands.size(); ++k)
      if (cands[k].weight > 0) weighted.push_back(k);
    REQUIRE_FALSE(weighted.empty());
    const auto victim = cands[weighted[rng() % weighted.size()]];
    warm(sel, clk, w.svc, w.instances, w.paths);
    for (int i = 0; i < 10; ++i) {  // let any settling finish (quiet steps included)
      clk.t += 10s;
      sel.update(w.svc, w.instances, w.paths);
    }
    clk.t += 11s;  // nothing stepped within explain_window (10 s): the jump cannot be ours
    const auto settled = sel.published("svc")->candidates;
    for (auto& i : w.instances)
      if (i.vcpe == victim.vcpe && i.id == victim.instance) i.utilization = 0.94;  // ≥ +0.5, below overload
    clk.t += 100ms;
    auto c = sel.update(w.svc, w.instances, w.paths);
    const Decision d = decide(w.svc, w.instances, w.paths);
    bool differs = false;
    for (std::size_t k = 0; k < d.candidates.size(); ++k)
      differs = differs || std::abs(static_cast<int>(d.candidates[k].weight) - static_cast<int>(settled[k].weight)) >= 10;
    if (!differs) continue;  // the move did not matter to the weights
    REQUIRE(c.has_value());
    CHECK(c->reason.find(victim.vcpe + "/" + victim.instance + " utilisation ") != std::string::npos);
    CHECK(c->reason.find("[not ours: to target]") != std::string::npos);
    for (std::size_t k = 0; k < d.candidates.size(); ++k) CHECK(c->now.candidates[k].weight == d.candidates[k].weight);
    clk.t += 10s;  // nothing trails behind
    CHECK_FALSE(sel.update(w.svc, w.instances, w.paths).has_value());
    ++checked;
  }
  CHECK(checked > 100);
}

TEST_CASE("property: republish at once when a weighted candidate dies, even in hold-down") {
  std::mt19937 rng(99);
  for (int iter = 0; iter < 1000; ++iter) {
    FakeClock clk;
    Selector sel(held(5s), clk.fn());
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

TEST_CASE("selector: a network move beyond its band is published at once, then settles within the band") {
  FakeClock clk;
  Selector sel(held(5s), clk.fn());
  Service svc;
  svc.id = "s";
  std::vector<Instance> in(2);
  in[0].vcpe = "a"; in[0].id = "x"; in[0].processing_delay_ms = 5;
  in[1].vcpe = "b"; in[1].id = "x"; in[1].processing_delay_ms = 5;
  std::vector<Path> paths{{"a", "w", 10, 0, 0, true}, {"b", "w", 11, 0, 0, true}};
  REQUIRE(sel.update(svc, in, paths).has_value());
  CHECK(sel.published("s")->candidates[0].weight == 532);
  warm(sel, clk, svc, in, paths);
  clk.t += 10s;
  paths[0].rtt_ms = 10.05;  // within the band: nothing
  CHECK_FALSE(sel.update(svc, in, paths).has_value());
  paths[0].rtt_ms = 12;  // cost 15 → 17: beyond the band, below foreign_jump (0.2 of 15 ms)
  clk.t += 1s;
  auto c = sel.update(svc, in, paths);
  REQUIRE(c.has_value());
  // Published at once (hold-down is long past), as a damped step towards the target 470
  // (a 17 ms vs b 16 ms: (16/17)² = 0.89 : 1): nothing reports utilisation, α = 50 %.
  CHECK(c->reason.rfind("a/w rtt 10.0 -> 12.0 ms (band ±", 0) == 0);
  CHECK(c->reason.find("[step 50 %]") != std::string::npos);
  CHECK(c->now.candidates[0].weight == 501);
  std::vector<uint32_t> a{501};
  for (int i = 0; i < 20; ++i) {
    clk.t += 5s;
    if (auto s2 = sel.update(svc, in, paths)) a.push_back(s2->now.candidates[0].weight);
  }
  // Then settling until the gap is within the deadband (the noise the warm-up measured,
  // at most band_max = 50), then quiet.
  CHECK(a.back() >= 470);
  CHECK(a.back() - 470 <= 50);
  CHECK(a.size() <= 4);
  clk.t += 60s;
  CHECK_FALSE(sel.update(svc, in, paths).has_value());

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
  Selector sel(held(5s), clk.fn());
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
    warm(sel, clk, f.svc, f.in, f.paths);
    clk.t += 30s;
    CHECK_FALSE(sel.update(f.svc, f.in, f.paths).has_value());
    f.in[1].utilization = 0.6;  // cloud2 spare 4.8 → 2.4
    auto c = sel.update(f.svc, f.in, f.paths);
    REQUIRE(c.has_value());
    INFO(c->reason);
    CHECK(c->reason.find("cloud2/app1 utilisation ") != std::string::npos);
    CHECK(c->reason.find(" -> 60.0 % (band ±") != std::string::npos);
    CHECK(c->reason.find("restart") == std::string::npos);
    CHECK(c->previous[0].weight == 200);
    // A rise of 0.4 (≥ foreign_jump) that nothing we steered since adoption explains: from
    // the adopted 400 straight to cloud1's new target (~556).
    CHECK(c->reason.find("[not ours: to target]") != std::string::npos);
    const auto cloud1 = c->now.candidates[0].weight + c->now.candidates[1].weight;
    const Decision d = decide(f.svc, f.in, f.paths);
    CHECK(cloud1 == d.candidates[0].weight + d.candidates[1].weight);
    CHECK(cloud1 > 540);
  }
}

TEST_CASE("adopt: different weighted set or outcome publishes with a restart reason") {
  FakeClock clk;
  Selector sel(held(5s), clk.fn());
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
  Selector sel(held(5s), clk.fn());
  Fig4 f;
  f.svc.sla.max_rtt_ms = 50;
  auto c = sel.update(f.svc, f.in, f.paths);
  REQUIRE(c.has_value());
  CHECK(c->reason == "first decision: ok, best cloud2/app1/wan1 42.0 ms, 4 weighted");
  f.paths[2].rtt_ms = 80;
  clk.t += 1s;
  c = sel.update(f.svc, f.in, f.paths);
  REQUIRE(c.has_value());
  CHECK(c->reason == "cloud2/app1/wan1 rtt 80.0 ms > SLA 50.0 ms; cloud2/wan1 rtt 20.0 -> 80.0 ms (band ±2.7 ms) [not ours: to target]");
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
  clk.t += 11s;  // a settled state: nothing we steered within explain_window (10 s) explains what follows
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

TEST_CASE("load ramp: a rise over many reports, each part within the noise, is a move, not noise") {
  // Issue 8, lab.steering's load shift: cloud2's utilisation (a 1 s window mean, σ ≈ 5
  // points under the test's traffic: lab, 1148 reports) climbs 20 % → 99 % over ten reports. Each part
  // stayed within z·σ of the lagging mean, so it counted as noise and widened the band as
  // it climbed: no move, no "not ours", and cloud2 went out in damped steps over seconds.
  // A run of samples beyond σ on one side is a trend, not noise (BandConfig::trend_run).
  auto run = [](int trend_run, std::string& log) {
    FakeClock clk;
    SelectorConfig cfg;
    cfg.band.trend_run = trend_run;
    Selector sel(cfg, clk.fn());
    Fig4 f;
    REQUIRE(sel.update(f.svc, f.in, f.paths).has_value());
    for (int k = 0; k < 300; ++k) {  // 30 s of reports, ±5 points alternating
      const double s = k % 2 ? 0.05 : -0.05;
      f.in[0].utilization = 0.5 + s;
      f.in[1].utilization = 0.2 - s;
      clk.t += 100ms;
      sel.update(f.svc, f.in, f.paths);
    }
    f.in[0].utilization = 0.5;
    clk.t += 11s;  // nothing stepped within explain_window: the rise is not ours
    for (double u = 0.2; u < 0.99; u = std::min(u + 0.08, 0.99)) {
      f.in[1].utilization = u + 0.08;
      clk.t += 100ms;
      if (auto c = sel.update(f.svc, f.in, f.paths)) log += c->reason + "\n";
    }
    clk.t += 100ms;
    if (auto c = sel.update(f.svc, f.in, f.paths)) log += c->reason + "\n";
    const Decision d = decide(f.svc, f.in, f.paths);
    const auto* p = sel.published("app1");
    return std::pair{p->candidates[2].weight + p->candidates[3].weight, d.candidates[2].weight + d.candidates[3].weight};
  };
  std::string with, without;
  const auto [cloud2, target] = run(BandConfig{}.trend_run, with);
  INFO(with);
  CHECK(with.find("cloud2/app1 utilisation ") != std::string::npos);
  CHECK(with.find("[not ours: to target]") != std::string::npos);
  CHECK(cloud2 == target);  // all the way, within the ramp
  const auto [cloud2_off, target_off] = run(0, without);
  INFO(without);
  CHECK(cloud2_off > target_off);  // the rule made the difference
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
  CHECK(c->reason == "a/x/w cost 15.0 -> 25.0 ms (+67%: network 10.0 -> 20.0 ms); a/w rtt 10.0 -> 20.0 ms (band ±0.1 ms) [not ours: to target]");
  // a is now outside the 25 % window (target 0), and a path delay is never ours: all the
  // way at once.
  CHECK(c->now.candidates[0].weight == 0);
  CHECK(c->now.candidates[1].weight == 1000);
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
  // The deadband stops the steps once the target is within the inputs' noise of the
  // weights (here the models' initial σ: nothing in this loop is noisy): near, not at,
  // the fixed point.
  for (std::size_t k = 20; k < d.size(); ++k) CHECK(std::abs(d[k] - 0.5) < 0.05);
  // And it goes quiet: the last 10 s change nothing.
  for (std::size_t k = 20; k < d.size(); ++k) CHECK(d[k] == d[20]);
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

TEST_CASE("path-move filter: a path move beyond its band but under rel_threshold of the cost is not published") {
  // veth RTT/jitter wander of ~1 ms on ~20 ms costs kept the lab's weights stepping
  // (issue 8): such a move is real (beyond the measured band) but immaterial.
  FakeClock clk;
  Selector sel(held(5s), clk.fn());
  Service svc;
  svc.id = "s";
  std::vector<Instance> in(2);
  in[0].vcpe = "a"; in[0].id = "x"; in[0].processing_delay_ms = 5;
  in[1].vcpe = "b"; in[1].id = "x"; in[1].processing_delay_ms = 5;
  std::vector<Path> paths{{"a", "w", 10, 0, 0, true}, {"b", "w", 11, 0, 0, true}};
  REQUIRE(sel.update(svc, in, paths).has_value());
  warm(sel, clk, svc, in, paths);
  clk.t += 10s;
  const uint32_t before = sel.published("s")->candidates[0].weight;
  // The RTT band is ±0.05 ms; 0.6 ms < 10 % of the 15 ms cost. Without the filter this
  // move alone lifts the deadband and settles the weights towards the new target; with
  // it, only a target that leaves the weight deadband would (it does not here).
  paths[0].rtt_ms = 10.6;
  for (int i = 0; i < 30; ++i) {
    clk.t += 1s;
    auto ch = sel.update(svc, in, paths);
    CHECK_FALSE(ch.has_value());
    if (ch) WARN(i << ": " << ch->reason);
  }
  CHECK(sel.published("s")->candidates[0].weight == before);
  paths[0].rtt_ms = 13;  // 3 ms from where it was published: material
  clk.t += 1s;
  auto c = sel.update(svc, in, paths);
  REQUIRE(c.has_value());
  CHECK(c->reason.find("a/w rtt") != std::string::npos);
  CHECK(c->now.candidates[0].weight < before);
}

TEST_CASE("load move in parts: a rise shown over two reports within one window is one rise") {
  // Issue 8 item 2: a report's utilisation is a window mean, so a load that jumps reaches
  // the CPE as a ramp. The first part (+0.15, below foreign_jump) takes a damped step; the
  // second (+0.15 from there) is judged from where the ramp started (+0.3): not ours, to
  // the target at once, in hold-down. With rise_window_s = 0 (each part alone) it waits.
  std::mt19937 rng(8081);
  int checked = 0, waited_without = 0;  // worlds where it applied; of those, held without the rule
  for (int iter = 0; iter < 300; ++iter) {
    const auto world = testgen::random_world(rng, false);
    const std::size_t pick = rng();
    // Returns the second part's change, or nothing when the scenario does not apply.
    auto run = [&](double window, bool& applies) -> std::optional<Change> {
      applies = false;
      FakeClock clk;
      SelectorConfig cfg = held(5s);
      cfg.band.rise_window_s = window;
      Selector sel(cfg, clk.fn());
      auto w = world;
      for (auto& i : w.instances) i.utilization = std::min(i.utilization, 0.4);
      auto first = sel.update(w.svc, w.instances, w.paths);
      REQUIRE(first.has_value());
      std::vector<PublishedWeight> weighted;
      for (const auto& c : first->now.candidates)
        if (c.weight > 0) weighted.push_back(c);
      REQUIRE_FALSE(weighted.empty());
      const auto victim = weighted[pick % weighted.size()];
      warm(sel, clk, w.svc, w.instances, w.paths);
      for (int i = 0; i < 10; ++i) {
        clk.t += 10s;
        sel.update(w.svc, w.instances, w.paths);
      }
      clk.t += 11s;  // nothing stepped within explain_window: the rise is not ours
      auto raise = [&](double by) {
        for (auto& i : w.instances)
          if (i.vcpe == victim.vcpe && i.id == victim.instance) i.utilization += by;
      };
      raise(0.15);
      clk.t += 100ms;
      auto c1 = sel.update(w.svc, w.instances, w.paths);
      // Applies when the first part was a move of its own (beyond the band) and took a damped step.
      if (!c1 || c1->reason.find("[step ") == std::string::npos ||
          c1->reason.find(victim.vcpe + "/" + victim.instance + " utilisation ") == std::string::npos)
        return std::nullopt;
      raise(0.15);
      clk.t += 200ms;  // the next part, two sampling intervals later
      auto c2 = sel.update(w.svc, w.instances, w.paths);
      UNSCOPED_INFO("first part: " << c1->reason);
      const Decision d = decide(w.svc, w.instances, w.paths);
      for (std::size_t k = 0; k < d.candidates.size(); ++k)
        applies = applies || std::abs(static_cast<int>(d.candidates[k].weight) -
                                      static_cast<int>(c1->now.candidates[k].weight)) >= 10;
      if (applies && c2) {
        CHECK(c2->reason.find("[not ours: to target]") != std::string::npos);
        for (std::size_t k = 0; k < d.candidates.size(); ++k)
          CHECK(c2->now.candidates[k].weight == d.candidates[k].weight);
      }
      return c2;
    };
    // Counted where the second part is a move of its own (beyond the band the first part's
    // level change reset; a move is what names an input) and it published.
    bool applies = false;
    auto with = run(BandConfig{}.rise_window_s, applies);  // the default
    if (!applies || !with) continue;
    ++checked;
    bool applies0 = false;
    if (!run(0.0, applies0).has_value()) ++waited_without;
  }
  CHECK(checked > 50);  // 96 of 300 worlds
  CHECK(waited_without == checked);  // the rule, not something else, made the difference
}

TEST_CASE("deadband width: set_config reaches the measured noise, 0 makes every change a move") {
  // [selection] deadband_sigmas is tuned live (Steering::retune → Selector::set_config):
  // the inputs' noise, measured per service, must follow it, or a retune would only half
  // apply (the target's band changed, the moves' band not).
  Instance in;
  in.vcpe = "v";
  in.id = "app";
  in.vcpus = 4;
  in.utilization = 0.30;
  const std::vector<Instance> ins{in};
  const std::vector<Path> paths;
  InputNoise noise;
  const auto t0 = std::chrono::steady_clock::time_point{};
  for (int k = 0; k < 40; ++k) {  // measured noise: ±0.2 points
    auto x = ins;
    x[0].utilization = 0.30 + (k % 2 ? 0.002 : -0.002);
    noise.feed(x, paths);
  }
  noise.snap(ins, paths, t0);
  auto moved = ins;
  moved[0].utilization = 0.305;  // +0.5 point: within 4·√2·σ (σ ≈ 0.25 point measured, floor 0.5)
  CHECK(noise.moves(moved, paths, t0 + 100ms).empty());
  BandConfig zero;
  zero.z = 0.0;
  noise.set_config(zero);
  CHECK(noise.moves(moved, paths, t0 + 100ms).size() == 1);
}

TEST_CASE("failback: candidates outside the spread window after a failback end at 0, not at the deadband") {
  // Draft figure 3 as the selector sees it (cost = RTT + processing delay): s3 10 ms is
  // the best, s1 13 ms and s2 14 ms are outside a 10 % spread window. s3's path goes down
  // (s1 and s2 share), then comes back: the damped steps towards "all on s3" must end
  // with s1 and s2 at 0. A target of 0 is the window's decision, not noise: leaving them
  // at the deadband's residual (a few % each) would send those flows to a site 30 %
  // worse for as long as the inputs stay steady.
  FakeClock clk;
  Selector sel(held(1s), clk.fn());
  Service svc;
  svc.id = "arvr";
  svc.epsilon = 0.10;
  std::vector<Instance> in(3);
  const char* names[] = {"s1", "s2", "s3"};
  const double pd[] = {4, 10, 5};
  for (int i = 0; i < 3; ++i) {
    in[i].vcpe = names[i]; in[i].id = "x"; in[i].processing_delay_ms = pd[i]; in[i].measured = true;
  }
  std::vector<Path> paths{{"s1", "w", 9, 0, 0, true}, {"s2", "w", 4, 0, 0, true}, {"s3", "w", 5, 0, 0, true}};
  auto weight_of = [&](const char* v) {
    for (auto& c : sel.published("arvr")->candidates)
      if (c.vcpe == v) return c.weight;
    return uint32_t{0};
  };
  REQUIRE(sel.update(svc, in, paths).has_value());
  warm(sel, clk, svc, in, paths);
  REQUIRE(weight_of("s3") == 1000);

  paths[2].up = false;
  clk.t += 1s;
  REQUIRE(sel.update(svc, in, paths).has_value());  // lost: at once
  CHECK(weight_of("s3") == 0);
  for (int i = 0; i < 10; ++i) {
    clk.t += 1s;
    sel.update(svc, in, paths);
  }
  CHECK(weight_of("s1") + weight_of("s2") == 1000);

  paths[2].up = true;
  int published = 0;
  for (int i = 0; i < 60; ++i) {
    clk.t += 1s;
    if (sel.update(svc, in, paths)) ++published;
  }
  CHECK(weight_of("s3") == 1000);
  CHECK(weight_of("s1") == 0);
  CHECK(weight_of("s2") == 0);
  // Damped steps (50 % each) and no more: the last one lands on the target.
  CHECK(published <= 8);
}

TEST_CASE("selector: a WAN given a cost loses its flows at the next update, exactly, then nothing is published") {
  // docs/SELECTION.md "WAN cost and weight": one instance over two equal WANs; the lte WAN
  // gets a cost of 30 ms (a configuration change), which puts it outside the spread window.
  FakeClock clk;
  Selector sel({}, clk.fn());
  Service svc;
  svc.id = "app";
  Instance x;
  x.vcpe = "a";
  x.id = "x";
  x.processing_delay_ms = 5;
  const std::vector<Instance> in{x};
  std::vector<Path> paths{{"a", "fiber", 10, 0, 0, true}, {"a", "lte", 10, 0, 0, true}};
  warm(sel, clk, svc, in, paths);
  REQUIRE(sel.published("app") != nullptr);
  CHECK(sel.published("app")->candidates[1].weight == 500);

  SECTION("damped steps alone take seconds, and only rule 7 ends them: why a configuration change resets") {
    paths[1].cost_ms = 30;
    for (int k = 0; k < 30; ++k) {  // 3 s of reports, 100 ms apart
      clk.t += 100ms;
      sel.update(svc, in, paths);
    }
    CHECK(sel.published("app")->candidates[1].weight > 0);  // still decaying
    for (int k = 0; k < 270; ++k) {  // 27 s more
      clk.t += 100ms;
      sel.update(svc, in, paths);
    }
    // Out of the window for out_settle at a pool load <= out_settle_load (docs/SELECTION.md
    // "Deadband" rule 7): the deadband's residual is gone too. At a higher load it would
    // stay (up to band_max), which a configuration change must not wait for.
    CHECK(sel.published("app")->candidates[1].weight == 0);
  }
  SECTION("reconfigured(): the next update publishes decide()'s weights, within the hold-down too") {
    clk.t += 100ms;
    paths[1].cost_ms = 30;
    sel.reconfigured("configured: lte cost 0 -> 30 ms");
    auto c = sel.update(svc, in, paths);
    REQUIRE(c.has_value());
    CHECK(c->reason.find("configured: lte cost 0 -> 30 ms") != std::string::npos);
    CHECK(c->now.candidates[0].weight == kWeightTotal);
    CHECK(c->now.candidates[1].weight == 0);
    CHECK(c->now.candidates[1].wan_cost_ms == 30);
    for (int k = 0; k < 300; ++k) {
      clk.t += 100ms;
      CHECK_FALSE(sel.update(svc, in, paths).has_value());
    }
  }
}

TEST_CASE("LLM servers: a growing queue moves new requests away in damped steps") {
  // Draft §4.5: among GPU sites, new requests follow the queue. Two equal sites, one GPU
  // each; b's queue goes from 0 to 6 and stays: its predicted time to first token is 7×
  // a's, outside the spread window: decide()'s target for b is 0.
  FakeClock clk;
  Selector sel({}, clk.fn());
  Service svc;
  svc.id = "llm";
  std::vector<Instance> in(2);
  for (int k = 0; k < 2; ++k) {
    in[k].vcpe = k ? "b" : "a";
    in[k].id = "m";
    in[k].gpus = 1;
    in[k].queue_depth = 0.0;
    in[k].service_time_ms = 120;  // unloaded time to first token
    in[k].capabilities = {"gpu"};
  }
  std::vector<Path> paths{{"a", "w", 10, 0.2, 0, true}, {"b", "w", 10, 0.2, 0, true}};
  warm(sel, clk, svc, in, paths);
  REQUIRE(sel.published("llm")->candidates[1].weight == 500);
  in[1].queue_depth = 6.0;
  std::vector<std::pair<double, uint32_t>> steps;  // (seconds after the rise, b's weight)
  for (int k = 1; k <= 40; ++k) {
    clk.t += 100ms;
    if (auto ch = sel.update(svc, in, paths)) {
      steps.emplace_back(k / 10.0, ch->now.candidates[1].weight);
    }
  }
  REQUIRE(!steps.empty());
  CHECK(steps.front().first <= 0.15);     // the first step at the next update
  CHECK(steps.front().second < 500);
  uint32_t at_2_5s = 500;
  for (auto [t, w] : steps)
    if (t <= 2.5) at_2_5s = w;
  CHECK(at_2_5s <= 250);                  // most of the way within two hold-downs
  CHECK(sel.published("llm")->candidates[1].weight <= 125);
}

TEST_CASE("adopt: no settling step while young, only after; a move still steps at once") {
  FakeClock clk;
  Selector sel(SelectorConfig{}, clk.fn());
  Fig4 f;
  // The old process held cloud2/wan1 low (on the window's edge, say): far from today's
  // target (~300), beyond band_max.
  sel.adopt("app1", Outcome::ok,
            readback({{"cloud1/app1/wan1", 200}, {"cloud1/app1/wan2", 200}, {"cloud2/app1/wan1", 100},
                      {"cloud2/app1/wan2", 500}}));
  const Decision d = decide(f.svc, f.in, f.paths);
  REQUIRE(std::abs(static_cast<int>(d.candidates[2].weight) - 100) > 50);
  // Steady inputs, a decision every 100 ms: nothing for the young period (10 s)...
  std::optional<Change> c;
  int ticks = 0;
  for (; ticks < 99 && !c; ++ticks) {
    clk.t += 100ms;
    c = sel.update(f.svc, f.in, f.paths);
  }
  CHECK_FALSE(c.has_value());
  CHECK(sel.published("app1")->candidates[2].weight == 100);
  // ... then the usual settling towards the target.
  for (; ticks < 200 && !c; ++ticks) {
    clk.t += 100ms;
    c = sel.update(f.svc, f.in, f.paths);
  }
  REQUIRE(c.has_value());
  INFO(c->reason);
  CHECK(c->reason.find("settling") != std::string::npos);
  CHECK(c->now.candidates[2].weight > 100);

  SECTION("a move while young steps at once") {
    Selector s2(SelectorConfig{}, clk.fn());
    s2.adopt("app1", Outcome::ok,
             readback({{"cloud1/app1/wan1", 200}, {"cloud1/app1/wan2", 200}, {"cloud2/app1/wan1", 100},
                       {"cloud2/app1/wan2", 500}}));
    clk.t += 100ms;
    CHECK_FALSE(s2.update(f.svc, f.in, f.paths).has_value());  // kept: same set
    clk.t += 2s;
    f.in[1].utilization = 0.9;  // cloud2 loaded: a move beyond any band
    auto m = s2.update(f.svc, f.in, f.paths);
    REQUIRE(m.has_value());
    INFO(m->reason);
    CHECK(m->reason.find("utilisation") != std::string::npos);
  }
}

TEST_CASE("settling goal: a target swinging at the spread window's edge under steady noise stops publishing") {
  // Issue 8, lab.steering's steady test: figure 4 with wan2 slower, so both clouds' wan2
  // candidates sit on the ε window's edge. Gaussian noise (RTT, jitter 2 %, utilisation
  // ±1.5 points) at 10 reports/s flips them in and out: their targets, and with them the
  // wan1 ones', swing by far more than band_max. Chasing the last target published on those
  // swings for as long as the inputs stayed steady; the mean over time (rule 9) does not
  // move, so after the weights reach it nothing is published.
  Fig4 base;
  // wan2's RTT at which cloud2/wan2 just leaves the window (bisection on decide()).
  double lo = 20, hi = 200;
  for (int i = 0; i < 60; ++i) {
    const double mid = (lo + hi) / 2;
    auto p = base.paths;
    p[1].rtt_ms = p[3].rtt_ms = mid;
    (decide(base.svc, base.in, p).candidates[3].weight > 0 ? lo : hi) = mid;
  }
  base.paths[1].rtt_ms = base.paths[3].rtt_ms = lo;
  auto run = [&](std::chrono::milliseconds goal_time, uint32_t seed, int& edge_flips) {
    FakeClock clk;
    SelectorConfig cfg;
    cfg.goal_time = goal_time;
    Selector sel(cfg, clk.fn());
    std::mt19937 rng(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    REQUIRE(sel.update(base.svc, base.in, base.paths).has_value());
    int late = 0;
    bool was_in = true;
    for (int step = 1; step <= 900; ++step) {  // 90 s
      clk.t += 100ms;
      Fig4 f = base;
      for (auto& p : f.paths) {
        p.rtt_ms *= 1 + 0.02 * g(rng);
        p.jitter_ms *= 1 + 0.02 * g(rng);
      }
      for (auto& i : f.in) i.utilization = std::clamp(i.utilization + 0.015 * g(rng), 0.0, 1.0);
      const bool in = decide(f.svc, f.in, f.paths).candidates[3].weight > 0;
      edge_flips += in != was_in;
      was_in = in;
      auto ch = sel.update(f.svc, f.in, f.paths);
      if (ch && step > 300) {  // after 30 s
        ++late;
        if (std::getenv("DEBUG_DEADBAND")) std::printf("goal %lld seed %u step %d: %s\n", static_cast<long long>(goal_time.count()), seed, step, ch->reason.c_str());
      }
    }
    const auto* p = sel.published("app1");
    uint32_t sum = 0;
    for (const auto& c : p->candidates) sum += c.weight;
    CHECK(sum == kWeightTotal);
    return late;
  };
  int late_goal = 0, late_last = 0, flips = 0, unused = 0;
  for (uint32_t seed = 1; seed <= 10; ++seed) {
    late_goal += run(SelectorConfig{}.goal_time, seed, flips);
    late_last += run(std::chrono::milliseconds(0), seed, unused);
  }
  std::printf("settling goal: %d edge flips; publications after 30 s over 10 runs of 60 s: %d (last target: %d)\n",
              flips, late_goal, late_last);
  // Measured: 4445 flips; 6 late publications with the goal (its 5 s mean of a target this
  // bimodal still strays past band_max now and then), 597 chasing the last target.
  CHECK(flips > 1000);  // the target did swing, throughout
  CHECK(late_goal <= 10);
  CHECK(late_last >= 20 * late_goal + 100);  // the rule made the difference
}
