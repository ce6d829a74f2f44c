#include "select/select.hpp"

#include "gen.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <numeric>
#include <random>
#include <set>

using namespace cats::select;

namespace {

// An instance that reports its processing delay (the cost's compute term, as measured).
Instance reporting(const std::string& vcpe, const std::string& id, double processing_delay_ms) {
  Instance x;
  x.vcpe = vcpe;
  x.id = id;
  x.processing_delay_ms = processing_delay_ms;
  return x;
}

uint32_t total(const Decision& d) {
  uint32_t t = 0;
  for (const auto& s : d.candidates) t += s.weight;
  return t;
}

}  // namespace

// draft-ietf-cats-usecases-requirements §4.1, figure 3: three edge sites, computing delay
// 4/10/5 ms, network delay 9/4/5 ms, client delay 1.5 + 7.9 = 9.4 ms.
TEST_CASE("figure 3: edge site 3 wins with 19.4 ms (22.4 / 23.4 for sites 1 / 2)") {
  Service svc;
  svc.id = "ar-vr";
  svc.access_delay_ms = 1.5 + 7.9;
  std::vector<Instance> in;
  std::vector<Path> paths;
  const double compute[] = {4, 10, 5}, network[] = {9, 4, 5};
  for (int i = 0; i < 3; ++i) {
    const std::string site = "site" + std::to_string(i + 1);
    Instance x;
    x.vcpe = site;
    x.id = "render";
    x.processing_delay_ms = compute[i];
    in.push_back(x);
    paths.push_back(Path{site, "wan1", network[i], 0, 0, true});
  }
  auto d = decide(svc, in, paths);
  REQUIRE(d.outcome == Outcome::ok);
  REQUIRE(d.candidates.size() == 3);
  CHECK(d.candidates[0].e2e_ms == Approx(22.4));
  CHECK(d.candidates[1].e2e_ms == Approx(23.4));
  CHECK(d.candidates[2].e2e_ms == Approx(19.4));
  CHECK_FALSE(d.candidates[2].compute_estimated);
  REQUIRE(d.best.has_value());
  CHECK(*d.best == 2);
  // R5: all three are within 25 % of the best, so new flows are spread, site 3 most.
  // Only processing delays are reported: every site counts as 1 idle vCPU (spare 1), so
  // the capacity factor is equal and the weights are the cost term's (b/cost)^2.
  CHECK(d.candidates[0].spare_vcpus == 1.0);
  CHECK(d.candidates[2].weight == 410);
  CHECK(d.candidates[0].weight == 308);
  CHECK(d.candidates[1].weight == 282);
  CHECK(d.candidates[2].weight > d.candidates[0].weight);
  CHECK(d.candidates[0].weight > d.candidates[1].weight);
  CHECK(d.candidates[1].weight > 0);
  CHECK(total(d) == kWeightTotal);

  SECTION("with the draft's < 20 ms requirement only site 3 qualifies") {
    svc.sla.max_e2e_ms = 20;
    auto r = decide(svc, in, paths);
    CHECK(r.outcome == Outcome::ok);
    CHECK(r.candidates[2].weight == kWeightTotal);
    CHECK(r.candidates[0].excluded == Exclusion::sla_e2e);
    CHECK(r.candidates[1].excluded == Exclusion::sla_e2e);
  }
  SECTION("closest site without a GPU is never chosen (§4.1)") {
    svc.sla.required_capability = "gpu";
    in[0].capabilities = {"gpu"};
    in[1].capabilities = {"gpu"};
    auto r = decide(svc, in, paths);
    CHECK(r.candidates[2].excluded == Exclusion::capability);
    CHECK(r.candidates[2].weight == 0);
    CHECK(r.candidates[0].weight > r.candidates[1].weight);
  }
}

