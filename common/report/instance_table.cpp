#include "report/instance_table.hpp"

#include <set>

namespace cats::report {

void update_figures(InstanceFigures& f, const std::vector<metrics::L0Metric>& ms,
                    std::chrono::steady_clock::time_point now) {
  using metrics::MetricType;
  // current_value() skips invalid entries: a known type out of its range never gets here
  // from the Collector (malformed report), and the table applies the same rule to other
  // sources.
  for (const auto& m : ms) {
    if (m.type != static_cast<uint16_t>(MetricType::service_time_ms) || !metrics::is_valid(m)) continue;
    if (m.statistic != metrics::Statistic::cur && m.statistic != metrics::Statistic::mean) continue;
    f.service_time_ms = m.value;
    f.service_time_source = m.source;
    f.measured = true;
    break;
  }
  if (auto d = metrics::current_value(ms, MetricType::processing_delay_ms)) {
    f.last_delay_ms = *d;
    f.last_delay_at = now;
    f.measured = true;
  } else if (auto last = metrics::current_value(ms, MetricType::last_processing_delay_ms)) {
    const double age_ms = metrics::current_value(ms, MetricType::last_processing_delay_age_ms).value_or(0.0);
    const auto at = now - std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double, std::milli>(age_ms));
    if (!f.last_delay_ms || at >= f.last_delay_at) {
      f.last_delay_ms = *last;
      f.last_delay_at = at;
    }
    f.measured = true;
  }
}

std::vector<AvailabilityEvent> InstanceTable::apply(const Report& r, std::chrono::steady_clock::time_point now) {
  std::vector<AvailabilityEvent> events;
  std::set<std::pair<std::string_view, std::string_view>> present;
  for (const auto& in : r.instances) {
    present.emplace(in.service_id, in.instance_id);
    InstanceKey key{r.vcpe_id, in.service_id, in.instance_id};
    auto [it, inserted] = map_.try_emplace(key);
    InstanceState& st = it->second;
    if (inserted)
      if (auto kept = seeds_.extract(key)) st.figures = std::move(kept.mapped());
    const bool was = !inserted && st.available();
    st.address = in.address;
    st.reported_available = in.available;
    st.expired = false;
    st.withdrawn = false;
    st.metrics = in.metrics;
    update_figures(st.figures, st.metrics, now);
    st.last_report = now;
    st.last_seq = r.seq;
    if (st.available() != was || (inserted && !st.available()))
      events.push_back({key, st.available(), AvailabilityEvent::Reason::reported});
  }
  // Snapshot semantics: this vCPE's instances not in the report are withdrawn. Kept in
  // the table (unavailable) so the UI can still show them and their last metrics.
  for (auto it = map_.lower_bound(InstanceKey{r.vcpe_id, {}, {}});
       it != map_.end() && it->first.vcpe_id == r.vcpe_id; ++it) {
    if (present.count({it->first.service_id, it->first.instance_id})) continue;
    if (it->second.withdrawn) continue;
    const bool was = it->second.available();
    it->second.withdrawn = true;
    if (was) events.push_back({it->first, false, AvailabilityEvent::Reason::withdrawn});
  }
  return events;
}

std::vector<AvailabilityEvent> InstanceTable::expire(std::chrono::steady_clock::time_point now,
                                                     std::chrono::milliseconds max_interval) {
  std::vector<AvailabilityEvent> events;
  const auto limit = kExpiryIntervals * max_interval;
  const auto forget = kForgetIntervals * max_interval;
  for (auto it = map_.begin(); it != map_.end();) {
    auto& [key, st] = *it;
    const auto age = now - st.last_report;
    if (!st.expired && age >= limit) {
      const bool was = st.available();
      st.expired = true;
      if (was) events.push_back({key, false, AvailabilityEvent::Reason::expired});
    }
    it = age >= forget ? map_.erase(it) : std::next(it);
  }
  return events;
}

const InstanceState* InstanceTable::find(const InstanceKey& k) const {
  auto it = map_.find(k);
  return it == map_.end() ? nullptr : &it->second;
}

}  // namespace cats::report
