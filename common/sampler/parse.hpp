// Pure parsers behind the C-SMA sampling sources (DESIGN §3, R6: L0 metrics with their
// source). Everything here is bounded and total: junk input is an Error, never a crash,
// so a misbehaving instance can only make itself look unavailable (R3, R4).
#pragma once

#include "base/ip.hpp"
#include "base/result.hpp"
#include "metrics/metric.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cats::sampler {

// ---- load endpoint (`GET load_url`) -----------------------------------------------
inline constexpr size_t kMaxLoadBody = 64 * 1024;

struct LoadSample {
  double vcpus = 0;
  double cpu_utilization = 0;
  std::optional<double> processing_delay_ms;
  std::optional<double> active_sessions;
  std::optional<double> gpu_utilization;
};
// A JSON object with numbers: "vcpus" (1..4096) and "utilization" (or "cpu_utilization",
// 0..1) required; "processing_delay_ms", "active_sessions", "gpu_utilization" optional.
// Other keys are ignored (the app adds its own); a present key of the wrong type or out of
// range is an error (strict: a half-understood answer is not a measurement).
Result<LoadSample> parse_load_json(std::string_view body);
std::vector<metrics::L0Metric> to_metrics(const LoadSample& s);

// ---- cgroup v2 ----------------------------------------------------------------------
// `cpu.stat`: the usage_usec line.
Result<uint64_t> parse_cpu_stat_usage(std::string_view text);
// `cpu.max`: "QUOTA PERIOD" -> quota/period CPUs; "max PERIOD" -> nullopt (unlimited).
Result<std::optional<double>> parse_cpu_max(std::string_view text);
// `cpuset.cpus.effective`: "0-3,6,8-9" -> 7.
Result<uint32_t> parse_cpuset_count(std::string_view text);
// `memory.current` / `memory.max`: a byte count, or "max" -> nullopt.
Result<std::optional<uint64_t>> parse_memory_value(std::string_view text);

// CPU utilisation of `vcpus` CPUs from two cumulative usage readings (µs) taken `wall`
// apart: delta / (wall × vcpus), clamped to 0..1. nullopt when it cannot be computed
// (no time passed, counter went back: the cgroup was recreated).
std::optional<double> usage_utilization(uint64_t prev_usec, uint64_t cur_usec, std::chrono::nanoseconds wall,
                                        double vcpus);

// ---- whole VM (/proc) ---------------------------------------------------------------
struct CpuTimes {
  uint64_t busy = 0;  // jiffies not idle/iowait
  uint64_t total = 0;
  uint32_t cpus = 0;  // number of "cpuN" lines
};
Result<CpuTimes> parse_proc_stat(std::string_view text);
// Share of busy time between two readings; nullopt when total did not advance or went back.
std::optional<double> proc_utilization(const CpuTimes& prev, const CpuTimes& cur);

struct MemInfo {
  uint64_t total_kb = 0;
  uint64_t available_kb = 0;
};
Result<MemInfo> parse_meminfo(std::string_view text);

// ---- URLs ---------------------------------------------------------------------------
// "http://IP[:PORT]/path". Only IP literals: the sampler never waits on DNS, which could
// block or take longer than the sampling period.
struct HttpUrl {
  IpAddress address;
  uint16_t port = 80;
  std::string host;    // as written, for the Host header ("10.0.0.1:8081", "[::1]:80")
  std::string target;  // "/load"; "/" when the URL has no path
};
Result<HttpUrl> parse_http_url(std::string_view url);

}  // namespace cats::sampler