// §4.4, figure 4: APP1 in two clouds, 6 vCPUs each, load 50 % vs 20 %, equal WANs.
// No processing delay reported: the M/M/c estimate must prefer cloud2, and the spare
// capacity (3 vs 4.8 vCPUs) must send most new connections there.
TEST_CASE("figure 4: cloud2 (6 vCPU at 20 %) gets most new flows, cloud1 (6 vCPU at 50 %) the rest") {
  Service svc;
  svc.id = "app1";
  svc.service_time_ms = 20;
  std::vector<Instance> in(2);
  in[0].vcpe = "vcpe1"; in[0].id = "APP1"; in[0].vcpus = 6; in[0].utilization = 0.5;
  in[1].vcpe = "vcpe2"; in[1].id = "APP1"; in[1].vcpus = 6; in[1].utilization = 0.2;
  std::vector<Path> paths{{"vcpe1", "wan1", 20, 1, 0, true}, {"vcpe1", "wan2", 20, 1, 0, true},
                          {"vcpe2", "wan1", 20, 1, 0, true}, {"vcpe2", "wan2", 20, 1, 0, true}};
  auto d = decide(svc, in, paths);
  REQUIRE(d.outcome == Outcome::ok);
  REQUIRE(d.candidates.size() == 4);
  CHECK(d.candidates[0].compute_estimated);
  // Erlang C(6, a = 3) ≈ 0.0991 → Wq = 0.0991 · 20 / (6 · 0.5) ≈ 0.66 ms.
  CHECK(d.candidates[0].compute_ms == Approx(20.0 + erlang_c(6, 0.5) * 20.0 / 3.0));
  CHECK(erlang_c(6, 0.5) == Approx(0.0991).epsilon(0.01));
  CHECK(d.candidates[2].compute_ms < d.candidates[0].compute_ms);
  CHECK(d.candidates[0].spare_vcpus == Approx(3.0));
  CHECK(d.candidates[2].spare_vcpus == Approx(4.8));
  REQUIRE(d.best.has_value());
  CHECK(in[d.candidates[*d.best].instance].vcpe == "vcpe2");
  const uint32_t cloud1 = d.candidates[0].weight + d.candidates[1].weight;
  const uint32_t cloud2 = d.candidates[2].weight + d.candidates[3].weight;
  CHECK(cloud1 + cloud2 == kWeightTotal);
  // 3 · (42.01/42.66)^2 = 2.91 vs 4.8 → 37.7 % / 62.3 %; apportion() gives each of the
  // 4 candidates 1 first and the other 996 pro rata → 378 / 622. Most go to cloud2;
  // cloud1 keeps a real share (R5: no herding onto the emptier cloud).
  CHECK(cloud2 == 622);
  CHECK(cloud1 == 378);
  // Equal WANs: each cloud's share splits evenly over its two paths.
  CHECK(d.candidates[0].weight + 1 >= d.candidates[1].weight);
  CHECK(d.candidates[1].weight + 1 >= d.candidates[0].weight);
  CHECK(d.candidates[2].weight + 1 >= d.candidates[3].weight);
  CHECK(d.candidates[3].weight + 1 >= d.candidates[2].weight);

  SECTION("the same loads reported as processing delay: capacity alone still favours cloud2") {
    in[0].processing_delay_ms = 20;
    in[1].processing_delay_ms = 20;
    auto r = decide(svc, in, paths);
    // Equal costs: shares ∝ spare, 3 : 4.8 → 2 + 996 · 3/7.8 = 385.1 : 614.9, largest
    // remainders to cloud1 → 386 : 614.
    CHECK(r.candidates[0].weight + r.candidates[1].weight == 386);
    CHECK(r.candidates[2].weight + r.candidates[3].weight == 614);
  }
}

TEST_CASE("spare capacity: vcpus·(1 − utilization), defaults and floor") {
  Instance i;
  CHECK(spare_vcpus(i) == 1.0);  // nothing reported: one idle vCPU
  i.vcpus = 6;
  i.utilization = 0.5;
  CHECK(spare_vcpus(i) == Approx(3.0));
  i.utilization = 1.3;  // over-reported load: saturated, floor
  CHECK(spare_vcpus(i) == kSpareFloorVcpus);
  i.utilization = -0.2;
  CHECK(spare_vcpus(i) == Approx(6.0));
  i.vcpus = std::numeric_limits<double>::quiet_NaN();
  i.utilization = std::numeric_limits<double>::quiet_NaN();
  CHECK(spare_vcpus(i) == 1.0);
  i.vcpus = 0;
  i.utilization = 0.5;
  CHECK(spare_vcpus(i) == Approx(0.5));
}

namespace {

// Two sites, one instance each, reported processing delay (so cost does not depend on
// load): a has paths at network 10 and 12 ms, b one path at 10 ms.
struct TwoSites {
  Service svc;
  std::vector<Instance> in;
  std::vector<Path> paths;
  TwoSites() {
    svc.id = "s";
    in.resize(2);
    in[0].vcpe = "a"; in[0].id = "x"; in[0].processing_delay_ms = 0;
    in[1].vcpe = "b"; in[1].id = "x"; in[1].processing_delay_ms = 0;
    paths = {{"a", "w1", 10, 0, 0, true}, {"a", "w2", 12, 0, 0, true}, {"b", "w1", 10, 0, 0, true}};
  }
};

}  // namespace

TEST_CASE("spreading: an instance's share does not grow with its number of paths") {
  TwoSites t;
  auto d = decide(t.svc, t.in, t.paths);
  REQUIRE(d.candidates.size() == 3);
  // Equal spare (1 each) and equal best-path cost: 500 / 500 per instance; a's 500 split
  // 1 : (10/12)^2 = 0.694 → 295 / 205.
  CHECK(d.candidates[2].weight == 500);
  CHECK(d.candidates[0].weight == 295);
  CHECK(d.candidates[1].weight == 205);
}

