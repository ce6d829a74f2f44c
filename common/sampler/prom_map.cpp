#include "sampler/prom_map.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <set>

namespace cats::sampler::prom {
using metrics::MetricType;

std::string_view to_string(Fn f) {
  switch (f) {
    case Fn::value: return "value";
    case Fn::rate: return "rate";
    case Fn::quantile: return "quantile";
  }
  return "value";
}

std::string_view to_string(Agg a) {
  switch (a) {
    case Agg::sum: return "sum";
    case Agg::avg: return "avg";
    case Agg::max: return "max";
    case Agg::min: return "min";
    case Agg::count: return "count";
  }
  return "sum";
}

std::optional<Fn> parse_fn(std::string_view s) {
  for (Fn f : {Fn::value, Fn::rate, Fn::quantile})
    if (s == to_string(f)) return f;
  return std::nullopt;
}

std::optional<Agg> parse_agg(std::string_view s) {
  for (Agg a : {Agg::sum, Agg::avg, Agg::max, Agg::min, Agg::count})
    if (s == to_string(a)) return a;
  return std::nullopt;
}

bool Selector::matches(const Series& s) const {
  if (s.name != name) return false;
  for (const auto& m : matchers) {
    const std::string* v = s.label(m.label);
    // PromQL: an absent label matches as the empty string.
    bool eq = (v ? *v : std::string()) == m.value;
    if (eq != m.equal) return false;
  }
  return true;
}

Result<Selector> parse_selector(std::string_view text) {
  // The exposition's own lexer reads the name and the escaped values: parse the selector
  // as a sample line `name{...} 0`, then take `!=` apart first (the exposition has only `=`).
  Selector sel;
  size_t brace = text.find('{');
  sel.name = std::string(text.substr(0, brace));
  if (!is_metric_name(sel.name)) return Error::msg("invalid metric name \"" + sel.name + "\"");
  if (brace == std::string_view::npos) return sel;
  if (text.back() != '}') return Error::msg("a selector ends with '}'");
  std::string_view body = text.substr(brace + 1, text.size() - brace - 2);
  size_t i = 0;
  auto skip = [&] {
    while (i < body.size() && (body[i] == ' ' || body[i] == '\t')) ++i;
  };
  for (;;) {
    skip();
    if (i >= body.size()) break;
    size_t b = i;
    while (i < body.size() && (std::isalnum(static_cast<unsigned char>(body[i])) || body[i] == '_')) ++i;
    Matcher m;
    m.label = std::string(body.substr(b, i - b));
    if (!is_label_name(m.label)) return Error::msg("invalid label name \"" + m.label + "\"");
    skip();
    if (body.substr(i, 2) == "!=") {
      m.equal = false;
      i += 2;
    } else if (i < body.size() && body[i] == '=') {
      if (body.substr(i, 2) == "=~") return Error::msg("regular expression matchers (=~, !~) are not supported");
      ++i;
    } else {
      return Error::msg("expected = or != after label \"" + m.label + "\"");
    }
    skip();
    // The quoted value, escapes as in the exposition (\\ \" \n).
    if (i >= body.size() || body[i] != '"') return Error::msg("expected '\"' after \"" + m.label + "\"");
    ++i;
    bool closed = false;
    while (i < body.size()) {
      char c = body[i++];
      if (c == '"') {
        closed = true;
        break;
      }
      if (c == '\\') {
        if (i >= body.size()) break;
        char e = body[i++];
        if (e == 'n') c = '\n';
        else if (e == '\\' || e == '"') c = e;
        else return Error::msg(std::string("invalid escape sequence '\\") + e + "'");
      }
      m.value.push_back(c);
    }
    if (!closed) return Error::msg("unterminated label value");
    if (!is_utf8(m.value)) return Error::msg("label value is not UTF-8");
    if (sel.matchers.size() >= 8) return Error::msg("at most 8 label matchers");
    sel.matchers.push_back(std::move(m));
    skip();
    if (i >= body.size()) break;
    if (body[i] != ',') return Error::msg("expected ',' between label matchers");
    ++i;
  }
  return sel;
}

std::string to_string(const Selector& s) {
  std::string out = s.name;
  if (s.matchers.empty()) return out;
  out += '{';
  for (size_t i = 0; i < s.matchers.size(); ++i) {
    if (i) out += ',';
    out += s.matchers[i].label + (s.matchers[i].equal ? "=\"" : "!=\"");
    for (char c : s.matchers[i].value) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') out += "\\n";
      else out += c;
    }
    out += '"';
  }
  return out + '}';
}

