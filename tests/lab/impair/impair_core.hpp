// cats-impair core: the delay line and the loss draw, free of any I/O so it can be
// tested with an injected clock and RNG.
//
// Semantics (see tests/lab/README.md):
//  * Every packet handed to us is either dropped at arrival (Bernoulli loss with
//    probability loss%, or because the delay line is full) or appended to the delay
//    line with a release time.
//  * release = max(arrival + delay + U(-jitter, +jitter), release of the previous
//    packet, arrival). The max() keeps the line time-ordered, so packets leave in
//    arrival order (TCP is never reordered) and one "verdict batch up to id N" releases
//    a whole prefix. The cost: under load, jitter only adds delay to packets queued
//    behind a late one, so the mean delay is a little above `delay` when jitter > 0.
//  * New parameters apply to packets arriving after the change; packets already in the
//    line keep their release time (like netem).
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>

namespace cats::impair {

struct Params {
  double delay_ms = 0;
  double jitter_ms = 0;
  double loss_pct = 0;
  uint64_t limit_packets = 20000;
  uint64_t limit_bytes = 64ull << 20;
};

struct Stats {
  uint64_t received = 0;          // packets handed to us by the kernel
  uint64_t received_bytes = 0;
  uint64_t accepted = 0;          // released back to the kernel (NF_ACCEPT)
  uint64_t accepted_bytes = 0;
  uint64_t dropped_loss = 0;      // Bernoulli loss
  uint64_t dropped_overflow = 0;  // delay line full (packets or bytes bound)
  uint64_t max_queued = 0;        // high-water mark of the delay line (packets)
  uint64_t enobufs = 0;           // netlink receive overruns (kernel dropped packets)
  uint64_t verdict_batches = 0;   // batch verdict messages sent
};

// Uniform double in [0,1) from an injectable source.
using Uniform = std::function<double()>;

inline Uniform seeded_uniform(uint64_t seed) {
  auto gen = std::make_shared<std::mt19937_64>(seed);
  return [gen]() { return std::generate_canonical<double, 53>(*gen); };
}

class DelayLine {
 public:
  enum class Verdict { drop_loss, drop_overflow, queued };

  explicit DelayLine(Uniform u) : uniform_(std::move(u)) {}

  void set_params(const Params& p) { params_ = p; }
  const Params& params() const { return params_; }
  void set_uniform(Uniform u) { uniform_ = std::move(u); }
  Stats& stats() { return stats_; }
  const Stats& stats() const { return stats_; }
  void reset_stats() {
    stats_ = Stats{};
    stats_.max_queued = line_.size();
  }

  // A packet arrives at `now_ns` (monotonic). Decides its fate.
  Verdict arrive(uint32_t id, uint64_t bytes, int64_t now_ns) {
    ++stats_.received;
    stats_.received_bytes += bytes;
    if (params_.loss_pct > 0 && (params_.loss_pct >= 100 || uniform_() * 100.0 < params_.loss_pct)) {
      ++stats_.dropped_loss;
      return Verdict::drop_loss;
    }
    if (line_.size() >= params_.limit_packets || queued_bytes_ + bytes > params_.limit_bytes) {
      ++stats_.dropped_overflow;
      return Verdict::drop_overflow;
    }
    double d = params_.delay_ms;
    if (params_.jitter_ms > 0) d += (uniform_() * 2.0 - 1.0) * params_.jitter_ms;
    int64_t release = now_ns + static_cast<int64_t>(std::max(0.0, d) * 1e6);
    release = std::max(release, last_release_);
    last_release_ = release;
    line_.push_back(Entry{id, release, bytes});
    queued_bytes_ += bytes;
    stats_.max_queued = std::max<uint64_t>(stats_.max_queued, line_.size());
    return Verdict::queued;
  }

  // Releases every packet due at `now_ns`; returns the id of the last one released
  // (every queued id up to it is released, in order), or nothing.
  std::optional<uint32_t> release_due(int64_t now_ns) {
    std::optional<uint32_t> last;
    while (!line_.empty() && line_.front().release_ns <= now_ns) {
      last = line_.front().id;
      queued_bytes_ -= line_.front().bytes;
      ++stats_.accepted;
      stats_.accepted_bytes += line_.front().bytes;
      line_.pop_front();
    }
    return last;
  }

  // Releases everything (shutdown).
  std::optional<uint32_t> release_all() { return release_due(INT64_MAX); }

  std::optional<int64_t> next_release() const {
    if (line_.empty()) return std::nullopt;
    return line_.front().release_ns;
  }
  uint64_t queued() const { return line_.size(); }
  uint64_t queued_bytes() const { return queued_bytes_; }

 private:
  struct Entry {
    uint32_t id;
    int64_t release_ns;
    uint64_t bytes;
  };
  Params params_;
  Uniform uniform_;
  Stats stats_;
  std::deque<Entry> line_;
  uint64_t queued_bytes_ = 0;
  int64_t last_release_ = INT64_MIN;
};

}  // namespace cats::impair