TEST_CASE("spreading: shares ∝ spare capacity at equal cost; saturated keeps ≥ 1") {
  TwoSites t;
  t.paths = {{"a", "w1", 10, 0, 0, true}, {"b", "w1", 10, 0, 0, true}};  // equal costs
  t.in[0].vcpus = 2;
  t.in[1].vcpus = 6;
  auto d = decide(t.svc, t.in, t.paths);
  REQUIRE(d.candidates.size() == 2);
  // 1 each, then 998 · 2/8 = 249.5 and 998 · 6/8 = 748.5; the tie goes to the lower index.
  CHECK(d.candidates[0].weight == 251);
  CHECK(d.candidates[1].weight == 749);
  t.in[1].utilization = 1.0;  // saturated but still eligible (no min_free_capacity)
  d = decide(t.svc, t.in, t.paths);
  // Floor 0.01 vCPU vs 2 spare: 1 + 998 · 0.01/2.01 = 5.97 → 6.
  CHECK(d.candidates[1].spare_vcpus == kSpareFloorVcpus);
  CHECK(d.candidates[1].weight == 6);
  CHECK(d.candidates[0].weight + d.candidates[1].weight == kWeightTotal);
  SECTION("capacity never lets a candidate outside the cost window in") {
    t.in[1].utilization = 0;
    t.paths[1].rtt_ms = 100;  // b: 100 ms > 1.25 · 10 ms
    auto r = decide(t.svc, t.in, t.paths);
    CHECK(r.candidates[0].weight == kWeightTotal);
    CHECK(r.candidates[1].weight == 0);
  }
}

TEST_CASE("M/M/c sanity: single server is M/M/1, more load costs more") {
  // M/M/1: sojourn = s / (1 − rho).
  CHECK(mmc_sojourn_ms(1, 0.5, 10) == Approx(20.0));
  CHECK(mmc_sojourn_ms(1, 0.0, 10) == Approx(10.0));
  double prev = 0;
  for (double rho = 0; rho < 0.99; rho += 0.05) {
    const double t = mmc_sojourn_ms(6, rho, 10);
    CHECK(t >= prev);
    prev = t;
  }
  CHECK(std::isfinite(mmc_sojourn_ms(64, 1.5, 10)));
  CHECK(mmc_sojourn_ms(2, 0.5, 10) < mmc_sojourn_ms(1, 0.5, 10));
}

TEST_CASE("network delay: rtt + jitter and loss penalties") {
  CostWeights w;
  CHECK(network_delay_ms(Path{"v", "w", 10, 0, 0, true}, w) == Approx(10));
  CHECK(network_delay_ms(Path{"v", "w", 10, 2, 0, true}, w) == Approx(14));
  CHECK(network_delay_ms(Path{"v", "w", 10, 0, 50, true}, w) == Approx(20));
  CHECK(std::isfinite(network_delay_ms(Path{"v", "w", 10, 0, 100, true}, w)));
  const NetworkTerms t = network_terms(Path{"v", "w", 10, 2, 50, true}, w);
  CHECK(t.rtt_ms == 10);
  CHECK(t.jitter_ms == 4);
  CHECK(t.loss_ms == 10);
  CHECK(network_delay_ms(Path{"v", "w", 10, 2, 50, true}, w) == 24);
}

// docs/SELECTION.md "Cost": the parts the decisions API and the Services page show.
// Inputs chosen so that every term is exact in binary: the sums are equal to the bit.
TEST_CASE("cost parts: access, delay, jitter and loss penalties, compute and WAN cost add up to the cost") {
  Service svc;
  svc.id = "app";
  svc.access_delay_ms = 2.5;
  svc.weights.network = 2.0;
  svc.weights.compute = 0.5;  // jitter_k 2, loss_k 1 (defaults)
  const Instance x = reporting("a", "x", 6.0);
  const std::vector<Instance> in{x};
  std::vector<Path> paths{{"a", "wan1", 20.0, 1.5, 50.0, true}, {"a", "wan2", 8.0, 0.0, 0.0, true}};
  paths[0].cost_ms = 7.0;
  const auto d = decide(svc, in, paths);
  REQUIRE(d.candidates.size() == 2);
  const Scored& s = d.candidates[0];
  CHECK(s.parts.access_ms == 2.5);
  CHECK(s.parts.delay_ms == 40.0);    // 2 · 20
  CHECK(s.parts.jitter_ms == 6.0);    // 2 · 2 · 1.5
  CHECK(s.parts.loss_ms == 40.0);     // 2 · 1 · 20 · 0.5 / (1 − 0.5)
  CHECK(s.parts.compute_ms == 3.0);   // 0.5 · 6
  CHECK(s.parts.wan_cost_ms == 7.0);  // not weighted
  CHECK(s.cost == 98.5);
  CHECK(s.parts.sum() == s.cost);
  CHECK(s.network_ms == 43.0);  // unweighted: 20 + 3 + 20
  const Scored& t = d.candidates[1];
  CHECK(t.parts.delay_ms == 16.0);
  CHECK(t.parts.jitter_ms == 0.0);
  CHECK(t.parts.loss_ms == 0.0);
  CHECK(t.parts.wan_cost_ms == 0.0);
  CHECK(t.cost == 21.5);
  CHECK(t.parts.sum() == t.cost);
  SECTION("an M/M/c estimate is the compute part, weighted") {
    Instance y = x;
    y.processing_delay_ms.reset();
    y.vcpus = 1;
    y.utilization = 0.5;  // M/M/1 at 50 %: T = s / (1 − ρ) = 20 ms
    const std::vector<Instance> in2{y};
    const auto e = decide(svc, in2, paths);
    CHECK(e.candidates[1].compute_ms == Approx(20.0));
    CHECK(e.candidates[1].parts.compute_ms == Approx(10.0));
    CHECK(e.candidates[1].parts.sum() == Approx(e.candidates[1].cost).epsilon(1e-12));
  }
}

