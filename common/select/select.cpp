#include "select/select.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace cats::select {

std::string_view to_string(Exclusion e) {
  switch (e) {
    case Exclusion::none: return "none";
    case Exclusion::unavailable: return "unavailable";
    case Exclusion::path_down: return "path down";
    case Exclusion::invalid_metrics: return "invalid metrics";
    case Exclusion::capability: return "missing capability";
    case Exclusion::sla_rtt: return "sla rtt";
    case Exclusion::sla_jitter: return "sla jitter";
    case Exclusion::sla_loss: return "sla loss";
    case Exclusion::sla_e2e: return "sla e2e";
    case Exclusion::sla_capacity: return "sla free capacity";
    case Exclusion::sla_gpu_memory: return "sla gpu memory";
  }
  return "?";
}

std::string_view to_string(Outcome o) {
  switch (o) {
    case Outcome::ok: return "ok";
    case Outcome::best_effort: return "best_effort";  // the config's spelling (on_no_candidate)
    case Outcome::rejected: return "rejected";
  }
  return "?";
}

std::string candidate_key(const Instance& i, const Path& p) { return i.vcpe + "/" + i.id + "/" + p.wan; }

double erlang_c(unsigned c, double rho) {
  if (c == 0) c = 1;
  rho = std::clamp(rho, 0.0, 0.99);
  const double a = rho * c;  // offered load in Erlangs
  // Erlang B by the stable recurrence B(k) = a·B(k−1) / (k + a·B(k−1)), then
  // C = B / (1 − rho·(1 − B)). Avoids factorials (no overflow for large c).
  double b = 1.0;
  for (unsigned k = 1; k <= c; ++k) b = a * b / (static_cast<double>(k) + a * b);
  return b / (1.0 - rho * (1.0 - b));
}

double mmc_sojourn_ms(double vcpus, double utilization, double service_time_ms) {
  const unsigned c = vcpus >= 1.0 ? static_cast<unsigned>(std::lround(vcpus)) : 1u;
  const double rho = std::clamp(utilization, 0.0, 0.99);
  // Mean wait in queue Wq = C(c, a) · s / (c · (1 − rho)); sojourn = s + Wq.
  const double wq = erlang_c(c, rho) * service_time_ms / (static_cast<double>(c) * (1.0 - rho));
  return service_time_ms + wq;
}

NetworkTerms network_terms(const Path& p, const CostWeights& w) {
  const double loss = std::clamp(p.loss_pct / 100.0, 0.0, 0.99);
  // Each lost packet costs (at least) one more round trip; with independent loss p the
  // expected number of extra transmissions is p/(1−p) (geometric).
  return {p.rtt_ms, w.jitter_k * p.jitter_ms, w.loss_k * p.rtt_ms * loss / (1.0 - loss)};
}

double network_delay_ms(const Path& p, const CostWeights& w) {
  // The same operations in the same order as before the terms were split out (rtt +
  // jitter term, then + loss term): costs, and so decisions, are unchanged to the bit.
  const NetworkTerms t = network_terms(p, w);
  return t.rtt_ms + t.jitter_ms + t.loss_ms;
}

double effective_vcpus(const Instance& in) { return std::isfinite(in.vcpus) && in.vcpus > 0.0 ? in.vcpus : 1.0; }

double effective_utilization(const Instance& in) {
  return std::isfinite(in.utilization) ? std::clamp(in.utilization, 0.0, 1.0) : 0.0;
}

double pool_busy(std::span<const Instance> instances) {
  double busy = 0.0;
  for (const auto& in : instances)
    if (in.available) busy += effective_vcpus(in) * effective_utilization(in);
  return busy;
}

double pool_vcpus(std::span<const Instance> instances) {
  double c = 0.0;
  for (const auto& in : instances)
    if (in.available) c += effective_vcpus(in);
  return c;
}

