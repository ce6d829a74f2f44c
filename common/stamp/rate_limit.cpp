#include "stamp/rate_limit.hpp"

#include <algorithm>

namespace cats::stamp {

bool SourceRateLimiter::take(Bucket& b, Time now) {
  const double elapsed = std::chrono::duration<double>(now - b.last).count();
  if (elapsed > 0) b.tokens = std::min(cfg_.burst, b.tokens + elapsed * cfg_.rate_pps);
  b.last = std::max(b.last, now);
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void SourceRateLimiter::evict_idle(Time now) {
  // A bucket that would be full again carries no information.
  const auto refill = std::chrono::duration<double>(cfg_.burst / cfg_.rate_pps);
  std::erase_if(buckets_, [&](const auto& kv) {
    return std::chrono::duration<double>(now - kv.second.last) >= refill;
  });
}

bool SourceRateLimiter::allow(const Key& source, Time now) {
  if (auto it = buckets_.find(source); it != buckets_.end()) return take(it->second, now);
  if (buckets_.size() >= cfg_.max_sources) evict_idle(now);
  if (buckets_.size() >= cfg_.max_sources) {
    if (overflow_.tokens < 0) overflow_ = Bucket{cfg_.burst, now};
    return take(overflow_, now);
  }
  auto [it, inserted] = buckets_.emplace(source, Bucket{cfg_.burst, now});
  return take(it->second, now);
}

}  // namespace cats::stamp