TEST_CASE("property: the cost parts add up to the cost, term by term as documented") {
  const bool llm = GENERATE(false, true);
  std::mt19937 rng(20261201);
  for (int iter = 0; iter < 2000; ++iter) {
    auto w = testgen::random_world(rng, true, llm);
    const auto d = decide(w.svc, w.instances, w.paths);
    const CostWeights& k = w.svc.weights;
    for (const auto& s : d.candidates) {
      if (!std::isfinite(s.cost)) continue;
      const Path& p = w.paths[s.path];
      const NetworkTerms n = network_terms(p, k);
      REQUIRE(s.parts.access_ms == w.svc.access_delay_ms);
      REQUIRE(s.parts.delay_ms == k.network * p.rtt_ms);
      REQUIRE(s.parts.jitter_ms == k.network * n.jitter_ms);
      REQUIRE(s.parts.loss_ms == k.network * n.loss_ms);
      REQUIRE(s.parts.compute_ms == k.compute * s.compute_ms);
      REQUIRE(s.parts.wan_cost_ms == s.wan_cost_ms);
      // Rounding only: a few ulps of the cost (the cost is w_net · (rtt + jitter + loss)).
      REQUIRE(s.parts.sum() == Approx(s.cost).epsilon(1e-12).margin(1e-12));
    }
  }
}

TEST_CASE("apportion: exact total, minimum 1, deterministic") {
  std::vector<double> s{1, 1, 1};
  auto a = apportion(s);
  CHECK(a[0] + a[1] + a[2] == 1000);
  CHECK(a == std::vector<uint32_t>{334, 333, 333});
  std::vector<double> tiny{1, 1e-12, 0};
  auto b = apportion(tiny);
  CHECK(b == std::vector<uint32_t>{999, 1, 0});
  CHECK(apportion(std::vector<double>{0, 0}) == std::vector<uint32_t>{0, 0});
}

TEST_CASE("no candidate: reject vs best-effort") {
  Service svc;
  svc.id = "s";
  svc.sla.max_rtt_ms = 5;
  std::vector<Instance> in(1);
  in[0].vcpe = "v";
  in[0].id = "a";
  in[0].processing_delay_ms = 1;
  std::vector<Path> paths{{"v", "w1", 30, 0, 0, true}, {"v", "w2", 10, 0, 0, true}, {"v", "w3", 1, 0, 0, false}};
  auto r = decide(svc, in, paths);
  CHECK(r.outcome == Outcome::rejected);
  CHECK(total(r) == 0);
  svc.on_no_candidate = OnNoCandidate::best_effort;
  auto b = decide(svc, in, paths);
  CHECK(b.outcome == Outcome::best_effort);
  CHECK(b.candidates[1].weight == kWeightTotal);  // least bad; 30 ms is outside 25 %
  CHECK(b.candidates[2].weight == 0);             // down is never relaxed
  in[0].available = false;
  CHECK(decide(svc, in, paths).outcome == Outcome::rejected);
}

