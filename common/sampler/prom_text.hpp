// Parser for the Prometheus text exposition format, version 0.0.4 (prometheus/docs
// content/docs/instrumenting/exposition_formats.md, "Text format details"; edge cases as
// prometheus/common expfmt/text_parse.go decides them). Application servers (vLLM,
// Triton, node_exporter, DCGM exporter) publish their load this way; the vCPE reads it
// as one of an instance's sampling sources (issue 12).
//
// What is understood, per the specification:
//   * lines separated by '\n' (a trailing '\r' is dropped: CRLF tolerance), blank lines
//     and leading/trailing blanks/tabs ignored, the last line's '\n' optional;
//   * '#' comments; "# HELP name text" (escapes \\ and \n; one per name) and
//     "# TYPE name counter|gauge|histogram|summary|untyped" (one per name, before the
//     name's first sample);
//   * samples `name{label="value",...} value [timestamp]`: names [a-zA-Z_:][a-zA-Z0-9_:]*,
//     label names [a-zA-Z_][a-zA-Z0-9_]* (never "__name__", no repeats, trailing comma
//     allowed), label values UTF-8 with the escapes \\ \" \n and no other, values as Go's
//     strconv.ParseFloat reads them (NaN, +Inf, -Inf, exponents; no hex, no '_'),
//     timestamps int64 milliseconds;
//   * histogram `_bucket` samples carry a float `le`, summary samples a float `quantile`.
// Not understood: the quoted UTF-8 names of newer formats (`{"name"}`), OpenMetrics.
//
// Every size is bounded (Limits) and checked before anything is kept: a violation is an
// Error naming the line, never a crash or an unbounded allocation. Pure, no I/O.
#pragma once

#include "base/result.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace cats::sampler::prom {

enum class Type : uint8_t { untyped, counter, gauge, histogram, summary };
std::string_view to_string(Type t);

struct Limits {
  size_t max_body = 4 * 1024 * 1024;  // a node_exporter on a large host is ~0.3 MiB
  size_t max_line = 16 * 1024;
  size_t max_series = 50'000;         // sample lines in the whole body (kept or not)
  size_t max_families = 50'000;       // distinct names with a TYPE or HELP line
  size_t max_labels = 64;             // per sample
  size_t max_name = 256;              // metric and label names
  size_t max_label_value = 2048;
};

struct Label {
  std::string name;
  std::string value;
  friend bool operator==(const Label&, const Label&) = default;
};

struct Series {
  std::string name;           // as written: "x_bucket", "x_sum", "x"
  std::vector<Label> labels;  // as written (le and quantile included), unescaped
  double value = 0;
  std::optional<int64_t> timestamp_ms;

  // The value of label `n`, nullptr when absent.
  const std::string* label(std::string_view n) const;
};

struct Exposition {
  std::vector<Series> series;  // the kept samples, in order
  size_t samples = 0;          // sample lines seen (kept or not)
  std::unordered_map<std::string, Type> types;  // from TYPE lines

  // The family a sample name belongs to and its type: the name itself when typed,
  // else x for x_bucket/x_sum/x_count of a histogram x (x_sum/x_count of a summary x),
  // else untyped.
  Type type_of(std::string_view sample_name) const;
};

// Which samples to keep, by name as written (others are parsed, checked and counted, not
// stored). Empty: keep all.
using Keep = std::function<bool(std::string_view name)>;

Result<Exposition> parse_text(std::string_view body, const Limits& limits = {}, const Keep& keep = {});

// A float as the format writes it (Go strconv.ParseFloat minus hex and '_'): "1.5",
// "-2e-3", ".5", "NaN", "+Inf", "-Inf" (case-insensitive, "Infinity" too).
std::optional<double> parse_float(std::string_view s);

// The lexical pieces, shared with the mapping's series selectors (prom_map.hpp).
bool is_metric_name(std::string_view s);
bool is_label_name(std::string_view s);
bool is_utf8(std::string_view s);

}  // namespace cats::sampler::prom
