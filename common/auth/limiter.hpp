// Login back-off per key ("peer:<address>", "user:<name>"): after `free_failures`
// failures in a row each further failure locks the key for 1 s, 2 s, 4 s ... up to
// `max_lock_ms` (exponential back-off, as OWASP's authentication cheat sheet advises
// instead of a permanent lock-out that an attacker could use against the owner). A
// success resets the key. Memory is bounded: at most `max_keys` keys, the least
// recently used forgotten first. In memory only: a restart forgets the counters.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>

namespace cats::auth {

struct LimiterOptions {
  uint32_t free_failures = 5;
  int64_t first_lock_ms = 1000;
  int64_t max_lock_ms = 15 * 60 * 1000;
  size_t max_keys = 10000;
};

class LoginLimiter {
 public:
  explicit LoginLimiter(LimiterOptions o) : o_(o) {}
  // Milliseconds until `key` may try again; 0 when it may now.
  int64_t wait_ms(const std::string& key, int64_t now_ms) const;
  // Records a failure; returns the lock it starts (0 while still under free_failures).
  int64_t fail(const std::string& key, int64_t now_ms);
  void succeed(const std::string& key);
  size_t size() const { return map_.size(); }

 private:
  struct Entry {
    uint32_t failures = 0;
    int64_t locked_until_ms = 0;
    std::list<std::string>::iterator lru;
  };
  LimiterOptions o_;
  std::list<std::string> lru_;  // front: most recently failed
  std::unordered_map<std::string, Entry> map_;
};

}  // namespace cats::auth
