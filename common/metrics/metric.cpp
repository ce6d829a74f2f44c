#include "metrics/metric.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace cats::metrics {
namespace {

constexpr double kInf = std::numeric_limits<double>::max();

// Ranges are deliberately generous upper bounds: they exist to refuse garbage (negative
// counts, utilisation 7.0), not to second-guess big machines.
// An age is a time difference of the vCPE's own steady clock; a year bounds it (a vCPE
// does not run for longer without a restart that forgets it anyway).
constexpr double kYearMs = 365.0 * 24 * 3600 * 1000;

constexpr std::array<TypeInfo, 14> kTypes{{
    {MetricType::vcpus, "vcpus", Unit::count, Category::compute, 0.0, 4096.0},
    {MetricType::cpu_utilization, "cpu_utilization", Unit::ratio, Category::compute, 0.0, 1.0},
    {MetricType::memory_utilization, "memory_utilization", Unit::ratio, Category::compute, 0.0, 1.0},
    {MetricType::processing_delay_ms, "processing_delay_ms", Unit::milliseconds, Category::service, 0.0,
     3.6e6},
    {MetricType::active_sessions, "active_sessions", Unit::count, Category::service, 0.0, kInf},
    {MetricType::gpu_utilization, "gpu_utilization", Unit::ratio, Category::compute, 0.0, 1.0},
    {MetricType::gpu_count, "gpu_count", Unit::count, Category::compute, 0.0, 1024.0},
    {MetricType::capacity_free, "capacity_free", Unit::ratio, Category::service, 0.0, 1.0},
    {MetricType::service_time_ms, "service_time_ms", Unit::milliseconds, Category::service, 0.0, 3.6e6},
    {MetricType::last_processing_delay_ms, "last_processing_delay_ms", Unit::milliseconds, Category::service, 0.0,
     3.6e6},
    {MetricType::last_processing_delay_age_ms, "last_processing_delay_age_ms", Unit::milliseconds,
     Category::service, 0.0, kYearMs},
    {MetricType::queue_depth, "queue_depth", Unit::count, Category::service, 0.0, kInf},
    {MetricType::ttft_ms, "ttft_ms", Unit::milliseconds, Category::service, 0.0, 3.6e6},
    {MetricType::gpu_memory_utilization, "gpu_memory_utilization", Unit::ratio, Category::compute, 0.0, 1.0},
}};

}  // namespace

const TypeInfo* find_type(uint16_t id) {
  for (const auto& t : kTypes)
    if (static_cast<uint16_t>(t.type) == id) return &t;
  return nullptr;
}

const TypeInfo* find_type(std::string_view name) {
  for (const auto& t : kTypes)
    if (t.name == name) return &t;
  return nullptr;
}

std::span<const TypeInfo> known_types() { return kTypes; }

std::string_view to_string(Unit u) {
  switch (u) {
    case Unit::none: return "none";
    case Unit::count: return "count";
    case Unit::ratio: return "ratio";
    case Unit::milliseconds: return "ms";
  }
  return "unknown";
}

std::string_view to_string(Source s) {
  switch (s) {
    case Source::nominal: return "nominal";
    case Source::estimated: return "estimated";
    case Source::measured: return "measured";
    case Source::normalised: return "normalised";
    case Source::aggregated: return "aggregated";
  }
  return "unknown";
}

std::string_view to_string(Statistic s) {
  switch (s) {
    case Statistic::cur: return "cur";
    case Statistic::mean: return "mean";
    case Statistic::min: return "min";
    case Statistic::max: return "max";
  }
  return "unknown";
}

std::string_view to_string(Category c) {
  switch (c) {
    case Category::compute: return "compute";
    case Category::communication: return "communication";
    case Category::service: return "service";
  }
  return "unknown";
}

bool is_valid(const L0Metric& m) {
  const TypeInfo* t = find_type(m.type);
  if (t == nullptr) return true;
  if (m.unit != t->unit) return false;
  if (static_cast<uint8_t>(m.source) > static_cast<uint8_t>(Source::aggregated)) return false;
  if (static_cast<uint8_t>(m.statistic) > static_cast<uint8_t>(Statistic::max)) return false;
  if (!std::isfinite(m.value)) return false;
  return m.value >= t->min && m.value <= t->max;
}

L0Metric make(MetricType t, double value, Source src, Statistic stat) {
  const TypeInfo* info = find_type(static_cast<uint16_t>(t));
  return L0Metric{static_cast<uint16_t>(t), value, info ? info->unit : Unit::none, src, stat};
}

std::optional<double> current_value(std::span<const L0Metric> ms, MetricType t) {
  const auto id = static_cast<uint16_t>(t);
  for (Statistic want : {Statistic::cur, Statistic::mean})
    for (const auto& m : ms)
      if (m.type == id && m.statistic == want && is_valid(m)) return m.value;
  return std::nullopt;
}

std::optional<L0Metric> aggregate(std::span<const L0Metric> samples, Statistic stat) {
  if (samples.empty()) return std::nullopt;
  L0Metric out = samples.front();
  out.source = Source::aggregated;
  out.statistic = stat;
  double acc = stat == Statistic::min ? kInf : (stat == Statistic::max ? -kInf : 0.0);
  size_t n = 0;
  for (const auto& s : samples) {
    if (s.type != out.type || !std::isfinite(s.value)) continue;
    ++n;
    switch (stat) {
      case Statistic::cur: acc = s.value; break;
      case Statistic::mean: acc += s.value; break;
      case Statistic::min: acc = std::min(acc, s.value); break;
      case Statistic::max: acc = std::max(acc, s.value); break;
    }
  }
  if (n == 0) return std::nullopt;
  out.value = stat == Statistic::mean ? acc / static_cast<double>(n) : acc;
  return out;
}

}  // namespace cats::metrics
