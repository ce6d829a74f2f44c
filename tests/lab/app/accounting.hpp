// Load accounting for the synthetic app: worker utilisation and request processing delay,
// computed from what the workers report they did. Pure (no clock, no threads, no locks):
// every call takes the time explicitly, so tests drive it with exact numbers and the
// server passes steady_clock::now() under its own mutex.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace cats::app {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::nanoseconds;

struct DelayStats {
  double mean_ms = 0;  // queue wait + service, mean over `samples` requests
  size_t samples = 0;  // 0: no request has finished yet (mean_ms is 0)
  // No request finished within the window; mean_ms is then the last-known mean of the most
  // recent requests, because an idle instance is not "infinitely fast" (0 would say so).
  bool stale = false;
};

class LoadAccounting {
 public:
  struct Options {
    Duration window = std::chrono::seconds(1);
    // Utilisation is kept per bucket so memory is bounded whatever the request rate; the
    // window's start is rounded down to a bucket boundary (the wall time divides by the
    // same span, so the ratio stays exact, over window .. window + bucket).
    Duration bucket = std::chrono::milliseconds(10);
    size_t delay_samples = 100;  // the delay mean covers at most this many recent requests
  };

  // origin: when the instance started; nothing can have been busy before it.
  LoadAccounting(unsigned workers, TimePoint origin);
  LoadAccounting(unsigned workers, TimePoint origin, Options opt);

  unsigned workers() const { return static_cast<unsigned>(in_progress_.size()); }

  // A worker became busy (a request or a background slice) / idle again. A worker is
  // either busy or not: a second begin without an end restarts its interval.
  void busy_begin(unsigned worker, TimePoint t);
  void busy_end(unsigned worker, TimePoint t);
  unsigned busy_workers() const;

  // A real request left the system: enqueued when it arrived, finished when answered.
  void request_done(TimePoint enqueued, TimePoint finished);
  uint64_t requests_total() const { return requests_total_; }

  // Busy worker-time / (workers x wall time) over the last window (including workers
  // busy right now), 0..1. Before a full window has passed, over the time since origin.
  double utilization(TimePoint now) const;
  // Mean of requests finished within the last window (at most delay_samples of them).
  DelayStats processing_delay(TimePoint now) const;

 private:
  struct Bucket {
    int64_t index = -1;  // which bucket of time this slot holds now (ring reuse)
    int64_t busy_ns = 0;
  };
  struct Sample {
    TimePoint finished;
    int64_t delay_ns;
  };

  int64_t rel_ns(TimePoint t) const;  // ns since origin, never negative
  int64_t bucket_of(int64_t rel) const { return rel / bucket_ns_; }
  void add_busy(int64_t from, int64_t to);

  TimePoint origin_;
  int64_t window_ns_;
  int64_t bucket_ns_;
  std::vector<Bucket> ring_;
  std::vector<std::optional<int64_t>> in_progress_;  // per worker: busy since (rel ns)
  std::vector<Sample> samples_;  // ring of the last delay_samples requests
  size_t next_sample_ = 0;
  uint64_t requests_total_ = 0;
};

}  // namespace cats::app
