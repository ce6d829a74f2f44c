// GET /metrics on the CPE (Prometheus text 0.0.4; every family in docs/API.md "Metrics"):
// the same state the control API serves (paths, instances, collector counters, steering),
// in base units. Pure functions of plain data, so the exposition is unit-tested without
// sockets or clocks; cnma.cpp gathers the data under its locks.
//
// Cardinality is bounded by the configuration: paths are WANs x vCPEs, instances those the
// configured vCPEs report (report::kMaxInstances each), candidates services x instances x
// WANs, causes the fixed report::Verdict enum.
#pragma once

#include "api/prometheus.hpp"
#include "cpe/views.hpp"
#include "report/collector.hpp"
#include "report/instance_table.hpp"
#include "report/plan_sync.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cats::cpe {

// cats_path_rtt_seconds (smoothed; absent until the first reply), cats_path_jitter_seconds,
// cats_path_loss_ratio, cats_path_up (the damped state steering uses) {wan, vcpe}.
void path_metrics(api::prom::Exposition& e, const std::vector<PathView>& paths);

// cats_instance_utilization_ratio, cats_instance_vcpus, cats_instance_processing_delay_seconds
// (each absent when not reported) and cats_instance_available {service, instance, vcpe}.
// `available` (when given) replaces InstanceState::available(): the CPE passes the flap
// damping's judgement (Shared::damped_available) and formats straight from the collector's
// table, under its lock, instead of copying the table first.
void instance_metrics(api::prom::Exposition& e, const report::InstanceTable::Map& table,
                      const std::function<bool(const report::InstanceKey&, const report::InstanceState&)>& available = {});

// cats_reports_received_total (every datagram the collector judged, accepted or not) and
// cats_reports_rejected_total{cause} (one series per rejection verdict, zeros included).
void report_metrics(api::prom::Exposition& e, const std::array<uint64_t, report::kVerdictCount>& counters);

// Sampling plans (issue 9): cats_vcpe_plan_in_sync (1 when the vCPE confirmed the
// current plan), cats_vcpe_plan_revision (the revision of the current plan) and
// cats_vcpe_plan_refused (entries it refused) {vcpe}.
void plan_metrics(api::prom::Exposition& e, const std::vector<report::PlanStatus>& plans);

// One steering candidate (service x instance x WAN) as /metrics shows it.
struct CandidateMetric {
  std::string service, instance, wan;
  uint32_t weight = 0;                // applied weight, 0..1000
  std::optional<uint64_t> flows;      // conntrack entries with its mark; absent = not counted
};
struct ServicePublications {
  std::string service;
  uint64_t publications = 0;
};
// cats_service_weight (applied weight, 0..1000 as catsctl shows it), cats_service_flows
// {service, instance, wan}; cats_weight_publications_total{service}.
void steering_metrics(api::prom::Exposition& e, const std::vector<CandidateMetric>& candidates,
                      const std::vector<ServicePublications>& publications);

}  // namespace cats::cpe
