// Each step of Selector::update() on its own (select/selector_steps.hpp): what changed,
// whether a step is due, how far it goes.
#include "select/selector_steps.hpp"

#include <catch2/catch.hpp>

#include <numeric>

using namespace cats::select;
using namespace std::chrono_literals;

namespace {

InputMove move(InputMove::Kind kind, std::string subject, double from, double to) {
  InputMove m;
  m.kind = kind;
  m.subject = std::move(subject);
  m.from = from;
  m.to = to;
  return m;
}

steps::StepCandidate cand(double target, double was, double cut = 0.0, bool open = true, bool settled_out = false,
                          double band = 0.0) {
  return {target, was, cut, open, settled_out, band, target == 0.0};
}

// Two sites, one WAN: a/app (4 vCPUs) is nearer than b/app (4 vCPUs).
struct World {
  Service svc;
  std::vector<Instance> in;
  std::vector<Path> paths;
  World() {
    svc.id = "app";
    svc.service_time_ms = 5.0;
    in.resize(2);
    paths.resize(2);
    for (std::size_t k = 0; k < 2; ++k) {
      in[k].vcpe = paths[k].vcpe = k == 0 ? "a" : "b";
      in[k].id = "app";
      in[k].vcpus = 4.0;
      in[k].utilization = 0.2;
      paths[k].wan = "wan1";
      paths[k].rtt_ms = k == 0 ? 10.0 : 12.0;
    }
  }
  Decision decision() const { return decide(svc, in, paths); }
};

// The publication of a decision, as Selector publishes it.
Publication publication(const World& w, const Decision& d) {
  return steps::to_publication(w.svc, d, w.in, w.paths, std::chrono::steady_clock::time_point{});
}

std::vector<double> targets(const Publication& p) {
  std::vector<double> t;
  for (const auto& w : p.candidates) t.push_back(static_cast<double>(w.weight) / kWeightTotal);
  return t;
}

steps::Shares shares_of(const Publication& p) {
  steps::Shares s;
  for (const auto& w : p.candidates)
    if (w.weight > 0) s[w.key] = static_cast<double>(w.weight) / kWeightTotal;
  return s;
}

steps::Classified classify(const World& before, const World& after, const Publication* cur_override = nullptr,
                           std::string_view reconfigured = {}, const std::vector<InputMove>& moves = {}) {
  const Publication cur = cur_override ? *cur_override : publication(before, before.decision());
  const Decision d = after.decision();
  const Publication next = publication(after, d);
  return steps::classify(SelectorConfig{}, after.svc, d, cur, next, targets(next), shares_of(cur), reconfigured,
                         after.in, after.paths, moves);
}

}  // namespace

TEST_CASE("steps::classify: the same inputs change nothing") {
  World w;
  const auto cl = classify(w, w);
  CHECK(cl.urgent.empty());
  CHECK(cl.normal.empty());
  CHECK_FALSE(cl.reset);
  CHECK_FALSE(cl.keep_adopted);
  REQUIRE(cl.cut.size() == 2);
  CHECK(cl.cut[0] == 0.0);
  CHECK(cl.cut[1] == 0.0);
}

TEST_CASE("steps::classify: a different outcome or a reconfiguration resets to the target") {
  World w;
  Publication cur = publication(w, w.decision());
  cur.outcome = Outcome::best_effort;
  auto cl = classify(w, w, &cur);
  CHECK(cl.reset);
  CHECK(cl.urgent == "outcome best_effort -> ok");

  cl = classify(w, w, nullptr, "wan1 cost 0 -> 5 ms");
  CHECK(cl.reset);
  CHECK(cl.urgent == "wan1 cost 0 -> 5 ms");
}

TEST_CASE("steps::classify: a weighted candidate lost is urgent, without a reset") {
  World before, after;
  after.in[1].available = false;
  const auto cl = classify(before, after);
  CHECK_FALSE(cl.reset);
  CHECK(cl.urgent.find("b/app/wan1") != std::string::npos);
}

