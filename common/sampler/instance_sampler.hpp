// Samples one application instance (C-SMA, DESIGN §3) from the sources its config names:
//   * load endpoint  — async HTTP GET of load_url (the instance's own figures);
//   * Prometheus     — async HTTP GET of each [[instance.prometheus]] url, the exposition
//                      parsed (prom_text.hpp) and mapped to L0 metrics (prom_map.hpp);
//   * cgroup v2      — cpu.stat usage delta over wall time, cpu.max / cpuset vCPUs, memory;
//   * /proc          — whole-VM CPU delta, CPU count, MemAvailable;
//   * health check   — TCP connect to the instance address or HTTP GET expecting 2xx.
//
// Network sources are Asio async ops on the caller's io_context, each bounded by
// health_timeout_ms, so a hanging instance costs timers, not the io thread. The file
// sources are synchronous reads of kernel pseudo-files (< 64 KiB, answered from memory in
// microseconds, never waiting on a device), which is why they need no thread of their own.
//
// Availability (R3, R4): unavailable as soon as the health check fails, or when a
// configured source has failed kSourceFailureLimit rounds in a row (one lost answer
// under load is not an outage; the last good figures are kept meanwhile).
#pragma once

#include "base/result.hpp"
#include "config/config.hpp"
#include "metrics/metric.hpp"
#include "sampler/parse.hpp"
#include "sampler/prom_map.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cats::sampler {

inline constexpr int kSourceFailureLimit = 3;

using SteadyClock = std::function<std::chrono::steady_clock::time_point()>;
// Reads a small file (tests inject fake cgroup/proc trees). Bounded to kMaxFileSize.
using FileReader = std::function<Result<std::string>(const std::string& path)>;
inline constexpr size_t kMaxFileSize = 64 * 1024;
Result<std::string> read_small_file(const std::string& path);

struct Sample {
  bool available = false;
  std::string reason;  // why unavailable (empty when available)
  std::vector<metrics::L0Metric> metrics;
  std::chrono::steady_clock::time_point at{};
};

class InstanceSampler : public std::enable_shared_from_this<InstanceSampler> {
 public:
  static std::shared_ptr<InstanceSampler> create(boost::asio::io_context& io, config::Instance cfg,
                                                 SteadyClock clock = {}, FileReader reader = {});
  // One sampling round; `done` runs once on the io thread when every source has answered
  // or timed out. A round already in flight: returns false and does nothing.
  bool sample(std::function<void(const Sample&)> done);
  bool busy() const { return busy_; }
  const config::Instance& config() const { return cfg_; }

 private:
  InstanceSampler(boost::asio::io_context& io, config::Instance cfg, SteadyClock clock, FileReader reader);
  struct Source {
    int failures = 0;
    std::string error;
    std::vector<metrics::L0Metric> last;  // last good figures
    bool answered = false;                // ever answered well (its figures may be none yet)
  };
  void record(Source& s, Result<std::vector<metrics::L0Metric>> r);
  Result<std::vector<metrics::L0Metric>> sample_cgroup(std::chrono::steady_clock::time_point now);
  Result<std::vector<metrics::L0Metric>> sample_proc(std::chrono::steady_clock::time_point now);
  void start_load();
  void start_prom();
  void start_health();
  void finish_one();

  boost::asio::io_context& io_;
  config::Instance cfg_;
  SteadyClock clock_;
  FileReader read_;
  std::optional<HttpUrl> load_url_, health_url_;
  Source load_, cgroup_, proc_;
  struct Prom {
    std::optional<HttpUrl> url;
    prom::Mapper mapper;
    std::vector<std::string> keep;  // sorted sample names the rules read
    Source src;
  };
  std::vector<Prom> prom_;
  std::optional<std::string> health_error_;
  bool busy_ = false;
  int pending_ = 0;
  std::function<void(const Sample&)> done_;
  // Previous cumulative readings for the deltas.
  std::optional<std::pair<uint64_t, std::chrono::steady_clock::time_point>> cg_prev_;
  std::optional<CpuTimes> proc_prev_;
};

}  // namespace cats::sampler
