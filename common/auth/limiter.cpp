#include "auth/limiter.hpp"

#include <algorithm>

namespace cats::auth {

int64_t LoginLimiter::wait_ms(const std::string& key, int64_t now_ms) const {
  auto it = map_.find(key);
  if (it == map_.end()) return 0;
  return std::max<int64_t>(0, it->second.locked_until_ms - now_ms);
}

int64_t LoginLimiter::fail(const std::string& key, int64_t now_ms) {
  auto it = map_.find(key);
  if (it == map_.end()) {
    if (map_.size() >= o_.max_keys && !lru_.empty()) {
      map_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(key);
    it = map_.emplace(key, Entry{0, 0, lru_.begin()}).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  Entry& e = it->second;
  ++e.failures;
  if (e.failures < o_.free_failures) return 0;
  // The free_failures-th failure locks for first_lock_ms, each later one doubles it.
  uint32_t doublings = std::min<uint32_t>(e.failures - o_.free_failures, 30);
  int64_t lock = std::min<int64_t>(o_.max_lock_ms, o_.first_lock_ms << doublings);
  e.locked_until_ms = now_ms + lock;
  return lock;
}

void LoginLimiter::succeed(const std::string& key) {
  auto it = map_.find(key);
  if (it == map_.end()) return;
  lru_.erase(it->second.lru);
  map_.erase(it);
}

}  // namespace cats::auth
