#include "select/selector_steps.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <unordered_map>

namespace cats::select::steps {

double lookup(const Shares& m, std::string_view key) {
  auto it = m.find(key);
  return it == m.end() ? 0.0 : it->second;
}

bool member(const PublishedWeight& w) { return w.excluded == Exclusion::none || w.weight > 0; }

std::string num(double v, int prec) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

namespace {

// "+64%" / "-12%": change relative to the published value (what hysteresis compares).
std::string pct(double from, double to, double floor) {
  const double rel = (to - from) / std::max(std::abs(from), floor);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.0f%%", rel * 100.0);
  return buf;
}

void add(std::string& out, const std::string& item) {
  if (!out.empty()) out += "; ";
  out += item;
}

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
    case Exclusion::sla_gpu_memory:
      if (!in.gpu_memory_utilization) return "no GPU memory figure (SLA " + num(sla.min_gpu_memory_free * 100, 0) + " % free)";
      return "GPU memory free " + num((1.0 - *in.gpu_memory_utilization) * 100, 0) + " % < SLA " +
             num(sla.min_gpu_memory_free * 100, 0) + " %";
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
  if (std::abs(n.compute_ms - o.compute_ms) >= 0.05) {
    r += sep + std::string("compute ") + num(o.compute_ms) + " -> " + num(n.compute_ms) + " ms";
    sep = ", ";
  }
  if (n.wan_cost_ms != o.wan_cost_ms)
    r += sep + std::string("WAN cost ") + num(o.wan_cost_ms) + " -> " + num(n.wan_cost_ms) + " ms";
  return r + ")";
}

// After adopt(): the restart's data plane against the first decision. Keep it when the
// outcome and the weighted set are the same (keep_adopted); otherwise name what differs
// and restart from decide() like a first decision.
void classify_adopted(Classified& cl, const Publication& cur, const Publication& next,
                      const std::unordered_map<std::string_view, std::size_t>& fresh,
                      const std::function<std::string(std::size_t)>& why) {
  std::set<std::string> was, is;
  for (const auto& w : cur.candidates)
    if (w.weight > 0) was.insert(w.key);
  for (const auto& w : next.candidates)
    if (w.weight > 0) is.insert(w.key);
  if (cl.urgent.empty() && was == is) {
    cl.keep_adopted = true;
    return;
  }
  for (const auto& key : was) {
    auto f = fresh.find(key);
    if (f == fresh.end()) {
      add(cl.urgent, key + " no longer reported");
    } else if (!member(next.candidates[f->second])) {
      add(cl.urgent, key + " " + why(f->second));
    } else if (!is.count(key)) {
      add(cl.normal, key + " no longer near-best");
    }
  }
  for (const auto& key : is)
    if (!was.count(key)) add(cl.normal, key + " now near-best");
  // Adopted weights of unknown provenance: restart from decide() like a first decision.
  cl.reset = true;
}

}  // namespace

std::map<std::string, double, std::less<>> cheapest_costs(const Decision& d, std::span<const Instance> instances,
                                                          std::span<const Path> paths) {
  std::map<std::string, double, std::less<>> cost_of;
  for (const Scored& c : d.candidates) {
    for (const std::string& subj : {paths[c.path].vcpe + "/" + paths[c.path].wan,
                                    instances[c.instance].vcpe + "/" + instances[c.instance].id}) {
      auto [at, fresh_subject] = cost_of.emplace(subj, c.cost);
      if (!fresh_subject) at->second = std::min(at->second, c.cost);
    }
  }
  return cost_of;
}

std::vector<InputMove> material_moves(const SelectorConfig& cfg, std::vector<InputMove> moves,
                                      const std::map<std::string, double, std::less<>>& cost_of) {
  // A path (RTT, jitter, loss) that left its band by less than rel_threshold of the
  // cheapest cost it feeds does not lift the deadband: 1 ms of RTT or jitter wander on a
  // 20 ms candidate (a veth path's scheduling noise changing level) moves no weight that
  // matters, and letting it settle every target to within settle_units kept the lab's
  // steady weights stepping (lab.steering's steady-traffic test). Load moves (utilisation,
  // processing delay) always count: they are what a load change looks like (filtering
  // small processing-delay moves too made figure 4 at 95 % worse in the simulation).
  std::erase_if(moves, [&](const InputMove& m) {
    if (m.kind != InputMove::Kind::network) return false;
    auto c = cost_of.find(m.subject);
    return c != cost_of.end() && std::abs(m.to - m.from) < cfg.rel_threshold * std::abs(c->second);
  });
  return moves;
}