// ---- presets ----------------------------------------------------------------------------
namespace {

Selector sel(std::string name, std::vector<Matcher> m = {}) { return Selector{std::move(name), std::move(m)}; }

Rule rule(MetricType t, Fn f, Agg a, std::vector<Selector> series, std::vector<Selector> over = {}, double scale = 1.0,
          bool complement = false, double q = 0.5) {
  Rule r;
  r.target = t;
  r.fn = f;
  r.agg = a;
  r.series = std::move(series);
  r.over = std::move(over);
  r.scale = scale;
  r.complement = complement;
  r.quantile = q;
  return r;
}

std::vector<Rule> node_exporter() {
  // prometheus/node_exporter collector/cpu_linux.go (updateStat): node_cpu_seconds_total
  // {cpu, mode} counters, modes user nice system idle iowait irq softirq steal; the e2e
  // fixture collector/fixtures/e2e-output.txt shows them. Utilisation = 1 − idle share
  // of all CPU seconds, i.e. rate(mode!="idle") / rate(all) as the brief states it.
  // collector/meminfo_linux.go: node_memory_MemAvailable_bytes, node_memory_MemTotal_bytes
  // (BuildFQName("node", "memory", "MemAvailable_bytes")).
  auto cpu = sel("node_cpu_seconds_total");
  auto idle = sel("node_cpu_seconds_total", {{"mode", true, "idle"}});
  return {
      rule(MetricType::cpu_utilization, Fn::rate, Agg::sum, {idle}, {cpu}, 1.0, true),
      // One idle counter per CPU: their count is the vCPUs the host has.
      rule(MetricType::vcpus, Fn::value, Agg::count, {idle}),
      rule(MetricType::memory_utilization, Fn::value, Agg::sum, {sel("node_memory_MemAvailable_bytes")},
           {sel("node_memory_MemTotal_bytes")}, 1.0, true),
  };
}

std::vector<Rule> dcgm() {
  // NVIDIA/dcgm-exporter etc/default-counters.csv: DCGM_FI_DEV_GPU_UTIL gauge "GPU
  // utilization (in %)", DCGM_FI_DEV_FB_FREE / DCGM_FI_DEV_FB_USED gauges "Framebuffer
  // memory free/used (in MiB)"; one series per GPU (label gpu).
  auto util = sel("DCGM_FI_DEV_GPU_UTIL");
  return {
      rule(MetricType::gpu_utilization, Fn::value, Agg::avg, {util}, {}, 0.01),
      rule(MetricType::gpu_count, Fn::value, Agg::count, {util}),
      rule(MetricType::gpu_memory_utilization, Fn::value, Agg::sum, {sel("DCGM_FI_DEV_FB_USED")},
           {sel("DCGM_FI_DEV_FB_USED"), sel("DCGM_FI_DEV_FB_FREE")}),
  };
}

std::vector<Rule> vllm() {
  // vllm-project/vllm vllm/engine/metrics.py (class Metrics): gauges
  // vllm:num_requests_running ("currently running on GPU"), vllm:num_requests_waiting
  // ("waiting to be processed"), vllm:gpu_cache_usage_perc ("GPU KV-cache usage. 1 means
  // 100 percent usage."), histogram vllm:time_to_first_token_seconds; label model_name.
  auto ttft = std::string("vllm:time_to_first_token_seconds");
  return {
      rule(MetricType::active_sessions, Fn::value, Agg::sum, {sel("vllm:num_requests_running")}),
      rule(MetricType::queue_depth, Fn::value, Agg::sum, {sel("vllm:num_requests_waiting")}),
      // A full KV cache admits no new sequence: what is left of it is the free capacity.
      // The V1 engine names the gauge vllm:kv_cache_usage_perc (docs/design/metrics.md,
      // "v1 Metrics"); a server has one of the two.
      rule(MetricType::capacity_free, Fn::value, Agg::max,
           {sel("vllm:gpu_cache_usage_perc"), sel("vllm:kv_cache_usage_perc")}, {}, 1.0, true),
      // p90 of the time to first token over the last scrape interval, in ms.
      rule(MetricType::ttft_ms, Fn::quantile, Agg::sum, {sel(ttft)}, {}, 1000.0, false, 0.9),
      // The mean of the same interval, as the processing delay the selector already uses:
      // for an LLM server the time until it answers is the time to its first token.
      rule(MetricType::processing_delay_ms, Fn::rate, Agg::sum, {sel(ttft + "_sum")}, {sel(ttft + "_count")}, 1000.0),
  };
}

std::vector<Rule> triton() {
  // triton-inference-server/server docs/user_guide/metrics.md: counters
  // nv_inference_request_success, nv_inference_request_duration_us and
  // nv_inference_queue_duration_us ("Cumulative time requests spend waiting in the
  // scheduling queue", µs; per model), gauges nv_gpu_utilization ("0.0 - 1.0", per GPU),
  // nv_gpu_memory_total_bytes, nv_gpu_memory_used_bytes. The doc pairs
  // nv_inference_queue_duration_us with nv_inference_request_success as sum and count.
  auto gpu = sel("nv_gpu_utilization");
  return {
      rule(MetricType::gpu_utilization, Fn::value, Agg::avg, {gpu}),
      rule(MetricType::gpu_count, Fn::value, Agg::count, {gpu}),
      rule(MetricType::gpu_memory_utilization, Fn::value, Agg::sum, {sel("nv_gpu_memory_used_bytes")},
           {sel("nv_gpu_memory_total_bytes")}),
      // Mean request time over the interval, µs -> ms.
      rule(MetricType::processing_delay_ms, Fn::rate, Agg::sum, {sel("nv_inference_request_duration_us")},
           {sel("nv_inference_request_success")}, 0.001),
      // Little's law (L = λW): queueing µs accrued per second / 1e6 is the mean number
      // of requests waiting over the interval. Triton has no queue-length gauge in that doc.
      rule(MetricType::queue_depth, Fn::rate, Agg::sum, {sel("nv_inference_queue_duration_us")}, {}, 1e-6),
  };
}

constexpr std::array<std::string_view, 4> kPresets{"node_exporter", "dcgm", "vllm", "triton"};

}  // namespace

