// LoadAccounting with explicit times: exact utilisation and delay figures.
#include "accounting.hpp"

#include <catch2/catch.hpp>

using namespace cats::app;
using namespace std::chrono_literals;

namespace {
const TimePoint T0 = TimePoint{} + 1000s;  // any origin; not the epoch, to catch offsets
TimePoint at(std::chrono::milliseconds ms) { return T0 + ms; }
}  // namespace

TEST_CASE("utilisation is busy worker-time over workers x wall time") {
  LoadAccounting acc(2, T0);
  CHECK(acc.utilization(T0) == 0.0);
  CHECK(acc.utilization(at(500ms)) == 0.0);
  acc.busy_begin(0, at(100ms));
  acc.busy_end(0, at(600ms));
  // Full window: 500 ms of one worker over 2 x 1000 ms.
  CHECK(acc.utilization(at(1000ms)) == 0.25);
  // Before a full window: over the time since the origin (500 / (2 x 600)).
  CHECK(acc.utilization(at(600ms)) == 500.0 / 1200.0);
  // Window [500, 1500]: only the last 100 ms of that interval are inside.
  CHECK(acc.utilization(at(1500ms)) == 100.0 / 2000.0);
  // Window start 505 ms rounds down to the 500 ms bucket; the wall time is 1005 ms then.
  CHECK(acc.utilization(at(1505ms)) == 100.0 / 2010.0);
  // All of it has left the window.
  CHECK(acc.utilization(at(1700ms)) == 0.0);
}

TEST_CASE("a worker busy right now counts up to now") {
  LoadAccounting acc(2, T0);
  acc.busy_begin(1, at(1200ms));
  CHECK(acc.busy_workers() == 1);
  CHECK(acc.utilization(at(1500ms)) == 300.0 / 2000.0);
  // Begun before the window: only the part inside counts.
  CHECK(acc.utilization(at(3000ms)) == 1000.0 / 2000.0);
  acc.busy_end(1, at(3000ms));
  CHECK(acc.busy_workers() == 0);
  CHECK(acc.utilization(at(3000ms)) == 0.5);
  // An end without a begin changes nothing.
  acc.busy_end(0, at(3100ms));
  CHECK(acc.utilization(at(3100ms)) == 900.0 / 2000.0);
}

TEST_CASE("both workers fully busy is utilisation 1, across many buckets") {
  LoadAccounting acc(2, T0);
  for (int i = 0; i < 300; ++i) {  // back-to-back 10 ms slices, 3 s
    for (unsigned w = 0; w < 2; ++w) {
      acc.busy_begin(w, at(std::chrono::milliseconds(i * 10)));
      acc.busy_end(w, at(std::chrono::milliseconds(i * 10 + 10)));
    }
  }
  CHECK(acc.utilization(at(3000ms)) == 1.0);
  // Intervals older than the ring are dropped, not wrapped onto new buckets.
  acc.busy_begin(0, at(3000ms));
  acc.busy_end(0, at(9000ms));
  CHECK(acc.utilization(at(9000ms)) == 0.5);
}

TEST_CASE("slices not aligned to buckets count exactly") {
  LoadAccounting acc(1, T0);
  for (int i = 0; i < 200; ++i) {  // busy 3 ms of every 6 ms, not aligned to buckets
    acc.busy_begin(0, at(std::chrono::milliseconds(i * 6)));
    acc.busy_end(0, at(std::chrono::milliseconds(i * 6 + 3)));
  }
  // Window [200, 1200]: 1 ms of the slice straddling 200 (= 33 x 6 + 2), then 166 whole
  // slices; the last one ended at 1197.
  CHECK(acc.utilization(at(1200ms)) == 499.0 / 1000.0);
}

TEST_CASE("processing delay: mean over the last window, last-known when idle") {
  LoadAccounting acc(2, T0);
  auto d = acc.processing_delay(T0);
  CHECK(d.samples == 0);
  CHECK(d.mean_ms == 0.0);
  CHECK_FALSE(d.stale);

  acc.request_done(at(0ms), at(50ms));
  acc.request_done(at(0ms), at(100ms));
  acc.request_done(at(0ms), at(150ms));
  CHECK(acc.requests_total() == 3);
  d = acc.processing_delay(at(200ms));
  CHECK(d.samples == 3);
  CHECK(d.mean_ms == 100.0);
  CHECK_FALSE(d.stale);

  // At 1100 ms the first one (finished at 50) has left the window.
  d = acc.processing_delay(at(1100ms));
  CHECK(d.samples == 2);
  CHECK(d.mean_ms == 125.0);

  // None in the window: the last-known mean, marked stale.
  d = acc.processing_delay(at(5000ms));
  CHECK(d.stale);
  CHECK(d.samples == 3);
  CHECK(d.mean_ms == 100.0);
}

TEST_CASE("processing delay covers at most the last N requests") {
  LoadAccounting::Options opt;
  opt.delay_samples = 4;
  LoadAccounting acc(1, T0, opt);
  for (int i = 0; i < 10; ++i)
    acc.request_done(at(std::chrono::milliseconds(i)), at(std::chrono::milliseconds(i + 10 * (i + 1))));
  // Delays were 10, 20, ..., 100 ms; the last four are 70..100.
  auto d = acc.processing_delay(at(200ms));
  CHECK(d.samples == 4);
  CHECK(d.mean_ms == 85.0);
  CHECK(acc.requests_total() == 10);
}
