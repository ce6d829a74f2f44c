#include "metrics/score.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace cats::metrics;

TEST_CASE("delay_score: 1 at zero, 0.5 at ref, monotone decreasing") {
  CHECK(delay_score(0, 20) == Approx(1.0));
  CHECK(delay_score(20, 20) == Approx(0.5));
  CHECK(delay_score(60, 20) == Approx(0.25));
  CHECK(delay_score(-5, 20) == Approx(1.0));
  CHECK(delay_score(10, 20) > delay_score(11, 20));
}

TEST_CASE("L1: compute is the bottleneck headroom") {
  std::vector<L0Metric> ms{make(MetricType::vcpus, 6, Source::nominal), make(MetricType::cpu_utilization, 0.5),
                           make(MetricType::memory_utilization, 0.8)};
  auto s = score_l1(ms);
  REQUIRE(s.compute.has_value());
  CHECK(*s.compute == Approx(0.2));
  CHECK_FALSE(s.communication.has_value());
  CHECK_FALSE(s.service.has_value());
}

TEST_CASE("L1: draft figure 4 shape - same size, 20% load scores above 50% load") {
  std::vector<L0Metric> a{make(MetricType::vcpus, 6, Source::nominal), make(MetricType::cpu_utilization, 0.5)};
  std::vector<L0Metric> b{make(MetricType::vcpus, 6, Source::nominal), make(MetricType::cpu_utilization, 0.2)};
  CHECK(*score_l2(score_l1(b)) > *score_l2(score_l1(a)));
}

TEST_CASE("L1: service from processing delay and capacity_free; communication from path") {
  std::vector<L0Metric> ms{make(MetricType::processing_delay_ms, 20), make(MetricType::capacity_free, 0.3),
                           make(MetricType::active_sessions, 1234)};
  auto s = score_l1(ms, PathInputs{40.0, 0.1});
  REQUIRE(s.service.has_value());
  CHECK(*s.service == Approx(0.3));  // min(0.5, 0.3)
  REQUIRE(s.communication.has_value());
  CHECK(*s.communication == Approx(50.0 / 90.0 * 0.9));
}

TEST_CASE("L1/L2: unknown metric types are ignored, never an error (R14)") {
  std::vector<L0Metric> base{make(MetricType::cpu_utilization, 0.25)};
  auto with_unknown = base;
  with_unknown.push_back({0x8123, 99.0, Unit::none, Source::measured, Statistic::cur});
  with_unknown.push_back({0x0042, -3.0, static_cast<Unit>(200), Source::estimated, Statistic::max});
  auto a = score_l1(base);
  auto b = score_l1(with_unknown);
  CHECK(a.compute == b.compute);
  CHECK(a.service == b.service);
  CHECK(score_l2(a) == score_l2(b));
}

TEST_CASE("L2: weighted geometric mean over present categories") {
  CHECK_FALSE(score_l2(L1Scores{}).has_value());
  CHECK(*score_l2(L1Scores{0.5, std::nullopt, std::nullopt}) == Approx(0.5));
  // Equal inputs give that input whatever the weights.
  CHECK(*score_l2(L1Scores{0.7, 0.7, 0.7}) == Approx(0.7));
  // One category at zero makes the instance unusable.
  CHECK(*score_l2(L1Scores{0.0, 1.0, 1.0}) == Approx(0.0));
  // 0.4/0.3 weights renormalised over compute + service: 0.64^(4/7) * 0.25^(3/7)
  double want = std::pow(0.64, 4.0 / 7.0) * std::pow(0.25, 3.0 / 7.0);
  CHECK(*score_l2(L1Scores{0.64, std::nullopt, 0.25}) == Approx(want));
}
