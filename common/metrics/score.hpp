// L1 and L2 metrics (draft-ietf-cats-metric-definition §3.2, §3.3). The draft leaves the
// normalisation functions to implementations; ours are defined here and documented, with
// the reasons, in docs/METRICS.md.
//
// Scale and direction, for every score: a double in [0, 1], higher is better
// (1 = idle / instantaneous / lossless, 0 = no headroom left). A category without any
// input metric is absent (nullopt), never a guessed value.
#pragma once

#include "metrics/metric.hpp"

#include <optional>
#include <span>

namespace cats::metrics {

struct ScoringParams {
  // Delay at which a delay score is 0.5 (see delay_score). Chosen near the interactive
  // budgets the selector works with: a 20 ms service, a 50 ms path.
  double processing_delay_ref_ms = 20.0;
  double rtt_ref_ms = 50.0;
  // L2 weights; renormalised over the categories present.
  double weight_compute = 0.4;
  double weight_communication = 0.3;
  double weight_service = 0.3;
};

// Network inputs are not in a vCPE report: the CPE measures them per path (R7, STAMP).
struct PathInputs {
  std::optional<double> rtt_ms;
  std::optional<double> loss;  // 0..1
};

struct L1Scores {
  std::optional<double> compute;
  std::optional<double> communication;
  std::optional<double> service;
};

// ref / (ref + d): 1 at d = 0, 0.5 at d = ref, -> 0 as d grows. Monotone, bounded, no
// cliff and no "maximum delay" to configure. d < 0 is treated as 0.
double delay_score(double d, double ref);

// compute       = min(1 - cpu_utilization, 1 - memory_utilization, 1 - gpu_utilization)
// communication = delay_score(rtt, rtt_ref) * (1 - loss)
// service       = min(delay_score(processing_delay, delay_ref), capacity_free)
// Only valid metrics of known types are used; unknown types are ignored (R14).
L1Scores score_l1(std::span<const L0Metric> metrics, const PathInputs& path = {},
                  const ScoringParams& p = {});

// Weighted geometric mean of the present L1 scores (any category at 0 makes L2 0: an
// instance without headroom in one dimension is unusable whatever the others say).
// nullopt when no category is present.
std::optional<double> score_l2(const L1Scores& l1, const ScoringParams& p = {});

}  // namespace cats::metrics
