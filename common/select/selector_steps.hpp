// The steps of Selector::update(), over plain data so that each is unit-tested on its own
// (tests/unit/select/test_selector_steps.cpp). update() runs them in this order:
//   1. classify()      what changed since the published weights: candidates lost or
//                      drowning (urgent, cut at once), the pool or the outcome changed
//                      (reset to decide()'s target), or ordinary reasons for a damped step;
//   2. find_due()      whether decide()'s target (settling: its mean over time since the
//                      inputs last moved) left the deadband of the weights in force
//                      (docs/SELECTION.md "Deadband");
//   3. step_alpha(), damped()  the ordinary step: a fraction α of the way, cut candidates
//                      further (docs/SELECTION.md "Damping");
//   4. Selector::publish()  apportion, then publish, or keep a step too small to matter.
// Rule 5 (a move our steering cannot explain goes to the target at once) needs the
// selector's share history and stays in Selector::unexplained().
#pragma once

#include "select/selector.hpp"

#include <chrono>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cats::select::steps {

using Shares = std::map<std::string, double, std::less<>>;  // candidate key -> fraction of the total

double lookup(const Shares& m, std::string_view key);
// Pool membership as the weighting saw it: eligible, or an SLA breaker carrying weight
// in best-effort mode.
bool member(const PublishedWeight& w);
// A figure in an operator-readable reason ("%.1f").
std::string num(double v, int prec = 1);
// decide()'s result as it is published: each candidate's key, names, cost and its parts,
// exclusion, weight and spare capacity, stamped `at`.
Publication to_publication(const Service& svc, const Decision& d, std::span<const Instance> instances,
                           std::span<const Path> paths, std::chrono::steady_clock::time_point at);

// Each subject's ("vcpe/wan" path, "vcpe/id" instance) cheapest candidate cost: what a
// delay move is large against.
std::map<std::string, double, std::less<>> cheapest_costs(const Decision& d, std::span<const Instance> instances,
                                                          std::span<const Path> paths);

// Inputs beyond their noise band that matter: a network move smaller than rel_threshold
// of the cheapest cost it feeds is dropped; load moves always count.
std::vector<InputMove> material_moves(const SelectorConfig& cfg, std::vector<InputMove> moves,
                                      const std::map<std::string, double, std::less<>>& cost_of);

struct Classified {
  std::string urgent;       // published at once, hold-down or not
  std::string normal;       // named when an ordinary step is taken
  bool reset = false;       // publish decide()'s target as it is, undamped
  std::vector<double> cut;  // per candidate: how far towards its lower target at once; 0 = not cut
  bool keep_adopted = false;  // after adopt(): same outcome, same weighted set, keep the data plane's
};

// Step 1. `reconfigured`: Selector::reconfigured()'s pending reason (empty: none).
Classified classify(const SelectorConfig& cfg, const Service& svc, const Decision& d, const Publication& cur,
                    const Publication& next, const std::vector<double>& target, const Shares& eff,
                    std::string_view reconfigured, std::span<const Instance> instances, std::span<const Path> paths,
                    const std::vector<InputMove>& moves);

struct Due {
  bool due = false;                // the target left the deadband somewhere
  std::string far;                 // the candidate furthest beyond its band
  double far_excess = -1.0, far_band = 0.0, far_target = 0.0;
  bool far_mean = false;           // far_target is the mean of the targets (rule 9), not the last
  std::string out_key;             // the first candidate settled out of the window
  std::vector<bool> settled_out;   // per candidate: out of the window for out_settle
  std::vector<double> band;        // per candidate: its deadband
  std::vector<double> goal;        // per candidate: where a step goes (SelectorConfig::goal_time)
};

// Step 2. Updates st.wander (each target's own wander, since when it is 0, and its
// settling goal).
// `moves_empty`: no input left its band since the last step; `young`: the inputs' noise
// is not measured yet; `quiet_pool`: the pool's load allows settling out of the window.
Due find_due(const SelectorConfig& cfg, SelectorState& st, const Publication& next, const std::vector<double>& target,
             bool moves_empty, bool young, bool quiet_pool, std::chrono::steady_clock::time_point now);

// The reason of an ordinary step that no input move names.
std::string settling_reason(const SelectorConfig& cfg, const Due& due, const Shares& eff);

// Step 3. α = step_gain · (1 − ρ̂), clamped to [step_min, step_max] and [0, 1].
double step_alpha(const SelectorConfig& cfg, double pool_load);

struct StepCandidate {
  double target = 0.0;       // where the step goes: decide()'s share, or its settling goal (Due::goal)
  double was = 0.0;          // the share in force (eff)
  double cut = 0.0;          // > 0: at least this far towards target at once, and not rescaled
  bool open = true;          // target > 0 or eligible; false: dead or SLA-broken, 0 at once
  bool settled_out = false;  // out of the window for out_settle: a residual within band goes
  double band = 0.0;
  bool out = false;          // decide()'s share is 0 (outside the spread window)
};
// The damped step from `was` towards `target`, renormalised around the cut candidates
// (a cut is not undone by scaling). Falls back to the targets when nothing is left.
std::vector<double> damped(std::span<const StepCandidate> c, double alpha);

}  // namespace cats::select::steps