Classified classify(const SelectorConfig& cfg, const Service& svc, const Decision& d, const Publication& cur,
                    const Publication& next, const std::vector<double>& target, const Shares& eff,
                    std::string_view reconfigured, std::span<const Instance> instances, std::span<const Path> paths,
                    const std::vector<InputMove>& moves) {
  const std::size_t n = next.candidates.size();
  Classified cl;
  cl.cut.assign(n, 0.0);
  // Index of every fresh candidate (into next.candidates == d.candidates, same order).
  std::unordered_map<std::string_view, std::size_t> fresh;
  for (std::size_t k = 0; k < n; ++k) fresh.emplace(next.candidates[k].key, k);
  const std::function<std::string(std::size_t)> why = [&](std::size_t k) {
    const Scored& s = d.candidates[k];
    return describe(svc, instances[s.instance], paths[s.path], s);
  };

  if (next.outcome != cur.outcome) {
    // A different pool (eligible vs SLA breakers vs none): the old weights say nothing
    // about the new one.
    add(cl.urgent, "outcome " + std::string(to_string(cur.outcome)) + " -> " + std::string(to_string(next.outcome)));
    cl.reset = true;
  }
  if (!reconfigured.empty()) {
    add(cl.urgent, std::string(reconfigured));
    cl.reset = true;
  }
  if (cur.adopted) {
    // Restart: no published inputs to compare, only the weighted set and the outcome.
    classify_adopted(cl, cur, next, fresh, why);
    return cl;
  }

  std::set<std::string> spare_seen;  // one spare-capacity line per instance, not per path
  for (const auto& old : cur.candidates) {
    auto f = fresh.find(old.key);
    const PublishedWeight* nw = f == fresh.end() ? nullptr : &next.candidates[f->second];
    const bool was = member(old), is = nw && member(*nw);
    if (old.weight > 0 && !is) {
      add(cl.urgent, old.key + " " + (nw ? why(f->second) : std::string("no longer reported")));
    } else if (was && !is) {
      add(cl.normal, old.key + " left the pool (" + (nw ? why(f->second) : std::string("no longer reported")) + ")");
    } else if (!was && is) {
      add(cl.normal, old.key + " joined the pool");
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
          util >= cfg.overload_utilization && was_util < cfg.overload_utilization && -srel > cfg.rel_threshold;
      // A cost jump is urgent only for the terms with no utilisation behind them: the
      // network and a *reported* processing delay. An M/M/c estimate rising is load,
      // which the overload rule handles; at high load it jumps by 50 % on noise alone,
      // and bypassing hold-down on it made the simulation worse (BENCHMARKS.md).
      const Scored& sc = d.candidates[f->second];
      const double jumped = svc.weights.network * (nw->network_ms - old.network_ms) +
                            (sc.compute_estimated ? 0.0 : svc.weights.compute * (nw->compute_ms - old.compute_ms));
      const bool jump = jumped / std::max(std::abs(old.cost), 1e-3) >= cfg.urgent_cost_rise && rise > cfg.rel_threshold;
      if (old.weight > 0 && (overload || jump) && target[f->second] < lookup(eff, old.key)) {
        // Move as much of the way as the load that appeared (utilisation jump) or the
        // share of the cost that is new (network or reported compute) delay: 20 % → 95 % moves 75 % of the
        // way at once; a herd nudging an instance from 0.90 to 0.96 moves little more
        // than the damped step, so 50 CPEs cutting together do not swing the load back.
        const double du = std::clamp(util - was_util, 0.0, 1.0);
        const double dn = std::clamp(jumped / std::max(nw->cost, 1e-3), 0.0, 1.0);
        cl.cut[f->second] = std::max({du, dn, 1e-9});
        if (jump) add(cl.urgent, old.key + " " + cost_move(old, *nw));
        if (overload && spare_seen.insert(iname).second)
          add(cl.urgent, iname + " overloaded: utilisation " + num(util * 100, 0) + " %, spare " +
                             num(old.spare_vcpus, 2) + " -> " + num(nw->spare_vcpus, 2) + " vCPU");
        continue;
      }
    }
  }
  // Inputs that left their deadband: what moved the target (if it moved).
  for (const auto& m : moves) add(cl.normal, m.subject + " " + m.what);
  std::set<std::string_view> known;
  for (const auto& old : cur.candidates) known.insert(old.key);
  for (const auto& w : next.candidates)
    if (!known.count(w.key) && member(w)) add(cl.normal, w.key + " joined the pool (new)");
  return cl;
}

