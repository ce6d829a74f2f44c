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

std::string format_count(uint64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, p);
}

// name{a="x",b="y"} (no braces without labels), `extra` appended last (a bucket's le).
std::string series(std::string_view name, const Labels& labels, const std::pair<std::string, std::string>* extra) {
  std::string out(name);
  if (labels.empty() && !extra) return out;
  out += '{';
  bool first = true;
  auto add = [&](const std::string& k, const std::string& v) {
    if (!valid_label_name(k)) broken("invalid label name '" + k + "' on " + std::string(name));
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escape_label_value(v);
    out += '"';
  };
  for (const auto& [k, v] : labels) add(k, v);
  if (extra) add(extra->first, extra->second);
  out += '}';
  return out;
}

}  // namespace

bool valid_metric_name(std::string_view name) { return valid_name(name, true); }

bool valid_label_name(std::string_view name) {
  return valid_name(name, false) && name.substr(0, 2) != "__";
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  // Shortest round-trip representation (C++17 [charconv]); always fits in 32 chars.
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) broken("to_chars failed");
  return std::string(buf, p);
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
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
  if (it != families_.end()) {
    if (it->second.type != type || it->second.help != help) broken("family '" + std::string(name) + "' redeclared");
    return;
  }
  families_.emplace(std::string(name), Family{type, std::string(help), {}});
  order_.emplace_back(name);
}

Exposition::Family& Exposition::get(std::string_view name, Type type) {
  auto it = families_.find(name);
  if (it == families_.end() || it->second.type != type)
    broken("sample of undeclared family '" + std::string(name) + "'");
  return it->second;
}

void Exposition::gauge(std::string_view name, const Labels& labels, double v) {
  get(name, Type::gauge).lines.push_back(series(name, labels, nullptr) + " " + format_value(v));
}

void Exposition::counter(std::string_view name, const Labels& labels, uint64_t v) {
  // Integers exactly, also beyond 2^53 (a double would round them).
  get(name, Type::counter).lines.push_back(series(name, labels, nullptr) + " " + format_count(v));
}

void Exposition::histogram(std::string_view name, const Labels& labels, const HistogramValue& h) {
  auto& f = get(name, Type::histogram);
  const std::string n(name);
  for (const auto& [le, c] : h.buckets) {
    std::pair<std::string, std::string> l{"le", format_value(le)};
    f.lines.push_back(series(n + "_bucket", labels, &l) + " " + format_count(c));
  }
  std::pair<std::string, std::string> inf{"le", "+Inf"};
  f.lines.push_back(series(n + "_bucket", labels, &inf) + " " + format_count(h.count));
  f.lines.push_back(series(n + "_sum", labels, nullptr) + " " + format_value(h.sum));
  f.lines.push_back(series(n + "_count", labels, nullptr) + " " + format_count(h.count));
}

std::string Exposition::render() const {
  std::string out;
  for (const auto& name : order_) {
    const auto& f = families_.find(name)->second;
    out += "# HELP " + name + " " + escape_help(f.help) + "\n";
    out += "# TYPE " + name + " " + std::string(type_name(f.type)) + "\n";
    for (const auto& l : f.lines) {
      out += l;
      out += '\n';
    }
  }
  return out;
}

}  // namespace cats::api::prom