namespace {

// The utilisation a service sees: u / (1 − reserve) for a low-priority one (trunk
// reservation, Service::reserve), so the capacity it leaves to the others looks taken.
// A normal service sees the reported figure as it is.
double seen_utilization(const Service& svc, const Instance& in) {
  const double r = std::isfinite(svc.reserve) ? std::clamp(svc.reserve, 0.0, 0.9) : 0.0;
  if (!(r > 0.0)) return in.utilization;
  return std::min(effective_utilization(in) / (1.0 - r), 1.0);
}

// Spare capacity at utilisation u (clamped to 0..1, non-finite as 0).
double spare_at(const Instance& in, double u) {
  // Defaults (1 vCPU, 0 %) for what is not reported: an instance reporting only its
  // processing delay counts as one idle vCPU, so when no instance in the window reports
  // capacity the capacity factor is equal for all and the cost term alone decides
  // (figure 3 unchanged).
  const double c = effective_vcpus(in);
  // An LLM-style server (draft §4.5) is near 100 % busy whenever it serves anything, so
  // c·(1 − u) says nothing; the requests queued ahead of a new one do. Share ∝ units /
  // (1 + queued), Envoy's least-request weighting (weight / (active + 1)): with an empty
  // queue it is the instance's whole capacity, as an idle instance's c·(1 − 0) is, so
  // instances with and without a queue figure compare at rest. Units are GPUs when
  // reported: they, not the host's vCPUs, bound the batch.
  if (in.queue_depth && std::isfinite(*in.queue_depth)) {
    const double units = std::isfinite(in.gpus) && in.gpus > 0.0 ? in.gpus : c;
    return std::max(units / (1.0 + std::max(*in.queue_depth, 0.0)), kSpareFloorVcpus);
  }
  // Floor: a saturated instance still eligible keeps a positive share (apportion() then
  // gives it ≥ 1 of 1000), so R5's "never all to one" holds and it keeps being measured.
  const double used = std::isfinite(u) ? std::clamp(u, 0.0, 1.0) : 0.0;
  return std::max(c * (1.0 - used), kSpareFloorVcpus);
}

}  // namespace

double spare_vcpus(const Instance& in) { return spare_at(in, in.utilization); }

namespace {

bool finite_nonneg(double v) { return std::isfinite(v) && v >= 0.0; }

// Invalid configured figures fall back to the defaults (no penalty, weight 1): config
// parsing already bounds them (cost 0–1000, weight 1–100), this only keeps decide() total.
double wan_cost_ms(const Path& p) { return finite_nonneg(p.cost_ms) ? p.cost_ms : 0.0; }
double wan_weight(const Path& p) { return std::isfinite(p.weight) && p.weight > 0.0 ? p.weight : 1.0; }

bool valid(const Instance& in, const Path& p) {
  if (!finite_nonneg(p.rtt_ms) || !finite_nonneg(p.jitter_ms) || !finite_nonneg(p.loss_pct)) return false;
  if (in.queue_depth && !finite_nonneg(*in.queue_depth)) return false;
  if (in.processing_delay_ms) return finite_nonneg(*in.processing_delay_ms);
  return std::isfinite(in.vcpus) && std::isfinite(in.utilization);
}

bool has_capability(const Instance& in, const std::string& cap) {
  if (cap.empty()) return true;
  return std::find(in.capabilities.begin(), in.capabilities.end(), cap) != in.capabilities.end();
}

Exclusion check(const Service& svc, const Instance& in, const Path& p, const Scored& s) {
  if (!in.available) return Exclusion::unavailable;  // R4
  if (!p.up) return Exclusion::path_down;
  if (!valid(in, p)) return Exclusion::invalid_metrics;
  if (!has_capability(in, svc.sla.required_capability)) return Exclusion::capability;
  if (p.rtt_ms > svc.sla.max_rtt_ms) return Exclusion::sla_rtt;
  if (p.jitter_ms > svc.sla.max_jitter_ms) return Exclusion::sla_jitter;
  if (p.loss_pct > svc.sla.max_loss_pct) return Exclusion::sla_loss;
  if (s.e2e_ms > svc.sla.max_e2e_ms) return Exclusion::sla_e2e;
  if (!(in.free_capacity >= svc.sla.min_free_capacity)) return Exclusion::sla_capacity;
  if (svc.sla.min_gpu_memory_free > 0.0 &&
      !(in.gpu_memory_utilization && 1.0 - std::clamp(*in.gpu_memory_utilization, 0.0, 1.0) >= svc.sla.min_gpu_memory_free))
    return Exclusion::sla_gpu_memory;
  return Exclusion::none;
}

}  // namespace

