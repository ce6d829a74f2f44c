#include "sampler/parse.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <charconv>
#include <cmath>

namespace cats::sampler {
namespace json = boost::json;
using metrics::MetricType;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::optional<uint64_t> to_u64(std::string_view s) {
  uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Optional number field in [lo, hi]; error when present but not a finite number in range.
Result<std::optional<double>> num_field(const json::object& o, std::string_view key, double lo, double hi) {
  const json::value* v = o.if_contains(key);
  if (!v) return std::optional<double>{};
  if (!v->is_number()) return Error::msg(std::string(key) + ": not a number");
  double d = v->to_number<double>();
  if (!std::isfinite(d) || d < lo || d > hi)
    return Error::msg(std::string(key) + ": out of range " + std::to_string(lo) + ".." + std::to_string(hi));
  return std::optional<double>{d};
}

// Lines "key value" (cpu.stat, meminfo): the value of `key`, if any.
std::optional<std::string_view> field(std::string_view text, std::string_view key) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (line.size() > key.size() && line.substr(0, key.size()) == key &&
        (line[key.size()] == ' ' || line[key.size()] == '\t'))
      return trim(line.substr(key.size()));
  }
  return std::nullopt;
}

}  // namespace

Result<LoadSample> parse_load_json(std::string_view body) {
  if (body.size() > kMaxLoadBody) return Error::msg("load: body too large");
  boost::system::error_code ec;
  json::parse_options opt;
  opt.max_depth = 8;  // the answer is flat; a deep document is junk
  json::value v = json::parse(body, ec, {}, opt);
  if (ec) return Error::msg("load: invalid JSON: " + ec.message());
  if (!v.is_object()) return Error::msg("load: not a JSON object");
  const auto& o = v.as_object();
  LoadSample s;
  CATS_TRY_ASSIGN(vcpus, num_field(o, "vcpus", 1, 4096));
  if (!vcpus) return Error::msg("load: vcpus missing");
  s.vcpus = *vcpus;
  CATS_TRY_ASSIGN(u1, num_field(o, "utilization", 0, 1));
  CATS_TRY_ASSIGN(u2, num_field(o, "cpu_utilization", 0, 1));
  if (!u1 && !u2) return Error::msg("load: utilization missing");
  s.cpu_utilization = u1 ? *u1 : *u2;
  CATS_TRY_ASSIGN(delay, num_field(o, "processing_delay_ms", 0, 3.6e6));
  CATS_TRY_ASSIGN(sessions, num_field(o, "active_sessions", 0, 1e12));
  CATS_TRY_ASSIGN(gpu, num_field(o, "gpu_utilization", 0, 1));
  // An instance may still show its last mean after traffic stopped and flag it stale
  // (cats-app's "delay_stale"). A stale delay is not the current one: reporting it would
  // pin an idle instance at its last busy delay and keep it out of the weights (seen in
  // the lab); without it the CPE estimates the delay from vCPUs and utilisation.
  if (auto st = o.if_contains("delay_stale"); st && st->is_bool() && st->as_bool()) delay.reset();
  s.processing_delay_ms = delay;
  s.active_sessions = sessions;
  s.gpu_utilization = gpu;
  return s;
}

std::vector<metrics::L0Metric> to_metrics(const LoadSample& s) {
  // vCPUs is what the instance was given (nominal); the rest it measured itself.
  std::vector<metrics::L0Metric> m{metrics::make(MetricType::vcpus, s.vcpus, metrics::Source::nominal),
                                   metrics::make(MetricType::cpu_utilization, s.cpu_utilization)};
  if (s.processing_delay_ms)
    m.push_back(metrics::make(MetricType::processing_delay_ms, *s.processing_delay_ms, metrics::Source::measured,
                              metrics::Statistic::mean));
  if (s.active_sessions) m.push_back(metrics::make(MetricType::active_sessions, *s.active_sessions));
  if (s.gpu_utilization) m.push_back(metrics::make(MetricType::gpu_utilization, *s.gpu_utilization));
  return m;
}

Result<uint64_t> parse_cpu_stat_usage(std::string_view text) {
  auto f = field(text, "usage_usec");
  if (!f) return Error::msg("cpu.stat: no usage_usec");
  auto v = to_u64(*f);
  if (!v) return Error::msg("cpu.stat: bad usage_usec");
  return *v;
}

Result<std::optional<double>> parse_cpu_max(std::string_view text) {
  text = trim(text);
  auto sp = text.find(' ');
  if (sp == std::string_view::npos) return Error::msg("cpu.max: expected \"QUOTA PERIOD\"");
  auto quota = text.substr(0, sp);
  auto period = to_u64(trim(text.substr(sp + 1)));
  if (!period || *period == 0) return Error::msg("cpu.max: bad period");
  if (quota == "max") return std::optional<double>{};
  auto q = to_u64(quota);
  if (!q || *q == 0) return Error::msg("cpu.max: bad quota");
  return std::optional<double>{static_cast<double>(*q) / static_cast<double>(*period)};
}