TEST_CASE("property: weights sum to 1000 and never land on an excluded candidate") {
  // llm: half the instances are LLM servers (queue, GPUs, GPU memory; draft §4.5).
  const bool llm = GENERATE(false, true);
  std::mt19937 rng(20240105);
  int ok = 0, be = 0, rej = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    auto w = testgen::random_world(rng, true, llm);
    auto d = decide(w.svc, w.instances, w.paths);
    const uint32_t t = total(d);
    std::size_t weighted = 0;
    for (const auto& s : d.candidates) {
      const Instance& in = w.instances[s.instance];
      const Path& p = w.paths[s.path];
      REQUIRE(p.vcpe == in.vcpe);
      if (s.weight == 0) continue;
      ++weighted;
      REQUIRE(in.available);
      REQUIRE(p.up);
      if (!w.svc.sla.required_capability.empty())
        REQUIRE(std::find(in.capabilities.begin(), in.capabilities.end(), "gpu") != in.capabilities.end());
      if (d.outcome == Outcome::ok) {
        REQUIRE(s.excluded == Exclusion::none);
        REQUIRE(p.rtt_ms <= w.svc.sla.max_rtt_ms);
        REQUIRE(p.jitter_ms <= w.svc.sla.max_jitter_ms);
        REQUIRE(p.loss_pct <= w.svc.sla.max_loss_pct);
        REQUIRE(s.e2e_ms <= w.svc.sla.max_e2e_ms);
        REQUIRE(in.free_capacity >= w.svc.sla.min_free_capacity);
        if (w.svc.sla.min_gpu_memory_free > 0)
          REQUIRE((in.gpu_memory_utilization &&
                   1.0 - std::clamp(*in.gpu_memory_utilization, 0.0, 1.0) >= w.svc.sla.min_gpu_memory_free));
      } else {
        REQUIRE(w.svc.on_no_candidate == OnNoCandidate::best_effort);
      }
    }
    switch (d.outcome) {
      case Outcome::ok: ++ok; REQUIRE(t == kWeightTotal); break;
      case Outcome::best_effort: ++be; REQUIRE(t == kWeightTotal); break;
      case Outcome::rejected: ++rej; REQUIRE(t == 0); break;
    }
    // Never all to one unless only one is in the near-best window.
    if (d.best && weighted == 1) {
      const double lim = d.candidates[*d.best].cost * (1 + w.svc.epsilon);
      std::size_t in_window = 0;
      for (const auto& s : d.candidates)
        if (s.cost <= lim && (s.excluded == Exclusion::none ||
                              (d.outcome == Outcome::best_effort && is_sla(s.excluded))))
          ++in_window;
      REQUIRE(in_window == 1);
    }
  }
  // The generator must exercise every outcome.
  CHECK(ok > 100);
  CHECK(be > 10);
  CHECK(rej > 10);
}

TEST_CASE("determinism: same input, same decision") {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 200; ++iter) {
    auto w = testgen::random_world(rng);
    auto a = decide(w.svc, w.instances, w.paths);
    auto b = decide(w.svc, w.instances, w.paths);
    REQUIRE(a.candidates.size() == b.candidates.size());
    for (std::size_t k = 0; k < a.candidates.size(); ++k) REQUIRE(a.candidates[k].weight == b.candidates[k].weight);
  }
}

// ---------------------------------------------------------------------------------------
// Instances known by their own figures (issue 8 item 5; docs/SELECTION.md "Exploration").

namespace {

// Three sites, as the lab's figures scenario: a fast one far away, a slow one nearby that
// looks best under the service-wide guess, and one in between.
struct ThreeSites {
  Service svc;
  std::vector<Instance> in;
  std::vector<Path> paths;
  ThreeSites() {
    svc.id = "llm";
    svc.service_time_ms = 10;  // the service-wide guess
    for (auto [v, rtt] : {std::pair{"far", 30.0}, {"mid", 15.0}, {"near", 2.0}}) {
      Instance i;
      i.vcpe = v;
      i.id = "app";
      i.vcpus = 4;
      i.utilization = 0.2;
      in.push_back(i);
      paths.push_back({v, "wan1", rtt, 0, 0, true});
    }
    in[0].service_time_ms = 5;   // fast
    in[1].service_time_ms = 25;  // medium
  }
  uint32_t weight(const Decision& d, const std::string& vcpe) const {
    uint32_t w = 0;
    for (const auto& s : d.candidates)
      if (in[s.instance].vcpe == vcpe) w += s.weight;
    return w;
  }
};

}  // namespace

TEST_CASE("instance figures: an instance's own service time replaces the service-wide guess") {
  ThreeSites t;
  t.in[2].service_time_ms = 60;  // near, but slow: 2 + 60 vs far 30 + 5
  const Decision d = decide(t.svc, t.in, t.paths);
  REQUIRE(d.best.has_value());
  CHECK(t.in[d.candidates[*d.best].instance].vcpe == "far");
  CHECK(d.candidates[2].compute_ms == Approx(mmc_sojourn_ms(4, 0.2, 60)));
  CHECK(t.weight(d, "near") == 0);  // 62 ms vs 35: outside the window
  CHECK(t.weight(d, "far") > t.weight(d, "mid"));
}