std::vector<uint32_t> apportion(std::span<const double> shares) {
  std::vector<uint32_t> out(shares.size(), 0);
  std::vector<std::size_t> pos;
  double sum = 0.0;
  for (std::size_t i = 0; i < shares.size(); ++i) {
    if (shares[i] > 0.0 && std::isfinite(shares[i])) {
      pos.push_back(i);
      sum += shares[i];
    }
  }
  if (pos.empty()) return out;
  // More positive shares than units: keep the largest kWeightTotal (stable order).
  if (pos.size() > kWeightTotal) {
    std::stable_sort(pos.begin(), pos.end(), [&](std::size_t a, std::size_t b) { return shares[a] > shares[b]; });
    pos.resize(kWeightTotal);
    std::sort(pos.begin(), pos.end());
    sum = 0.0;
    for (auto i : pos) sum += shares[i];
  }
  // Everyone in gets 1 first ("never all to one unless only one qualifies", R5), the
  // remaining units by Hamilton's largest-remainder method: exact total, deterministic.
  const auto n = static_cast<uint32_t>(pos.size());
  const uint32_t rest = kWeightTotal - n;
  std::vector<double> frac(pos.size());
  uint32_t given = 0;
  for (std::size_t k = 0; k < pos.size(); ++k) {
    const double q = static_cast<double>(rest) * shares[pos[k]] / sum;
    const double fl = std::floor(q);
    const auto u = static_cast<uint32_t>(fl);
    out[pos[k]] = 1 + u;
    given += u;
    frac[k] = q - fl;
  }
  std::vector<std::size_t> order(pos.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return frac[a] > frac[b]; });
  for (std::size_t k = 0; given < rest; k = (k + 1) % order.size(), ++given) out[pos[order[k]]] += 1;
  return out;
}

