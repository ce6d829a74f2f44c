// Stateful wrapper around decide(): keeps the last published weights per service,
// republishes only on real change, and moves ordinary rebalancing towards decide()'s
// target in damped steps, so the steering programmer (and nft) is not rewritten on every
// probe and flows neither oscillate between near-equal candidates nor between instances
// (R5; DESIGN §3; docs/SELECTION.md "Damping").
//
// Why damping: decide() re-solves shares ∝ spare capacity from *measured* utilisation,
// which is itself the result of the published shares. Re-solving from scratch has loop
// gain −ρ/(1−ρ) (unstable above ρ = 0.5, simulation in docs/BENCHMARKS.md). Moving only
// a fraction α of the way gives gain 1 − α/(1−ρ); α ∝ 1 − ρ̂ (ρ̂: vCPU-weighted reported
// utilisation of the pool) keeps it in (0, 1) whatever the load.
//
// Rules, per service:
//  * first decision, outcome changed (ok / best-effort / rejected), or after adopt() a
//    weighted set that differs: publish decide()'s weights as they are;
//  * urgent, at once even in hold-down: a weighted candidate lost (unavailable, path
//    down, SLA broken) gets 0; a weighted candidate whose instance became overloaded
//    (utilisation crossed overload_utilization, spare down by > rel_threshold) or whose
//    network / reported processing delay jumped by ≥ urgent_cost_rise of its cost moves
//    towards its (lower) target as far as the load or delay jumped. The rest takes a
//    damped step; never keep steering to something dead or drowning;
//  * a load or delay rise that our own steering cannot explain (we did not raise the
//    instance's share within explain_window) and of at least foreign_jump: straight to
//    decide()'s target, at once (docs/SELECTION.md "Deadband", rule 5);
//  * decide()'s fresh target further from the weights in force than the deadband (z·√2·σ
//    of the target from the inputs' measured noise, at most band_max, at least
//    settle_units; settle_units alone once an input left its band since the last step):
//    one damped step, but not within hold_down of the previous step; a step moving no
//    weight by settle_units is taken internally, not published. While the inputs stay in
//    their bands in a quiet pool, the target's mean over time since they last moved
//    stands for the target, in the test and in the step (goal_time);
//  * otherwise: keep the published weights.
// After a restart, adopt() installs the weights found in the data plane so that the
// first update does not rewrite them needlessly (see adopt()).
#pragma once

