#include "select/selector.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <set>
#include <unordered_map>

namespace cats::select {

Selector::Selector(SelectorConfig cfg, Clock clock) : cfg_(cfg), clock_(std::move(clock)) {}

const Publication* Selector::published(const std::string& service) const {
  auto it = pub_.find(service);
  return it == pub_.end() ? nullptr : &it->second.pub;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kSaturated = 0.99;
constexpr double kForeignJump = 0.5;

std::string num(double v, int prec = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

// "+64%" / "-12%": change relative to the published value (what hysteresis compares).
std::string pct(double from, double to, double floor) {
  const double rel = (to - from) / std::max(std::abs(from), floor);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.0f%%", rel * 100.0);
  return buf;
}

Publication to_publication(const Service& svc, const Decision& d, std::span<const Instance> instances,
                           std::span<const Path> paths, std::chrono::steady_clock::time_point at) {
  Publication p;
  p.service = svc.id;
  p.outcome = d.outcome;
  p.at = at;
  p.candidates.reserve(d.candidates.size());
  for (const Scored& s : d.candidates) {
    const Instance& in = instances[s.instance];
    const Path& pa = paths[s.path];
    PublishedWeight w;
    w.key = candidate_key(in, pa);
    w.vcpe = in.vcpe;
    w.instance = in.id;
    w.wan = pa.wan;
    w.cost = s.cost;
    w.e2e_ms = s.e2e_ms;
    w.network_ms = s.network_ms;
    w.compute_ms = s.compute_ms;
    w.excluded = s.excluded;
    w.weight = s.weight;
    w.spare_vcpus = s.spare_vcpus;
    p.candidates.push_back(std::move(w));
  }
  return p;
}

// Pool membership as the weighting saw it: eligible, or an SLA breaker carrying weight
// in best-effort mode.
bool member(const PublishedWeight& w) { return w.excluded == Exclusion::none || w.weight > 0; }

// Why a candidate is excluded, with the measured value against the limit where there is
// one, so the operator sees which input moved ("rtt 85.0 ms > SLA 80.0 ms").
std::string describe(const Service& svc, const Instance& in, const Path& p, const Scored& s) {
  const Sla& sla = svc.sla;
  switch (s.excluded) {
    case Exclusion::capability: return "lacks " + sla.required_capability;
    case Exclusion::sla_rtt: return "rtt " + num(p.rtt_ms) + " ms > SLA " + num(sla.max_rtt_ms) + " ms";
    case Exclusion::sla_jitter: return "jitter " + num(p.jitter_ms) + " ms > SLA " + num(sla.max_jitter_ms) + " ms";
    case Exclusion::sla_loss: return "loss " + num(p.loss_pct, 2) + " % > SLA " + num(sla.max_loss_pct, 2) + " %";
    case Exclusion::sla_e2e: return "e2e " + num(s.e2e_ms) + " ms > SLA " + num(sla.max_e2e_ms) + " ms";
    case Exclusion::sla_capacity:
      return "free capacity " + num(in.free_capacity * 100, 0) + " % < SLA " + num(sla.min_free_capacity * 100, 0) +
             " %";
    default: return std::string(to_string(s.excluded));
  }
}

// "cost 15.0 -> 25.0 ms (+67%: network 10.0 -> 20.0 ms)": which term moved.
std::string cost_move(const PublishedWeight& o, const PublishedWeight& n) {
  std::string r = "cost " + num(o.cost) + " -> " + num(n.cost) + " ms (" + pct(o.cost, n.cost, 1e-3);
  const char* sep = ": ";
  if (std::abs(n.network_ms - o.network_ms) >= 0.05) {
    r += sep + std::string("network ") + num(o.network_ms) + " -> " + num(n.network_ms) + " ms";
    sep = ", ";
  }
  if (std::abs(n.compute_ms - o.compute_ms) >= 0.05)
    r += sep + std::string("compute ") + num(o.compute_ms) + " -> " + num(n.compute_ms) + " ms";
  return r + ")";
}

// The pool's load ρ̂: reported utilisation weighted by vCPUs over the instances of the
// pool members (sanitised as spare_vcpus() does). 0 when nothing reports utilisation.
double pool_load(const Decision& d, const Publication& next, std::span<const Instance> instances) {
  std::set<std::size_t> seen;
  double busy = 0.0, cap = 0.0;
  for (std::size_t k = 0; k < d.candidates.size(); ++k) {
    if (!member(next.candidates[k]) || !seen.insert(d.candidates[k].instance).second) continue;
    const Instance& in = instances[d.candidates[k].instance];
    const double c = std::isfinite(in.vcpus) && in.vcpus > 0.0 ? in.vcpus : 1.0;
    const double u = std::isfinite(in.utilization) ? std::clamp(in.utilization, 0.0, 1.0) : 0.0;
    busy += c * u;
    cap += c;
  }
  return cap > 0.0 ? busy / cap : 0.0;
}

double lookup(const std::map<std::string, double, std::less<>>& m, std::string_view key) {
  auto it = m.find(key);
  return it == m.end() ? 0.0 : it->second;
}

void add(std::string& out, const std::string& item) {
  if (!out.empty()) out += "; ";
  out += item;
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
    w.cost = w.e2e_ms = w.network_ms = w.compute_ms = w.spare_vcpus = kNaN;
    w.excluded = Exclusion::none;
  }
  p.candidates = std::move(weights);
  State st;
  st.stepped_at = p.at;
  st.pub = std::move(p);
  pub_[service] = std::move(st);
}

namespace {

// The data plane's weights as damping state: settled (goal = eff), so only an input move
// or a lost candidate starts a new step.
void settle_on(std::map<std::string, double, std::less<>>& eff, std::map<std::string, double, std::less<>>& goal,
               const Publication& p) {
  eff.clear();
  goal.clear();
  for (const auto& w : p.candidates)
    if (w.weight > 0) eff[w.key] = goal[w.key] = static_cast<double>(w.weight) / kWeightTotal;
}

}  // namespace

std::optional<Change> Selector::update(const Service& svc, std::span<const Instance> instances,
                                       std::span<const Path> paths) {
  const auto now = clock_();
  Decision d = decide(svc, instances, paths);
  Publication next = to_publication(svc, d, instances, paths, now);
  const std::size_t n = next.candidates.size();
  // decide()'s weights are the target; what gets published may be a damped step to it.
  std::vector<double> target(n);
  for (std::size_t k = 0; k < n; ++k) target[k] = static_cast<double>(next.candidates[k].weight) / kWeightTotal;

  auto it = pub_.find(svc.id);
  if (it == pub_.end()) {
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
    State st;
    settle_on(st.eff, st.goal, next);
    st.stepped_at = now;
    st.pub = std::move(next);
    pub_.emplace(svc.id, std::move(st));
    return c;
  }
  State& st = it->second;
  Publication& cur = st.pub;

  // Index of every fresh candidate (into next.candidates == d.candidates, same order).
  std::unordered_map<std::string_view, std::size_t> fresh;
  for (std::size_t k = 0; k < n; ++k) fresh.emplace(next.candidates[k].key, k);
  auto why = [&](std::size_t k) {
    const Scored& s = d.candidates[k];
    return describe(svc, instances[s.instance], paths[s.path], s);
  };

  std::string urgent, normal;
  bool settling = false;  // a step towards the frozen goal (inputs within hysteresis)
  bool reset = false;                // publish the target as it is, no damping
  // Urgent cuts: how far towards the (lower) target a candidate goes at once, beyond the
  // damped step; 0 = not cut.
  std::vector<double> cut(n, 0.0);
  if (next.outcome != cur.outcome) {
    // A different pool (eligible vs SLA breakers vs none): the old weights say nothing
    // about the new one.
    add(urgent, "outcome " + std::string(to_string(cur.outcome)) + " -> " + std::string(to_string(next.outcome)));
    reset = true;
  }

  if (cur.adopted) {
    // Restart: no published inputs to compare, only the weighted set and the outcome.
    std::set<std::string> was, is;
    for (const auto& w : cur.candidates)
      if (w.weight > 0) was.insert(w.key);
    for (const auto& w : next.candidates)
      if (w.weight > 0) is.insert(w.key);
    if (urgent.empty() && was == is) {
      // Keep what the data plane already does; this decision's inputs become the
      // baseline, so later hysteresis compares against real measurements.
      for (auto& w : next.candidates) {
        w.weight = 0;
        for (const auto& a : cur.candidates)
          if (a.key == w.key) w.weight = a.weight;
      }
      next.at = cur.at;  // adoption was the publication: hold-down keeps running from it
      settle_on(st.eff, st.goal, next);
      cur = std::move(next);
      return std::nullopt;
    }
    for (const auto& key : was) {
      auto f = fresh.find(key);
      if (f == fresh.end()) {
        add(urgent, key + " no longer reported");
      } else if (!member(next.candidates[f->second])) {
        add(urgent, key + " " + why(f->second));
      } else if (!is.count(key)) {
        add(normal, key + " no longer near-best");
      }
    }
    for (const auto& key : is)
      if (!was.count(key)) add(normal, key + " now near-best");
    // Adopted weights of unknown provenance: restart from decide() like a first decision.
    reset = true;
  } else {
    std::set<std::string> spare_seen;  // one spare-capacity line per instance, not per path
    for (const auto& old : cur.candidates) {
      auto f = fresh.find(old.key);
      const PublishedWeight* nw = f == fresh.end() ? nullptr : &next.candidates[f->second];
      const bool was = member(old), is = nw && member(*nw);
      if (old.weight > 0 && !is) {
        add(urgent, old.key + " " + (nw ? why(f->second) : std::string("no longer reported")));
      } else if (was && !is) {
        add(normal, old.key + " left the pool (" + (nw ? why(f->second) : std::string("no longer reported")) + ")");
      } else if (!was && is) {
        add(normal, old.key + " joined the pool");
      } else if (was && is) {
        const double rise = (nw->cost - old.cost) / std::max(std::abs(old.cost), 1e-3);
        // Spare capacity is the other weight input (decide(): share ∝ spare vCPUs).
        const double srel =
            (nw->spare_vcpus - old.spare_vcpus) / std::max(std::abs(old.spare_vcpus), kSpareFloorVcpus);
        const Instance& inst = instances[d.candidates[f->second].instance];
        const double util = std::isfinite(inst.utilization) ? inst.utilization : 0.0;
        const std::string iname = old.vcpe + "/" + old.instance;
        // Urgent: the instance is drowning (or the path/compute cost jumped) and the target
        // gives it less than it has. Waiting for hold-down and damped steps would keep
        // sending it flows for seconds, which is what builds the queue (BENCHMARKS.md).
        // Both conditions exceed rel_threshold, so hysteresis still holds.
        // Edge-triggered: newly at or above the threshold since published (published
        // utilisation from its spare capacity), so an instance that runs hot in steady
        // state at high load does not bypass hold-down on every report.
        const double c = std::isfinite(inst.vcpus) && inst.vcpus > 0.0 ? inst.vcpus : 1.0;
        const double was_util = 1.0 - old.spare_vcpus / c;
        const bool overload =
            util >= cfg_.overload_utilization && was_util < cfg_.overload_utilization && -srel > cfg_.rel_threshold;
        // A cost jump is urgent only for the terms with no utilisation behind them: the
        // network and a *reported* processing delay. An M/M/c estimate rising is load,
        // which the overload rule handles; at high load it jumps by 50 % on noise alone,
        // and bypassing hold-down on it made the simulation worse (BENCHMARKS.md).
        const Scored& sc = d.candidates[f->second];
        const double jumped = svc.weights.network * (nw->network_ms - old.network_ms) +
                              (sc.compute_estimated ? 0.0 : svc.weights.compute * (nw->compute_ms - old.compute_ms));
        const bool jump = jumped / std::max(std::abs(old.cost), 1e-3) >= cfg_.urgent_cost_rise && rise > cfg_.rel_threshold;
        if (old.weight > 0 && (overload || jump) && target[f->second] < lookup(st.eff, old.key)) {
          // Move as much of the way as the load that appeared (utilisation jump) or the
          // share of the cost that is new (network or reported compute) delay: 20 % → 95 % moves 75 % of the
          // way at once; a herd nudging an instance from 0.90 to 0.96 moves little more
          // than the damped step, so 50 CPEs cutting together do not swing the load back.
          // A jump of at least half the instance's capacity within one report is not a herd
          // nudge (damped steps move a share by at most step_max = 0.5 of its gap per
          // hold-down): it is load from elsewhere, and the cut goes all the way to the
          // target, with no damped steps trailing behind (issue 8: 20 % → 95 %).
          // Unless our own last step (within two hold-downs: a report reflects about that
          // much) moved this instance's share by settle_units or more: then the jump may be
          // ours, as in a closed loop, and the cut stays proportional.
          double du = std::clamp(util - was_util, 0.0, 1.0);
          double moved = 0.0;
          for (const auto& [key, e] : st.eff)
            if (key.rfind(iname + "/", 0) == 0) moved += e;
          for (const auto& [key, e] : st.before)
            if (key.rfind(iname + "/", 0) == 0) moved -= e;
          const bool ours = now - st.stepped_at <= 2 * cfg_.hold_down &&
                            std::abs(moved) * kWeightTotal >= static_cast<double>(cfg_.settle_units);
          if (du >= kForeignJump && !ours) du = 1.0;
          const double dn = std::clamp(jumped / std::max(nw->cost, 1e-3), 0.0, 1.0);
          cut[f->second] = std::max({du, dn, 1e-9});
          if (jump) add(urgent, old.key + " " + cost_move(old, *nw));
          if (overload && spare_seen.insert(iname).second)
            add(urgent, iname + " overloaded: utilisation " + num(util * 100, 0) + " %, spare " +
                            num(old.spare_vcpus, 2) + " -> " + num(nw->spare_vcpus, 2) + " vCPU");
          continue;
        }
        if (std::abs(rise) > cfg_.rel_threshold) add(normal, old.key + " " + cost_move(old, *nw));
        if (std::abs(srel) > cfg_.rel_threshold && spare_seen.insert(iname).second)
          add(normal, iname + " spare " + num(old.spare_vcpus, 2) + " -> " + num(nw->spare_vcpus, 2) + " vCPU (" +
                          pct(old.spare_vcpus, nw->spare_vcpus, kSpareFloorVcpus) + ")");
      }
    }
    std::set<std::string_view> known;
    for (const auto& old : cur.candidates) known.insert(old.key);
    for (const auto& w : next.candidates)
      if (!known.count(w.key) && member(w)) add(normal, w.key + " joined the pool (new)");
  }

  if (urgent.empty()) {
    if (normal.empty()) {
      // Inputs within hysteresis; a previous damped step may still be short of its goal.
      double gap = 0.0;
      std::string far;
      for (const auto& [key, g] : st.goal) {
        const double dv = std::abs(g - lookup(st.eff, key));
        if (dv > gap) gap = dv, far = key;
      }
      for (const auto& [key, e] : st.eff)
        if (!st.goal.count(key) && e > gap) gap = e, far = key;
      if (gap * kWeightTotal < static_cast<double>(cfg_.settle_units)) return std::nullopt;  // settled
      if (now - st.stepped_at < cfg_.hold_down) return std::nullopt;
      normal = "settling: " + far + " " + num(lookup(st.eff, far) * kWeightTotal, 0) + " -> target " +
               num(lookup(st.goal, far) * kWeightTotal, 0);
      // Towards the goal set when the inputs last moved beyond hysteresis, not towards this
      // update's target: within hysteresis the fresh target differs from the goal by
      // sampling noise only, and chasing it kept the weights stepping for ever under steady
      // inputs (issue 8: settling steps about once per hold-down). The frozen goal is
      // reached in a few geometric steps, and then nothing moves until an input does.
      for (std::size_t k = 0; k < n; ++k) target[k] = lookup(st.goal, next.candidates[k].key);
      settling = true;
    } else if (now - st.stepped_at < cfg_.hold_down) {
      return std::nullopt;  // hold-down: compare again later
    }
  }

  // The step: loop gain 1 − α/(1 − ρ); α = step_gain·(1 − ρ̂) keeps it in (0, 1) at any
  // load, with margin for late metrics (docs/SELECTION.md "Damping").
  std::vector<double> e(target);
  double alpha = 1.0;
  if (!reset) {
    const double rho = pool_load(d, next, instances);
    alpha = std::clamp(cfg_.step_gain * (1.0 - rho), cfg_.step_min, std::max(cfg_.step_min, cfg_.step_max));
    alpha = std::clamp(alpha, 0.0, 1.0);
    // Saturated (measured utilisation pinned at ~100 %, so its queue is growing): the
    // measurement is clipped, the loop through it has no gain left to make unstable, and
    // the small α of a loaded pool would leave it drowning for tens of seconds (figure 3
    // at 90 %: the 8-vCPU site at 99 % for 15 s). Step as far as it runs hotter than the
    // pool.
    for (std::size_t k = 0; k < n; ++k) {
      const double u = instances[d.candidates[k].instance].utilization;
      if (std::isfinite(u) && u >= kSaturated && next.candidates[k].excluded == Exclusion::none &&
          target[k] < lookup(st.eff, next.candidates[k].key))
        cut[k] = std::max(cut[k], std::clamp(u - rho, 1e-9, 1.0));
    }
    double fixed = 0.0, moving = 0.0;
    for (std::size_t k = 0; k < n; ++k) {
      const auto& w = next.candidates[k];
      double v = 0.0;
      if (target[k] > 0.0 || w.excluded == Exclusion::none) {  // dead/SLA-broken: 0 at once
        const double was = lookup(st.eff, w.key);
        v = was + alpha * (target[k] - was);
        if (cut[k] > 0.0) v = std::min(v, was + std::max(alpha, cut[k]) * (target[k] - was));
        // A candidate leaving the window decays; below half a unit it is gone.
        if (target[k] == 0.0 && v * kWeightTotal < 0.5) v = 0.0;
      }
      e[k] = v;
      (cut[k] > 0.0 ? fixed : moving) += v;
    }
    // Renormalise the others around the cut ones, so a cut is not undone by scaling.
    if (moving > 0.0 && fixed < 1.0) {
      for (std::size_t k = 0; k < n; ++k)
        if (cut[k] == 0.0) e[k] *= (1.0 - fixed) / moving;
    } else if (fixed + moving > 0.0) {
      for (double& v : e) v /= fixed + moving;
    } else {
      e = target;
    }
  }
  const auto weights = apportion(e);
  uint32_t largest = 0;  // largest weight move, units of kWeightTotal
  bool set_changed = false;
  for (std::size_t k = 0; k < n; ++k) {
    next.candidates[k].weight = weights[k];
    auto o = std::find_if(cur.candidates.begin(), cur.candidates.end(),
                          [&](const PublishedWeight& w) { return w.key == next.candidates[k].key; });
    const uint32_t was = o == cur.candidates.end() ? 0 : o->weight;
    largest = std::max(largest, was > weights[k] ? was - weights[k] : weights[k] - was);
    set_changed = set_changed || ((was > 0) != (weights[k] > 0));
  }
  for (const auto& o : cur.candidates) set_changed = set_changed || (o.weight > 0 && !fresh.count(o.key));
  // Ordinary step too small to matter (the damped weights move by fewer than settle_units
  // from the published ones, no candidate enters or leaves): not worth an nft
  // transaction. The step is still taken internally (eff, goal, stepped_at), so small
  // steps add up and are published once they amount to settle_units.
  const bool quiet = urgent.empty() && !reset && !set_changed && largest < cfg_.settle_units;
  if (settling) {
    // The goal's inputs stay the hysteresis baseline: otherwise each settling publication
    // would re-base it, and a drift caused by our own steps would never count as a move.
    for (auto& w : next.candidates)
      for (const auto& o : cur.candidates)
        if (o.key == w.key) {
          w.cost = o.cost, w.e2e_ms = o.e2e_ms, w.network_ms = o.network_ms, w.compute_ms = o.compute_ms;
          w.spare_vcpus = o.spare_vcpus;
        }
  }
  st.before = std::move(st.eff);
  st.eff.clear();
  st.goal.clear();
  for (std::size_t k = 0; k < n; ++k) {
    if (e[k] > 0.0) st.eff[next.candidates[k].key] = e[k];
    if (target[k] > 0.0) st.goal[next.candidates[k].key] = target[k];
  }
  st.stepped_at = now;
  if (quiet) return std::nullopt;

  std::string reason = urgent;
  if (reason.empty()) {
    reason = normal;
  } else if (!normal.empty()) {
    reason += "; " + normal;
  }
  if (urgent.empty() && !reset && alpha < 1.0) reason += " [step " + num(alpha * 100, 0) + " %]";
  if (cur.adopted) reason = "restart: " + reason;
  Change c{next, cur.candidates, std::move(reason)};
  cur = std::move(next);
  return c;
}

}  // namespace cats::select