TEST_CASE("steps::classify: an instance newly overloaded is cut as far as its load jumped") {
  World before, after;
  after.in[1].utilization = 0.97;
  const auto cl = classify(before, after);
  CHECK(cl.urgent.find("b/app overloaded: utilisation 97 %") != std::string::npos);
  CHECK(cl.cut[0] == 0.0);
  // was_util from the published spare capacity: 1 − 3.2/4 = 0.2, so 0.97 − 0.2.
  CHECK(cl.cut[1] == Approx(0.77).margin(1e-9));
  // Already hot when published: edge-triggered, not urgent again.
  const auto again = classify(after, after);
  CHECK(again.urgent.empty());
}

TEST_CASE("steps::classify: input moves name an ordinary step") {
  World w;
  InputMove m;
  m.subject = "a/app";
  m.what = "utilisation 20.0 -> 40.0 %";
  const auto cl = classify(w, w, nullptr, {}, {m});
  CHECK(cl.urgent.empty());
  CHECK(cl.normal == "a/app utilisation 20.0 -> 40.0 %");
}

TEST_CASE("steps::classify: after adopt(), the same weighted set is kept; another resets") {
  World w;
  Publication adopted = publication(w, w.decision());
  adopted.adopted = true;
  CHECK(classify(w, w, &adopted).keep_adopted);

  adopted.candidates[1].weight = 0;  // the data plane had only a
  adopted.candidates[0].weight = kWeightTotal;
  const auto cl = classify(w, w, &adopted);
  CHECK_FALSE(cl.keep_adopted);
  CHECK(cl.reset);
  CHECK(cl.normal == "b/app/wan1 now near-best");
}

TEST_CASE("steps::material_moves: a small network move is noise, a load move is not") {
  const std::map<std::string, double, std::less<>> cost_of{{"a/wan1", 20.0}, {"a/app", 20.0}};
  const InputMove small = move(InputMove::Kind::network, "a/wan1", 10.0, 11.0);
  const InputMove large = move(InputMove::Kind::network, "a/wan1", 10.0, 13.0);
  const InputMove load = move(InputMove::Kind::utilization, "a/app", 0.2, 0.21);
  const auto kept = steps::material_moves(SelectorConfig{}, {small, large, load}, cost_of);
  REQUIRE(kept.size() == 2);
  CHECK(kept[0].to == 13.0);
  CHECK(kept[1].kind == InputMove::Kind::utilization);
}

namespace {

// A state whose weights in force are `eff`, with measured (zero) target noise.
SelectorState state_with(steps::Shares eff, std::size_t n) {
  SelectorState st;
  st.eff = std::move(eff);
  st.target_noise.sigma.assign(n, 0.0);
  st.target_noise.edge.assign(n, 0);
  return st;
}

Publication two_keys() {
  Publication p;
  p.candidates.resize(2);
  p.candidates[0].key = "a/app/wan1";
  p.candidates[1].key = "b/app/wan1";
  return p;
}

}  // namespace

TEST_CASE("steps::find_due: a gap beyond the band is due, one within it is not") {
  const SelectorConfig cfg;  // settle_units 10: a band of at least 0.01
  const Publication next = two_keys();
  const auto t0 = std::chrono::steady_clock::time_point{} + 100s;
  {
    SelectorState st = state_with({{"a/app/wan1", 0.5}, {"b/app/wan1", 0.5}}, 2);
    const auto due = steps::find_due(cfg, st, next, {0.505, 0.495}, false, false, false, t0);
    CHECK_FALSE(due.due);
  }
  {
    SelectorState st = state_with({{"a/app/wan1", 0.5}, {"b/app/wan1", 0.5}}, 2);
    const auto due = steps::find_due(cfg, st, next, {0.53, 0.47}, false, false, false, t0);
    CHECK(due.due);
    CHECK(due.far_excess == Approx(0.02));
    CHECK(due.band[0] == Approx(0.01));
    CHECK(steps::settling_reason(cfg, due, st.eff) == "settling: a/app/wan1 500 -> target 530 (band ±10)");
  }
  {
    // Young (noise not measured yet): the widest band, band_max.
    SelectorState st = state_with({{"a/app/wan1", 0.5}, {"b/app/wan1", 0.5}}, 2);
    const auto due = steps::find_due(cfg, st, next, {0.53, 0.47}, false, true, false, t0);
    CHECK_FALSE(due.due);
    CHECK(due.band[0] == Approx(cfg.band_max));
  }
  {
    // A key in force that decide() no longer scores must go.
    SelectorState st = state_with({{"a/app/wan1", 0.5}, {"gone/app/wan1", 0.5}}, 2);
    CHECK(steps::find_due(cfg, st, next, {0.5, 0.5}, false, false, false, t0).due);
  }
}