#include "select/deadband.hpp"
#include "select/select.hpp"

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cats::select {

struct SelectorConfig {
  // The urgent rules' threshold (overload: spare capacity down by more; delay jump: cost
  // up by more), relative to the published value.
  double rel_threshold = 0.10;
  // Minimum gap between ordinary (damped) steps. Urgent ones ignore it. 1 s ≈ the vCPE's
  // utilisation window: a step's effect is measured before the next one.
  std::chrono::milliseconds hold_down{1000};
  // Damping: each ordinary step moves the weights a fraction
  // α = clamp(step_gain · (1 − ρ̂), step_min, step_max) of the way to decide()'s target,
  // ρ̂ = the pool's vCPU-weighted reported utilisation. Loop gain 1 − α/(1 − ρ): step_gain
  // 1 would cancel it exactly with fresh metrics; 0.5 leaves margin for metrics that are
  // a window old and late (simulation). step_gain 0 with step_min = step_max = 1: undamped.
  double step_gain = 0.5;
  double step_min = 0.05;
  double step_max = 0.5;
  // A step moving no weight by this many units (of kWeightTotal) is kept internally, not
  // published (each publication is an nft transaction); small steps add up. Also: a
  // damped step short of its target by fewer units is done.
  uint32_t settle_units = 10;
  // Urgent path (at once, hold-down or not), for a weighted candidate whose target is
  // below its current weight: its instance newly at or above overload_utilization (below
  // when published, spare capacity down by > rel_threshold), or its network or reported
  // processing delay up by at least urgent_cost_rise of its published cost. It moves at
  // once as far towards the target as the utilisation jumped (or the new delay's share
  // of its cost), at least the damped step.
  double overload_utilization = 0.95;
  double urgent_cost_rise = 0.5;
  // Deadband (docs/SELECTION.md "Deadband"): a step only when decide()'s target is
  // further from the weights in force than z·σ of what the inputs' measured noise does to
  // it (and at least settle_units).
  BandConfig band;
  // ... but never wider than this share of the total: a target that noisy (a delay
  // measured at 95 % load, seconds after the load went) is still followed to within 5 %
  // (without it the lab's weights stopped half-way back to figure 4 after a load test).
  double band_max = 0.05;
  // A load or delay move that the shares we published within this window cannot explain
  // (an instance's utilisation moves at most in proportion to the share of it we moved)
  // comes from outside: the weights go to decide()'s target at once, without hold-down
  // or damped steps trailing behind. Long (10 s), because a backlog built by an earlier
  // step keeps an instance busy for seconds after it.
  std::chrono::milliseconds explain_window{10000};
  // ... and only a rise this large: of utilisation (absolute), of a delay (relative to the
  // candidate's cost). > 1 turns the rule off.
  double foreign_jump = 0.2;
  // A candidate whose target has been 0 (outside the spread window, not on its edge) for
  // this long loses what is left of its share once that is within its band: the window
  // decided, and a damped decay that stopped at the deadband would leave it that share for
  // as long as the inputs stay steady. Not at once, and only while the pool's reported load
  // is at most out_settle_load: at higher load targets leave and re-enter the window within
  // seconds and a residual buffers the swing (sim_selection's randomised scenario at 50-95 %
  // got worse in some seeds without these two limits; docs/BENCHMARKS.md).
  std::chrono::milliseconds out_settle{5000};
  double out_settle_load = 0.5;
  // Settling goes to the mean of the targets, not to the last one (docs/SELECTION.md
  // "Deadband", rule 9): while no input moved beyond its band, no candidate changed its
  // exclusion and the pool is at most out_settle_load busy, a step is due when the
  // target's mean over time since then (over all of it, at most goal_time back: an EWMA
  // of time constant goal_time after that) is further from the weights in force than the
  // band, and the step goes towards that mean. One target is a noisy sample: at a near-tie
  // (the spread window's edge) it swings by more than band_max on noise alone, and chasing
  // it published every few seconds under steady traffic. 0: off (the last target).
  std::chrono::milliseconds goal_time{5000};
};

// One published weight, with the inputs it was computed from (for the event log).
// Adopted weights (Selector::adopt) have unknown inputs: cost, e2e_ms, network_ms,
// compute_ms, wan_cost_ms, every one of parts and spare_vcpus are NaN; test with inputs_known().
struct PublishedWeight {
  std::string key;  // candidate_key(): vcpe/instance/wan
  std::string vcpe, instance, wan;
  double cost = 0.0;
  double e2e_ms = 0.0;
  double network_ms = 0.0;
  double compute_ms = 0.0;
  double wan_cost_ms = 0.0;  // the WAN's configured cost, part of cost
  CostParts parts;           // cost term by term (Scored::parts)
  Exclusion excluded = Exclusion::none;
  uint32_t weight = 0;
  double spare_vcpus = 0.0;  // the instance's spare capacity (hysteresis input)

  bool inputs_known() const { return !std::isnan(cost); }  // false when adopted
};

struct Publication {
  std::string service;
  Outcome outcome = Outcome::rejected;
  std::vector<PublishedWeight> candidates;  // all scored candidates, input order
  std::chrono::steady_clock::time_point at{};  // last (re)publication or adoption: hold-down base
  bool adopted = false;  // installed by adopt(), not yet confirmed by an update()
};

struct Change {
  Publication now;
  std::vector<PublishedWeight> previous;  // empty on the first publication; NaN inputs if adopted
  // Operator-readable, for the event log: which inputs moved, "; "-separated, e.g.
  // "first decision: ok, best site3/render/wan1 19.4 ms, 3 weighted",
  // "cloud1/app1/wan1 unavailable", "b/app/wan1 cost 21.3 -> 35.0 ms (+64%: network
  // 11.3 -> 25.0 ms)", "b/app spare 4.8 -> 1.2 vCPU (-75%)", "outcome ok -> rejected",
  // "restart: a/app/wan1 now near-best".
  std::string reason;
};

// One service's published weights plus the damping state (Selector's, per service; plain
// data so that the steps of update() in select/selector_steps.hpp are tested on their own):
// eff = the unrounded weights (fractions
// summing to 1) the published integers come from.
struct SelectorState {
  Publication pub;
  std::map<std::string, double, std::less<>> eff;
  // Last step, published or not (a step smaller than settle_units is kept internally):
  // the hold-down base for ordinary steps.
  std::chrono::steady_clock::time_point stepped_at{};
  // Per instance ("vcpe/id"): its share of eff after each step within explain_window.
  std::map<std::string, std::vector<std::pair<std::chrono::steady_clock::time_point, double>>, std::less<>> shares;
  double busy_at_step = 0.0;  // the pool's busy vCPUs at the last step
  // The pool's busy vCPUs at each step within explain_window, and the one in force before.
  std::vector<std::pair<std::chrono::steady_clock::time_point, double>> busy_steps;
  std::chrono::steady_clock::time_point born{};  // first decision or adopt()
  // Born by adopt(): the weights in force are the previous process's, at rest within a
  // band this process cannot know yet (its inputs' noise, which candidates sit on the
  // spread window's edge). While young, it takes no settling step: only a move, an
  // urgent change or a changed pool steps (docs/SELECTION.md "Restart").
  bool adopted = false;
  InputNoise::TargetNoise target_noise;  // per candidate (decide()'s order)
  std::chrono::steady_clock::time_point sigma_at{};
  // Per candidate key: EWMA mean and mean absolute deviation of the target itself, the
  // noise the propagation through decide() misses (inputs' covariance, the model's own
  // non-linearity at the spread window's edge).
  struct Wander {
    double mean = 0.0, dev = 0.0, last = -1.0;
    std::optional<std::chrono::steady_clock::time_point> out_since;  // target 0 since
    // The settling goal (docs/SELECTION.md "Deadband", rule 9): the target's mean over
    // time since the inputs last moved (since goal_since, at most SelectorConfig::goal_time
    // back), last fed at goal_at; goal_excl: the candidate's exclusion then.
    double goal = 0.0, goal_last = 0.0;  // goal_last: the target in force since goal_at
    std::optional<std::chrono::steady_clock::time_point> goal_since;
    std::chrono::steady_clock::time_point goal_at{};
    Exclusion goal_excl = Exclusion::none;
  };
  std::map<std::string, Wander, std::less<>> wander;
  std::string reconfigured;  // reconfigured()'s reason, until the next update
};

class Selector {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  explicit Selector(SelectorConfig cfg = {}, Clock clock = [] { return std::chrono::steady_clock::now(); });
  // New parameters from the next update on; what was published and measured stays.
  void set_config(SelectorConfig cfg) {
    cfg_ = std::move(cfg);
    for (auto& [id, n] : noise_) n.set_config(cfg_.band);
  }

  // Recompute the service; returns the change when weights are (re)published.
  std::optional<Change> update(const Service& svc, std::span<const Instance> instances,
                               std::span<const Path> paths);

  // Restart: install the weights that are already in the data plane (read back from nft
  // or the store) as published. Only key (filled from vcpe/instance/wan when empty),
  // vcpe, instance, wan and weight are used; the inputs are unknown and set to NaN.
  // Hold-down starts now. On the next update(): if its outcome and its set of
  // positive-weight keys equal the adopted ones, the adopted weights stay (no Change)
  // and that decision's costs and spare capacities become the hysteresis baseline;
  // otherwise it publishes by the usual rules, with reasons prefixed "restart: ".
  void adopt(const std::string& service, Outcome outcome, std::vector<PublishedWeight> weights);

  // A configured input of every service changed (a WAN's cost or weight): the next
  // update() of each published service goes to decide()'s weights at once, undamped, with
  // `reason` in the Change. An operator's change is not a measurement to be wary of, and
  // damped steps stop within the deadband of a zero target: a WAN given a cost to keep it
  // out would keep up to band_max of the flows (docs/SELECTION.md "WAN cost and weight").
  void reconfigured(const std::string& reason) {
    for (auto& [id, st] : pub_) st.reconfigured = reason;
  }

  // Currently published weights; nullptr before the first update of that service.
  const Publication* published(const std::string& service) const;
  void forget(const std::string& service) {
    pub_.erase(service);
    noise_.erase(service);
  }

 private:
  // How much of an instance's utilisation / delay move our own recent steps explain.
  bool unexplained(const SelectorState& st, const InputMove& m, std::span<const Instance> instances, double busy,
                   double cost, std::chrono::steady_clock::time_point now) const;
  // update()'s steps (select/selector_steps.hpp has the ones over plain data).
  Change first_decision(const Decision& d, Publication next, InputNoise& noise, std::span<const Instance> instances,
                        std::span<const Path> paths, std::chrono::steady_clock::time_point now);
  std::optional<Change> publish(SelectorState& st, const Decision& d, Publication next, const std::vector<double>& e,
                                std::string reason, bool whole, bool must, InputNoise& noise, std::span<const Instance> instances,
                                std::span<const Path> paths, std::chrono::steady_clock::time_point now);
  SelectorConfig cfg_;
  Clock clock_;
  std::map<std::string, SelectorState, std::less<>> pub_;
  // Input noise per service; it outlives adopt() (noise is a property of the inputs).
  std::map<std::string, InputNoise, std::less<>> noise_;
};

}  // namespace cats::select
