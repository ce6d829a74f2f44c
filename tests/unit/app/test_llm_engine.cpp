// The --llm model of cats-app (tests/lab/app/llm_engine.hpp) driven with exact times:
// the batch bound, the FIFO queue, prefill + per-token times, admission at the instant a
// slot frees (not when the caller looks), cancel, and the GPU busy share.
#include "llm_engine.hpp"

#include <catch2/catch.hpp>

using namespace cats::app;
using namespace std::chrono_literals;

namespace {

LlmOptions opts(unsigned batch, unsigned tokens, size_t queue = 100) {
  LlmOptions o;
  o.batch = batch;
  o.prefill = 100ms;
  o.per_token = 10ms;
  o.tokens = tokens;
  o.queue_limit = queue;
  o.window = 1s;
  return o;
}

double ms(TimePoint t, TimePoint t0) { return std::chrono::duration<double, std::milli>(t - t0).count(); }

}  // namespace

TEST_CASE("llm engine: first token after prefill, then one token per step, then the slot frees") {
  TimePoint t0{};
  LlmEngine e(opts(1, 3), t0);
  auto id = e.submit(t0);
  REQUIRE(id);
  CHECK(e.snapshot(t0).running == 1);
  CHECK(e.advance(t0 + 99ms).empty());
  REQUIRE(e.next_due() == t0 + 100ms);
  auto ev = e.advance(t0 + 130ms);  // tokens 1 (100 ms), 2 (110), 3 (120), 4 due at 130 too
  REQUIRE(ev.size() == 4);
  for (unsigned k = 0; k < 4; ++k) {
    CHECK(ev[k].id == *id);
    CHECK(ev[k].token == k + 1);
    CHECK(ms(ev[k].at, t0) == Approx(100 + 10 * k));
    CHECK(ev[k].last == (k == 3));  // 1 first token + 3 more
  }
  CHECK(e.snapshot(t0 + 130ms).running == 0);
  CHECK(e.snapshot(t0 + 130ms).requests_total == 1);
  CHECK_FALSE(e.next_due());
}

TEST_CASE("llm engine: at most batch requests run, the rest wait in FIFO order") {
  TimePoint t0{};
  LlmEngine e(opts(2, 0), t0);  // each request: one token, 100 ms after admission
  auto a = e.submit(t0), b = e.submit(t0 + 1ms), c = e.submit(t0 + 2ms), d = e.submit(t0 + 3ms);
  REQUIRE((a && b && c && d));
  auto s = e.snapshot(t0 + 3ms);
  CHECK(s.running == 2);
  CHECK(s.waiting == 2);
  // Looked at late (t0 + 250): c and d were admitted when a and b finished (100, 101 ms),
  // so their first tokens are at 200 and 201, whatever the caller's delay.
  auto ev = e.advance(t0 + 250ms);
  REQUIRE(ev.size() == 4);
  CHECK(ev[0].id == *a);
  CHECK(ms(ev[0].at, t0) == Approx(100));
  CHECK(ev[1].id == *b);
  CHECK(ms(ev[1].at, t0) == Approx(101));
  CHECK(ev[2].id == *c);
  CHECK(ms(ev[2].at, t0) == Approx(200));
  CHECK(ev[3].id == *d);
  CHECK(ms(ev[3].at, t0) == Approx(201));
  CHECK(e.snapshot(t0 + 250ms).waiting == 0);
}

TEST_CASE("llm engine: a full queue refuses, and a newcomer never overtakes the queue") {
  TimePoint t0{};
  LlmEngine e(opts(1, 0, 2), t0);
  REQUIRE(e.submit(t0));
  REQUIRE(e.submit(t0));
  REQUIRE(e.submit(t0));
  CHECK_FALSE(e.submit(t0));  // 1 running, 2 waiting: full
  CHECK(e.snapshot(t0).rejected_total == 1);
}

TEST_CASE("llm engine: cancel frees a waiting place or a running slot at once") {
  TimePoint t0{};
  LlmEngine e(opts(1, 10), t0);
  auto a = e.submit(t0), b = e.submit(t0), c = e.submit(t0);
  REQUIRE((a && b && c));
  e.cancel(*b, t0 + 5ms);  // waiting: leaves the queue
  CHECK(e.snapshot(t0 + 5ms).waiting == 1);
  e.cancel(*a, t0 + 50ms);  // running: c is admitted now, first token 100 ms later
  CHECK(e.snapshot(t0 + 50ms).running == 1);
  CHECK(e.snapshot(t0 + 50ms).waiting == 0);
  auto ev = e.advance(t0 + 150ms);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].id == *c);
  CHECK(ms(ev[0].at, t0) == Approx(150));
  e.cancel(12345, t0 + 150ms);  // unknown: ignored
  CHECK(e.snapshot(t0 + 150ms).running == 1);
}

TEST_CASE("llm engine: GPU busy share is the share of time anything ran, not the batch fill") {
  TimePoint t0{};
  LlmEngine e(opts(8, 0), t0);
  REQUIRE(e.submit(t0));  // 1 of 8 slots, busy 0..100 ms
  e.advance(t0 + 100ms);
  REQUIRE(e.submit(t0 + 500ms));  // busy 500..600 ms
  e.advance(t0 + 600ms);
  // 200 of the first 1000 ms busy, though the batch was never more than 1/8 full.
  CHECK(e.snapshot(t0 + 1000ms).gpu_busy == Approx(0.2).margin(0.011));
}

TEST_CASE("llm runner: streams each request's tokens to its sink on the runner's thread") {
  LlmRunner r(opts(1, 2));
  std::mutex mu;
  std::condition_variable cv;
  std::vector<LlmEvent> got;
  auto sink = [&](const LlmEvent& ev) {
    std::lock_guard lk(mu);
    got.push_back(ev);
    cv.notify_all();
  };
  auto a = r.submit(sink), b = r.submit(sink);
  REQUIRE((a && b));
  std::unique_lock lk(mu);
  REQUIRE(cv.wait_for(lk, 5s, [&] { return got.size() == 6; }));
  // a's three tokens, then b's (batch 1: b waits for a's slot).
  for (size_t i = 0; i < 6; ++i) {
    CHECK(got[i].id == (i < 3 ? *a : *b));
    CHECK(got[i].token == i % 3 + 1);
  }
  CHECK(ms(got[3].at, got[2].at) == Approx(100).margin(0.001));  // b admitted at a's last token
}

TEST_CASE("llm engine: a request queued behind an overdue slot is admitted when it arrived, not before") {
  TimePoint t0{};
  LlmEngine e(opts(1, 0), t0);
  auto a = e.submit(t0);  // its only token at 100 ms: the slot is free from then
  // Arrives at 150 ms before anyone advanced: queued (the engine has not seen a finish).
  auto b = e.submit(t0 + 150ms);
  REQUIRE((a && b));
  CHECK(e.snapshot(t0 + 150ms).waiting == 1);
  auto ev = e.advance(t0 + 300ms);
  REQUIRE(ev.size() == 2);
  CHECK(ev[1].id == *b);
  CHECK(ms(ev[1].at, t0) == Approx(250));  // admitted at 150 (its arrival), not at 100
}
