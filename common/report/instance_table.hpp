// CPE-side table of service instances learned from metric reports (R8, R4).
//
// This is the boundary other metric sources plug into (DESIGN §7): anything that yields
// an authenticated Report (our datagram Collector today; a BGP or broker feed later)
// calls apply(). The table does no verification of its own.
#pragma once

#include "report/report.hpp"

#include <chrono>
#include <compare>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cats::report {

struct InstanceKey {
  std::string vcpe_id;
  std::string service_id;
  std::string instance_id;
  friend auto operator<=>(const InstanceKey&, const InstanceKey&) = default;
};

// What the CPE keeps of an instance's own figures (docs/METRICS.md §1 "Instance
// figures"). A report is a snapshot, but a figure, once given, stays the instance's until
// a newer one replaces it: a vCPE that restarted (and has not re-learned yet) or an
// instance that stopped getting traffic does not fall back to a guess.
struct InstanceFigures {
  std::optional<double> service_time_ms;  // last reported service_time_ms
  metrics::Source service_time_source = metrics::Source::nominal;  // nominal: configured; estimated: learned
  std::optional<double> last_delay_ms;    // the last processing delay measured...
  std::chrono::steady_clock::time_point last_delay_at{};  // ...when, on the CPE's clock
  // Ever gave a processing delay (fresh or last-known) or a service time. False: the
  // selector prices it with the service's constant and only explores it (select::Instance).
  bool measured = false;

  friend bool operator==(const InstanceFigures&, const InstanceFigures&) = default;
};

struct InstanceState {
  UdpEndpoint address;
  bool reported_available = false;  // the vCPE's own flag
  bool expired = false;             // no report for kExpiryIntervals x max_interval
  bool withdrawn = false;           // missing from the vCPE's latest snapshot
  std::vector<metrics::L0Metric> metrics;
  std::chrono::steady_clock::time_point last_report{};
  uint64_t last_seq = 0;
  InstanceFigures figures;  // kept across reports (above)

  bool available() const { return reported_available && !expired && !withdrawn; }
  friend bool operator==(const InstanceState&, const InstanceState&) = default;
};

struct AvailabilityEvent {
  enum class Reason : uint8_t { reported, withdrawn, expired };
  InstanceKey key;
  bool available = false;
  Reason reason = Reason::reported;
  friend bool operator==(const AvailabilityEvent&, const AvailabilityEvent&) = default;
};

// DESIGN §3: an instance whose reports stop for N intervals is unavailable; N = 3 rides
// out two lost datagrams without declaring a healthy instance dead.
inline constexpr int kExpiryIntervals = 3;
// Entries not refreshed for this many max_intervals are dropped from the table, so
// instance ids that come and go cannot grow it without bound. They were unavailable (and
// reported as such) long before.
inline constexpr int kForgetIntervals = 100;

// Fold one report's metrics into the kept figures (`now`: when the report was applied).
// A fresh processing_delay_ms is measured now; a last_processing_delay_ms is measured its
// reported age before now, and replaces the kept one only if that is newer.
void update_figures(InstanceFigures& f, const std::vector<metrics::L0Metric>& ms,
                    std::chrono::steady_clock::time_point now);

class InstanceTable {
 public:
  using Map = std::map<InstanceKey, InstanceState>;

  // Apply one vCPE's snapshot. Returns the instances whose effective availability changed.
  std::vector<AvailabilityEvent> apply(const Report& r, std::chrono::steady_clock::time_point now);
  // Mark instances without a report for kExpiryIntervals x max_interval unavailable;
  // drop those without one for kForgetIntervals x max_interval.
  std::vector<AvailabilityEvent> expire(std::chrono::steady_clock::time_point now,
                                        std::chrono::milliseconds max_interval);

  const Map& entries() const { return map_; }
  const InstanceState* find(const InstanceKey& k) const;

  // Figures an earlier run kept (the CPE's store): an instance's entry starts with them
  // when its first report arrives, so a restart of the CPE does not make an instance it
  // knew as measured an unmeasured one (explored, its weights rewritten: issue 8). A
  // vCPE that restarted too may not have re-measured it yet; the kept figure stands
  // until a newer one replaces it, as within one run. Seeds for instances that never
  // report again are never used and cost a map entry each (bounded by the store's rows).
  void seed_figures(std::map<InstanceKey, InstanceFigures> kept) { seeds_ = std::move(kept); }

 private:
  Map map_;
  std::map<InstanceKey, InstanceFigures> seeds_;
};

}  // namespace cats::report
