#include "sampler/figures.hpp"

#include "select/select.hpp"

#include <algorithm>
#include <cmath>

namespace cats::sampler {
using metrics::MetricType;
using metrics::Source;
using metrics::Statistic;

namespace {

bool is_figure(uint16_t type) {
  return type == static_cast<uint16_t>(MetricType::service_time_ms) ||
         type == static_cast<uint16_t>(MetricType::last_processing_delay_ms) ||
         type == static_cast<uint16_t>(MetricType::last_processing_delay_age_ms);
}

double clamp_to_range(MetricType t, double v) {
  const auto* info = metrics::find_type(static_cast<uint16_t>(t));
  return std::clamp(v, info->min, info->max);
}

}  // namespace

InstanceFigures::InstanceFigures(std::optional<double> configured_service_time_ms, FigureOptions opt)
    : configured_(configured_service_time_ms), opt_(opt) {}

std::optional<double> InstanceFigures::invert(double delay_ms, double vcpus, double utilization) const {
  if (!std::isfinite(delay_ms) || delay_ms <= 0.0 || !std::isfinite(utilization)) return std::nullopt;
  if (utilization > opt_.max_utilization) return std::nullopt;
  // The CPE's defaults for what is not reported (1 vCPU; select::spare_vcpus): the figure
  // is then inverted with the very inputs the selector will apply it with.
  const double c = std::isfinite(vcpus) && vcpus > 0.0 ? vcpus : 1.0;
  // M/M/c sojourn T = s · (1 + C(c, ρ) / (c · (1 − ρ))) (Erlang C; Kleinrock, Queueing
  // Systems I, §3.5) is linear in s, so the sojourn for s = 1 ms is the factor to divide
  // by. Using select::mmc_sojourn_ms itself (same rounding of c, same clamp of ρ) makes
  // the round trip exact: the CPE's estimate with the learned s, at the utilisation the
  // delay was measured at, is the measured delay.
  const double factor = select::mmc_sojourn_ms(c, std::max(utilization, 0.0), 1.0);
  if (!std::isfinite(factor) || factor <= 0.0) return std::nullopt;
  return delay_ms / factor;
}

std::vector<metrics::L0Metric> InstanceFigures::update(const std::vector<metrics::L0Metric>& sample, TimePoint now) {
  std::vector<metrics::L0Metric> out;
  out.reserve(sample.size() + 3);
  for (const auto& m : sample)
    if (!is_figure(m.type)) out.push_back(m);

  // Only a fresh delay (the sampler drops one the instance flags stale) is a measurement.
  if (auto t = metrics::current_value(sample, MetricType::processing_delay_ms)) {
    last_delay_ = *t;
    last_delay_at_ = now;
    const double c = metrics::current_value(sample, MetricType::vcpus).value_or(1.0);
    const double rho = metrics::current_value(sample, MetricType::cpu_utilization).value_or(0.0);
    if (!configured_) {
      if (auto s = invert(*t, c, rho); s && (observations_.empty() || now - observed_at_ >= opt_.spacing)) {
        observations_.push_back(*s);
        observed_at_ = now;
        while (observations_.size() > std::max<std::size_t>(opt_.window, 1)) observations_.pop_front();
        std::vector<double> v(observations_.begin(), observations_.end());
        const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
        std::nth_element(v.begin(), mid, v.end());
        double m = *mid;
        if (v.size() % 2 == 0) m = (m + *std::max_element(v.begin(), mid)) / 2.0;
        learned_ = m;
      }
    }
  }

  if (configured_) {
    out.push_back(metrics::make(MetricType::service_time_ms, clamp_to_range(MetricType::service_time_ms, *configured_),
                                Source::nominal, Statistic::cur));
  } else if (learned_) {
    // Statistic cur: the current estimate (the draft's statistics have no median).
    out.push_back(metrics::make(MetricType::service_time_ms, clamp_to_range(MetricType::service_time_ms, *learned_),
                                Source::estimated, Statistic::cur));
  }
  if (last_delay_) {
    const double age = std::chrono::duration<double, std::milli>(now - last_delay_at_).count();
    out.push_back(metrics::make(MetricType::last_processing_delay_ms,
                                clamp_to_range(MetricType::last_processing_delay_ms, *last_delay_), Source::measured,
                                Statistic::mean));
    out.push_back(metrics::make(MetricType::last_processing_delay_age_ms,
                                clamp_to_range(MetricType::last_processing_delay_age_ms, age), Source::measured,
                                Statistic::cur));
  }
  return out;
}

}  // namespace cats::sampler
