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

}  // namespace

TEST_CASE("selector: first update publishes, identical update does not") {
  FakeClock clk;
  Selector sel({0.1, 5s}, clk.fn());
  std::mt19937 rng(1);
  auto w = testgen::random_world(rng, false);
  auto c = sel.update(w.svc, w.instances, w.paths);
  REQUIRE(c.has_value());
  CHECK(c->previous.empty());
  CHECK(c->reason.rfind("initial", 0) == 0);
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
    CHECK(c->reason.find("lost " + victim.key) != std::string::npos);
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
  paths[0].rtt_ms = 20;  // cost 15 → 25
  clk.t += 1s;
  CHECK_FALSE(sel.update(svc, in, paths).has_value());  // hold-down
  clk.t += 5s;
  auto c = sel.update(svc, in, paths);
  REQUIRE(c.has_value());
  CHECK(c->reason.find("a/x/w cost") != std::string::npos);
  CHECK(c->previous.size() == 2);
  CHECK(c->now.candidates[1].weight > c->now.candidates[0].weight);

  SECTION("a returning candidate is gained, subject to hold-down") {
    paths[1].up = false;  // b carries all the weight now
    clk.t += 1s;
    auto l = sel.update(svc, in, paths);
    REQUIRE(l.has_value());  // lost: at once
    CHECK(l->reason.find("lost b/x/w (path down)") != std::string::npos);
    paths[1].up = true;
    clk.t += 1s;
    CHECK_FALSE(sel.update(svc, in, paths).has_value());
    clk.t += 5s;
    auto g = sel.update(svc, in, paths);
    REQUIRE(g.has_value());
    CHECK(g->reason.find("gained b/x/w") != std::string::npos);
  }
}
