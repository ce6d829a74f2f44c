#include "fixtures.hpp"
#include "report/scheduler.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace cats::report;
using namespace cats::metrics;
using namespace std::chrono_literals;

namespace {

const SteadyTime kT0{std::chrono::hours(1)};

// One instance whose cpu, delay and availability follow a script (times in ms).
std::vector<InstanceReport> sample_at(long t) {
  double cpu = t < 500     ? 0.50
               : t < 700   ? 0.52   // +0.02: below threshold
               : t < 13200 ? 0.56   // +0.06 vs sent 0.50: significant, inside min interval
               : t < 13400 ? 0.60   // +0.04 vs sent 0.56: not significant
               : t < 14300 ? 0.62   // +0.06: significant
               : t < 14600 ? 0.80   // spike...
                           : 0.62;  // ...reverted before min interval expired: not sent
  double delay = t < 1500 ? 10.0 : t < 2000 ? 10.5 : 11.5;  // +5% no, +15% yes
  InstanceReport in;
  in.service_id = "svc";
  in.instance_id = "i1";
  in.address = test::ep("10.0.0.5", 9000);
  in.available = t >= 2500;  // becoming available: significant, held like any change
  in.metrics = {make(MetricType::cpu_utilization, cpu), make(MetricType::processing_delay_ms, delay)};
  return {in};
}

}  // namespace

TEST_CASE("scheduler: scripted samples produce exactly the expected sends") {
  ReportScheduler s(Intervals{1000ms, 10000ms});
  std::vector<long> sent;
  for (long t = 0; t <= 25000; t += 100)
    if (s.offer(sample_at(t), kT0 + std::chrono::milliseconds(t))) sent.push_back(t);
  // 0      first sample
  // 1000   cpu change at 700, held until min interval expired
  // 2000   delay +15% (min interval already over: immediately)
  // 3000   available again at 2500, held until min interval expired
  // 13000  max-interval heartbeat
  // 14000  cpu change at 13400, held; the 14300 spike reverted by 14600: nothing at 15000
  // 24000  heartbeat
  CHECK(sent == std::vector<long>{0, 1000, 2000, 3000, 13000, 14000, 24000});
}

TEST_CASE("scheduler: poll() sends a held-back change at min-interval expiry; next_wakeup") {
  ReportScheduler s(Intervals{1000ms, 10000ms});
  CHECK_FALSE(s.next_wakeup().has_value());
  CHECK_FALSE(s.poll(kT0));
  CHECK(s.offer(sample_at(0), kT0));
  REQUIRE(s.next_wakeup().has_value());
  CHECK(*s.next_wakeup() == kT0 + 10000ms);
  CHECK_FALSE(s.offer(sample_at(800), kT0 + 800ms));
  CHECK(s.pending());
  CHECK(*s.next_wakeup() == kT0 + 1000ms);
  CHECK_FALSE(s.poll(kT0 + 999ms));
  CHECK(s.poll(kT0 + 1000ms));
  CHECK_FALSE(s.pending());
  CHECK(*s.next_wakeup() == kT0 + 11000ms);
  CHECK_FALSE(s.poll(kT0 + 10999ms));
  CHECK(s.poll(kT0 + 11000ms));
}

TEST_CASE("scheduler: desired interval is clamped to sane bounds") {
  ReportScheduler s;
  CHECK(s.set_intervals(500ms, 5000ms) == Intervals{500ms, 5000ms});
  CHECK(s.set_intervals(1ms, 10ms) == Intervals{kMinIntervalFloor, kMaxIntervalFloor});
  CHECK(s.set_intervals(10h, 10h) == Intervals{kMinIntervalCeiling, kMaxIntervalCeiling});
  CHECK(s.set_intervals(20s, 2s) == Intervals{20s, 20s});  // max never below min
  CHECK(s.intervals() == Intervals{20s, 20s});
}

TEST_CASE("significance: instance set, address, capacity and unknown metrics") {
  auto a = sample_at(0);
  auto b = a;
  CHECK_FALSE(significant_change(a, b, {}));
  b.push_back(a[0]);
  b[1].instance_id = "i2";
  CHECK(significant_change(a, b, {}));
  b = a;
  b[0].address = test::ep("10.0.0.6", 9000);
  CHECK(significant_change(a, b, {}));
  b = a;
  b[0].metrics.push_back(make(MetricType::vcpus, 4, Source::nominal));
  CHECK(significant_change(a, b, {}));  // metric appeared
  a = b;
  b[0].metrics.back().value = 5;
  CHECK(significant_change(a, b, {}));  // vCPU count: any change
  a = b;
  a[0].metrics.push_back({0x8001, 100.0, Unit::none, Source::measured, Statistic::cur});
  b = a;
  b[0].metrics.back().value = 105.0;
  CHECK_FALSE(significant_change(a, b, {}));  // unknown: 10% relative
  b[0].metrics.back().value = 111.0;
  CHECK(significant_change(a, b, {}));
}

