#include "select/selector.hpp"

#include "select/selector_steps.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>
#include <unordered_map>

namespace cats::select {

using steps::lookup;
using steps::member;
using steps::num;

Selector::Selector(SelectorConfig cfg, Clock clock) : cfg_(cfg), clock_(std::move(clock)) {}

const Publication* Selector::published(const std::string& service) const {
  auto it = pub_.find(service);
  return it == pub_.end() ? nullptr : &it->second.pub;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kSaturated = 0.99;
constexpr double kUnknownShare = -1.0;
constexpr std::chrono::seconds kYoung{10};  // after a start or adopt(): noise not yet measured
  // share history: what we steered before is unknown


// The pool's load ρ̂: reported utilisation weighted by vCPUs over the instances of the
// pool members (sanitised as spare_vcpus() does). 0 when nothing reports utilisation.
double pool_load(const Decision& d, const Publication& next, std::span<const Instance> instances) {
  std::set<std::size_t> seen;
  double busy = 0.0, cap = 0.0;
  for (std::size_t k = 0; k < d.candidates.size(); ++k) {
    if (!member(next.candidates[k]) || !seen.insert(d.candidates[k].instance).second) continue;
    const Instance& in = instances[d.candidates[k].instance];
    const double c = effective_vcpus(in);
    busy += c * effective_utilization(in);
    cap += c;
  }
  return cap > 0.0 ? busy / cap : 0.0;
}

// The pool's busy vCPUs at a step: the last one, and those within `window` with the one
// in force at its start (Selector::unexplained() reads the lowest).
void record_busy(SelectorState& st, double busy, std::chrono::steady_clock::time_point now,
                 std::chrono::milliseconds window) {
  st.busy_at_step = busy;
  auto& h = st.busy_steps;
  h.emplace_back(now, busy);
  std::size_t drop = 0;
  while (drop + 1 < h.size() && now - h[drop + 1].first > window) ++drop;
  h.erase(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(drop));
}

}  // namespace

void Selector::adopt(const std::string& service, Outcome outcome, std::vector<PublishedWeight> weights) {
  Publication p;
  p.service = service;
  p.outcome = outcome;
  p.at = clock_();  // hold-down runs from adoption: the data plane was (re)written around now
  p.adopted = true;
  for (auto& w : weights) {
    if (w.key.empty()) w.key = w.vcpe + "/" + w.instance + "/" + w.wan;  // == candidate_key()
    // What the weights were computed from is not known after a restart: NaN, never a
    // made-up baseline that hysteresis would compare against.
    w.cost = w.e2e_ms = w.network_ms = w.compute_ms = w.wan_cost_ms = w.spare_vcpus = kNaN;
    w.parts = {kNaN, kNaN, kNaN, kNaN, kNaN, kNaN};
    w.excluded = Exclusion::none;
  }
  p.candidates = std::move(weights);
  SelectorState st;
  st.stepped_at = p.at;
  st.born = p.at;
  st.adopted = true;
  // What the previous process steered lately is unknown: for explain_window every move may
  // be ours (no "not ours" jump right after a restart).
  for (const auto& w : p.candidates) st.shares[w.vcpe + "/" + w.instance] = {{p.at, kUnknownShare}};
  st.pub = std::move(p);
  pub_[service] = std::move(st);
}

namespace {

// The data plane's weights as damping state: a step is due only when decide()'s target
// is further from them than the deadband.
void settle_on(std::map<std::string, double, std::less<>>& eff, const Publication& p) {
  eff.clear();
  for (const auto& w : p.candidates)
    if (w.weight > 0) eff[w.key] = static_cast<double>(w.weight) / kWeightTotal;
}

// After a step from `before` to `after` (eff): each instance's share, kept for
// explain_window (see unexplained()). The share before the step is kept too when nothing
// older is left, so a step's own effect on the next reports is explained by it.
void record_shares(std::map<std::string, std::vector<std::pair<std::chrono::steady_clock::time_point, double>>,
                            std::less<>>& hist,
                   const std::map<std::string, double, std::less<>>& before,
                   const std::map<std::string, double, std::less<>>& after, const Publication& p,
                   std::chrono::steady_clock::time_point now, std::chrono::milliseconds window) {
  std::map<std::string, std::pair<double, double>, std::less<>> share;
  for (const auto& w : p.candidates) {
    auto& [b, a] = share[w.vcpe + "/" + w.instance];
    b += lookup(before, w.key);
    a += lookup(after, w.key);
  }
  for (auto& [inst, x] : share) {
    auto& h = hist[inst];
    std::erase_if(h, [&](const auto& e) { return now - e.first > window; });
    if (h.empty()) h.emplace_back(now, x.first);
    h.emplace_back(now, x.second);
  }
}

}  // namespace

bool Selector::unexplained(const SelectorState& st, const InputMove& m, std::span<const Instance> instances,
                           double busy, double cost, std::chrono::steady_clock::time_point now) const {
  // Only a large rise goes straight to the target: utilisation by half the instance, a
  // delay (network or processing) by half of the candidate's cost. A fall, or a smaller rise, takes
  // damped steps: moving flows *to* something is never urgent, and at high load a 1 s
  // window's utilisation wanders by tens of points on queueing alone (a backlog drains
  // seconds after our cut); full steps on those herded the simulation (docs/BENCHMARKS.md).
  // From where the rise started: the lowest value in force at a step within rise_window_s
  // (a window mean climbing over several reports is one rise; BandConfig::rise_window_s).
  // A queue that grows is mostly the arrivals we and every other CPE keep sending: it
  // takes damped steps, which already follow it within a hold-down or two.
  if (m.kind == InputMove::Kind::queue) return false;
  const double rise = m.to - std::min(m.from, m.low);
  // (Against the cost before the rise: `cost` is today's.)
  if (rise < cfg_.foreign_jump * (m.kind == InputMove::Kind::utilization ? 1.0 : cost - rise)) return false;
  if (m.kind == InputMove::Kind::network) return true;  // we do not move path delays
  // A load rise only in a pool that was at most out_settle_load busy at some step within
  // explain_window (or before it, still in force; a step mid-ramp sees part of it): at
  // higher load several CPEs' steps move the same instances, and one CPE's share history
  // cannot tell another's move from a foreign load (simulation, randomised 50-70 %: full
  // steps on them several times worse once the utilisation band stopped widening on
  // trends; docs/BENCHMARKS.md "Trends are not noise").
  const double cap = pool_vcpus(instances);
  double quiet_busy = st.busy_at_step;
  for (const auto& [t, b] : st.busy_steps) quiet_busy = std::min(quiet_busy, b);
  if (!(cap > 0.0) || quiet_busy / cap > cfg_.out_settle_load) return false;
  // Upper bound of what our steering did to this instance: as if the pool's whole load
  // (busy vCPUs) were ours, as it is when every CPE acts like this one (a herd moves
  // together). Moving a share Δx of it moves the instance's utilisation by Δx·busy/c, an
  // M/M/c delay by about 1/(1−u) times that, relatively. Δx: how much we *raised* our
  // share of the instance within explain_window (its share now against the lowest it had):
  // a rise of its load is ours only if we sent it more.
  auto it = st.shares.find(m.subject);
  double dx = 0.0;
  if (it != st.shares.end() && !it->second.empty()) {
    const double now_share = it->second.back().second;
    for (const auto& [t, x] : it->second) {
      if (now - t > cfg_.explain_window) continue;
      if (x == kUnknownShare) return false;  // just started: anything may be ours
      dx = std::max(dx, now_share - x);
    }
  }
  double c = 1.0, u = 0.0;
  for (const auto& in : instances)
    if (in.vcpe + "/" + in.id == m.subject) {
      c = effective_vcpus(in);
      u = std::min(effective_utilization(in), 0.95);
    }
  double explained = dx * busy / c;
  if (m.kind == InputMove::Kind::delay) explained = std::abs(m.from) * explained / (1.0 - u);
  return rise > explained + m.band;
}

Change Selector::first_decision(const Decision& d, Publication next, InputNoise& noise,
                                std::span<const Instance> instances, std::span<const Path> paths,
                                std::chrono::steady_clock::time_point now) {
  std::string reason = "first decision: " + std::string(to_string(next.outcome));
  if (d.best) {
    std::size_t weighted = 0;
    for (const auto& w : next.candidates) weighted += w.weight > 0;
    reason += ", best " + next.candidates[*d.best].key + " " + num(next.candidates[*d.best].e2e_ms) + " ms, " +
              std::to_string(weighted) + " weighted";
  } else {
    reason += ", no candidate (" + std::to_string(next.candidates.size()) + " scored)";
  }
  // Nothing steered yet, so nothing to be unstable against: the target as it is
  // (figure 4's 378 / 622 from the first report).
  Change c{next, {}, std::move(reason)};
  SelectorState st;
  settle_on(st.eff, next);
  st.stepped_at = now;
  st.born = now;
  // What was steered before the first decision is unknown (another CPE process, nothing):
  // every move within the window counts as explained (kUnknownShare).
  for (const auto& w : next.candidates) st.shares[w.vcpe + "/" + w.instance] = {{now, kUnknownShare}};
  noise.snap(instances, paths, now);
  record_busy(st, pool_busy(instances), now, cfg_.explain_window);
  const std::string id = next.service;
  st.pub = std::move(next);
  pub_.emplace(id, std::move(st));
  return c;
}

std::optional<Change> Selector::update(const Service& svc, std::span<const Instance> instances,
                                       std::span<const Path> paths) {
  const auto now = clock_();
  InputNoise& noise = noise_.try_emplace(svc.id, cfg_.band).first->second;
  noise.feed(instances, paths);
  Decision d = decide(svc, instances, paths);
  Publication next = steps::to_publication(svc, d, instances, paths, now);
  const std::size_t n = next.candidates.size();
  // decide()'s weights are the target; what gets published may be a damped step to it.
  std::vector<double> target(n);
  for (std::size_t k = 0; k < n; ++k) target[k] = static_cast<double>(next.candidates[k].weight) / kWeightTotal;

  auto it = pub_.find(svc.id);
  if (it == pub_.end()) return first_decision(d, std::move(next), noise, instances, paths, now);
  SelectorState& st = it->second;
  Publication& cur = st.pub;

  // 1. What changed: inputs beyond their noise band since the last step, candidates lost
  // or drowning, the pool or the outcome.
  const auto cost_of = steps::cheapest_costs(d, instances, paths);
  const std::vector<InputMove> moves = steps::material_moves(cfg_, noise.moves(instances, paths, now), cost_of);
  steps::Classified cl = steps::classify(cfg_, svc, d, cur, next, target, st.eff, st.reconfigured, instances, paths, moves);
  st.reconfigured.clear();
  if (cl.keep_adopted) {
    // Keep what the data plane already does; this decision's inputs become the
    // baseline, so later hysteresis compares against real measurements.
    for (auto& w : next.candidates) {
      w.weight = 0;
      for (const auto& a : cur.candidates)
        if (a.key == w.key) w.weight = a.weight;
    }
    next.at = cur.at;  // adoption was the publication: hold-down keeps running from it
    settle_on(st.eff, next);
    noise.snap(instances, paths, now);  // later moves are measured from here
    record_busy(st, pool_busy(instances), now, cfg_.explain_window);
    cur = std::move(next);
    return std::nullopt;
  }

  // 2. Step only when decide()'s target is further from the weights in force than the
  // inputs' measured noise explains (docs/SELECTION.md "Deadband"). The target's noise:
  // measured input noise through decide() (one decide() per input), at most once per
  // hold-down (steps are not more frequent) or when the pool changes.
  if (st.target_noise.sigma.size() != n || now - st.sigma_at >= cfg_.hold_down) {
    st.target_noise = noise.target_sigma(svc, instances, paths, d);
    st.sigma_at = now;
  }
  const double rho = pool_load(d, next, instances);
  // The inputs' noise is measured over the first seconds of a (re)started selector.
  const bool young = now - st.born < kYoung;
  steps::Due due = steps::find_due(cfg_, st, next, target, moves.empty(), young, rho <= cfg_.out_settle_load, now);
  // A restart is hitless for the weights: what the old process held at rest is not
  // re-stepped before this one has measured its inputs' noise (lab.steering's restart
  // check: a candidate the old process kept on the window's edge, stepped at once by the
  // new one). Moves, urgent changes and pool changes still step.
  if (young && st.adopted && moves.empty() && cl.normal.empty()) due.due = false;
  // A load or delay move our own steering cannot explain: straight to the target, at once.
  bool full = false;
  const double busy = std::max(st.busy_at_step, pool_busy(instances));
  for (const auto& m : moves) {
    auto c = cost_of.find(m.subject);
    full = full || (due.due && c != cost_of.end() && unexplained(st, m, instances, busy, c->second, now));
  }
  if (cl.urgent.empty() && !full) {
    if (!due.due) return std::nullopt;                              // within noise: settled
    if (now - st.stepped_at < cfg_.hold_down) return std::nullopt;  // moves are named when it steps
    if (cl.normal.empty()) cl.normal = steps::settling_reason(cfg_, due, st.eff);
  }

  // 3. The step: all the way (reset, not ours), or damped.
  std::vector<double> e(target);
  double alpha = 1.0;
  if (!cl.reset && !full) {
    alpha = steps::step_alpha(cfg_, rho);
    std::vector<steps::StepCandidate> sc(n);
    for (std::size_t k = 0; k < n; ++k) {
      const auto& w = next.candidates[k];
      double cut = cl.cut[k];
      // Exploring candidates never exceed their (bounded) target, not even while decaying.
      if (d.candidates[k].exploring) cut = 1.0;
      // Saturated (measured utilisation pinned at ~100 %, so its queue is growing): the
      // measurement is clipped, the loop through it has no gain left to make unstable, and
      // the small α of a loaded pool would leave it drowning for tens of seconds (figure 3
      // at 90 %: the 8-vCPU site at 99 % for 15 s). Step as far as it runs hotter than the
      // pool.
      const double u = instances[d.candidates[k].instance].utilization;
      if (std::isfinite(u) && u >= kSaturated && w.excluded == Exclusion::none && target[k] < lookup(st.eff, w.key))
        cut = std::max(cut, std::clamp(u - rho, 1e-9, 1.0));
      sc[k] = {due.goal[k], lookup(st.eff, w.key), cut, target[k] > 0.0 || w.excluded == Exclusion::none,
               due.settled_out[k], due.band[k], target[k] == 0.0};
    }
    e = steps::damped(sc, alpha);
  }

  std::string reason = cl.urgent;
  if (reason.empty()) {
    reason = cl.normal;
  } else if (!cl.normal.empty()) {
    reason += "; " + cl.normal;
  }
  if (full) reason += " [not ours: to target]";
  if (cl.urgent.empty() && !cl.reset && !full && alpha < 1.0) reason += " [step " + num(alpha * 100, 0) + " %]";
  if (cur.adopted) reason = "restart: " + reason;
  // A step may be kept internally only when nothing urgent or reset asks for it.
  return publish(st, d, std::move(next), e, std::move(reason), cl.reset || full,
                 !cl.urgent.empty() || cl.reset, noise, instances, paths, now);
}

// 4. Apportion the step and publish it, or keep it internally when it moves too little.
std::optional<Change> Selector::publish(SelectorState& st, const Decision& d, Publication next,
                                        const std::vector<double>& e, std::string reason, bool whole, bool must,
                                        InputNoise& noise, std::span<const Instance> instances,
                                        std::span<const Path> paths, std::chrono::steady_clock::time_point now) {
  Publication& cur = st.pub;
  const std::size_t n = next.candidates.size();
  // All the way to the target: decide()'s own integers (apportioning its fractions again
  // could move a unit or two).
  std::vector<uint32_t> weights;
  if (whole) {
    for (std::size_t k = 0; k < n; ++k) weights.push_back(d.candidates[k].weight);
  } else {
    weights = apportion(e);
  }
  uint32_t largest = 0;  // largest weight move, units of kWeightTotal
  bool set_changed = false;
  std::set<std::string_view> fresh;
  for (std::size_t k = 0; k < n; ++k) {
    next.candidates[k].weight = weights[k];
    fresh.insert(next.candidates[k].key);
    auto o = std::find_if(cur.candidates.begin(), cur.candidates.end(),
                          [&](const PublishedWeight& w) { return w.key == next.candidates[k].key; });
    const uint32_t was = o == cur.candidates.end() ? 0 : o->weight;
    largest = std::max(largest, was > weights[k] ? was - weights[k] : weights[k] - was);
    set_changed = set_changed || ((was > 0) != (weights[k] > 0));
  }
  for (const auto& o : cur.candidates) set_changed = set_changed || (o.weight > 0 && !fresh.count(o.key));
  // Ordinary step too small to matter (the damped weights move by fewer than settle_units
  // from the published ones, no candidate enters or leaves): not worth an nft
  // transaction. The step is still taken internally (eff, stepped_at), so small
  // steps add up and are published once they amount to settle_units.
  const bool quiet = !must && !set_changed && largest < cfg_.settle_units;
  // A step to decide()'s target, or an urgent one: the inputs changed, and the settling
  // goal restarts from the new target (rule 9).
  if (whole || must)
    for (std::size_t k = 0; k < n; ++k) {
      auto& w = st.wander[next.candidates[k].key];
      w.goal = w.goal_last = static_cast<double>(d.candidates[k].weight) / kWeightTotal;
      w.goal_since = w.goal_at = now;
    }
  const auto before = std::move(st.eff);
  st.eff.clear();
  for (std::size_t k = 0; k < n; ++k)
    if (e[k] > 0.0) st.eff[next.candidates[k].key] = e[k];
  st.stepped_at = now;
  record_shares(st.shares, before, st.eff, next, now, cfg_.explain_window);
  noise.snap(instances, paths, now);
  record_busy(st, pool_busy(instances), now, cfg_.explain_window);
  if (quiet) return std::nullopt;
  Change c{next, cur.candidates, std::move(reason)};
  cur = std::move(next);
  return c;
}

}  // namespace cats::select
