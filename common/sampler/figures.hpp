// The instance's own figures (issue 8 item 5; docs/METRICS.md §1 "Instance figures"):
// what one vCPE-side instance adds to its sampled metrics so the CPE can price it by its
// own per-request time rather than a service-wide constant.
//
//   * service_time_ms — nominal per-request time on one vCPU. Configured ([[instance]]
//     service_time_ms, Source::nominal), else learned (Source::estimated, statistic mean)
//     from the instance's measured processing delays: each fresh delay T, measured at
//     utilisation ρ on c vCPUs, is turned into the service time s for which the selector's
//     own M/M/c model gives T at that ρ, s = T / sojourn(c, ρ, 1 ms) (the sojourn is
//     linear in s), and the figure is the median of the last observations, one per
//     second at most;
//   * last_processing_delay_ms + last_processing_delay_age_ms — the last fresh delay and
//     how long ago it was measured, kept after the instance's own window no longer
//     carries it (no traffic), so an idle instance keeps a known figure, with its age.
//
// Pure: time comes in with each sample (injected clock), no I/O.
#pragma once

#include "metrics/metric.hpp"

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <vector>

namespace cats::sampler {

struct FigureOptions {
  // One observation per `spacing` at most: the instance's own delay window is ~1 s, so
  // samples taken more often see the same requests again (and the result must not depend
  // on the sampling rate).
  std::chrono::milliseconds spacing{1'000};
  // The learned figure is the median of the last `window` observations (a minute of
  // measured seconds). A median, not a mean: at a load step the delay and utilisation
  // windows do not line up (the delays already queue, the utilisation still reads low),
  // which gives a few inversions far too high; a mean (an EWMA with τ = 30 s did, in the
  // fig4 lab) keeps a share of them and priced an instance out of the weights for good,
  // a median ignores any minority of them.
  std::size_t window = 60;
  // Observations at a higher utilisation are not learned from: near saturation the
  // M/M/c sojourn's slope in ρ is ~1/(1−ρ)², so the 1-s utilisation window's sampling
  // error (±0.05) would swing the inversion by tens of percent (at 0.9: ±50 % of the
  // queueing term). The last delay is still recorded.
  double max_utilization = 0.9;
};

class InstanceFigures {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit InstanceFigures(std::optional<double> configured_service_time_ms, FigureOptions opt = {});

  // One sample's metrics (as merged by the sampler) at `now`: learns from them and
  // returns them plus the figures above (existing entries of those types are replaced).
  std::vector<metrics::L0Metric> update(const std::vector<metrics::L0Metric>& sample, TimePoint now);

  // The service time one fresh delay gives (nullopt when it cannot be learned from:
  // utilisation above max_utilization, non-finite or non-positive inputs). Exposed for tests.
  std::optional<double> invert(double delay_ms, double vcpus, double utilization) const;

  std::optional<double> learned_ms() const { return learned_; }
  std::optional<double> last_delay_ms() const { return last_delay_; }

 private:
  std::optional<double> configured_;
  FigureOptions opt_;
  std::deque<double> observations_;  // inverted service times, oldest first
  TimePoint observed_at_{};
  std::optional<double> learned_;
  std::optional<double> last_delay_;
  TimePoint last_delay_at_{};
};

}  // namespace cats::sampler