Decision decide(const Service& svc, std::span<const Instance> instances, std::span<const Path> paths) {
  Decision d;
  d.candidates.reserve(instances.size() * 4);
  const CostWeights& w = svc.weights;
  for (std::size_t i = 0; i < instances.size(); ++i) {
    const Instance& in = instances[i];
    for (std::size_t j = 0; j < paths.size(); ++j) {
      const Path& p = paths[j];
      if (p.vcpe != in.vcpe) continue;
      Scored s;
      s.instance = i;
      s.path = j;
      const NetworkTerms net = network_terms(p, w);
      s.network_ms = net.rtt_ms + net.jitter_ms + net.loss_ms;  // == network_delay_ms(p, w)
      const double own_st = in.service_time_ms && std::isfinite(*in.service_time_ms) && *in.service_time_ms > 0.0
                                ? *in.service_time_ms
                                : svc.service_time_ms;
      if (in.queue_depth && std::isfinite(*in.queue_depth)) {
        // An LLM server (draft §4.5): its measured delay (the mean time to first token of the
        // last interval) is the queue it had; the queue it has now is what the next request
        // meets. Each request waiting per unit (GPU) adds about one unloaded first-token time
        // (the instance's service time): a prediction, so cost-jump rules treat it as an
        // estimate, as they do the M/M/c one (docs/SELECTION.md "LLM servers").
        const double units = std::isfinite(in.gpus) && in.gpus > 0.0 ? in.gpus : effective_vcpus(in);
        s.compute_ms = own_st * (1.0 + std::max(*in.queue_depth, 0.0) / units);
        s.compute_estimated = true;
      } else if (in.processing_delay_ms) {
        s.compute_ms = *in.processing_delay_ms;  // measured beats modelled
      } else {
        // The instance's own per-request time once its vCPE gave one; the service-wide
        // figure is only a guess for instances that never did (exploration below).
        s.compute_ms = mmc_sojourn_ms(in.vcpus, seen_utilization(svc, in), own_st);
        s.compute_estimated = true;
      }
      s.e2e_ms = svc.access_delay_ms + s.network_ms + s.compute_ms;
      s.spare_vcpus = spare_at(in, seen_utilization(svc, in));
      // A WAN's configured cost is a penalty in cost units (ms), not delay the user
      // sees: added after the weights, kept out of e2e (and so out of max_e2e_ms).
      s.wan_cost_ms = wan_cost_ms(p);
      s.cost = svc.access_delay_ms + w.network * s.network_ms + w.compute * s.compute_ms + s.wan_cost_ms;
      s.parts = {svc.access_delay_ms, w.network * net.rtt_ms, w.network * net.jitter_ms, w.network * net.loss_ms,
                 w.compute * s.compute_ms, s.wan_cost_ms};
      s.excluded = check(svc, in, p, s);
      if (s.excluded == Exclusion::none) ++d.eligible;
      d.candidates.push_back(s);
    }
  }

  // Pool: the eligible candidates; failing those, in best-effort mode the SLA breakers
  // (never unavailable, down, invalid or incapable ones).
  auto in_pool = [&](const Scored& s) {
    if (d.eligible > 0) return s.excluded == Exclusion::none;
    return svc.on_no_candidate == OnNoCandidate::best_effort && is_sla(s.excluded) && std::isfinite(s.cost);
  };
  // Exploration: an unmeasured instance's cost is a guess (often the service-wide service
  // time on a near, idle site, which looks best). While a measured one is in the pool,
  // unmeasured ones stay out of the ranking and get a bounded share that gets them measured.
  bool any_measured = false;
  for (const Scored& s : d.candidates) any_measured = any_measured || (in_pool(s) && instances[s.instance].measured);
  for (Scored& s : d.candidates) s.exploring = any_measured && in_pool(s) && !instances[s.instance].measured;
  for (std::size_t k = 0; k < d.candidates.size(); ++k) {
    if (!in_pool(d.candidates[k]) || d.candidates[k].exploring) continue;
    if (!d.best || d.candidates[k].cost < d.candidates[*d.best].cost) d.best = k;
  }
  if (!d.best) {
    d.outcome = Outcome::rejected;
    return d;
  }
  d.outcome = d.eligible > 0 ? Outcome::ok : Outcome::best_effort;

  // R5 (service contention, draft §5.1): spread new flows over the near-best candidates
  // instead of herding them onto the single best one. Capacity-aware (weighted least
  // load, as HAProxy/Envoy weight least-request balancing): an instance's share is
  //   spare_vcpus · (best / instance's best in-window cost)^power,
  // split across its in-window paths ∝ (instance best / path cost)^power. Many CPEs
  // splitting ∝ spare capacity fill instances in proportion to what they can absorb
  // instead of all piling onto the emptiest one (DESIGN §3 herd concern); the cost term
  // still prefers the nearer/faster instance. Figure 4 (§4.4): 3 vs 4.8 spare vCPUs at
  // equal WANs gives 378/622 to cloud2, where M/M/6 cost alone gave 492/508.
  const double best_cost = std::max(d.candidates[*d.best].cost, 1e-3);
  const double limit = best_cost * (1.0 + std::max(svc.epsilon, 0.0));
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<char> window(d.candidates.size(), 0);
  std::vector<double> inst_best(instances.size(), inf), path_sum(instances.size(), 0.0);
  for (std::size_t k = 0; k < d.candidates.size(); ++k) {
    const Scored& s = d.candidates[k];
    // The best always qualifies, even for costs ≤ 0 (clamped to 1e-3 below). Exploring
    // instances are all "in": their paths split their exploration share by cost.
    if (!in_pool(s) || !(k == *d.best || s.cost <= limit || s.exploring)) continue;
    window[k] = 1;
    inst_best[s.instance] = std::min(inst_best[s.instance], std::max(s.cost, 1e-3));
  }
  // Ratios ≤ 1 (normalised to the best): no underflow/overflow for any cost scale.
  auto ratio = [&](double num, double cost) { return std::pow(num / std::max(cost, 1e-3), svc.power); };
  std::vector<double> shares(d.candidates.size(), 0.0);
  for (std::size_t k = 0; k < d.candidates.size(); ++k) {
    if (!window[k]) continue;
    const Scored& s = d.candidates[k];
    // Path factor, normalised below; the WAN's weight scales it against the instance's
    // other in-window paths (equal costs: split ∝ weight).
    shares[k] = wan_weight(paths[s.path]) * ratio(inst_best[s.instance], s.cost);
    path_sum[s.instance] += shares[k];
  }
  // Instance factor spare · (best / instance best)^power, divided by the path sum so an
  // instance's total does not grow with its number of paths.
  std::vector<double> inst_factor(instances.size(), 0.0);
  std::vector<char> exploring(instances.size(), 0);
  for (std::size_t k = 0; k < d.candidates.size(); ++k)
    if (window[k] && d.candidates[k].exploring) exploring[d.candidates[k].instance] = 1;
  for (std::size_t i = 0; i < instances.size(); ++i)
    if (path_sum[i] > 0.0 && !exploring[i]) inst_factor[i] = ratio(best_cost, inst_best[i]) / path_sum[i];
  double ranked = 0.0;
  for (std::size_t k = 0; k < d.candidates.size(); ++k)
    if (window[k] && !d.candidates[k].exploring) {
      shares[k] *= d.candidates[k].spare_vcpus * inst_factor[d.candidates[k].instance];
      ranked += shares[k];
    }
  // Exploring instances: explore_share each, explore_max together; the ranked ones share
  // the rest in their own proportions.
  const auto n_explore = static_cast<double>(std::count(exploring.begin(), exploring.end(), 1));
  if (n_explore > 0.0 && ranked > 0.0) {
    const double each = std::clamp(svc.explore_share, 0.0, 1.0);
    const double total = std::min(each * n_explore, std::clamp(svc.explore_max, 0.0, 1.0));
    for (std::size_t k = 0; k < d.candidates.size(); ++k) {
      if (!window[k]) continue;
      const Scored& s = d.candidates[k];
      shares[k] = s.exploring ? shares[k] / path_sum[s.instance] * total / n_explore : shares[k] / ranked * (1.0 - total);
    }
  }
  const auto weights = apportion(shares);
  for (std::size_t k = 0; k < d.candidates.size(); ++k) d.candidates[k].weight = weights[k];
  return d;
}

}  // namespace cats::select
