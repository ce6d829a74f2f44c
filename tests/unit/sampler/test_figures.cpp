// The instance's own figures on the vCPE (sampler/figures.hpp): configured vs learned
// service time, the M/M/c inversion, the median over measured seconds with an injected
// clock, last delay + age.
#include "sampler/figures.hpp"
#include "select/select.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace cats;
using metrics::L0Metric;
using metrics::MetricType;
using metrics::Source;
using metrics::Statistic;
using sampler::InstanceFigures;
using namespace std::chrono_literals;

namespace {

const auto t0 = std::chrono::steady_clock::time_point{} + 1000s;

std::vector<L0Metric> sample(double vcpus, double util, std::optional<double> delay) {
  std::vector<L0Metric> m{metrics::make(MetricType::vcpus, vcpus, Source::nominal),
                          metrics::make(MetricType::cpu_utilization, util)};
  if (delay) m.push_back(metrics::make(MetricType::processing_delay_ms, *delay, Source::measured, Statistic::mean));
  return m;
}

const L0Metric* find(const std::vector<L0Metric>& ms, MetricType t) {
  const L0Metric* hit = nullptr;
  for (const auto& m : ms)
    if (m.type == static_cast<uint16_t>(t)) {
      REQUIRE(hit == nullptr);  // each figure at most once
      hit = &m;
    }
  return hit;
}

}  // namespace

TEST_CASE("figures: nothing measured, nothing configured: no figure is invented") {
  InstanceFigures f(std::nullopt);
  auto out = f.update(sample(4, 0.0, std::nullopt), t0);
  CHECK(out == sample(4, 0.0, std::nullopt));
  CHECK_FALSE(f.learned_ms());
  CHECK_FALSE(f.last_delay_ms());
}

TEST_CASE("figures: a configured service time is reported as nominal and never replaced by learning") {
  InstanceFigures f(25.0);
  auto out = f.update(sample(4, 0.1, std::nullopt), t0);
  auto* s = find(out, MetricType::service_time_ms);
  REQUIRE(s);
  CHECK(s->value == 25.0);
  CHECK(s->source == Source::nominal);
  CHECK(s->statistic == Statistic::cur);
  CHECK(metrics::is_valid(*s));
  out = f.update(sample(4, 0.1, 80.0), t0 + 1s);  // the instance is slower than configured
  CHECK(find(out, MetricType::service_time_ms)->value == 25.0);
  CHECK_FALSE(f.learned_ms());
  // ...but its delay is still recorded as its last measurement.
  CHECK(find(out, MetricType::last_processing_delay_ms)->value == 80.0);
}

TEST_CASE("figures: inversion is exact against select's M/M/c model") {
  InstanceFigures f(std::nullopt);
  for (double c : {1.0, 2.0, 4.0, 6.0, 16.0})
    for (double rho : {0.0, 0.2, 0.5, 0.8, 0.9})
      for (double s : {1.0, 20.0, 60.0}) {
        INFO("c=" << c << " rho=" << rho << " s=" << s);
        const double t = select::mmc_sojourn_ms(c, rho, s);
        auto back = f.invert(t, c, rho);
        REQUIRE(back);
        CHECK(*back == Approx(s).epsilon(1e-12));
      }
  // M/M/1 in closed form: T = s / (1 − ρ).
  CHECK(*f.invert(100.0, 1, 0.5) == Approx(50.0));
  // At low utilisation the delay is the service time.
  CHECK(*f.invert(60.0, 4, 0.0) == Approx(60.0));
  // Not learned from: too close to saturation, or junk.
  CHECK_FALSE(f.invert(100.0, 4, 0.95));
  CHECK_FALSE(f.invert(0.0, 4, 0.1));
  CHECK_FALSE(f.invert(NAN, 4, 0.1));
  CHECK_FALSE(f.invert(10.0, 4, NAN));
  // Unreported/invalid vCPUs count as 1, as at the CPE.
  CHECK(*f.invert(100.0, 0.0, 0.5) == Approx(50.0));
}

TEST_CASE("figures: learned from the first measured delay, then the median of one observation per second") {
  InstanceFigures f(std::nullopt);  // spacing 1 s, window 60
  // One request on an idle 4-vCPU instance took 60 ms: s = 60.
  auto out = f.update(sample(4, 0.01, 60.0), t0);
  auto* s = find(out, MetricType::service_time_ms);
  REQUIRE(s);
  CHECK(s->source == Source::estimated);
  CHECK(s->value == Approx(60.0 / select::mmc_sojourn_ms(4, 0.01, 1.0)));
  CHECK(s->value == Approx(60.0).epsilon(0.001));  // 1 % load on 4 vCPUs hardly queues
  // Samples within the same second see the same requests again: not a new observation.
  f.update(sample(4, 0.0, 40.0), t0 + 500ms);
  CHECK(*f.learned_ms() == Approx(60.0).epsilon(0.001));
  // Two observations: the median is their mean; three: the middle one.
  f.update(sample(4, 0.0, 40.0), t0 + 1s);
  CHECK(*f.learned_ms() == Approx(50.0).epsilon(0.001));
  f.update(sample(4, 0.0, 44.0), t0 + 2s);
  CHECK(*f.learned_ms() == Approx(44.0));
  // Rate-independent: sampled every 100 ms for 10 s or once a second, the same figure.
  InstanceFigures a(std::nullopt), b(std::nullopt);
  for (int i = 0; i <= 100; ++i) a.update(sample(4, 0.0, 20.0 + i % 7), t0 + i * 100ms);
  for (int i = 0; i <= 10; ++i) b.update(sample(4, 0.0, 20.0 + (i * 10) % 7), t0 + i * 1s);
  CHECK(*a.learned_ms() == *b.learned_ms());
}