TEST_CASE("steps::find_due: a residual out of the window settles after out_settle, in a quiet pool only") {
  const SelectorConfig cfg;
  const Publication next = two_keys();
  const auto t0 = std::chrono::steady_clock::time_point{} + 100s;
  SelectorState st = state_with({{"a/app/wan1", 0.995}, {"b/app/wan1", 0.005}}, 2);
  auto due = steps::find_due(cfg, st, next, {1.0, 0.0}, true, false, true, t0);
  CHECK_FALSE(due.due);
  due = steps::find_due(cfg, st, next, {1.0, 0.0}, true, false, true, t0 + cfg.out_settle - 1ms);
  CHECK_FALSE(due.due);
  due = steps::find_due(cfg, st, next, {1.0, 0.0}, true, false, false, t0 + cfg.out_settle);
  CHECK_FALSE(due.due);  // the pool is loaded: the residual buffers the swing
  due = steps::find_due(cfg, st, next, {1.0, 0.0}, true, false, true, t0 + cfg.out_settle);
  CHECK(due.due);
  CHECK(due.settled_out[1]);
  CHECK(due.out_key == "b/app/wan1");
  CHECK(steps::settling_reason(cfg, due, st.eff) == "settling: b/app/wan1 5 -> 0 (outside the spread window for 5 s)");
}

TEST_CASE("steps::step_alpha: step_gain·(1 − ρ̂) within [step_min, step_max]") {
  const SelectorConfig cfg;  // 0.5, 0.05..0.5
  CHECK(steps::step_alpha(cfg, 0.0) == Approx(0.5));
  CHECK(steps::step_alpha(cfg, 0.6) == Approx(0.2));
  CHECK(steps::step_alpha(cfg, 0.99) == Approx(0.05));
  SelectorConfig undamped;
  undamped.step_gain = 0.0;
  undamped.step_min = undamped.step_max = 1.0;
  CHECK(steps::step_alpha(undamped, 0.9) == 1.0);
}

TEST_CASE("steps::damped: a fraction α of the way, cuts further and kept, the rest renormalised") {
  std::vector<steps::StepCandidate> c(2);
  c[0] = cand(1.0, 0.5);
  c[1] = cand(0.0, 0.5);
  auto e = steps::damped(c, 0.5);
  CHECK(e[0] == Approx(0.75));
  CHECK(e[1] == Approx(0.25));

  // Three candidates; the cut one goes 75 % of the way at once and keeps it.
  std::vector<steps::StepCandidate> three(3);
  three[0] = cand(0.2, 0.6, 0.75);
  three[1] = cand(0.4, 0.2);
  three[2] = cand(0.4, 0.2);
  e = steps::damped(three, 0.1);
  CHECK(e[0] == Approx(0.3));
  CHECK(e[1] == Approx(0.35));
  CHECK(e[2] == Approx(0.35));
  CHECK(std::accumulate(e.begin(), e.end(), 0.0) == Approx(1.0));
}

TEST_CASE("steps::damped: closed candidates and residuals go to 0 at once") {
  std::vector<steps::StepCandidate> c(3);
  c[0] = cand(1.0, 0.6);
  c[1] = cand(0.0, 0.3, 0.0, false);  // dead
  c[2] = cand(0.0, 0.1, 0.0, true, true, 0.1);  // residual within band
  auto e = steps::damped(c, 0.2);
  CHECK(e[1] == 0.0);
  CHECK(e[2] == 0.0);
  CHECK(e[0] == Approx(1.0));
  // Below half a unit of kWeightTotal: gone.
  std::vector<steps::StepCandidate> tiny(2);
  tiny[0] = cand(1.0, 0.999);
  tiny[1] = cand(0.0, 0.0008);
  e = steps::damped(tiny, 0.5);
  CHECK(e[1] == 0.0);
  // Nothing left at all: the targets.
  std::vector<steps::StepCandidate> none(1);
  none[0] = cand(0.0, 0.0, 0.0, false);
  CHECK(steps::damped(none, 0.5) == std::vector<double>{0.0});
}