Due find_due(const SelectorConfig& cfg, SelectorState& st, const Publication& next, const std::vector<double>& target,
             bool moves_empty, bool young, bool quiet_pool, std::chrono::steady_clock::time_point now) {
  const std::size_t n = next.candidates.size();
  Due due;
  // Candidates out of the window for out_settle with a residual within their band: it
  // goes to 0 at the next step, and that step is due.
  due.settled_out.assign(n, false);
  due.band.assign(n, 0.0);
  due.goal = target;
  // Rule 9: while the inputs sit in their bands in a quiet pool, the goal is the target's
  // mean over time since they last moved; any other time it is the target, and the mean
  // restarts from it. A candidate lost or back (its exclusion changed), or one that the
  // last decision did not score (its goal was not fed then), restarts it too.
  bool settling = moves_empty && !young && quiet_pool && cfg.goal_time.count() > 0;
  std::optional<std::chrono::steady_clock::time_point> fed;
  for (std::size_t k = 0; k < n && settling; ++k) {
    auto it = st.wander.find(next.candidates[k].key);
    settling = it != st.wander.end() && it->second.goal_since && it->second.goal_excl == next.candidates[k].excluded &&
               (!fed || *fed == it->second.goal_at);
    if (settling) fed = it->second.goal_at;
  }
  for (std::size_t k = 0; k < n; ++k) {
    const std::string& key = next.candidates[k].key;
    auto& w = st.wander[key];
    if (target[k] > 0.0 || next.candidates[k].excluded != Exclusion::none) {
      w.out_since.reset();
    } else if (!w.out_since) {
      w.out_since = now;
    }
    if (!settling) {
      w.goal = target[k];
      w.goal_since = now;
    } else if (now > w.goal_at) {
      // The last target held since the last decision: weighted by that time, over the time
      // since the goal restarted (a running mean over time), at most goal_time (an EWMA).
      const auto span = std::min(std::chrono::duration<double>(now - *w.goal_since),
                                 std::chrono::duration<double>(cfg.goal_time));
      const double gain = std::min(std::chrono::duration<double>(now - w.goal_at) / span, 1.0);
      w.goal += gain * (w.goal_last - w.goal);
    }
    w.goal_at = now;
    w.goal_last = target[k];
    w.goal_excl = next.candidates[k].excluded;
    due.goal[k] = w.goal;
    // On the window's edge noise alone moves it in and out: while no input moved beyond its
    // band, it moves with the others' steps, not by itself.
    if (moves_empty && st.target_noise.edge[k] && next.candidates[k].excluded == Exclusion::none) continue;
    // The gap's two sides are both noisy (eff came from earlier targets): z·√2·σ.
    // An input that left its band moved the target for real: then only settle_units.
    // While some input's noise is not measured yet (after a start or restart), the widest
    // band: a restart must not re-step weights that sat within the old process's band.
    // The target's σ: propagated from the inputs' noise, or what the target is measured
    // to wander by (σ ≈ 1.25 × mean absolute deviation), whichever is larger.
    if (target[k] != w.last) {
      if (w.last < 0.0) w.mean = target[k];
      w.dev += cfg.band.gain * (std::abs(target[k] - w.mean) - w.dev);
      w.mean += cfg.band.gain * (target[k] - w.mean);
      w.last = target[k];
    }
    const double sigma = std::max(st.target_noise.sigma[k], 1.25 * w.dev);
    const double spread = young         ? cfg.band_max
                          : moves_empty ? std::min(cfg.band.z * std::sqrt(2.0) * sigma, cfg.band_max)
                                        : 0.0;
    const double band = std::max(spread, static_cast<double>(cfg.settle_units) / kWeightTotal);
    due.band[k] = band;
    const double excess = std::abs(w.goal - lookup(st.eff, key)) - band;
    if (excess > 0.0) due.due = true;
    if (quiet_pool && w.out_since && now - *w.out_since >= cfg.out_settle && lookup(st.eff, key) > 0.0) {
      due.settled_out[k] = true;
      due.due = true;
      if (due.out_key.empty()) due.out_key = key;
    }
    if (excess > due.far_excess)
      due.far_excess = excess, due.far = key, due.far_band = band, due.far_target = w.goal, due.far_mean = settling;
  }
  // A candidate in force that decide() no longer scores must go.
  for (const auto& in_force : st.eff)
    due.due = due.due || std::none_of(next.candidates.begin(), next.candidates.end(),
                                      [&](const PublishedWeight& w) { return w.key == in_force.first; });
  return due;
}

