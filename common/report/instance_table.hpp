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
#include <string>
#include <vector>

namespace cats::report {

struct InstanceKey {
  std::string vcpe_id;
  std::string service_id;
  std::string instance_id;
  friend auto operator<=>(const InstanceKey&, const InstanceKey&) = default;
};

struct InstanceState {
  UdpEndpoint address;
  bool reported_available = false;  // the vCPE's own flag
  bool expired = false;             // no report for kExpiryIntervals x max_interval
  bool withdrawn = false;           // missing from the vCPE's latest snapshot
  std::vector<metrics::L0Metric> metrics;
  std::chrono::steady_clock::time_point last_report{};
  uint64_t last_seq = 0;

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

 private:
  Map map_;
};

}  // namespace cats::report