TEST_CASE("exploration: a never-measured instance gets explore_share, not its guessed rank") {
  ThreeSites t;
  t.in[2].measured = false;  // near: no figure yet; the guess (10 ms) would make it best
  const Decision d = decide(t.svc, t.in, t.paths);
  REQUIRE(d.best.has_value());
  CHECK(t.in[d.candidates[*d.best].instance].vcpe == "far");  // ranked among the measured
  CHECK(d.candidates[2].exploring);
  // explore_share 0.05, give or take apportion()'s one unit per member.
  CHECK(t.weight(d, "near") >= 49);
  CHECK(t.weight(d, "near") <= 51);
  CHECK(total(d) == kWeightTotal);

  SECTION("when nothing is measured, the guesses rank as usual") {
    for (auto& i : t.in) i.measured = false;
    const Decision all = decide(t.svc, t.in, t.paths);
    for (const auto& s : all.candidates) CHECK_FALSE(s.exploring);
    CHECK(t.in[all.candidates[*all.best].instance].vcpe == "near");  // 2 + ~10 ms, the guess
  }
}

TEST_CASE("property: exploration stays within explore_max, sums exact, never on excluded") {
  std::mt19937 rng(777);
  for (int iter = 0; iter < 3000; ++iter) {
    auto w = testgen::random_world(rng, iter % 2 == 0);
    w.svc.explore_share = std::uniform_real_distribution<double>(0.0, 0.2)(rng);
    w.svc.explore_max = std::uniform_real_distribution<double>(0.0, 0.3)(rng);
    for (auto& i : w.instances) i.measured = rng() % 3 != 0;
    const Decision d = decide(w.svc, w.instances, w.paths);
    const uint32_t t = total(d);
    REQUIRE((t == kWeightTotal || (t == 0 && d.outcome == Outcome::rejected)));
    uint32_t explored = 0, n_candidates = 0;
    std::set<std::size_t> instances;
    for (const auto& s : d.candidates) {
      if (s.weight > 0) REQUIRE((s.excluded == Exclusion::none || d.outcome == Outcome::best_effort));
      if (s.exploring) explored += s.weight, ++n_candidates, instances.insert(s.instance);
    }
    // Bound: min(explore_share × instances, explore_max) of the total, plus the one unit
    // apportion() gives every weighted candidate and one each of rounding.
    const double share = std::min(w.svc.explore_share * static_cast<double>(instances.size()), w.svc.explore_max);
    REQUIRE(explored <= static_cast<uint32_t>(share * kWeightTotal) + 2 * n_candidates + 1);
  }
}

// docs/SELECTION.md "WAN cost and weight".
TEST_CASE("WAN cost: a WAN with cost N ms loses to a path N − ε ms slower, wins against N + ε") {
  Service svc;
  svc.id = "app";
  const std::vector<Instance> in{reporting("a", "x", 5)};
  constexpr double kCost = 40, kEps = 0.1;
  for (const double slower : {kCost - kEps, kCost + kEps}) {
    std::vector<Path> paths{{"a", "lte", 10, 0, 0, true}, {"a", "fiber", 10 + slower, 0, 0, true}};
    paths[0].cost_ms = kCost;
    auto d = decide(svc, in, paths);
    REQUIRE(d.best.has_value());
    CHECK(d.candidates[0].wan_cost_ms == kCost);
    CHECK(d.candidates[0].cost == Approx(10 + 5 + kCost));
    CHECK(d.candidates[0].e2e_ms == Approx(10 + 5));  // a penalty, not delay the user sees
    CHECK(*d.best == (slower < kCost ? 1u : 0u));
  }
  SECTION("outside the spread window the costly WAN carries nothing; it takes over when the others are down") {
    std::vector<Path> paths{{"a", "lte", 10, 0, 0, true}, {"a", "fiber", 12, 0, 0, true}};
    paths[0].cost_ms = kCost;  // 55 ms vs 17 ms: far beyond 1.25 × 17
    auto d = decide(svc, in, paths);
    CHECK(d.candidates[0].weight == 0);
    CHECK(d.candidates[1].weight == kWeightTotal);
    paths[1].up = false;
    d = decide(svc, in, paths);
    CHECK(d.outcome == Outcome::ok);
    CHECK(d.candidates[0].weight == kWeightTotal);
  }
  SECTION("the E2E SLA does not see it") {
    svc.sla.max_e2e_ms = 20;
    std::vector<Path> paths{{"a", "lte", 10, 0, 0, true}};
    paths[0].cost_ms = kCost;
    auto d = decide(svc, in, paths);
    CHECK(d.candidates[0].excluded == Exclusion::none);
    CHECK(d.candidates[0].weight == kWeightTotal);
  }
}

