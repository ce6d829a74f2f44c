// Per-source token buckets for the reflector (pure; instants are parameters).
//
// A reflector answers anything that reaches its port, so a flood from one source must not
// buy a flood of replies, and a flood of *sources* must not grow memory: the table holds
// at most `max_sources` buckets. When it is full, buckets that have refilled completely
// (idle sources, indistinguishable from new ones) are dropped; if none has, newcomers
// share one overflow bucket, so the worst case is bounded in both memory and reply rate.
#pragma once

#include "base/ip.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <utility>

namespace cats::stamp {

struct RateLimitConfig {
  double rate_pps = 50;  // sustained replies per second per source (10 needed at 100 ms)
  double burst = 50;     // bucket depth
  std::size_t max_sources = 1024;
};

class SourceRateLimiter {
 public:
  using Time = std::chrono::steady_clock::time_point;
  // A source is an address seen on one interface: the same CPE address reaches the vCPE
  // over one WireGuard interface per WAN, and each of those is its own session.
  using Key = std::pair<IpAddress, int>;

  explicit SourceRateLimiter(RateLimitConfig cfg = {}) : cfg_(cfg) {}
  // True if a reply to `source` may be sent now (and takes a token).
  bool allow(const Key& source, Time now);
  std::size_t tracked() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens;
    Time last;
  };
  bool take(Bucket& b, Time now);
  void evict_idle(Time now);

  RateLimitConfig cfg_;
  std::map<Key, Bucket> buckets_;
  Bucket overflow_{-1, {}};  // tokens < 0: not yet used
};

}  // namespace cats::stamp
