// Shared (shared_state.hpp): the instance table as steering sees it, and the event log
// every part of the CPE writes to (log, in-memory ring, stream, store).
#include "cpe/shared_state.hpp"

#include "base/clock.hpp"
#include "base/log.hpp"

#include <boost/json/serialize.hpp>

namespace cats::cpe {

namespace json = boost::json;

namespace {

constexpr const char* kLog = "cpe";
constexpr size_t kEventRing = 1000;           // in-memory events when there is no store

}  // namespace

bool Shared::damped_available(const report::InstanceKey& k, const report::InstanceState& st) const {
  if (!st.available()) return false;
  auto it = inst_damp.find(k);
  return it == inst_damp.end() || it->second.state() == stamp::PathState::up;
}

report::InstanceTable::Map Shared::damped_entries() const {
  auto m = collector.table().entries();
  for (auto& [k, st] : m)
    if (st.available() && !damped_available(k, st)) st.reported_available = false;
  return m;
}

void Shared::event(const std::string& kind, const std::string& subject, const std::string& detail) {
  store::Event e{unix_ms(wall()), kind, subject, detail};
  log::info(kLog, kind + " " + subject + (detail.empty() ? "" : ": " + detail));
  // Coalesced per kind and subject when events come faster than the stream's rate: a
  // flapping path's latest path_up / path_down; the store keeps every one.
  if (hub) hub->publish("events", kind + " " + subject, json::serialize(events_json({e}).at(0)));
  {
    std::lock_guard lk(mu);
    ring.push_back(e);
    while (ring.size() > kEventRing) ring.pop_front();
  }
  std::lock_guard lk(store_mu);
  if (store) store->add_event(e);
}

}  // namespace cats::cpe
