#include "report/instance_table.hpp"

#include <set>

namespace cats::report {

std::vector<AvailabilityEvent> InstanceTable::apply(const Report& r, std::chrono::steady_clock::time_point now) {
  std::vector<AvailabilityEvent> events;
  std::set<std::pair<std::string_view, std::string_view>> present;
  for (const auto& in : r.instances) {
    present.emplace(in.service_id, in.instance_id);
    InstanceKey key{r.vcpe_id, in.service_id, in.instance_id};
    auto [it, inserted] = map_.try_emplace(key);
    InstanceState& st = it->second;
    const bool was = !inserted && st.available();
    st.address = in.address;
    st.reported_available = in.available;
    st.expired = false;
    st.withdrawn = false;
    st.metrics = in.metrics;
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
