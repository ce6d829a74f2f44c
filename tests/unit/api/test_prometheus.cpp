#include "api/prometheus.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using namespace cats::api::prom;

TEST_CASE("prometheus values: NaN, infinities and shortest round-trip floats") {
  CHECK(format_value(std::nan("")) == "NaN");
  CHECK(format_value(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(format_value(0) == "0");
  CHECK(format_value(42) == "42");
  CHECK(format_value(0.1) == "0.1");
  CHECK(format_value(-2.5) == "-2.5");
  CHECK(format_value(1e-05) == "1e-05");
  CHECK(format_value(0.0123) == "0.0123");
  // Round trip: the text reads back to the very same double.
  for (double v : {1.0 / 3, 2.0 / 3e10, 123456789.123456789, 5e-324, 1.7976931348623157e308})
    CHECK(std::strtod(format_value(v).c_str(), nullptr) == v);
}

TEST_CASE("prometheus escaping: label values and HELP text") {
  CHECK(escape_label_value(R"(a\b"c)" "\n" "d") == R"(a\\b\"c\nd)");
  CHECK(escape_label_value("plain ü") == "plain ü");
  // HELP keeps double quotes as they are; only backslash and line feed are escaped.
  CHECK(escape_help("say \"hi\"\\\nnext") == "say \"hi\"\\\\\\nnext");
}

TEST_CASE("prometheus names") {
  CHECK(valid_metric_name("cats_path_rtt_seconds"));
  CHECK(valid_metric_name("job:rate5m"));
  CHECK_FALSE(valid_metric_name("1abc"));
  CHECK_FALSE(valid_metric_name("a-b"));
  CHECK_FALSE(valid_metric_name(""));
  CHECK(valid_label_name("wan"));
  CHECK_FALSE(valid_label_name("a:b"));
  CHECK_FALSE(valid_label_name("__name__"));
  CHECK_FALSE(valid_label_name("9"));
}

TEST_CASE("prometheus exposition: families grouped, HELP/TYPE once, golden text") {
  Exposition e;
  e.gauge("cats_path_up", "Whether the path is up.", {{"wan", "wan1"}, {"vcpe", "cloud1"}}, 1);
  e.counter("cats_reports_received_total", "Reports received.", {}, 18446744073709551615ull);
  // A second sample of the first family after another family: still rendered together.
  e.gauge("cats_path_up", "Whether the path is up.", {{"wan", "wan2"}, {"vcpe", "a\"b\\c\nd"}}, 0);
  e.family("cats_service_flows", Type::gauge, "No sample: HELP and TYPE only.");
  e.gauge("cats_path_rtt_seconds", "RTT \\ with\nnewline.", {}, 0.0125);
  const std::string golden =
      "# HELP cats_path_up Whether the path is up.\n"
      "# TYPE cats_path_up gauge\n"
      "cats_path_up{wan=\"wan1\",vcpe=\"cloud1\"} 1\n"
      "cats_path_up{wan=\"wan2\",vcpe=\"a\\\"b\\\\c\\nd\"} 0\n"
      "# HELP cats_reports_received_total Reports received.\n"
      "# TYPE cats_reports_received_total counter\n"
      "cats_reports_received_total 18446744073709551615\n"
      "# HELP cats_service_flows No sample: HELP and TYPE only.\n"
      "# TYPE cats_service_flows gauge\n"
      "# HELP cats_path_rtt_seconds RTT \\\\ with\\nnewline.\n"
      "# TYPE cats_path_rtt_seconds gauge\n"
      "cats_path_rtt_seconds 0.0125\n";
  CHECK(e.render() == golden);
  CHECK(Exposition().render().empty());
}

TEST_CASE("prometheus histogram: cumulative buckets with inclusive le, +Inf, sum and count") {
  Histogram h({0.01, 0.1, 1});
  for (double v : {0.005, 0.01, 0.05, 0.5, 3.0, std::nan("")}) h.observe(v);
  auto v = h.value();
  REQUIRE(v.buckets.size() == 3);
  CHECK(v.buckets[0].second == 2);  // 0.005 and 0.01 (le is <=)
  CHECK(v.buckets[1].second == 3);
  CHECK(v.buckets[2].second == 4);
  CHECK(v.count == 5);  // NaN is not observed
  CHECK(v.sum == Approx(3.565));

  Exposition e;
  e.family("cats_api_request_duration_seconds", Type::histogram, "Request duration.");
  HistogramValue small{{{0.01, 1}, {0.1, 2}}, 0.25, 3};
  e.histogram("cats_api_request_duration_seconds", {{"route", "/metrics"}, {"code", "200"}}, small);
  const std::string golden =
      "# HELP cats_api_request_duration_seconds Request duration.\n"
      "# TYPE cats_api_request_duration_seconds histogram\n"
      "cats_api_request_duration_seconds_bucket{route=\"/metrics\",code=\"200\",le=\"0.01\"} 1\n"
      "cats_api_request_duration_seconds_bucket{route=\"/metrics\",code=\"200\",le=\"0.1\"} 2\n"
      "cats_api_request_duration_seconds_bucket{route=\"/metrics\",code=\"200\",le=\"+Inf\"} 3\n"
      "cats_api_request_duration_seconds_sum{route=\"/metrics\",code=\"200\"} 0.25\n"
      "cats_api_request_duration_seconds_count{route=\"/metrics\",code=\"200\"} 3\n";
  CHECK(e.render() == golden);
}

TEST_CASE("prometheus duration buckets are ascending") {
  const auto& b = duration_buckets();
  REQUIRE(b.size() > 3);
  for (size_t i = 1; i < b.size(); ++i) CHECK(b[i] > b[i - 1]);
  Histogram h(b);  // would abort otherwise
  h.observe(0.002);
  CHECK(h.value().buckets[1].second == 1);
}

// /metrics renders the request histograms straight from the Histogram (no HistogramValue
// copy per series): the text must be the one the HistogramValue form gives, byte for byte,
// with labels (escaped), without labels, and with observations beyond the last bound.
TEST_CASE("prometheus histogram from a Histogram: the same text as from its value()") {
  Histogram h({0.001, 0.25, 10});
  for (double v : {0.0005, 0.001, 0.2, 0.3, 11.0, 42.0}) h.observe(v);
  for (const Labels& l : {Labels{}, Labels{{"route", "/api/v1/\"x\"\\\n"}, {"code", "200"}}}) {
    Exposition a, b;
    a.family("cats_h_seconds", Type::histogram, "H.");
    b.family("cats_h_seconds", Type::histogram, "H.");
    a.histogram("cats_h_seconds", l, h.value());
    b.histogram("cats_h_seconds", l, h);
    CHECK(b.render() == a.render());
    CHECK(a.render().find("cats_h_seconds_bucket{" + std::string(l.empty() ? "" : "route=\"/api/v1/\\\"x\\\"\\\\\\n\",code=\"200\",") +
                          "le=\"+Inf\"} 6\n") != std::string::npos);
  }
}

TEST_CASE("prometheus exposition reset: the next exposition renders as a new one would") {
  // What GET /metrics does on every scrape: the same Exposition, reset, filled again.
  auto fill = [](Exposition& e, int round) {
    e.gauge("a_gauge", "A.", {{"x", "1"}}, round);
    if (round == 1) e.counter("b_total", "Only in round 1.", {}, 7);
    if (round == 2) e.family("c_gauge", Type::gauge, "Only in round 2, empty.");
    Histogram h(duration_buckets());
    for (int i = 0; i < round; ++i) h.observe(0.003);
    e.family("d_seconds", Type::histogram, "D.");
    e.histogram("d_seconds", {{"route", "/r"}}, h);
    e.gauge("a_gauge", "A.", {{"x", "2"}}, -round);
  };
  Exposition reused;
  for (int round : {1, 2, 3, 1}) {
    INFO("round " << round);
    reused.reset();
    fill(reused, round);
    Exposition fresh;
    fill(fresh, round);
    CHECK(reused.render() == fresh.render());
    CHECK(reused.families() == fresh.families());
    size_t a = 0, b = 0;
    CHECK(reused.render(1, a) == fresh.render(1, b));
    CHECK(a == b);
  }
  reused.reset();
  CHECK(reused.render().empty());
  CHECK(reused.families() == 0);
  // A family kept from an earlier exposition may be declared again with another type or
  // help (a new exposition), and its old text is gone.
  reused.gauge("b_total_gauge", "G.", {}, 1);
  reused.reset();
  reused.family("b_total_gauge", Type::gauge, "Other help.");
  CHECK(reused.render() == "# HELP b_total_gauge Other help.\n# TYPE b_total_gauge gauge\n");
}

TEST_CASE("prometheus render split: the offset of a family, the text unchanged") {
  Exposition e;
  e.gauge("a_gauge", "A.", {}, 1);
  e.gauge("b_gauge", "B.", {}, 2);
  const std::string whole = e.render();
  size_t at = 0;
  CHECK(e.render(1, at) == whole);
  CHECK(whole.substr(at) == "# HELP b_gauge B.\n# TYPE b_gauge gauge\nb_gauge 2\n");
  CHECK(e.render(0, at) == whole);
  CHECK(at == 0);
  CHECK(e.render(2, at) == whole);
  CHECK(at == whole.size());
}
