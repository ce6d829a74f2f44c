#include "select/selector.hpp"

#include <cmath>
#include <sstream>
#include <unordered_map>

namespace cats::select {

Selector::Selector(SelectorConfig cfg, Clock clock) : cfg_(cfg), clock_(std::move(clock)) {}

const Publication* Selector::published(const std::string& service) const {
  auto it = pub_.find(service);
  return it == pub_.end() ? nullptr : &it->second;
}

namespace {

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
    p.candidates.push_back(PublishedWeight{candidate_key(in, pa), in.vcpe, in.id, pa.wan, s.cost, s.e2e_ms,
                                           s.network_ms, s.compute_ms, s.excluded, s.weight});
  }
  return p;
}

// Pool membership as the weighting saw it: eligible, or an SLA breaker carrying weight
// in best-effort mode.
bool member(const PublishedWeight& w) { return w.excluded == Exclusion::none || w.weight > 0; }

}  // namespace

std::optional<Change> Selector::update(const Service& svc, std::span<const Instance> instances,
                                       std::span<const Path> paths) {
  const auto now = clock_();
  Decision d = decide(svc, instances, paths);
  Publication next = to_publication(svc, d, instances, paths, now);

  auto it = pub_.find(svc.id);
  if (it == pub_.end()) {
    Change c{next, {}, "initial: " + std::string(to_string(next.outcome))};
    pub_.emplace(svc.id, std::move(next));
    return c;
  }
  Publication& cur = it->second;

  std::unordered_map<std::string_view, const PublishedWeight*> fresh;
  for (const auto& w : next.candidates) fresh.emplace(w.key, &w);

  std::ostringstream urgent, normal;
  if (next.outcome != cur.outcome)
    urgent << "outcome " << to_string(cur.outcome) << " -> " << to_string(next.outcome) << "; ";
  std::size_t seen = 0;
  for (const auto& old : cur.candidates) {
    auto f = fresh.find(old.key);
    const PublishedWeight* n = f == fresh.end() ? nullptr : f->second;
    if (n) ++seen;
    const bool was = member(old), is = n && member(*n);
    if (old.weight > 0 && !is) {
      urgent << "lost " << old.key << " (" << (n ? to_string(n->excluded) : "gone") << "); ";
    } else if (was && !is) {
      normal << "left " << old.key << "; ";
    } else if (!was && is) {
      normal << "gained " << old.key << "; ";
    } else if (was && is) {
      const double base = std::max(std::abs(old.cost), 1e-3);
      const double rel = std::abs(n->cost - old.cost) / base;
      if (rel > cfg_.rel_threshold)
        normal << old.key << " cost " << old.cost << " -> " << n->cost << "; ";
    }
  }
  if (seen != next.candidates.size()) {
    for (const auto& w : next.candidates) {
      bool known = false;
      for (const auto& old : cur.candidates) known = known || old.key == w.key;
      if (!known && member(w)) normal << "gained " << w.key << "; ";
    }
  }

  std::string reason = urgent.str();
  if (reason.empty()) {
    reason = normal.str();
    if (reason.empty()) return std::nullopt;                // within hysteresis
    if (now - cur.at < cfg_.hold_down) return std::nullopt;  // hold-down: compare again later
  } else {
    reason += normal.str();
  }
  if (reason.size() >= 2) reason.resize(reason.size() - 2);  // trailing "; "
  Change c{next, cur.candidates, std::move(reason)};
  cur = std::move(next);
  return c;
}

}  // namespace cats::select
