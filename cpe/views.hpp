// JSON shaping of the CPE services' control API replies (GET /api/v1/paths, instances,
// reports, events). Pure functions of their inputs, so the exact JSON is unit-tested
// without sockets or clocks.
#pragma once

#include "api/api.hpp"
#include "report/collector.hpp"
#include "select/select.hpp"
#include "stamp/sender.hpp"
#include "store/store.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cats::cpe {

// One probed (WAN x vCPE) path (R7) as the API shows it.
// snap.state is the state the path is steered with: the probes' state, except that a
// flap-damped path is held down (stamp/flap_damping.hpp).
struct PathView {
  std::string wan;
  std::string vcpe;
  std::string tunnel;
  stamp::SenderSnapshot snap;
  stamp::PathState probe_state = stamp::PathState::unknown;  // what the probes alone say
  double penalty = 0;                // flap-damping penalty now (RFC 2439 §4.2)
  uint64_t flaps = 0;                // up -> down transitions since start
  std::optional<int64_t> held_ms;    // held down for this much longer; empty = not held
};

// [{wan, vcpe, tunnel, rtt_ms, jitter_ms, loss_pct, state, probe_state, penalty, flaps,
//   held_ms, sent, received, lost, late}]
// rtt_ms is the smoothed RTT, null until the first reply; held_ms null when not held.
boost::json::array paths_json(const std::vector<PathView>& paths);

// [{service, instance, vcpe, address, vcpus, utilization, processing_delay_ms,
//   active_sessions, service_time_ms, service_time_source (nominal | estimated),
//   last_processing_delay_ms, last_processing_delay_age_ms, measured, available,
//   last_report_ms_ago}] from the collector's table (R8, R3/R4). The figures are the kept
// ones (report::InstanceFigures), the delay's age counted on the CPE's clock.
// Metrics a vCPE did not report are null (unknown types are ignored, R14).
boost::json::array instances_json(const report::InstanceTable::Map& table, std::chrono::steady_clock::time_point now);

// {"counters": {accepted, malformed, ..., stale}, "vcpes": [{vcpe, address, last_seq}]}
// last_seq is null until a report of that vCPE was accepted (R10 replay protection).
struct VcpeSeq {
  std::string vcpe;
  std::string address;
  std::optional<uint64_t> last_seq;
};
boost::json::object reports_json(const std::array<uint64_t, report::kVerdictCount>& counters,
                                 const std::vector<VcpeSeq>& vcpes);

boost::json::array events_json(const std::vector<store::Event>& events);
// GET /api/v1/events' query into `out`: since/until (or from/to; unix ms; default the hour
// up to now_ms), kind (comma-separated kinds, "path_*" for a prefix), subject (a whole
// subject or a run of its '/'-separated segments: a vCPE, WAN or service name), limit
// (1..1000, default 1000), newest=1 (the newest `limit` of the range, not the oldest),
// points=N (1..2000: per bucket, kind and subject only the newest event; EventQuery::points).
// A bad or unknown parameter is the error naming it; `out` is then unspecified.
std::optional<api::FieldError> event_query(const std::map<std::string, std::string>& query, int64_t now_ms,
                                           store::EventQuery& out);
boost::json::array path_history_json(const std::vector<store::PathSample>& samples);
boost::json::array instance_history_json(const std::vector<store::InstanceSample>& samples);
// ?history=1&points=N: one object per non-empty bucket (store::PathBucket / InstanceBucket).
boost::json::array path_buckets_json(const std::vector<store::PathBucket>& buckets);
boost::json::array instance_buckets_json(const std::vector<store::InstanceBucket>& buckets);

// {access_ms, delay_ms, jitter_ms, loss_ms, compute_ms, wan_cost_ms}: a candidate's cost
// term by term as the selector added it (select::CostParts, each term weighted), the
// `cost_parts` of GET /api/v1/decisions. A term that is not known (weights adopted at a
// restart: NaN) is null.
boost::json::object cost_parts_json(const select::CostParts& parts);

// Store rows of the current state (one per path / instance), taken once a second.
std::vector<store::PathSample> path_samples(const std::vector<PathView>& paths, int64_t ts_ms);
std::vector<store::InstanceSample> instance_samples(const report::InstanceTable::Map& table, int64_t ts_ms);

}  // namespace cats::cpe
