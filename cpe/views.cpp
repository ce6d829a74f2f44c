#include "cpe/views.hpp"

#include "base/ip.hpp"
#include "metrics/metric.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>

namespace cats::cpe {

namespace json = boost::json;
using metrics::MetricType;

namespace {

json::value opt(const std::optional<double>& v) {
  if (v && std::isfinite(*v)) return *v;
  return nullptr;
}

// JSON has no NaN/inf; a non-finite statistic is shown as null rather than breaking the reply.
json::value num(double v) {
  if (std::isfinite(v)) return v;
  return nullptr;
}

double or_zero(const std::optional<double>& v) { return v && std::isfinite(*v) ? *v : 0.0; }

}  // namespace

json::object cost_parts_json(const select::CostParts& parts) {
  return json::object{{"access_ms", num(parts.access_ms)},   {"delay_ms", num(parts.delay_ms)},
                      {"jitter_ms", num(parts.jitter_ms)},   {"loss_ms", num(parts.loss_ms)},
                      {"compute_ms", num(parts.compute_ms)}, {"wan_cost_ms", num(parts.wan_cost_ms)}};
}

json::array paths_json(const std::vector<PathView>& paths) {
  json::array out;
  out.reserve(paths.size());
  for (const auto& p : paths) {
    const auto& s = p.snap;
    out.push_back(json::object{{"wan", p.wan},
                               {"vcpe", p.vcpe},
                               {"tunnel", p.tunnel},
                               {"rtt_ms", opt(s.rtt_ms)},
                               {"rtt_min_ms", opt(s.rtt_min_ms)},
                               {"rtt_avg_ms", opt(s.rtt_avg_ms)},
                               {"rtt_max_ms", opt(s.rtt_max_ms)},
                               {"jitter_ms", num(s.jitter_ms)},
                               {"loss_pct", num(s.loss_pct)},
                               {"state", std::string(stamp::to_string(s.state))},
                               {"probe_state", std::string(stamp::to_string(p.probe_state))},
                               {"penalty", num(std::round(p.penalty))},
                               {"flaps", p.flaps},
                               {"held_ms", p.held_ms ? json::value(*p.held_ms) : json::value(nullptr)},
                               {"sent", s.sent},
                               {"received", s.received},
                               {"lost", s.lost},
                               {"late", s.late},
                               {"spikes", s.spikes}});
  }
  return out;
}

json::array instances_json(const report::InstanceTable::Map& table, std::chrono::steady_clock::time_point now) {
  json::array out;
  out.reserve(table.size());
  for (const auto& [k, st] : table) {
    // (clang 14 cannot capture a structured binding: capture its metrics by name.)
    auto cur = [&m = st.metrics](MetricType t) { return opt(metrics::current_value(m, t)); };
    auto ago = std::chrono::duration_cast<std::chrono::milliseconds>(now - st.last_report).count();
    // The kept figures (report::InstanceFigures), not only this report's: the age of the
    // last measured delay runs on the CPE's clock from when it was measured.
    const auto& f = st.figures;
    json::value delay_age = nullptr;
    if (f.last_delay_ms)
      delay_age = std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(now - f.last_delay_at).count());
    out.push_back(json::object{{"service", k.service_id},
                               {"instance", k.instance_id},
                               {"vcpe", k.vcpe_id},
                               {"address", endpoint_to_string(st.address)},
                               {"vcpus", cur(MetricType::vcpus)},
                               {"utilization", cur(MetricType::cpu_utilization)},
                               {"processing_delay_ms", cur(MetricType::processing_delay_ms)},
                               {"active_sessions", cur(MetricType::active_sessions)},
                               {"gpu_count", cur(MetricType::gpu_count)},
                               {"gpu_utilization", cur(MetricType::gpu_utilization)},
                               {"gpu_memory_utilization", cur(MetricType::gpu_memory_utilization)},
                               {"queue_depth", cur(MetricType::queue_depth)},
                               {"ttft_ms", cur(MetricType::ttft_ms)},
                               {"service_time_ms", opt(f.service_time_ms)},
                               {"service_time_source", f.service_time_ms
                                                           ? json::value(metrics::to_string(f.service_time_source))
                                                           : json::value(nullptr)},
                               {"last_processing_delay_ms", opt(f.last_delay_ms)},
                               {"last_processing_delay_age_ms", std::move(delay_age)},
                               {"measured", f.measured},
                               {"available", st.available()},
                               {"last_report_ms_ago", std::max<int64_t>(0, ago)}});
  }
  return out;
}