std::string settling_reason(const SelectorConfig& cfg, const Due& due, const Shares& eff) {
  if (due.far_excess <= 0.0 && !due.out_key.empty())
    return "settling: " + due.out_key + " " + num(lookup(eff, due.out_key) * kWeightTotal, 0) +
           " -> 0 (outside the spread window for " +
           num(std::chrono::duration<double>(cfg.out_settle).count(), 0) + " s)";
  return "settling: " + due.far + " " + num(lookup(eff, due.far) * kWeightTotal, 0) +
         (due.far_mean ? " -> mean target " : " -> target ") +
         num(due.far_target * kWeightTotal, 0) + " (band ±" + num(due.far_band * kWeightTotal, 0) + ")";
}

double step_alpha(const SelectorConfig& cfg, double pool_load) {
  // The step: loop gain 1 − α/(1 − ρ); α = step_gain·(1 − ρ̂) keeps it in (0, 1) at any
  // load, with margin for late metrics (docs/SELECTION.md "Damping").
  const double alpha =
      std::clamp(cfg.step_gain * (1.0 - pool_load), cfg.step_min, std::max(cfg.step_min, cfg.step_max));
  return std::clamp(alpha, 0.0, 1.0);
}

std::vector<double> damped(std::span<const StepCandidate> c, double alpha) {
  const std::size_t n = c.size();
  std::vector<double> e(n, 0.0);
  double fixed = 0.0, moving = 0.0;
  for (std::size_t k = 0; k < n; ++k) {
    double v = 0.0;
    if (c[k].open) {  // dead/SLA-broken: 0 at once
      const double was = c[k].was;
      v = was + alpha * (c[k].target - was);
      if (c[k].cut > 0.0) v = std::min(v, was + std::max(alpha, c[k].cut) * (c[k].target - was));
      // A candidate leaving the window decays; below half a unit it is gone, and so is
      // a residual within its band once it has been out for out_settle.
      if (c[k].out && (v * kWeightTotal < 0.5 || (c[k].settled_out && was <= c[k].band))) v = 0.0;
    }
    e[k] = v;
    (c[k].cut > 0.0 ? fixed : moving) += v;
  }
  // Renormalise the others around the cut ones, so a cut is not undone by scaling.
  if (moving > 0.0 && fixed < 1.0) {
    for (std::size_t k = 0; k < n; ++k)
      if (c[k].cut == 0.0) e[k] *= (1.0 - fixed) / moving;
  } else if (fixed + moving > 0.0) {
    for (double& v : e) v /= fixed + moving;
  } else {
    for (std::size_t k = 0; k < n; ++k) e[k] = c[k].target;
  }
  return e;
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
    w.wan_cost_ms = s.wan_cost_ms;
    w.parts = s.parts;
    w.excluded = s.excluded;
    w.weight = s.weight;
    w.spare_vcpus = s.spare_vcpus;
    p.candidates.push_back(std::move(w));
  }
  return p;
}

}  // namespace cats::select::steps
