// From scraped Prometheus series to our L0 metrics (issue 12, "Instance metrics from the
// servers people actually run"): a rule names the series (metric name + label matchers,
// as in a PromQL instant selector), what to take of them (the value, the per-second rate
// of a counter between two scrapes, or a quantile of a histogram's buckets between two
// scrapes), how to combine several series (sum, avg, max, min, count), an optional
// denominator, and a scale. Presets hold the rules for servers people run; each cites
// where its names come from.
//
// The rate and the histogram quantile follow PromQL's rate() and histogram_quantile()
// (prometheus/docs content/docs/prometheus/latest/querying/functions.md) over exactly two
// scrapes: a counter that went down was reset, its increase is its new value; buckets are
// interpolated linearly, and a quantile in the +Inf bucket is the highest finite bound.
//
// Pure (time comes in with each scrape), so the tests drive it with fixed expositions.
#pragma once

#include "base/result.hpp"
#include "metrics/metric.hpp"
#include "sampler/prom_text.hpp"

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cats::sampler::prom {

enum class Fn : uint8_t { value, rate, quantile };
enum class Agg : uint8_t { sum, avg, max, min, count };
std::string_view to_string(Fn f);
std::string_view to_string(Agg a);
std::optional<Fn> parse_fn(std::string_view s);
std::optional<Agg> parse_agg(std::string_view s);

struct Matcher {
  std::string label;
  bool equal = true;  // `=` or `!=` (regular expressions are not supported)
  std::string value;
  friend bool operator==(const Matcher&, const Matcher&) = default;
};

struct Selector {
  std::string name;
  std::vector<Matcher> matchers;
  bool matches(const Series& s) const;  // name and every matcher (an absent label is "")
  friend bool operator==(const Selector&, const Selector&) = default;
};
// `name` or `name{label="v",label!="v"}` (label values escaped as in the exposition);
// at most 8 matchers.
Result<Selector> parse_selector(std::string_view text);
std::string to_string(const Selector& s);

struct Rule {
  metrics::MetricType target = metrics::MetricType::cpu_utilization;
  Fn fn = Fn::value;
  Agg agg = Agg::sum;
  std::vector<Selector> series;  // numerator: all matched series of all selectors, combined by agg
  std::vector<Selector> over;    // optional denominator, the same way; the result is series / over
  double quantile = 0.5;         // Fn::quantile: 0 < q < 1; the selectors name histogram families
  double scale = 1.0;            // applied last (after `complement`)
  bool complement = false;       // 1 - x (e.g. idle share -> utilisation)
  friend bool operator==(const Rule&, const Rule&) = default;
};
inline constexpr size_t kMaxRules = 16;
inline constexpr size_t kMaxSelectorsPerRule = 4;

// The preset's rules, nullopt for an unknown name.
std::optional<std::vector<Rule>> preset(std::string_view name);
std::span<const std::string_view> preset_names();

// The sample names the rules read (a histogram family x as x_bucket), for parse_text's Keep.
std::vector<std::string> sample_names(std::span<const Rule> rules);

// PromQL histogram_quantile over cumulative (upper bound, count) buckets, any order;
// nullopt without a +Inf bucket or without observations.
std::optional<double> histogram_quantile(double q, std::vector<std::pair<double, double>> buckets);

class Mapper {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  explicit Mapper(std::vector<Rule> rules);

  // One scrape taken at `now`. The metrics the rules give (a rate or quantile needs the
  // previous scrape, so the first gives only the values); an Error when the exposition
  // has none of the series any rule names (the wrong server or preset).
  Result<std::vector<metrics::L0Metric>> apply(const Exposition& e, TimePoint now);
  std::span<const Rule> rules() const { return rules_; }

 private:
  std::optional<double> eval(const Rule& r, const std::vector<Selector>& sels, const Exposition& e, double dt_s) const;
  std::optional<double> eval_quantile(const Rule& r, const Exposition& e) const;
  double increase(const Series& s, const std::string& key) const;

  std::vector<Rule> rules_;
  std::unordered_map<std::string, double> prev_;  // series key -> value at the previous scrape
  std::optional<TimePoint> prev_at_;
};

}  // namespace cats::sampler::prom