TEST_CASE("figures: a minority of outliers (a load step) does not move the figure; a lasting change does") {
  InstanceFigures f(std::nullopt);
  auto t = t0;
  for (int i = 0; i < 30; ++i, t += 1s) f.update(sample(6, 0.2, 20.0), t);
  REQUIRE(*f.learned_ms() == Approx(20.0 / select::mmc_sojourn_ms(6, 0.2, 1.0)));
  const double before = *f.learned_ms();
  // Load step to 95 %: for a few seconds the delays queue while the utilisation window
  // still reads low (inversions far too high), then the utilisation reads > 0.9 (skipped).
  for (int i = 0; i < 5; ++i, t += 1s) f.update(sample(6, 0.4, 300.0), t);
  for (int i = 0; i < 20; ++i, t += 1s) f.update(sample(6, 0.97, 900.0), t);
  CHECK(*f.learned_ms() == Approx(before));
  // The instance really became slower (redeployed at 40 ms): after more than half a
  // window of it, that is its figure.
  for (int i = 0; i < 40; ++i, t += 1s) f.update(sample(6, 0.2, 40.0), t);
  CHECK(*f.learned_ms() == Approx(40.0 / select::mmc_sojourn_ms(6, 0.2, 1.0)));
  // Old observations leave the window (60).
  InstanceFigures g(std::nullopt, sampler::FigureOptions{1000ms, 3, 0.9});
  for (double d : {10.0, 10.0, 10.0, 30.0, 30.0}) g.update(sample(1, 0.0, d), t += 1s);
  CHECK(*g.learned_ms() == 30.0);
}

TEST_CASE("figures: a delay measured under load is learned net of its queueing") {
  InstanceFigures f(std::nullopt);
  // 2 vCPUs at 80 %: the measured 50 ms include queueing; s is what M/M/2 says.
  f.update(sample(2, 0.8, 50.0), t0);
  REQUIRE(f.learned_ms());
  CHECK(*f.learned_ms() < 50.0);
  CHECK(select::mmc_sojourn_ms(2, 0.8, *f.learned_ms()) == Approx(50.0));
  // Above max_utilization: recorded as the last delay, not learned from.
  InstanceFigures g(std::nullopt);
  auto out = g.update(sample(2, 0.97, 500.0), t0);
  CHECK_FALSE(g.learned_ms());
  CHECK_FALSE(find(out, MetricType::service_time_ms));
  CHECK(find(out, MetricType::last_processing_delay_ms)->value == 500.0);
}

TEST_CASE("figures: the last measured delay stays known with its age once traffic stops") {
  InstanceFigures f(std::nullopt);
  auto out = f.update(sample(4, 0.02, 60.0), t0);
  CHECK(find(out, MetricType::last_processing_delay_age_ms)->value == 0.0);
  // 20 s without a fresh delay (the sampler drops the instance's stale one).
  out = f.update(sample(4, 0.0, std::nullopt), t0 + 20s);
  CHECK_FALSE(find(out, MetricType::processing_delay_ms));
  auto* last = find(out, MetricType::last_processing_delay_ms);
  auto* age = find(out, MetricType::last_processing_delay_age_ms);
  REQUIRE(last);
  REQUIRE(age);
  CHECK(last->value == 60.0);
  CHECK(last->source == Source::measured);
  CHECK(age->value == Approx(20'000.0));
  CHECK(metrics::is_valid(*last));
  CHECK(metrics::is_valid(*age));
  CHECK(find(out, MetricType::service_time_ms)->value == Approx(*f.learned_ms()));
  // A new measurement resets the age.
  out = f.update(sample(4, 0.02, 58.0), t0 + 21s);
  CHECK(find(out, MetricType::last_processing_delay_age_ms)->value == 0.0);
  CHECK(find(out, MetricType::last_processing_delay_ms)->value == 58.0);
}

TEST_CASE("figures: figures already in the sample are replaced, not duplicated") {
  InstanceFigures f(12.0);
  auto in = sample(4, 0.1, 30.0);
  in.push_back(metrics::make(MetricType::service_time_ms, 99.0, Source::nominal));
  in.push_back(metrics::make(MetricType::last_processing_delay_age_ms, 5.0));
  auto out = f.update(in, t0);
  CHECK(find(out, MetricType::service_time_ms)->value == 12.0);
  CHECK(find(out, MetricType::last_processing_delay_age_ms)->value == 0.0);
  CHECK(find(out, MetricType::processing_delay_ms)->value == 30.0);
}