TEST_CASE("WAN weight: equal-cost paths of an instance split ∝ weight; the instance's share stays") {
  TwoSites t;
  t.paths = {{"a", "w1", 10, 0, 0, true}, {"a", "w2", 10, 0, 0, true}, {"b", "w1", 10, 0, 0, true}};
  t.paths[0].weight = 3;
  auto d = decide(t.svc, t.in, t.paths);
  REQUIRE(d.candidates.size() == 3);
  // a and b half each (capacity and best cost are equal), a's half split 3 : 1: shares
  // 0.375 / 0.125 / 0.5, then 1 each and 997 by largest remainder.
  CHECK(d.candidates[0].weight == 375);
  CHECK(d.candidates[1].weight == 126);
  CHECK(d.candidates[2].weight == 499);
  SECTION("weight does not bring a path outside the spread window back") {
    t.paths[1].rtt_ms = 100;
    t.paths[1].weight = 100;
    auto r = decide(t.svc, t.in, t.paths);
    CHECK(r.candidates[1].weight == 0);
  }
}

TEST_CASE("WAN cost and weight at their defaults change nothing; equal weights everywhere neither") {
  // Defaults (cost 0, weight 1) are what every other test here runs with; this pins the
  // claim over random worlds: a cost of 0 and any weight that is the same on every WAN
  // give the very same weights (4: a power of two scales every share exactly).
  std::mt19937 rng(77);
  for (int iter = 0; iter < 500; ++iter) {
    auto w = testgen::random_world(rng);
    auto base = decide(w.svc, w.instances, w.paths);
    for (auto& p : w.paths) {
      p.cost_ms = 0;
      p.weight = 4;
    }
    auto same = decide(w.svc, w.instances, w.paths);
    REQUIRE(same.candidates.size() == base.candidates.size());
    for (std::size_t k = 0; k < base.candidates.size(); ++k) {
      CHECK(same.candidates[k].weight == base.candidates[k].weight);
      CHECK(same.candidates[k].cost == base.candidates[k].cost);
    }
  }
}

// Draft §4.5 (AI inference): an LLM server's utilisation is near 100 % whenever it serves
// anything, so its capacity factor is units / (1 + queued requests), Envoy's
// least-request weighting, with GPUs as the units when it reports them.
TEST_CASE("LLM servers: the capacity factor follows the queue, in GPUs when reported") {
  Instance i;
  i.vcpus = 16;
  i.utilization = 0.98;  // a batching server is always "busy"
  i.queue_depth = 0.0;
  CHECK(spare_vcpus(i) == Approx(16.0));  // no GPUs reported: vCPUs are the units
  i.gpus = 2;
  CHECK(spare_vcpus(i) == Approx(2.0));
  i.queue_depth = 3.0;
  CHECK(spare_vcpus(i) == Approx(0.5));
  i.queue_depth = -1.0;  // nonsense counts as empty (valid() excludes it from weighting)
  CHECK(spare_vcpus(i) == Approx(2.0));
  i.queue_depth = 1e9;
  CHECK(spare_vcpus(i) == kSpareFloorVcpus);

  // GPU site a (1 GPU, empty queue) against b (2 GPUs, 3 waiting), 100 ms unloaded time to
  // first token each, equal paths. The compute term is the queue now, not a measured TTFT:
  // 100 · (1 + 0/1) against 100 · (1 + 3/2); the measured delays (the queues they had) do
  // not count.
  TwoSites t;
  t.svc.epsilon = 2.0;  // both in the window: the factors decide
  t.paths = {{"a", "w1", 10, 0, 0, true}, {"b", "w1", 10, 0, 0, true}};
  for (auto& x : t.in) x.service_time_ms = 100, x.processing_delay_ms = 900;
  t.in[0].gpus = 1;
  t.in[0].queue_depth = 0.0;
  t.in[1].gpus = 2;
  t.in[1].queue_depth = 3.0;
  auto d = decide(t.svc, t.in, t.paths);
  CHECK(d.candidates[0].compute_ms == Approx(100));
  CHECK(d.candidates[1].compute_ms == Approx(250));
  CHECK(d.candidates[1].compute_estimated);
  // Shares 1 · 1 : 0.5 · (110 / 260)² = 1 : 0.0895.
  CHECK(d.candidates[0].weight == 917);
  CHECK(d.candidates[1].weight == 83);
  // The queue drains: equal costs, b's two GPUs take twice a's share.
  t.in[1].queue_depth = 0.0;
  d = decide(t.svc, t.in, t.paths);
  CHECK(d.candidates[0].weight == 334);
  CHECK(d.candidates[1].weight == 666);
  // At rest an instance with a queue figure compares like one without (c · (1 − 0), and its
  // service time as an idle instance's delay).
  t.in[0] = t.in[1] = Instance{};
  t.in[0].vcpe = "a"; t.in[1].vcpe = "b";
  t.in[0].vcpus = t.in[1].vcpus = 4;
  t.in[0].processing_delay_ms = 5;
  t.in[1].service_time_ms = 5;
  t.in[1].queue_depth = 0.0;
  d = decide(t.svc, t.in, t.paths);
  CHECK(d.candidates[0].weight == 500);
  CHECK(d.candidates[1].weight == 500);
  // A non-finite queue is an invalid metric: never weighted.
  t.in[1].queue_depth = std::numeric_limits<double>::quiet_NaN();
  d = decide(t.svc, t.in, t.paths);
  CHECK(d.candidates[1].excluded == Exclusion::invalid_metrics);
  CHECK(d.candidates[0].weight == kWeightTotal);
}

