#include "metrics/metric.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

using namespace cats::metrics;

TEST_CASE("registry: every known type is found by id and by name") {
  for (const auto& t : known_types()) {
    REQUIRE(find_type(static_cast<uint16_t>(t.type)) == &t);
    REQUIRE(find_type(t.name) == &t);
  }
  CHECK(find_type(uint16_t{0}) == nullptr);
  CHECK(find_type(uint16_t{0x8001}) == nullptr);
  CHECK(find_type("no_such_metric") == nullptr);
  CHECK(find_type("cpu_utilization")->unit == Unit::ratio);
}

TEST_CASE("registry: the instance's own figures (ids 9-11, ms, service category)") {
  struct Row {
    uint16_t id;
    const char* name;
    double max;
  };
  for (auto [id, name, max] : {Row{9, "service_time_ms", 3.6e6}, Row{10, "last_processing_delay_ms", 3.6e6},
                               Row{11, "last_processing_delay_age_ms", 365.0 * 24 * 3600 * 1000}}) {
    INFO(name);
    const TypeInfo* t = find_type(id);
    REQUIRE(t != nullptr);
    CHECK(t->name == name);
    CHECK(t->unit == Unit::milliseconds);
    CHECK(t->category == Category::service);
    CHECK(t->min == 0.0);
    CHECK(t->max == max);
    auto m = make(static_cast<MetricType>(id), 1.0, Source::estimated, Statistic::mean);
    CHECK(is_valid(m));
    m.value = max * 1.0001;
    CHECK_FALSE(is_valid(m));
    m.value = -0.001;
    CHECK_FALSE(is_valid(m));
  }
  // current_value() reads a learned (mean) service time like a configured (cur) one.
  std::vector<L0Metric> ms{make(MetricType::service_time_ms, 61.5, Source::estimated, Statistic::mean)};
  CHECK(current_value(ms, MetricType::service_time_ms) == 61.5);
}

TEST_CASE("validity: known types need unit, range and finite values") {
  CHECK(is_valid(make(MetricType::cpu_utilization, 0.5)));
  CHECK(is_valid(make(MetricType::cpu_utilization, 0.0)));
  CHECK(is_valid(make(MetricType::cpu_utilization, 1.0)));
  CHECK_FALSE(is_valid(make(MetricType::cpu_utilization, 1.01)));
  CHECK_FALSE(is_valid(make(MetricType::cpu_utilization, -0.01)));
  CHECK_FALSE(is_valid(make(MetricType::processing_delay_ms, std::nan(""))));
  CHECK_FALSE(is_valid(make(MetricType::active_sessions, std::numeric_limits<double>::infinity())));
  CHECK_FALSE(is_valid(make(MetricType::vcpus, -1)));

  auto wrong_unit = make(MetricType::processing_delay_ms, 5);
  wrong_unit.unit = Unit::ratio;
  CHECK_FALSE(is_valid(wrong_unit));
  auto bad_source = make(MetricType::vcpus, 4);
  bad_source.source = static_cast<Source>(9);
  CHECK_FALSE(is_valid(bad_source));
  auto bad_stat = make(MetricType::vcpus, 4);
  bad_stat.statistic = static_cast<Statistic>(9);
  CHECK_FALSE(is_valid(bad_stat));
}

TEST_CASE("validity: unknown types are always carried (R14)") {
  L0Metric m{0x8001, std::nan(""), static_cast<Unit>(77), static_cast<Source>(200),
             static_cast<Statistic>(99)};
  CHECK(is_valid(m));
  m.value = -1e300;
  CHECK(is_valid(m));
}

TEST_CASE("current_value prefers cur, then mean, skips invalid and unknown") {
  std::vector<L0Metric> ms{
      make(MetricType::cpu_utilization, 0.9, Source::aggregated, Statistic::max),
      make(MetricType::cpu_utilization, 0.4, Source::aggregated, Statistic::mean),
      {0x9000, 0.1, Unit::ratio, Source::measured, Statistic::cur},
  };
  REQUIRE(current_value(ms, MetricType::cpu_utilization).has_value());
  CHECK(*current_value(ms, MetricType::cpu_utilization) == Approx(0.4));
  ms.push_back(make(MetricType::cpu_utilization, 0.3));
  CHECK(*current_value(ms, MetricType::cpu_utilization) == Approx(0.3));
  CHECK_FALSE(current_value(ms, MetricType::gpu_utilization).has_value());
}

TEST_CASE("aggregate: mean/min/max/cur, source becomes aggregated (R9)") {
  std::vector<L0Metric> s{make(MetricType::processing_delay_ms, 10), make(MetricType::processing_delay_ms, 30),
                          make(MetricType::processing_delay_ms, 20)};
  auto mean = aggregate(s, Statistic::mean);
  REQUIRE(mean.has_value());
  CHECK(mean->value == Approx(20));
  CHECK(mean->source == Source::aggregated);
  CHECK(mean->statistic == Statistic::mean);
  CHECK(mean->unit == Unit::milliseconds);
  CHECK(aggregate(s, Statistic::min)->value == Approx(10));
  CHECK(aggregate(s, Statistic::max)->value == Approx(30));
  CHECK(aggregate(s, Statistic::cur)->value == Approx(20));
  CHECK_FALSE(aggregate({}, Statistic::mean).has_value());
}
