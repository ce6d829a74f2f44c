// Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): what GET /metrics
// answers on the CPE and the vCPE.
//
// Samples are added in any order from several collectors; render() groups them by family,
// so each family's HELP and TYPE lines appear once, followed by all its samples (the
// format requires a family's lines to be contiguous). Families render in the order they
// were first declared.
//
// Metric and label names are code constants: an invalid one is a programming error and
// aborts. Label values come from configuration and reports: any UTF-8, escaped.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cats::api::prom {

inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class Type { counter, gauge, histogram };

using Labels = std::vector<std::pair<std::string, std::string>>;

class Exposition;

// A histogram's state: cumulative counts per upper bound (ascending, finite; the +Inf
// bucket is the total count and is written by the exposition), the sum and the count.
struct HistogramValue {
  std::vector<std::pair<double, uint64_t>> buckets;  // (le, observations <= le)
  double sum = 0;
  uint64_t count = 0;
};

// Accumulates observations into fixed buckets (not thread-safe; the owner locks).
class Histogram {
 public:
  // `bounds` ascending and finite (aborts otherwise).
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  HistogramValue value() const;

 private:
  friend class Exposition;  // renders it without a HistogramValue copy
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Bucket bounds for request durations in seconds: 1 ms .. 10 s.
const std::vector<double>& duration_buckets();

class Exposition {
 public:
  Exposition() = default;
  Exposition(const Exposition&) = delete;  // last_ points into families_
  Exposition& operator=(const Exposition&) = delete;

  // Declares a family (idempotent; a second declaration must agree on type and help, or
  // it aborts). A family without samples still renders its HELP and TYPE. A counter's
  // name ends in "_total" (the 0.0.4 convention, kept by OpenMetrics).
  void family(std::string_view name, Type type, std::string_view help);

  // One sample of a declared family (aborts when undeclared or of another type).
  void gauge(std::string_view name, const Labels& labels, double v);
  void counter(std::string_view name, const Labels& labels, uint64_t v);
  void histogram(std::string_view name, const Labels& labels, const HistogramValue& h);
  void histogram(std::string_view name, const Labels& labels, const Histogram& h);  // same text

  // Declares and adds one sample.
  void gauge(std::string_view name, std::string_view help, const Labels& labels, double v) {
    family(name, Type::gauge, help);
    gauge(name, labels, v);
  }
  void counter(std::string_view name, std::string_view help, const Labels& labels, uint64_t v) {
    family(name, Type::counter, help);
    counter(name, labels, v);
  }

  std::string render() const;
  // Starts a new exposition in place: no family declared, no sample. The families' buffers
  // are kept for the next one, so an exposition rendered on every scrape (GET /metrics)
  // does not allocate and grow its ~20 families' names and texts each time.
  void reset();
  // Families declared so far: a position in the order render() writes them.
  size_t families() const { return order_.size(); }
  // render(), and in `split_at` the offset at which the family at position `split` (of
  // families()) begins in it, the text's size when there is none. The text before and
  // after it are whole families (PartsGzip compresses them as separate parts).
  std::string render(size_t split, size_t& split_at) const;

 private:
  struct Family {
    Type type;
    std::string help;
    std::string text;       // rendered sample lines, each ending in a newline
    bool declared = false;  // in this exposition (since reset(); else kept for its buffer)
  };
  using Node = std::pair<const std::string, Family>;
  Family& get(std::string_view name, Type type);
  std::map<std::string, Family, std::less<>> families_;
  std::vector<Node*> order_;  // the declared families; map nodes are stable
  Node* last_ = nullptr;      // of get()
};

// Adds samples to an exposition; each daemon part (overlay, probing, collector,
// steering) registers one, and GET /metrics runs them all on the server thread. A
// collector takes its own locks and must not block for long.
using Collector = std::function<void(Exposition&)>;

// Float as the format wants it: NaN, +Inf, -Inf, else the shortest text that reads back
// to the same double (std::to_chars), e.g. 0.1, 1e-05, 42.
std::string format_value(double v);
// Label value escaping: backslash, double quote and line feed become \\, \" and \n.
std::string escape_label_value(std::string_view v);
// HELP text escaping: backslash and line feed become \\ and \n.
std::string escape_help(std::string_view v);
// [a-zA-Z_:][a-zA-Z0-9_:]* and [a-zA-Z_][a-zA-Z0-9_]* (label names starting "__" are
// reserved for Prometheus and refused).
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

}  // namespace cats::api::prom