TEST_CASE("LLM servers: GPU capability is never relaxed, GPU memory headroom is an SLA") {
  Service svc;
  svc.id = "llm";
  svc.sla.required_capability = "gpu";
  svc.sla.min_gpu_memory_free = 0.2;
  svc.on_no_candidate = OnNoCandidate::best_effort;
  std::vector<Instance> in(3);
  const char* site[] = {"cpu", "g1", "g2"};
  for (int k = 0; k < 3; ++k) {
    in[k].vcpe = site[k];
    in[k].id = "m";
    in[k].processing_delay_ms = 50;
    in[k].queue_depth = 0.0;
  }
  in[1].capabilities = in[2].capabilities = {"gpu"};
  in[1].gpus = in[2].gpus = 1;
  in[1].gpu_memory_utilization = 0.5;   // 50 % free
  in[2].gpu_memory_utilization = 0.9;   // 10 % free < 20 %
  std::vector<Path> paths{{"cpu", "w", 2, 0, 0, true}, {"g1", "w", 10, 0, 0, true}, {"g2", "w", 10, 0, 0, true}};
  auto d = decide(svc, in, paths);
  CHECK(d.outcome == Outcome::ok);
  CHECK(d.candidates[0].excluded == Exclusion::capability);
  CHECK(d.candidates[2].excluded == Exclusion::sla_gpu_memory);
  CHECK(d.candidates[1].weight == kWeightTotal);
  // No figure cannot show headroom.
  in[1].gpu_memory_utilization.reset();
  d = decide(svc, in, paths);
  CHECK(d.candidates[1].excluded == Exclusion::sla_gpu_memory);
  // Best effort relaxes the SLA among GPU sites, never the capability: the nearest,
  // idle CPU-only site gets nothing.
  CHECK(d.outcome == Outcome::best_effort);
  CHECK(d.candidates[0].weight == 0);
  CHECK(d.candidates[1].weight + d.candidates[2].weight == kWeightTotal);
  // Both GPU sites gone: nothing at all, not the CPU-only site.
  in[1].available = in[2].available = false;
  d = decide(svc, in, paths);
  CHECK(d.outcome == Outcome::rejected);
  CHECK(total(d) == 0);
  CHECK(to_string(Exclusion::sla_gpu_memory) == "sla gpu memory");
}

// Draft §4.2: two classes share sites; the lower-priority one leaves a filling site first.
// Trunk reservation: a service with reserve r sees utilisation u as u / (1 − r).
TEST_CASE("priorities: a low-priority service leaves a filling instance before a normal one") {
  Service normal, low;
  normal.id = "v2x";
  low.id = "maps";
  low.reserve = 0.2;
  normal.epsilon = low.epsilon = 1.0;  // both sites in the window: capacity decides
  std::vector<Instance> in(2);
  in[0].vcpe = "near"; in[0].id = "x"; in[0].vcpus = 4;
  in[1].vcpe = "far"; in[1].id = "x"; in[1].vcpus = 4;
  std::vector<Path> paths{{"near", "w", 4, 0, 0, true}, {"far", "w", 8, 0, 0, true}};
  auto weight = [&](const Service& s, std::size_t k) { return decide(s, in, paths).candidates[k].weight; };
  // Idle: the reserve scales both sites' spare alike, so both classes split the same way.
  CHECK(weight(low, 0) == weight(normal, 0));
  // The near site fills to 70 %: the low class counts 0.1 of its 0.8 as spare, the
  // normal one 0.3 of 1.
  in[0].utilization = 0.7;
  const uint32_t n70 = weight(normal, 0), l70 = weight(low, 0);
  CHECK(l70 < n70);
  CHECK(decide(low, in, paths).candidates[0].spare_vcpus == Approx(4 * (1 - 0.7 / 0.8)));
  // At 80 % it is full for the low class (floor share only), not for the normal one.
  in[0].utilization = 0.8;
  CHECK(weight(low, 0) <= 3);
  CHECK(weight(normal, 0) > 100);
  // Its M/M/c estimate sees the fuller instance too (compute estimated, not reported).
  in[0].utilization = 0.6;
  CHECK(decide(low, in, paths).candidates[0].compute_ms > decide(normal, in, paths).candidates[0].compute_ms);
  // A reported processing delay is measured: the reserve does not change it.
  in[0].processing_delay_ms = 12;
  CHECK(decide(low, in, paths).candidates[0].compute_ms == 12);
  // reserve 0 is the normal service exactly.
  low.reserve = 0;
  CHECK(decide(low, in, paths).candidates[0].weight == decide(normal, in, paths).candidates[0].weight);
}
