// Sender-side rate control and damping (R11; draft-ietf-cats-usecases-requirements §5.3:
// "only significant changes cause ... messages"). Pure logic: the caller passes
// steady_clock time points and does the sending.
//
//   * a significant change is sent, but never sooner than min_interval after the previous
//     report (a change inside min_interval goes out when min_interval expires);
//   * except an instance that became unavailable (R4; draft §4.3, fast failover between
//     instances): that report goes out at once, at most one such out-of-turn report per
//     min_interval, so a flapping instance costs at most twice the rate. Becoming
//     available waits like any change: moving flows *to* something is never urgent;
//   * with nothing significant, a report still goes out every max_interval (liveness: the
//     CPE expires instances after 3 x max_interval without a report);
//   * significance is judged against the last *sent* values, so slow drift still ends up
//     being reported once it adds up to a threshold.
#pragma once

#include "report/report.hpp"

#include <chrono>
#include <optional>
#include <vector>

namespace cats::report {

using SteadyTime = std::chrono::steady_clock::time_point;
using Millis = std::chrono::milliseconds;

struct Thresholds {
  double utilization_abs = 0.05;    // cpu/memory/gpu utilisation, capacity_free: absolute
  double delay_rel = 0.10;          // processing delay: relative to the last sent value...
  double delay_floor_ms = 1.0;      // ...but at least this much (no flapping around 0 ms)
  double sessions_rel = 0.10;       // active sessions, relative, at least 1
  double unknown_rel = 0.10;        // unknown types (R14): relative, treated like sessions
};

// Limits a CPE's desired-interval message cannot push us past.
inline constexpr Millis kMinIntervalFloor{100};
inline constexpr Millis kMinIntervalCeiling{60'000};
inline constexpr Millis kMaxIntervalFloor{1'000};
inline constexpr Millis kMaxIntervalCeiling{300'000};

struct Intervals {
  Millis min{1'000};
  Millis max{10'000};
  friend bool operator==(const Intervals&, const Intervals&) = default;
};

// Clamp into the sane bounds above, keeping max >= min.
Intervals clamp_intervals(Millis min, Millis max);

// True when `now` differs enough from `sent` to be worth a report.
bool significant_change(const std::vector<InstanceReport>& sent,
                        const std::vector<InstanceReport>& now, const Thresholds& t);

class ReportScheduler {
 public:
  explicit ReportScheduler(Intervals iv = {}, Thresholds th = {});

  // Record a fresh sample. Returns true when a report with this sample must go out now;
  // the caller sends it and the scheduler already counts it as sent.
  bool offer(const std::vector<InstanceReport>& sample, SteadyTime now);
  // Timer tick: true when the latest sample must go out now (a held-back change whose
  // min_interval expired, or the max_interval heartbeat).
  bool poll(SteadyTime now);
  // When to call poll() next (nullopt before the first sample).
  std::optional<SteadyTime> next_wakeup() const;

  const std::vector<InstanceReport>& latest() const { return latest_; }
  bool pending() const { return pending_; }

  // From a verified DesiredInterval; returns the values actually applied.
  Intervals set_intervals(Millis min, Millis max);
  const Intervals& intervals() const { return iv_; }

 private:
  void mark_sent(SteadyTime now);

  Intervals iv_;
  Thresholds th_;
  bool have_sample_ = false;
  bool pending_ = false;  // a significant change not yet sent
  std::optional<SteadyTime> last_urgent_at_;  // the last out-of-turn report
  std::optional<SteadyTime> last_sent_at_;
  std::vector<InstanceReport> latest_;
  std::vector<InstanceReport> last_sent_;
};

}  // namespace cats::report