Result<uint32_t> parse_cpuset_count(std::string_view text) {
  text = trim(text);
  if (text.empty()) return Error::msg("cpuset: empty");
  uint64_t n = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    auto item = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    pos = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    auto dash = item.find('-');
    auto lo = to_u64(item.substr(0, dash));
    auto hi = dash == std::string_view::npos ? lo : to_u64(item.substr(dash + 1));
    if (!lo || !hi || *hi < *lo || *hi >= 65536) return Error::msg("cpuset: bad range");
    n += *hi - *lo + 1;
  }
  if (n > 65536) return Error::msg("cpuset: too many CPUs");
  return static_cast<uint32_t>(n);
}

Result<std::optional<uint64_t>> parse_memory_value(std::string_view text) {
  text = trim(text);
  if (text == "max") return std::optional<uint64_t>{};
  auto v = to_u64(text);
  if (!v) return Error::msg("memory: bad value");
  return std::optional<uint64_t>{*v};
}

std::optional<double> usage_utilization(uint64_t prev_usec, uint64_t cur_usec, std::chrono::nanoseconds wall,
                                        double vcpus) {
  if (cur_usec < prev_usec || wall.count() <= 0 || !(vcpus > 0)) return std::nullopt;
  double used = static_cast<double>(cur_usec - prev_usec) * 1e3;  // ns
  double u = used / (static_cast<double>(wall.count()) * vcpus);
  return std::clamp(u, 0.0, 1.0);
}

Result<CpuTimes> parse_proc_stat(std::string_view text) {
  CpuTimes t;
  bool have_total = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (line.rfind("cpu", 0) != 0) continue;
    if (line.size() > 3 && line[3] >= '0' && line[3] <= '9') {
      ++t.cpus;
      continue;
    }
    if (line.size() < 4 || line[3] != ' ') continue;
    // user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    uint64_t v[8] = {};
    size_t n = 0;
    size_t p = 4;
    while (n < 8 && p < line.size()) {
      while (p < line.size() && line[p] == ' ') ++p;
      size_t e = line.find(' ', p);
      auto tok = line.substr(p, e == std::string_view::npos ? std::string_view::npos : e - p);
      if (tok.empty()) break;
      auto x = to_u64(tok);
      if (!x) return Error::msg("/proc/stat: bad cpu line");
      v[n++] = *x;
      p = e == std::string_view::npos ? line.size() : e;
    }
    if (n < 4) return Error::msg("/proc/stat: short cpu line");
    uint64_t total = 0;
    for (size_t i = 0; i < n; ++i) total += v[i];
    t.total = total;
    t.busy = total - v[3] - v[4];
    have_total = true;
  }
  if (!have_total) return Error::msg("/proc/stat: no cpu line");
  if (t.cpus == 0) t.cpus = 1;
  return t;
}

std::optional<double> proc_utilization(const CpuTimes& prev, const CpuTimes& cur) {
  if (cur.total <= prev.total || cur.busy < prev.busy) return std::nullopt;
  double u = static_cast<double>(cur.busy - prev.busy) / static_cast<double>(cur.total - prev.total);
  return std::clamp(u, 0.0, 1.0);
}

Result<MemInfo> parse_meminfo(std::string_view text) {
  auto kb = [&](std::string_view key) -> std::optional<uint64_t> {
    auto f = field(text, key);
    if (!f) return std::nullopt;
    auto s = *f;
    if (s.size() > 3 && s.substr(s.size() - 3) == " kB") s = trim(s.substr(0, s.size() - 3));
    return to_u64(s);
  };
  auto total = kb("MemTotal:");
  auto avail = kb("MemAvailable:");
  if (!total || !avail || *total == 0 || *avail > *total) return Error::msg("/proc/meminfo: no MemTotal/MemAvailable");
  return MemInfo{*total, *avail};
}

Result<HttpUrl> parse_http_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (url.size() > 255 || url.substr(0, scheme.size()) != scheme) return Error::msg("not an http:// URL");
  url.remove_prefix(scheme.size());
  auto slash = url.find('/');
  HttpUrl u;
  u.host = std::string(url.substr(0, slash));
  u.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  for (char c : u.target)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return Error::msg("bad character in URL path");
  std::string_view h = u.host;
  std::string_view port;
  if (!h.empty() && h.front() == '[') {
    auto close = h.find(']');
    if (close == std::string_view::npos) return Error::msg("bad IPv6 literal");
    if (close + 1 < h.size()) {
      if (h[close + 1] != ':') return Error::msg("bad host");
      port = h.substr(close + 2);
    }
    h = h.substr(1, close - 1);
  } else if (auto colon = h.find(':'); colon != std::string_view::npos) {
    port = h.substr(colon + 1);
    h = h.substr(0, colon);
  }
  auto a = parse_address(h);
  if (!a) return Error::msg("host must be an IP address (no DNS in the sampler)");
  u.address = *a;
  if (!port.empty() || u.host.back() == ':') {
    auto p = to_u64(port);
    if (!p || *p == 0 || *p > 65535) return Error::msg("bad port");
    u.port = static_cast<uint16_t>(*p);
  }
  return u;
}

}  // namespace cats::sampler
