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
  return it == pub_.end() ? nullptr : &it->second;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

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
  pub_[service] = std::move(p);
}

std::optional<Change> Selector::update(const Service& svc, std::span<const Instance> instances,
                                       std::span<const Path> paths) {
  const auto now = clock_();
  Decision d = decide(svc, instances, paths);
  Publication next = to_publication(svc, d, instances, paths, now);

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
    Change c{next, {}, std::move(reason)};
    pub_.emplace(svc.id, std::move(next));
    return c;
  }
  Publication& cur = it->second;

  // Index of every fresh candidate (into next.candidates == d.candidates, same order).
  std::unordered_map<std::string_view, std::size_t> fresh;
  for (std::size_t k = 0; k < next.candidates.size(); ++k) fresh.emplace(next.candidates[k].key, k);
  auto why = [&](std::size_t k) {
    const Scored& s = d.candidates[k];
    return describe(svc, instances[s.instance], paths[s.path], s);
  };

  std::string urgent, normal;
  if (next.outcome != cur.outcome)
    add(urgent, "outcome " + std::string(to_string(cur.outcome)) + " -> " + std::string(to_string(next.outcome)));

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
  } else {
    std::set<std::string> spare_seen;  // one spare-capacity line per instance, not per path
    for (const auto& old : cur.candidates) {
      auto f = fresh.find(old.key);
      const PublishedWeight* n = f == fresh.end() ? nullptr : &next.candidates[f->second];
      const bool was = member(old), is = n && member(*n);
      if (old.weight > 0 && !is) {
        add(urgent, old.key + " " + (n ? why(f->second) : std::string("no longer reported")));
      } else if (was && !is) {
        add(normal, old.key + " left the pool (" + (n ? why(f->second) : std::string("no longer reported")) + ")");
      } else if (!was && is) {
        add(normal, old.key + " joined the pool");
      } else if (was && is) {
        const double rel = std::abs(n->cost - old.cost) / std::max(std::abs(old.cost), 1e-3);
        if (rel > cfg_.rel_threshold) add(normal, old.key + " " + cost_move(old, *n));
        // Spare capacity is the other weight input (decide(): share ∝ spare vCPUs).
        const double srel =
            std::abs(n->spare_vcpus - old.spare_vcpus) / std::max(std::abs(old.spare_vcpus), kSpareFloorVcpus);
        const std::string inst = old.vcpe + "/" + old.instance;
        if (srel > cfg_.rel_threshold && spare_seen.insert(inst).second)
          add(normal, inst + " spare " + num(old.spare_vcpus, 2) + " -> " + num(n->spare_vcpus, 2) + " vCPU (" +
                          pct(old.spare_vcpus, n->spare_vcpus, kSpareFloorVcpus) + ")");
      }
    }
    std::set<std::string_view> known;
    for (const auto& old : cur.candidates) known.insert(old.key);
    for (const auto& w : next.candidates)
      if (!known.count(w.key) && member(w)) add(normal, w.key + " joined the pool (new)");
  }

  std::string reason = urgent;
  if (reason.empty()) {
    if (normal.empty()) return std::nullopt;                 // within hysteresis
    if (now - cur.at < cfg_.hold_down) return std::nullopt;  // hold-down: compare again later
    reason = normal;
  } else if (!normal.empty()) {
    reason += "; " + normal;
  }
  if (cur.adopted) reason = "restart: " + reason;
  Change c{next, cur.candidates, std::move(reason)};
  cur = std::move(next);
  return c;
}

}  // namespace cats::select