std::optional<std::vector<Rule>> preset(std::string_view name) {
  if (name == "node_exporter") return node_exporter();
  if (name == "dcgm") return dcgm();
  if (name == "vllm") return vllm();
  if (name == "triton") return triton();
  return std::nullopt;
}

std::span<const std::string_view> preset_names() { return kPresets; }

std::vector<std::string> sample_names(std::span<const Rule> rules) {
  std::set<std::string> names;
  for (const auto& r : rules) {
    for (const auto* list : {&r.series, &r.over})
      for (const auto& s : *list) names.insert(r.fn == Fn::quantile ? s.name + "_bucket" : s.name);
  }
  return {names.begin(), names.end()};
}

// ---- evaluation -------------------------------------------------------------------------

std::optional<double> histogram_quantile(double q, std::vector<std::pair<double, double>> b) {
  // PromQL histogram_quantile (promql/quantile.go bucketQuantile): sorted by bound, the
  // last bound must be +Inf, counts made monotonic, the rank q·total found by linear
  // interpolation inside its bucket (from 0 for the first bucket when its bound is
  // positive); a rank in the +Inf bucket gives the highest finite bound.
  if (std::isnan(q) || q < 0 || q > 1) return std::nullopt;
  std::erase_if(b, [](const auto& x) { return std::isnan(x.first) || !std::isfinite(x.second); });
  std::sort(b.begin(), b.end());
  if (b.size() < 2 || b.back().first != std::numeric_limits<double>::infinity()) return std::nullopt;
  for (size_t i = 1; i < b.size(); ++i) b[i].second = std::max(b[i].second, b[i - 1].second);
  double total = b.back().second;
  if (total <= 0) return std::nullopt;
  double rank = q * total;
  size_t i = 0;
  while (i + 1 < b.size() && b[i].second < rank) ++i;
  if (i == b.size() - 1) return b[b.size() - 2].first;
  if (i == 0 && b[0].first <= 0) return b[0].first;
  double start = i == 0 ? 0.0 : b[i - 1].first;
  double below = i == 0 ? 0.0 : b[i - 1].second;
  double in = b[i].second - below;
  if (in <= 0) return b[i].first;
  return start + (b[i].first - start) * (rank - below) / in;
}

