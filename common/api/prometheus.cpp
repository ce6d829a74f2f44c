#include "api/prometheus.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace cats::api::prom {

namespace {

// Names are code constants: a bad one is a programming error, not input.
[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "prometheus exposition: %s\n", what.c_str());
  std::abort();
}

bool name_char(char c, bool first, bool colon) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
  return alpha || (!first && c >= '0' && c <= '9');
}

bool valid_name(std::string_view n, bool colon) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i)
    if (!name_char(n[i], i == 0, colon)) return false;
  return true;
}

std::string_view type_name(Type t) {
  switch (t) {
    case Type::counter: return "counter";
    case Type::gauge: return "gauge";
    case Type::histogram: return "histogram";
  }
  return "untyped";
}

void append_count(std::string& out, uint64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}

void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    // Shortest round-trip representation (C++17 [charconv]); always fits in 32 chars.
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    if (ec != std::errc()) broken("to_chars failed");
    out.append(buf, p);
  }
}

// Label values escape backslash, double quote and line feed; HELP text the same but the
// quote (exposition format 0.0.4). Most text has none of them and is appended in one piece.
bool plain(std::string_view v, bool quote) {
  for (char c : v)
    if (c == '\\' || c == '\n' || (quote && c == '"')) return false;
  return true;
}

void append_escaped(std::string& out, std::string_view v, bool quote = true) {
  if (plain(v, quote)) {
    out += v;
    return;
  }
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (quote && c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}

// Appends `name[suffix]{a="x",b="y"} ` (no braces without labels) to out, `extra` last (a
// bucket's le). Written in place: /metrics renders a few hundred of these per scrape, and
// per-sample temporary strings were most of its cost (perf, docs/BENCHMARKS.md).
void append_series(std::string& out, std::string_view name, std::string_view suffix, const Labels& labels,
                   const std::pair<std::string_view, std::string_view>* extra) {
  out += name;
  out += suffix;
  if (!labels.empty() || extra) {
    out += '{';
    bool first = true;
    auto add = [&](std::string_view k, std::string_view v) {
      if (!valid_label_name(k)) broken("invalid label name '" + std::string(k) + "' on " + std::string(name));
      if (!first) out += ',';
      first = false;
      out += k;
      out += "=\"";
      append_escaped(out, v);
      out += '"';
    };
    for (const auto& [k, v] : labels) add(k, v);
    if (extra) add(extra->first, extra->second);
    out += '}';
  }
  out += ' ';
}

}  // namespace

bool valid_metric_name(std::string_view name) { return valid_name(name, true); }

bool valid_label_name(std::string_view name) {
  return valid_name(name, false) && name.substr(0, 2) != "__";
}

std::string format_value(double v) {
  std::string out;
  append_value(out, v);
  return out;
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  append_escaped(out, v);
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  append_escaped(out, v, false);
  return out;
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size(), 0) {
  for (size_t i = 0; i < bounds_.size(); ++i)
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1])) broken("histogram bounds not ascending");
}

void Histogram::observe(double v) {
  if (std::isnan(v)) return;  // counted nowhere rather than poisoning the sum
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);  // first bound >= v: le is inclusive
  if (it != bounds_.end()) ++counts_[static_cast<size_t>(it - bounds_.begin())];
  sum_ += v;
  ++count_;
}

HistogramValue Histogram::value() const {
  HistogramValue h;
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cum += counts_[i];
    h.buckets.emplace_back(bounds_[i], cum);
  }
  h.sum = sum_;
  h.count = count_;
  return h;
}

const std::vector<double>& duration_buckets() {
  static const std::vector<double> b = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return b;
}

void Exposition::family(std::string_view name, Type type, std::string_view help) {
  if (!valid_metric_name(name)) broken("invalid metric name '" + std::string(name) + "'");
  if (type == Type::counter && (name.size() < 6 || name.substr(name.size() - 6) != "_total"))
    broken("counter '" + std::string(name) + "' must end in _total");
  auto it = families_.find(name);
  if (it != families_.end() && it->second.declared) {
    if (it->second.type != type || it->second.help != help) broken("family '" + std::string(name) + "' redeclared");
    return;
  }
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{type, std::string(help), {}, false}).first;
    // Most families hold a few lines, the request histograms several KiB: start with room
    // for a few lines rather than growing from nothing (each growth copies the text).
    it->second.text.reserve(type == Type::histogram ? 4096 : 256);
  } else {
    // Kept from before reset(): a new declaration, with its own type and help.
    it->second.type = type;
    if (it->second.help != help) it->second.help.assign(help);
  }
  it->second.declared = true;
  order_.push_back(&*it);
}

