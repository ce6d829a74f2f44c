#include "auth/limiter.hpp"

#include <catch2/catch.hpp>

using namespace cats::auth;

TEST_CASE("limiter: free failures, then 1 s, 2 s, 4 s ... capped at 15 min") {
  LoginLimiter l(LimiterOptions{});
  int64_t now = 1000;
  for (int i = 0; i < 4; ++i) {
    CHECK(l.fail("peer:a", now) == 0);
    CHECK(l.wait_ms("peer:a", now) == 0);
  }
  int64_t expected = 1000;
  for (int i = 0; i < 14; ++i) {
    int64_t lock = l.fail("peer:a", now);
    CHECK(lock == std::min<int64_t>(expected, 15 * 60 * 1000));
    CHECK(l.wait_ms("peer:a", now) == lock);
    CHECK(l.wait_ms("peer:a", now + lock - 1) == 1);
    CHECK(l.wait_ms("peer:a", now + lock) == 0);
    now += lock;
    expected *= 2;
  }
  CHECK(l.fail("peer:a", now) == 15 * 60 * 1000);
  CHECK(l.wait_ms("peer:b", now) == 0);  // keys are independent
}

TEST_CASE("limiter: a success resets the key") {
  LoginLimiter l(LimiterOptions{});
  for (int i = 0; i < 7; ++i) l.fail("user:bob", 0);
  CHECK(l.wait_ms("user:bob", 0) > 0);
  l.succeed("user:bob");
  CHECK(l.wait_ms("user:bob", 0) == 0);
  CHECK(l.fail("user:bob", 0) == 0);  // counting starts over
}

TEST_CASE("limiter: memory is bounded, the least recently failed key goes first") {
  LimiterOptions o;
  o.max_keys = 3;
  o.free_failures = 1;
  LoginLimiter l(o);
  l.fail("a", 0);
  l.fail("b", 0);
  l.fail("c", 0);
  l.fail("a", 0);  // a is recent again
  l.fail("d", 0);  // evicts b
  CHECK(l.size() == 3);
  CHECK(l.wait_ms("a", 0) > 0);
  CHECK(l.wait_ms("b", 0) == 0);
  CHECK(l.wait_ms("c", 0) > 0);
  CHECK(l.wait_ms("d", 0) > 0);
}
