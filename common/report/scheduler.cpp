#include "report/scheduler.hpp"

#include <algorithm>
#include <cmath>

namespace cats::report {
namespace {

using metrics::MetricType;

bool rel_change(double a, double b, double rel, double floor) {
  return std::fabs(a - b) >= std::max(rel * std::fabs(a), floor);
}

bool metric_changed(const metrics::L0Metric& a, const metrics::L0Metric& b, const Thresholds& t) {
  if (a.unit != b.unit || a.source != b.source) return true;
  if (a.value == b.value) return false;
  if (!std::isfinite(a.value) || !std::isfinite(b.value)) return true;
  switch (static_cast<MetricType>(a.type)) {
    case MetricType::cpu_utilization:
    case MetricType::memory_utilization:
    case MetricType::gpu_utilization:
    case MetricType::capacity_free:
    case MetricType::gpu_memory_utilization:
      return std::fabs(a.value - b.value) >= t.utilization_abs - 1e-12;
    case MetricType::processing_delay_ms:
    case MetricType::service_time_ms:
    case MetricType::last_processing_delay_ms:
    case MetricType::ttft_ms:
      return rel_change(a.value, b.value, t.delay_rel, t.delay_floor_ms);
    case MetricType::last_processing_delay_age_ms:
      // An age grows with every sample by definition: alone it is never news. It rides
      // along with reports sent for other reasons (and the max_interval heartbeat).
      return false;
    case MetricType::active_sessions:
    case MetricType::queue_depth:
      return rel_change(a.value, b.value, t.sessions_rel, 1.0);
    case MetricType::vcpus:
    case MetricType::gpu_count:
      return true;  // capacity itself changed: always worth telling
  }
  return rel_change(a.value, b.value, t.unknown_rel, 0.0);
}

// Metrics are matched by (type, statistic); order on the wire does not matter.
bool metrics_changed(const std::vector<metrics::L0Metric>& a, const std::vector<metrics::L0Metric>& b,
                     const Thresholds& t) {
  if (a.size() != b.size()) return true;
  for (const auto& m : b) {
    auto it = std::find_if(a.begin(), a.end(), [&](const metrics::L0Metric& x) {
      return x.type == m.type && x.statistic == m.statistic;
    });
    if (it == a.end() || metric_changed(*it, m, t)) return true;
  }
  return false;
}

}  // namespace

Intervals clamp_intervals(Millis min, Millis max) {
  Intervals iv;
  iv.min = std::clamp(min, kMinIntervalFloor, kMinIntervalCeiling);
  iv.max = std::clamp(max, kMaxIntervalFloor, kMaxIntervalCeiling);
  iv.max = std::max(iv.max, iv.min);
  return iv;
}

bool significant_change(const std::vector<InstanceReport>& sent, const std::vector<InstanceReport>& now,
                        const Thresholds& t) {
  if (sent.size() != now.size()) return true;
  for (const auto& n : now) {
    auto it = std::find_if(sent.begin(), sent.end(), [&](const InstanceReport& s) {
      return s.service_id == n.service_id && s.instance_id == n.instance_id;
    });
    if (it == sent.end()) return true;                  // new instance
    if (it->available != n.available) return true;     // availability: always significant
    if (it->address != n.address) return true;
    if (metrics_changed(it->metrics, n.metrics, t)) return true;
  }
  return false;
}

namespace {

// An instance that was available in the last report and is unavailable now.
bool lost_instance(const std::vector<InstanceReport>& sent, const std::vector<InstanceReport>& now) {
  return std::any_of(now.begin(), now.end(), [&](const InstanceReport& n) {
    auto it = std::find_if(sent.begin(), sent.end(), [&](const InstanceReport& s) {
      return s.service_id == n.service_id && s.instance_id == n.instance_id;
    });
    return it != sent.end() && it->available && !n.available;
  });
}

}  // namespace

ReportScheduler::ReportScheduler(Intervals iv, Thresholds th)
    : iv_(clamp_intervals(iv.min, iv.max)), th_(th) {}

bool ReportScheduler::offer(const std::vector<InstanceReport>& sample, SteadyTime now) {
  latest_ = sample;
  have_sample_ = true;
  // Judged on the latest sample only: a change that reverted before it could be sent is
  // not sent (that is the damping; the report that goes out describes the present).
  pending_ = !last_sent_at_ || significant_change(last_sent_, latest_, th_);
  // An instance that was available when last sent and is not now: out of turn.
  const bool lost = pending_ && last_sent_at_ && lost_instance(last_sent_, latest_);
  if (lost && (!last_urgent_at_ || now - *last_urgent_at_ >= iv_.min)) {
    last_urgent_at_ = now;
    mark_sent(now);
    return true;
  }
  return poll(now);
}

bool ReportScheduler::poll(SteadyTime now) {
  if (!have_sample_) return false;
  if (!last_sent_at_) {
    mark_sent(now);
    return true;
  }
  const auto since = now - *last_sent_at_;
  if (since >= iv_.max || (pending_ && since >= iv_.min)) {
    mark_sent(now);
    return true;
  }
  return false;
}

std::optional<SteadyTime> ReportScheduler::next_wakeup() const {
  if (!have_sample_) return std::nullopt;
  if (!last_sent_at_) return SteadyTime::min();
  return *last_sent_at_ + (pending_ ? iv_.min : iv_.max);
}

Intervals ReportScheduler::set_intervals(Millis min, Millis max) {
  iv_ = clamp_intervals(min, max);
  return iv_;
}

void ReportScheduler::mark_sent(SteadyTime now) {
  last_sent_ = latest_;
  last_sent_at_ = now;
  pending_ = false;
}

}  // namespace cats::report
