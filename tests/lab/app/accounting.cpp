#include "accounting.hpp"

#include <algorithm>
#include <cassert>

namespace cats::app {

LoadAccounting::LoadAccounting(unsigned workers, TimePoint origin) : LoadAccounting(workers, origin, Options{}) {}

LoadAccounting::LoadAccounting(unsigned workers, TimePoint origin, Options opt)
    : origin_(origin),
      window_ns_(std::max<int64_t>(1, opt.window.count())),
      bucket_ns_(std::clamp<int64_t>(opt.bucket.count(), 1, window_ns_)),
      // +2: the partially covered oldest bucket and the current one both count.
      ring_(static_cast<size_t>(window_ns_ / bucket_ns_ + 2)),
      in_progress_(std::max(1u, workers)) {
  samples_.reserve(std::max<size_t>(1, opt.delay_samples));
}

int64_t LoadAccounting::rel_ns(TimePoint t) const {
  return std::max<int64_t>(0, std::chrono::duration_cast<Duration>(t - origin_).count());
}

void LoadAccounting::add_busy(int64_t from, int64_t to) {
  if (to <= from) return;
  int64_t last = bucket_of(to);
  // Older buckets than the ring holds can never be inside a window again.
  int64_t first = std::max(bucket_of(from), last - static_cast<int64_t>(ring_.size()) + 1);
  for (int64_t b = first; b <= last; ++b) {
    int64_t lo = std::max(from, b * bucket_ns_);
    int64_t hi = std::min(to, (b + 1) * bucket_ns_);
    if (hi <= lo) continue;
    Bucket& slot = ring_[static_cast<size_t>(b) % ring_.size()];
    if (slot.index != b) slot = Bucket{b, 0};
    slot.busy_ns += hi - lo;
  }
}

void LoadAccounting::busy_begin(unsigned worker, TimePoint t) {
  assert(worker < in_progress_.size());
  in_progress_[worker] = rel_ns(t);
}

void LoadAccounting::busy_end(unsigned worker, TimePoint t) {
  assert(worker < in_progress_.size());
  auto& since = in_progress_[worker];
  if (!since) return;
  add_busy(*since, rel_ns(t));
  since.reset();
}

unsigned LoadAccounting::busy_workers() const {
  return static_cast<unsigned>(std::count_if(in_progress_.begin(), in_progress_.end(),
                                             [](const auto& s) { return s.has_value(); }));
}

void LoadAccounting::request_done(TimePoint enqueued, TimePoint finished) {
  ++requests_total_;
  Sample s{finished, std::max<int64_t>(0, std::chrono::duration_cast<Duration>(finished - enqueued).count())};
  if (samples_.size() < samples_.capacity()) {
    samples_.push_back(s);
  } else {
    samples_[next_sample_] = s;
    next_sample_ = (next_sample_ + 1) % samples_.size();
  }
}

double LoadAccounting::utilization(TimePoint at) const {
  int64_t now = rel_ns(at);
  int64_t first = bucket_of(std::max<int64_t>(0, now - window_ns_));
  int64_t last = bucket_of(now);
  int64_t wall_start = first * bucket_ns_;
  int64_t wall = now - wall_start;
  if (wall <= 0) return 0;
  int64_t busy = 0;
  for (const Bucket& b : ring_)
    if (b.index >= first && b.index <= last) busy += b.busy_ns;
  // Work still going on counts up to now, so a long request shows while it runs.
  for (const auto& since : in_progress_)
    if (since) busy += std::max<int64_t>(0, now - std::max(*since, wall_start));
  double u = static_cast<double>(busy) / (static_cast<double>(wall) * static_cast<double>(in_progress_.size()));
  return std::clamp(u, 0.0, 1.0);
}

DelayStats LoadAccounting::processing_delay(TimePoint now) const {
  DelayStats out;
  if (samples_.empty()) return out;
  int64_t sum = 0;
  size_t n = 0;
  for (const Sample& s : samples_) {
    if (now - s.finished > Duration(window_ns_)) continue;
    sum += s.delay_ns;
    ++n;
  }
  if (n == 0) {
    out.stale = true;
    for (const Sample& s : samples_) sum += s.delay_ns;
    n = samples_.size();
  }
  out.samples = n;
  out.mean_ms = static_cast<double>(sum) / static_cast<double>(n) / 1e6;
  return out;
}

}  // namespace cats::app