namespace {

std::string series_key(const Series& s) {
  std::vector<std::pair<std::string_view, std::string_view>> ls;
  for (const auto& l : s.labels) ls.emplace_back(l.name, l.value);
  std::sort(ls.begin(), ls.end());
  std::string k = s.name;
  for (auto [n, v] : ls) {
    k += '\xff';
    k += n;
    k += '=';
    k += v;
  }
  return k;
}

std::optional<double> combine(Agg a, const std::vector<double>& v) {
  if (a == Agg::count) return static_cast<double>(v.size());
  if (v.empty()) return std::nullopt;
  double acc = a == Agg::min ? v[0] : a == Agg::max ? v[0] : 0.0;
  for (double x : v) {
    if (a == Agg::sum || a == Agg::avg) acc += x;
    else if (a == Agg::max) acc = std::max(acc, x);
    else acc = std::min(acc, x);
  }
  return a == Agg::avg ? acc / static_cast<double>(v.size()) : acc;
}

}  // namespace

Mapper::Mapper(std::vector<Rule> rules) : rules_(std::move(rules)) {}

double Mapper::increase(const Series& s, const std::string& key) const {
  auto it = prev_.find(key);
  if (it == prev_.end()) return std::numeric_limits<double>::quiet_NaN();
  // A counter below its previous value was reset (restart): PromQL counts the new value
  // as the increase since then.
  return s.value >= it->second ? s.value - it->second : s.value;
}

std::optional<double> Mapper::eval(const Rule& r, const std::vector<Selector>& sels, const Exposition& e,
                                   double dt_s) const {
  std::vector<double> vals;
  for (const auto& s : e.series) {
    if (std::none_of(sels.begin(), sels.end(), [&](const Selector& x) { return x.matches(s); })) continue;
    double v = s.value;
    if (r.fn == Fn::rate) {
      if (dt_s <= 0) return std::nullopt;
      v = increase(s, series_key(s)) / dt_s;  // NaN for a series new since the last scrape
    }
    if (std::isnan(v)) continue;  // unknown, not zero
    vals.push_back(v);
  }
  if (r.agg == Agg::count && vals.empty()) return std::nullopt;  // "no such series", not 0
  return combine(r.agg, vals);
}

