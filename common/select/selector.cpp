#include "select/selector.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstdlib>
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
constexpr double kUnknownShare = -1.0;
constexpr std::chrono::seconds kYoung{10};  // after a start or adopt(): noise not yet measured
  // share history: what we steered before is unknown

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
    w.wan_cost_ms = s.wan_cost_ms;
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

// Busy vCPUs of the available instances (reported utilisation × vCPUs).
double pool_busy(std::span<const Instance> instances) {
  double busy = 0.0;
  for (const auto& in : instances)
    if (in.available) busy += effective_vcpus(in) * effective_utilization(in);
  return busy;
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
    w.cost = w.e2e_ms = w.network_ms = w.compute_ms = w.wan_cost_ms = w.spare_vcpus = kNaN;
    w.excluded = Exclusion::none;
  }
  p.candidates = std::move(weights);
  State st;
  st.stepped_at = p.at;
  st.born = p.at;
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

bool Selector::unexplained(const State& st, const InputMove& m, std::span<const Instance> instances,
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

std::optional<Change> Selector::update(const Service& svc, std::span<const Instance> instances,
                                       std::span<const Path> paths) {
  const auto now = clock_();
  InputNoise& noise = noise_.try_emplace(svc.id, cfg_.band).first->second;
  noise.feed(instances, paths);
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
    settle_on(st.eff, next);
    st.stepped_at = now;
    st.born = now;
    // What was steered before the first decision is unknown (another CPE process, nothing):
    // every move within the window counts as explained (kUnknownShare).
    for (const auto& w : next.candidates) st.shares[w.vcpe + "/" + w.instance] = {{now, kUnknownShare}};
    noise.snap(instances, paths, now);
    st.busy_at_step = pool_busy(instances);
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

  // Inputs beyond their noise band since the last step.
  // Each subject's cheapest candidate cost (path "vcpe/wan", instance "vcpe/id"): what a
  // delay move is large against.
  std::map<std::string, double, std::less<>> cost_of;
  for (const Scored& c : d.candidates) {
    for (const std::string& subj : {paths[c.path].vcpe + "/" + paths[c.path].wan,
                                    instances[c.instance].vcpe + "/" + instances[c.instance].id}) {
      auto [at, fresh_subject] = cost_of.emplace(subj, c.cost);
      if (!fresh_subject) at->second = std::min(at->second, c.cost);
    }
  }
  // A path (RTT, jitter, loss) that left its band by less than rel_threshold of the
  // cheapest cost it feeds does not lift the deadband: 1 ms of RTT or jitter wander on a
  // 20 ms candidate (a veth path's scheduling noise changing level) moves no weight that
  // matters, and letting it settle every target to within settle_units kept the lab's
  // steady weights stepping (lab.steering's steady-traffic test). Load moves (utilisation,
  // processing delay) always count: they are what a load change looks like (filtering
  // small processing-delay moves too made figure 4 at 95 % worse in the simulation).
  std::vector<InputMove> moves;
  for (auto& m : noise.moves(instances, paths, now)) {
    if (m.kind == InputMove::Kind::network) {
      auto c = cost_of.find(m.subject);
      if (c != cost_of.end() && std::abs(m.to - m.from) < cfg_.rel_threshold * std::abs(c->second)) continue;
    }
    moves.push_back(std::move(m));
  }
  std::string urgent, normal;
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
  if (!st.reconfigured.empty()) {
    add(urgent, st.reconfigured);
    reset = true;
    st.reconfigured.clear();
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
      settle_on(st.eff, next);
      noise.snap(instances, paths, now);  // later moves are measured from here
      st.busy_at_step = pool_busy(instances);
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
          const double du = std::clamp(util - was_util, 0.0, 1.0);
          const double dn = std::clamp(jumped / std::max(nw->cost, 1e-3), 0.0, 1.0);
          cut[f->second] = std::max({du, dn, 1e-9});
          if (jump) add(urgent, old.key + " " + cost_move(old, *nw));
          if (overload && spare_seen.insert(iname).second)
            add(urgent, iname + " overloaded: utilisation " + num(util * 100, 0) + " %, spare " +
                            num(old.spare_vcpus, 2) + " -> " + num(nw->spare_vcpus, 2) + " vCPU");
          continue;
        }
      }
    }
    // Inputs that left their deadband: what moved the target (if it moved).
    for (const auto& m : moves) add(normal, m.subject + " " + m.what);
    std::set<std::string_view> known;
    for (const auto& old : cur.candidates) known.insert(old.key);
    for (const auto& w : next.candidates)
      if (!known.count(w.key) && member(w)) add(normal, w.key + " joined the pool (new)");
  }

  // Step only when decide()'s target is further from the weights in force than the
  // inputs' measured noise explains (docs/SELECTION.md "Deadband").
  bool due = false;
  // The inputs' noise is measured over the first seconds of a (re)started selector.
  const bool young = now - st.born < kYoung;
  std::string far;
  double far_excess = -1.0, far_band = 0.0, far_target = 0.0;
  // Candidates out of the window for out_settle with a residual within their band: it
  // goes to 0 at the next step, and that step is due.
  std::vector<bool> settled_out(n, false);
  const bool quiet_pool = pool_load(d, next, instances) <= cfg_.out_settle_load;
  std::string out_key;
  std::vector<double> band_of(n, 0.0);
  // The target's noise: measured input noise through decide() (one decide() per input),
  // at most once per hold-down (steps are not more frequent) or when the pool changes.
  if (st.target_noise.sigma.size() != n || now - st.sigma_at >= cfg_.hold_down) {
    st.target_noise = noise.target_sigma(svc, instances, paths, d);
    st.sigma_at = now;
  }
  for (std::size_t k = 0; k < n; ++k) {
    const std::string& key = next.candidates[k].key;
    auto& w = st.wander[key];
    if (target[k] > 0.0 || next.candidates[k].excluded != Exclusion::none) {
      w.out_since.reset();
    } else if (!w.out_since) {
      w.out_since = now;
    }
    // On the window's edge noise alone moves it in and out: while no input moved beyond its
    // band, it moves with the others' steps, not by itself.
    if (moves.empty() && st.target_noise.edge[k] && next.candidates[k].excluded == Exclusion::none) continue;
    // The gap's two sides are both noisy (eff came from earlier targets): z·√2·σ.
    // An input that left its band moved the target for real: then only settle_units.
    // While some input's noise is not measured yet (after a start or restart), the widest
    // band: a restart must not re-step weights that sat within the old process's band.
    // The target's σ: propagated from the inputs' noise, or what the target is measured
    // to wander by (σ ≈ 1.25 × mean absolute deviation), whichever is larger.
    if (target[k] != w.last) {
      if (w.last < 0.0) w.mean = target[k];
      w.dev += cfg_.band.gain * (std::abs(target[k] - w.mean) - w.dev);
      w.mean += cfg_.band.gain * (target[k] - w.mean);
      w.last = target[k];
    }
    const double sigma = std::max(st.target_noise.sigma[k], 1.25 * w.dev);
    const double spread = young ? cfg_.band_max
                          : moves.empty() ? std::min(cfg_.band.z * std::sqrt(2.0) * sigma, cfg_.band_max)
                                          : 0.0;
    const double band = std::max(spread, static_cast<double>(cfg_.settle_units) / kWeightTotal);
    band_of[k] = band;
    const double excess = std::abs(target[k] - lookup(st.eff, key)) - band;
    if (excess > 0.0) due = true;
    if (quiet_pool && w.out_since && now - *w.out_since >= cfg_.out_settle && lookup(st.eff, key) > 0.0) {
      settled_out[k] = true;
      due = true;
      if (out_key.empty()) out_key = key;
    }
    if (excess > far_excess) far_excess = excess, far = key, far_band = band, far_target = target[k];
  }
  for (const auto& [key, e] : st.eff) due = due || !fresh.count(key);
  // A load or delay move our own steering cannot explain: straight to the target, at once.
  bool full = false;
  const double busy = std::max(st.busy_at_step, pool_busy(instances));
  for (const auto& m : moves) {
    auto c = cost_of.find(m.subject);
    full = full || (due && c != cost_of.end() && unexplained(st, m, instances, busy, c->second, now));
  }

  if (urgent.empty() && !full) {
    if (!due) return std::nullopt;                                // within noise: settled
    if (now - st.stepped_at < cfg_.hold_down) return std::nullopt;  // moves are named when it steps
    if (normal.empty() && far_excess <= 0.0 && !out_key.empty())
      normal = "settling: " + out_key + " " + num(lookup(st.eff, out_key) * kWeightTotal, 0) +
               " -> 0 (outside the spread window for " + num(std::chrono::duration<double>(cfg_.out_settle).count(), 0) + " s)";
    if (normal.empty())
      normal = "settling: " + far + " " + num(lookup(st.eff, far) * kWeightTotal, 0) + " -> target " +
               num(far_target * kWeightTotal, 0) + " (band ±" + num(far_band * kWeightTotal, 0) + ")";
  }

  // The step: loop gain 1 − α/(1 − ρ); α = step_gain·(1 − ρ̂) keeps it in (0, 1) at any
  // load, with margin for late metrics (docs/SELECTION.md "Damping").
  std::vector<double> e(target);
  double alpha = 1.0;
  if (!reset && !full) {
    const double rho = pool_load(d, next, instances);
    alpha = std::clamp(cfg_.step_gain * (1.0 - rho), cfg_.step_min, std::max(cfg_.step_min, cfg_.step_max));
    alpha = std::clamp(alpha, 0.0, 1.0);
    // Saturated (measured utilisation pinned at ~100 %, so its queue is growing): the
    // measurement is clipped, the loop through it has no gain left to make unstable, and
    // the small α of a loaded pool would leave it drowning for tens of seconds (figure 3
    // at 90 %: the 8-vCPU site at 99 % for 15 s). Step as far as it runs hotter than the
    // pool.
    // Exploring candidates never exceed their (bounded) target, not even while decaying.
    for (std::size_t k = 0; k < n; ++k)
      if (d.candidates[k].exploring) cut[k] = 1.0;
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
        // A candidate leaving the window decays; below half a unit it is gone, and so is
        // a residual within its band once it has been out for out_settle.
        if (target[k] == 0.0 && (v * kWeightTotal < 0.5 || (settled_out[k] && was <= band_of[k]))) v = 0.0;
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
  // All the way to the target: decide()'s own integers (apportioning its fractions again
  // could move a unit or two).
  std::vector<uint32_t> weights;
  if (reset || full) {
    for (std::size_t k = 0; k < n; ++k) weights.push_back(d.candidates[k].weight);
  } else {
    weights = apportion(e);
  }
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
  // transaction. The step is still taken internally (eff, stepped_at), so small
  // steps add up and are published once they amount to settle_units.
  const bool quiet = urgent.empty() && !reset && !set_changed && largest < cfg_.settle_units;
  const auto before = std::move(st.eff);
  st.eff.clear();
  for (std::size_t k = 0; k < n; ++k)
    if (e[k] > 0.0) st.eff[next.candidates[k].key] = e[k];
  st.stepped_at = now;
  record_shares(st.shares, before, st.eff, next, now, cfg_.explain_window);
  noise.snap(instances, paths, now);
  st.busy_at_step = pool_busy(instances);
  if (quiet) return std::nullopt;

  std::string reason = urgent;
  if (reason.empty()) {
    reason = normal;
  } else if (!normal.empty()) {
    reason += "; " + normal;
  }
  if (full && urgent.empty()) reason += " [not ours: to target]";
  if (urgent.empty() && !reset && !full && alpha < 1.0) reason += " [step " + num(alpha * 100, 0) + " %]";
  if (cur.adopted) reason = "restart: " + reason;
  Change c{next, cur.candidates, std::move(reason)};
  cur = std::move(next);
  return c;
}

}  // namespace cats::select