json::object reports_json(const std::array<uint64_t, report::kVerdictCount>& counters,
                          const std::vector<VcpeSeq>& vcpes) {
  json::object c;
  for (size_t i = 0; i < report::kVerdictCount; ++i)
    c[report::to_string(static_cast<report::Verdict>(i))] = counters[i];
  json::array vs;
  for (const auto& v : vcpes) {
    json::value seq = nullptr;
    if (v.last_seq) seq = *v.last_seq;
    vs.push_back(json::object{{"vcpe", v.vcpe}, {"address", v.address}, {"last_seq", seq}});
  }
  return json::object{{"counters", std::move(c)}, {"vcpes", std::move(vs)}};
}

json::array events_json(const std::vector<store::Event>& events) {
  json::array out;
  out.reserve(events.size());
  for (const auto& e : events)
    out.push_back(json::object{{"ts_ms", e.ts_ms}, {"kind", e.kind}, {"subject", e.subject}, {"detail", e.detail}});
  return out;
}

std::optional<api::FieldError> event_query(const std::map<std::string, std::string>& query, int64_t now_ms,
                                           store::EventQuery& out) {
  static constexpr int64_t kDefaultRangeMs = 3600'000;
  static const char* const kKnown[] = {"since", "until", "from", "to", "kind", "subject", "limit", "newest", "points"};
  for (const auto& [k, v] : query)
    if (std::find(std::begin(kKnown), std::end(kKnown), k) == std::end(kKnown))
      return api::FieldError{k, "unknown parameter (since, until, kind, subject, limit, newest, points)"};
  auto i64 = [&](const char* name, const char* alias, int64_t& v) -> std::optional<api::FieldError> {
    auto a = query.find(name), b = query.find(alias);
    if (a != query.end() && b != query.end())
      return api::FieldError{name, std::string("give ") + name + " or " + alias + ", not both"};
    auto it = a != query.end() ? a : b;
    if (it == query.end()) return std::nullopt;
    const std::string& s = it->second;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size())
      return api::FieldError{it->first, "expected unix milliseconds"};
    return std::nullopt;
  };
  out = {};
  out.to_ms = now_ms;
  if (auto e = i64("until", "to", out.to_ms)) return e;
  out.from_ms = out.to_ms - kDefaultRangeMs;
  if (auto e = i64("since", "from", out.from_ms)) return e;
  if (out.from_ms > out.to_ms) return api::FieldError{"since", "after until"};
  if (auto it = query.find("kind"); it != query.end()) {
    std::string_view rest = it->second;
    while (true) {
      auto comma = rest.find(',');
      out.kinds.emplace_back(rest.substr(0, comma));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  if (auto it = query.find("subject"); it != query.end()) {
    if (it->second.empty()) return api::FieldError{"subject", "empty: leave it out for any subject"};
    out.subject = it->second;
  }
  if (auto it = query.find("limit"); it != query.end()) {
    int64_t n = 0;
    const std::string& s = it->second;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size() || n < 1 ||
        n > static_cast<int64_t>(store::EventQuery::kMaxEvents))
      return api::FieldError{"limit", "expected 1.." + std::to_string(store::EventQuery::kMaxEvents)};
    out.limit = static_cast<size_t>(n);
  }
  if (auto it = query.find("newest"); it != query.end()) {
    if (it->second != "0" && it->second != "1") return api::FieldError{"newest", "expected 0 or 1"};
    out.newest = it->second == "1";
  }
  if (auto it = query.find("points"); it != query.end()) {
    const std::string& s = it->second;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out.points);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size() || out.points < 1 || out.points > store::kMaxPoints)
      return api::FieldError{"points", "expected 1.." + std::to_string(store::kMaxPoints)};
  }
  if (auto bad = store::check_event_query(out)) return api::FieldError{bad->field, bad->message};
  return std::nullopt;
}