TEST_CASE("significance: instance figures (service time, last delay like a delay; an age never alone)") {
  auto a = sample_at(0);
  a[0].metrics.push_back(make(MetricType::service_time_ms, 20.0, Source::estimated, Statistic::mean));
  a[0].metrics.push_back(make(MetricType::last_processing_delay_ms, 60.0, Source::measured, Statistic::mean));
  a[0].metrics.push_back(make(MetricType::last_processing_delay_age_ms, 0.0));
  auto b = a;
  b[0].metrics[4].value = 3'600'000.0;  // an hour older: still nothing to tell
  CHECK_FALSE(significant_change(a, b, {}));
  b = a;
  b[0].metrics[2].value = 21.5;  // service time +7.5 %
  CHECK_FALSE(significant_change(a, b, {}));
  b[0].metrics[2].value = 22.5;  // +12.5 %
  CHECK(significant_change(a, b, {}));
  b = a;
  b[0].metrics[2].source = Source::nominal;  // configured now
  CHECK(significant_change(a, b, {}));
  b = a;
  b[0].metrics[3].value = 66.5;  // last delay +10.8 %
  CHECK(significant_change(a, b, {}));
  b = a;
  b[0].metrics.pop_back();  // the age disappeared: the metric set changed
  CHECK(significant_change(a, b, {}));
}

TEST_CASE("scheduler: an instance lost goes out at once, one out of turn per min interval") {
  // Draft §4.3 (fast failover) and R4: waiting out min_interval would add up to its whole
  // length to every failover. A flap costs at most one extra report per min interval.
  ReportScheduler s(Intervals{1000ms, 10000ms});
  auto sample = [](bool up, double cpu = 0.5, bool up2 = true) {
    std::vector<InstanceReport> out;
    for (const char* id : {"i1", "i2"}) {
      InstanceReport in;
      in.service_id = "svc";
      in.instance_id = id;
      in.address = test::ep("10.0.0.5", 9000);
      in.available = std::string(id) == "i1" ? up : up2;
      in.metrics = {make(MetricType::cpu_utilization, cpu)};
      out.push_back(in);
    }
    return out;
  };
  CHECK(s.offer(sample(true), kT0));
  CHECK(s.offer(sample(true, 0.9), kT0 + 1000ms));    // a load change: the usual turn
  CHECK(s.offer(sample(false), kT0 + 1100ms));        // lost 100 ms later: at once
  CHECK_FALSE(s.offer(sample(true), kT0 + 1200ms));   // back: waits for its turn
  CHECK_FALSE(s.offer(sample(false), kT0 + 1300ms));  // lost again: no change since sent
  CHECK_FALSE(s.offer(sample(true), kT0 + 1400ms));
  CHECK_FALSE(s.offer(sample(false), kT0 + 1500ms));
  CHECK_FALSE(s.offer(sample(true), kT0 + 2000ms));   // held: min interval from 1100
  CHECK(s.offer(sample(true), kT0 + 2100ms));         // its turn
  CHECK(s.offer(sample(false), kT0 + 2150ms));        // lost: the last out-of-turn was 1.05 s ago
  CHECK_FALSE(s.offer(sample(true), kT0 + 2200ms));
  CHECK_FALSE(s.offer(sample(false), kT0 + 2300ms));  // unchanged since sent
  CHECK_FALSE(s.offer(sample(true), kT0 + 3100ms));   // not its turn yet (sent at 2150)
  CHECK(s.offer(sample(true), kT0 + 3150ms));
  // Two instances lost one after the other: the first out of turn, the second within the
  // same min interval waits for its turn.
  CHECK(s.offer(sample(false), kT0 + 3200ms));
  CHECK_FALSE(s.offer(sample(false, 0.5, false), kT0 + 3300ms));
  CHECK_FALSE(s.offer(sample(false, 0.5, false), kT0 + 4100ms));
  CHECK(s.offer(sample(false, 0.5, false), kT0 + 4200ms));
}