void Exposition::reset() {
  for (auto* n : order_) {
    n->second.text.clear();  // keeps its capacity
    n->second.declared = false;
  }
  order_.clear();
  last_ = nullptr;
}

Exposition::Family& Exposition::get(std::string_view name, Type type) {
  // Collectors add a family's samples one after another: the last one is the likely one.
  if (last_ && last_->first == name && last_->second.type == type) return last_->second;
  auto it = families_.find(name);
  if (it == families_.end() || !it->second.declared || it->second.type != type)
    broken("sample of undeclared family '" + std::string(name) + "'");
  last_ = &*it;
  return it->second;
}

void Exposition::gauge(std::string_view name, const Labels& labels, double v) {
  auto& t = get(name, Type::gauge).text;
  append_series(t, name, {}, labels, nullptr);
  append_value(t, v);
  t += '\n';
}

void Exposition::counter(std::string_view name, const Labels& labels, uint64_t v) {
  // Integers exactly, also beyond 2^53 (a double would round them).
  auto& t = get(name, Type::counter).text;
  append_series(t, name, {}, labels, nullptr);
  append_count(t, v);
  t += '\n';
}

namespace {

// `a="x",b="y"` (validated and escaped once per histogram: its 16+ lines share them).
std::string label_text(std::string_view name, const Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    if (!valid_label_name(k)) broken("invalid label name '" + k + "' on " + std::string(name));
    if (!out.empty()) out += ',';
    out += k;
    out += "=\"";
    append_escaped(out, v);
    out += '"';
  }
  return out;
}

// One histogram's lines from (bound, cumulative count) pairs given by `bucket(i)`:
// `name_bucket{labels,le="b"} n` per bound, the +Inf bucket, `_sum` and `_count`. The
// same text append_series writes, with the labels rendered once.
template <class Bucket>
void histogram_lines(std::string& t, std::string_view name, const Labels& labels, size_t n, Bucket bucket,
                     double sum, uint64_t count) {
  const std::string lt = label_text(name, labels);
  auto open_bucket = [&] {
    t += name;
    t += "_bucket{";
    t += lt;
    if (!lt.empty()) t += ',';
    t += "le=\"";
  };
  for (size_t i = 0; i < n; ++i) {
    const auto [bound, c] = bucket(i);
    open_bucket();
    append_value(t, bound);
    t += "\"} ";
    append_count(t, c);
    t += '\n';
  }
  open_bucket();
  t += "+Inf\"} ";
  append_count(t, count);
  t += '\n';
  auto plain_series = [&](std::string_view suffix) {
    t += name;
    t += suffix;
    if (!lt.empty()) {
      t += '{';
      t += lt;
      t += '}';
    }
    t += ' ';
  };
  plain_series("_sum");
  append_value(t, sum);
  t += '\n';
  plain_series("_count");
  append_count(t, count);
  t += '\n';
}

}  // namespace

void Exposition::histogram(std::string_view name, const Labels& labels, const HistogramValue& h) {
  histogram_lines(get(name, Type::histogram).text, name, labels, h.buckets.size(),
                  [&](size_t i) { return h.buckets[i]; }, h.sum, h.count);
}

void Exposition::histogram(std::string_view name, const Labels& labels, const Histogram& h) {
  // Cumulative counts computed while writing: no HistogramValue (a vector) per series.
  uint64_t cum = 0;
  histogram_lines(get(name, Type::histogram).text, name, labels, h.bounds_.size(),
                  [&](size_t i) {
                    cum += h.counts_[i];
                    return std::pair<double, uint64_t>{h.bounds_[i], cum};
                  },
                  h.sum_, h.count_);
}

std::string Exposition::render() const {
  size_t split_at = 0;
  return render(order_.size(), split_at);
}

std::string Exposition::render(size_t split, size_t& split_at) const {
  size_t size = 0;
  for (const auto* n : order_) size += 2 * n->first.size() + n->second.help.size() + n->second.text.size() + 32;
  std::string out;
  out.reserve(size);
  split_at = std::string::npos;
  for (size_t i = 0; i < order_.size(); ++i) {
    if (i == split) split_at = out.size();
    const auto& name = order_[i]->first;
    const auto& f = order_[i]->second;
    out += "# HELP ";
    out += name;
    out += ' ';
    append_escaped(out, f.help, false);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type_name(f.type);
    out += '\n';
    out += f.text;
  }
  if (split_at == std::string::npos) split_at = out.size();
  return out;
}

}  // namespace cats::api::prom
