#include "metrics/score.hpp"

#include <algorithm>
#include <cmath>

namespace cats::metrics {
namespace {

// min() over optional inputs; stays nullopt until one input is present.
void take_min(std::optional<double>& acc, std::optional<double> v) {
  if (!v) return;
  double c = std::clamp(*v, 0.0, 1.0);
  acc = acc ? std::min(*acc, c) : c;
}

std::optional<double> headroom(std::span<const L0Metric> ms, MetricType t) {
  auto u = current_value(ms, t);
  if (!u) return std::nullopt;
  return 1.0 - *u;
}

}  // namespace

double delay_score(double d, double ref) {
  if (!(ref > 0.0)) ref = 1.0;
  if (!(d > 0.0)) return 1.0;  // also catches NaN: treat as no information
  return ref / (ref + d);
}

L1Scores score_l1(std::span<const L0Metric> ms, const PathInputs& path, const ScoringParams& p) {
  L1Scores s;
  // Compute: the bottleneck resource decides whether new work fits (draft §3.2 "computing").
  take_min(s.compute, headroom(ms, MetricType::cpu_utilization));
  take_min(s.compute, headroom(ms, MetricType::memory_utilization));
  take_min(s.compute, headroom(ms, MetricType::gpu_utilization));

  // Communication: from the CPE's own path measurements.
  if (path.rtt_ms) {
    double loss = std::clamp(path.loss.value_or(0.0), 0.0, 1.0);
    if (std::isnan(loss)) loss = 0.0;
    s.communication = delay_score(*path.rtt_ms, p.rtt_ref_ms) * (1.0 - loss);
  }

  // Service: what a request experiences (processing delay) and whether the service
  // admits more (capacity_free). active_sessions has no reported maximum, so it is not
  // comparable across instances and stays out of the score (kept at L0 for the selector).
  if (auto d = current_value(ms, MetricType::processing_delay_ms))
    take_min(s.service, delay_score(*d, p.processing_delay_ref_ms));
  take_min(s.service, current_value(ms, MetricType::capacity_free));
  return s;
}

std::optional<double> score_l2(const L1Scores& l1, const ScoringParams& p) {
  double wsum = 0.0, acc = 0.0;
  bool zero = false;
  auto add = [&](const std::optional<double>& v, double w) {
    if (!v || !(w > 0.0)) return;
    double x = std::clamp(*v, 0.0, 1.0);
    wsum += w;
    if (x <= 0.0) zero = true;
    else acc += w * std::log(x);
  };
  add(l1.compute, p.weight_compute);
  add(l1.communication, p.weight_communication);
  add(l1.service, p.weight_service);
  if (wsum <= 0.0) return std::nullopt;
  if (zero) return 0.0;
  return std::exp(acc / wsum);
}

}  // namespace cats::metrics