std::optional<double> Mapper::eval_quantile(const Rule& r, const Exposition& e) const {
  // Bucket increases since the previous scrape, summed by le over every matched series
  // (PromQL: histogram_quantile(q, sum by (le) (rate(x_bucket[...])))).
  std::vector<std::pair<double, double>> by_le;
  for (const auto& s : e.series) {
    bool hit = false;
    for (const auto& sl : r.series) {
      if (s.name.size() != sl.name.size() + 7 || !s.name.starts_with(sl.name) || !s.name.ends_with("_bucket")) continue;
      Selector as_bucket{s.name, sl.matchers};
      hit = hit || as_bucket.matches(s);
    }
    if (!hit) continue;
    auto* le = s.label("le");
    auto bound = le ? parse_float(*le) : std::nullopt;
    if (!bound) continue;
    double inc = increase(s, series_key(s));
    if (std::isnan(inc)) continue;
    auto it = std::find_if(by_le.begin(), by_le.end(), [&](const auto& x) { return x.first == *bound; });
    if (it == by_le.end()) by_le.emplace_back(*bound, inc);
    else it->second += inc;
  }
  return histogram_quantile(r.quantile, std::move(by_le));
}

Result<std::vector<metrics::L0Metric>> Mapper::apply(const Exposition& e, TimePoint now) {
  double dt_s = prev_at_ ? std::chrono::duration<double>(now - *prev_at_).count() : 0.0;
  bool any_series = false;
  std::vector<metrics::L0Metric> out;
  for (const auto& r : rules_) {
    for (const auto& s : e.series) {
      for (const auto* list : {&r.series, &r.over})
        for (const auto& sl : *list)
          any_series = any_series || s.name == sl.name || (r.fn == Fn::quantile && s.name == sl.name + "_bucket");
    }
    std::optional<double> x;
    if (r.fn == Fn::quantile) {
      if (prev_at_) x = eval_quantile(r, e);
    } else if (r.fn == Fn::value || prev_at_) {
      x = eval(r, r.series, e, dt_s);
      if (x && !r.over.empty()) {
        auto d = eval(r, r.over, e, dt_s);
        x = d && *d > 0 ? std::optional<double>(*x / *d) : std::nullopt;
      }
    }
    if (!x || !std::isfinite(*x)) continue;
    double v = r.complement ? 1.0 - *x : *x;
    v *= r.scale;
    const auto* info = metrics::find_type(static_cast<uint16_t>(r.target));
    // A ratio from two counters read a moment apart can leave 0..1 by rounding; anything
    // further out is the server's error and is dropped below.
    if (info && info->unit == metrics::Unit::ratio && v > -0.01 && v < 1.01) v = std::clamp(v, 0.0, 1.0);
    if (v < 0 && v > -1e-9) v = 0;
    // A rate describes the interval between two scrapes: a mean, not a reading.
    // (A quantile is neither: it is carried as the present figure, `cur`.)
    auto stat = r.fn == Fn::rate ? metrics::Statistic::mean : metrics::Statistic::cur;
    auto m = metrics::make(r.target, v, metrics::Source::measured, stat);
    if (!metrics::is_valid(m)) continue;
    if (std::none_of(out.begin(), out.end(), [&](const metrics::L0Metric& o) { return o.type == m.type; }))
      out.push_back(m);
  }
  if (!any_series) {
    std::string names;
    for (const auto& n : sample_names(rules_)) names += (names.empty() ? "" : ", ") + n;
    return Error::msg("the exposition has none of the mapped series (" + names + ")");
  }
  // Remember every counter and bucket the rules may rate next time.
  prev_.clear();
  for (const auto& s : e.series) {
    for (const auto& r : rules_) {
      if (r.fn == Fn::value) continue;
      bool hit = false;
      for (const auto* list : {&r.series, &r.over})
        for (const auto& sl : *list) hit = hit || s.name == (r.fn == Fn::quantile ? sl.name + "_bucket" : sl.name);
      if (hit) {
        prev_[series_key(s)] = s.value;
        break;
      }
    }
  }
  prev_at_ = now;
  return out;
}

}  // namespace cats::sampler::prom