json::array path_history_json(const std::vector<store::PathSample>& samples) {
  json::array out;
  out.reserve(samples.size());
  for (const auto& s : samples)
    out.push_back(json::object{{"wan", s.wan},
                               {"vcpe", s.vcpe},
                               {"ts_ms", s.ts_ms},
                               {"rtt_ms", num(s.rtt_ms)},
                               {"jitter_ms", num(s.jitter_ms)},
                               {"loss_pct", num(s.loss_pct)},
                               {"state", s.state}});
  return out;
}

json::array instance_history_json(const std::vector<store::InstanceSample>& samples) {
  json::array out;
  out.reserve(samples.size());
  for (const auto& s : samples)
    out.push_back(json::object{{"vcpe", s.vcpe},
                               {"service", s.service},
                               {"instance", s.instance},
                               {"ts_ms", s.ts_ms},
                               {"vcpus", num(s.vcpus)},
                               {"utilization", num(s.utilization)},
                               {"processing_delay_ms", num(s.processing_delay_ms)},
                               {"available", s.available}});
  return out;
}

json::array path_buckets_json(const std::vector<store::PathBucket>& buckets) {
  json::array out;
  out.reserve(buckets.size());
  for (const auto& b : buckets)
    out.push_back(json::object{{"wan", b.wan},
                               {"vcpe", b.vcpe},
                               {"ts_ms", b.ts_ms},
                               {"bucket_ms", b.bucket_ms},
                               {"samples", b.samples},
                               {"rtt_ms", num(b.rtt_ms)},
                               {"rtt_min_ms", num(b.rtt_min_ms)},
                               {"rtt_max_ms", num(b.rtt_max_ms)},
                               {"jitter_ms", num(b.jitter_ms)},
                               {"loss_pct", num(b.loss_pct)},
                               {"state", b.state}});
  return out;
}

json::array instance_buckets_json(const std::vector<store::InstanceBucket>& buckets) {
  json::array out;
  out.reserve(buckets.size());
  for (const auto& b : buckets)
    out.push_back(json::object{{"vcpe", b.vcpe},
                               {"service", b.service},
                               {"instance", b.instance},
                               {"ts_ms", b.ts_ms},
                               {"bucket_ms", b.bucket_ms},
                               {"samples", b.samples},
                               {"vcpus", num(b.vcpus)},
                               {"utilization", num(b.utilization)},
                               {"utilization_min", num(b.utilization_min)},
                               {"utilization_max", num(b.utilization_max)},
                               {"processing_delay_ms", num(b.processing_delay_ms)},
                               {"processing_delay_min_ms", num(b.processing_delay_min_ms)},
                               {"processing_delay_max_ms", num(b.processing_delay_max_ms)},
                               {"available", b.available}});
  return out;
}

std::vector<store::PathSample> path_samples(const std::vector<PathView>& paths, int64_t ts_ms) {
  std::vector<store::PathSample> out;
  out.reserve(paths.size());
  for (const auto& p : paths)
    out.push_back({p.wan, p.vcpe, ts_ms, or_zero(p.snap.rtt_ms), p.snap.jitter_ms, p.snap.loss_pct,
                   std::string(stamp::to_string(p.snap.state))});
  return out;
}

std::vector<store::InstanceSample> instance_samples(const report::InstanceTable::Map& table, int64_t ts_ms) {
  std::vector<store::InstanceSample> out;
  out.reserve(table.size());
  for (const auto& [k, st] : table) {
    auto cur = [&m = st.metrics](MetricType t) { return or_zero(metrics::current_value(m, t)); };
    out.push_back({k.vcpe_id, k.service_id, k.instance_id, ts_ms, cur(MetricType::vcpus),
                   cur(MetricType::cpu_utilization), cur(MetricType::processing_delay_ms), st.available()});
  }
  return out;
}

}  // namespace cats::cpe
