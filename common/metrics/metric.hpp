// L0 ("raw") metrics after draft-ietf-cats-metric-definition (§3 metric levels, §4
// representation): each value travels with its type, unit, source and statistic so a
// receiver can tell a nominal vCPU count from a measured utilisation.
//
// The type registry below is ours (the draft leaves code points to a future IANA
// registry). Types a receiver does not know are carried unchanged and ignored by scoring
// (requirement R14 of draft-ietf-cats-usecases-requirements §5.4): never an error.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace cats::metrics {

// Registry ids (u16 on the wire). 0 is never assigned; 0x8000-0xFFFF are free for
// site-local/experimental types (R13) which every receiver treats as unknown.
enum class MetricType : uint16_t {
  vcpus = 1,                // nominal vCPUs allocated to the instance
  cpu_utilization = 2,      // 0..1
  memory_utilization = 3,   // 0..1
  processing_delay_ms = 4,  // service-level request processing delay
  active_sessions = 5,      // concurrent sessions / connections
  gpu_utilization = 6,      // 0..1
  gpu_count = 7,            // nominal GPUs (0 = none)
  capacity_free = 8,        // 0..1 share of the instance's capacity still free
  // The instance's own figures (docs/METRICS.md §1 "Instance figures"):
  service_time_ms = 9,      // nominal per-request time on one vCPU: configured (Source::nominal)
                            // or learned from its measured delays (Source::estimated)
  last_processing_delay_ms = 10,      // the last processing delay measured (may be old)...
  last_processing_delay_age_ms = 11,  // ...and how long ago, as of the sample
  // From servers' own Prometheus expositions (sampler/prom_map.hpp, issue 12):
  queue_depth = 12,             // requests waiting, not yet served (vLLM num_requests_waiting)
  ttft_ms = 13,                 // time to first token (an LLM server's response delay)
  gpu_memory_utilization = 14,  // 0..1 of the GPUs' memory in use
};

// Units are one byte on the wire; unknown values are carried as is for unknown types.
enum class Unit : uint8_t { none = 0, count = 1, ratio = 2, milliseconds = 3 };

// draft-ietf-cats-metric-definition §4 "Source": how the value was obtained.
enum class Source : uint8_t { nominal = 0, estimated = 1, measured = 2, normalised = 3, aggregated = 4 };
// draft-ietf-cats-metric-definition §4 "Statistics".
enum class Statistic : uint8_t { cur = 0, mean = 1, min = 2, max = 3 };

// The three L1 categories (draft-ietf-cats-metric-definition §3.2).
enum class Category : uint8_t { compute = 0, communication = 1, service = 2 };

struct L0Metric {
  uint16_t type = 0;  // MetricType value, or an id we do not know
  double value = 0.0;
  Unit unit = Unit::none;
  Source source = Source::measured;
  Statistic statistic = Statistic::cur;

  friend bool operator==(const L0Metric&, const L0Metric&) = default;
};

struct TypeInfo {
  MetricType type;
  std::string_view name;  // stable name used in logs, API and UI
  Unit unit;              // the unit a known type must carry
  Category category;
  double min;             // valid range, inclusive
  double max;
};

// nullptr when the id is not in our registry.
const TypeInfo* find_type(uint16_t id);
const TypeInfo* find_type(std::string_view name);
std::span<const TypeInfo> known_types();
inline bool is_known(uint16_t id) { return find_type(id) != nullptr; }

std::string_view to_string(Unit u);
std::string_view to_string(Source s);
std::string_view to_string(Statistic s);
std::string_view to_string(Category c);

// Whether a metric may be accepted from the wire. Known types must carry their
// registered unit, a defined source and statistic, and a finite value inside the range
// (NaN/inf would poison every comparison downstream). Unknown types are always valid:
// we cannot judge them and must not drop them (R14).
bool is_valid(const L0Metric& m);

// Convenience constructor for known types (unit from the registry).
L0Metric make(MetricType t, double value, Source src = Source::measured,
              Statistic stat = Statistic::cur);

// First metric of a known type with statistic `cur` or, failing that, `mean` (the two a
// selector can use as "the present value"); unknown/invalid entries are skipped.
std::optional<double> current_value(std::span<const L0Metric> ms, MetricType t);

// R9 aggregation of several samples of one type into one L0 metric with source
// `aggregated` (mean/min/max; `cur` takes the last sample). nullopt on no samples.
std::optional<L0Metric> aggregate(std::span<const L0Metric> samples, Statistic stat);

}  // namespace cats::metrics
