#include "cpe/metrics.hpp"

#include "metrics/metric.hpp"

#include <cmath>

namespace cats::cpe {

using api::prom::Labels;
using api::prom::Type;
using metrics::MetricType;

void path_metrics(api::prom::Exposition& e, const std::vector<PathView>& paths) {
  e.family("cats_path_rtt_seconds", Type::gauge, "Smoothed round-trip time of the path (STAMP, RFC 8762).");
  e.family("cats_path_jitter_seconds", Type::gauge, "Round-trip jitter of the path.");
  e.family("cats_path_loss_ratio", Type::gauge, "Share of probes lost on the path, 0..1.");
  e.family("cats_path_up", Type::gauge, "1 when the path is up (after flap damping), else 0.");
  for (const auto& p : paths) {
    const Labels l{{"wan", p.wan}, {"vcpe", p.vcpe}};
    const auto& s = p.snap;
    // Unknown figures are left out rather than shown as 0 (the API's null).
    if (s.rtt_ms && std::isfinite(*s.rtt_ms)) e.gauge("cats_path_rtt_seconds", l, *s.rtt_ms / 1e3);
    if (std::isfinite(s.jitter_ms)) e.gauge("cats_path_jitter_seconds", l, s.jitter_ms / 1e3);
    if (std::isfinite(s.loss_pct)) e.gauge("cats_path_loss_ratio", l, s.loss_pct / 100.0);
    e.gauge("cats_path_up", l, s.state == stamp::PathState::up ? 1 : 0);
  }
}

void instance_metrics(api::prom::Exposition& e, const report::InstanceTable::Map& table,
                      const std::function<bool(const report::InstanceKey&, const report::InstanceState&)>& available) {
  e.family("cats_instance_utilization_ratio", Type::gauge, "CPU utilisation the vCPE reported, 0..1.");
  e.family("cats_instance_vcpus", Type::gauge, "vCPUs the vCPE reported for the instance.");
  e.family("cats_instance_available", Type::gauge,
           "1 when the instance is available (reported, not expired or withdrawn, not held by flap damping).");
  e.family("cats_instance_processing_delay_seconds", Type::gauge, "Processing delay the vCPE reported.");
  for (const auto& [k, st] : table) {
    const Labels l{{"service", k.service_id}, {"instance", k.instance_id}, {"vcpe", k.vcpe_id}};
    // (clang 14 cannot capture a structured binding: capture its metrics by name.)
    auto cur = [&m = st.metrics](MetricType t) {
      auto v = metrics::current_value(m, t);
      return v && std::isfinite(*v) ? v : std::nullopt;
    };
    if (auto v = cur(MetricType::cpu_utilization)) e.gauge("cats_instance_utilization_ratio", l, *v);
    if (auto v = cur(MetricType::vcpus)) e.gauge("cats_instance_vcpus", l, *v);
    e.gauge("cats_instance_available", l, (available ? available(k, st) : st.available()) ? 1 : 0);
    if (auto v = cur(MetricType::processing_delay_ms)) e.gauge("cats_instance_processing_delay_seconds", l, *v / 1e3);
  }
}

void report_metrics(api::prom::Exposition& e, const std::array<uint64_t, report::kVerdictCount>& counters) {
  uint64_t all = 0;
  for (auto c : counters) all += c;
  e.counter("cats_reports_received_total", "Report datagrams the collector received, accepted or rejected.", {}, all);
  e.family("cats_reports_rejected_total", Type::counter, "Reports rejected, by cause.");
  for (size_t i = 1; i < report::kVerdictCount; ++i)  // 0 = accepted
    e.counter("cats_reports_rejected_total", {{"cause", std::string(report::to_string(static_cast<report::Verdict>(i)))}},
              counters[i]);
}

void plan_metrics(api::prom::Exposition& e, const std::vector<report::PlanStatus>& plans) {
  e.family("cats_vcpe_plan_in_sync", Type::gauge, "1 when the vCPE confirmed the sampling plan of the current configuration.");
  e.family("cats_vcpe_plan_revision", Type::gauge, "Configuration revision of the sampling plan sent to the vCPE.");
  e.family("cats_vcpe_plan_refused", Type::gauge, "Entries of the confirmed sampling plan the vCPE refused.");
  for (const auto& p : plans) {
    const Labels l{{"vcpe", p.vcpe}};
    const bool in_sync = p.state == report::SyncState::in_sync;
    e.gauge("cats_vcpe_plan_in_sync", l, in_sync ? 1 : 0);
    e.gauge("cats_vcpe_plan_revision", l, static_cast<double>(p.revision));
    if (in_sync) e.gauge("cats_vcpe_plan_refused", l, static_cast<double>(p.refused.size()));
  }
}

void steering_metrics(api::prom::Exposition& e, const std::vector<CandidateMetric>& candidates,
                      const std::vector<ServicePublications>& publications) {
  e.family("cats_service_weight", Type::gauge,
           "Applied weight of the candidate: its share of the service's new flows in thousandths (0..1000).");
  e.family("cats_service_flows", Type::gauge, "Conntrack entries carrying the candidate's mark.");
  for (const auto& c : candidates) {
    const Labels l{{"service", c.service}, {"instance", c.instance}, {"wan", c.wan}};
    e.gauge("cats_service_weight", l, c.weight);
    if (c.flows) e.gauge("cats_service_flows", l, static_cast<double>(*c.flows));
  }
  e.family("cats_weight_publications_total", Type::counter, "Weight publications of the selector, by service.");
  for (const auto& p : publications) e.counter("cats_weight_publications_total", {{"service", p.service}}, p.publications);
}

}  // namespace cats::cpe
