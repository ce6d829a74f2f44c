// The CPE's C-PS + C-TC loop (draft §5.1, §5.5; DESIGN §2–3): from probed paths and
// reported instances, decide per service with the Selector and converge the data plane
// (steer::Programmer) to the published weights and to the health of every candidate.
//
// Runs on the services io thread; the API handlers read the views under the mutex.
//
// Candidates of a service are (configured instance × WAN), in config order: instance
// order, then WAN order. Their ids (marks) are not positional: each keeps the id the live
// table gives it across configuration changes and restarts, a new one takes a free id
// (steer.hpp "Candidate ids"), so neither a reported figure nor a removed service shifts
// another candidate's mark.
//
// Lifecycle:
//  * start(): if the kernel already holds our table with the same structure (a restart,
//    SIGUSR2 or kill -9), its live weights seed the Selector (Selector::adopt) and nothing
//    is written; otherwise the structure goes in with every weight 0, which refuses new
//    VIP connections until the first decision instead of leaking them to the default route.
//  * tick(): nothing is decided until every path has a state and every vCPE with instances
//    has reported, or the warm-up deadline passed (3 report intervals, the expiry rule):
//    deciding on half-known inputs would flush healthy flows after a restart.
//  * then every tick: Selector::update per service (publishes only on real change, with
//    hysteresis and hold-down), a "weights" event per publication with its reason, and an
//    apply when the desired state differs from the applied one, or every reconcile period.
#pragma once

#include "config/config.hpp"
#include "cpe/views.hpp"
#include "report/instance_table.hpp"
#include "select/selector.hpp"
#include "steer/programmer.hpp"
#include "steer/steer.hpp"

#include <boost/json/array.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace cats::cpe {

// Per service, the inputs the selector needs, derived from the config and the live tables.
struct ServiceInputs {
  std::vector<select::Instance> instances;  // one per configured instance, config order
  std::vector<std::string> names;           // reported instance id, else the address
  std::vector<select::Path> paths;          // one per (WAN, vCPE) of this service's vCPEs
};

// select::Instance::id is the instance's address:port (stable, configured); vcpus default
// to 1 and utilisation to 0 when not reported; capability "gpu" when gpu_count > 0.
ServiceInputs service_inputs(const config::CpeConfig& cfg, const config::Service& svc,
                             const std::vector<PathView>& paths, const report::InstanceTable::Map& table);

// What the data plane must do with each candidate's flows (steer::Health).
std::vector<steer::Health> candidate_health(const config::CpeConfig& cfg, const config::Service& svc,
                                            const ServiceInputs& in);

// The data-plane State for the given weights (per service, candidate order; missing = 0),
// health (missing = ok) and candidate ids (missing = 0, positional).
steer::State steer_state(const config::CpeConfig& cfg,
                         const std::vector<std::vector<uint32_t>>& weights,
                         const std::vector<std::vector<steer::Health>>& health,
                         const steer::Assignment& ids = {});

// `cats-cpe --check`: the steering table and rules as they would be programmed before the
// first decision (every weight 0), for review. An error text if the state is invalid.
std::string describe_steering(const config::CpeConfig& cfg);

// candidate_key() of candidate k of a service (instance k / WANs, k = i·wans + w).
std::string candidate_key(const config::CpeConfig& cfg, const config::Service& svc, size_t k);

class Steering {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  using Apply = std::function<Result<steer::ApplyReport>(const steer::State&)>;
  using Adopt = std::function<Result<std::optional<steer::State>>(const steer::State&)>;
  using Event = std::function<void(const std::string& kind, const std::string& subject, const std::string& detail)>;
  // Where candidate ids come from (steer::Programmer::live_assignment and carried in the
  // daemon). Unset: nothing kept, nothing carried, so the ids are positional.
  struct Ids {
    std::function<Result<steer::Assignment>()> live;
    steer::Carried carried;
  };

  // apply/adopt/ids: the kernel seam (steer::Programmer in the daemon, fakes in tests).
  Steering(config::CpeConfig cfg, Apply apply, Adopt adopt, Event event, Clock clock, Ids ids = {});

  // `previous`: the state a configuration change replaces (the old Steering's applied());
  // its services that are unchanged keep their weights (see start() in the .cpp). Every
  // candidate gets its id first (steer::assign_ids from the live table's ids): for a
  // configuration change, running out of ids fails here and changes nothing. Also fails
  // when the first apply fails (the kernel refused the structure); tick() keeps retrying.
  Status start(const std::optional<steer::State>& previous = std::nullopt);
  void tick(const std::vector<PathView>& paths, const report::InstanceTable::Map& table);
  // A configuration change that only tunes selection (the [selection] table, a service's
  // SLA, weights, service and access delay, spread, a WAN's cost and weight): taken from `next` without a
  // restart; published weights stay until the next tick decides with the new figures
  // (CpeServices::retune posts that tick at once).
  // The caller guarantees nothing else differs (same services, instances, WANs).
  void retune(const config::CpeConfig& next);

  // GET /api/v1/services and /api/v1/decisions (thread-safe).
  boost::json::array services_json() const;
  boost::json::array decisions_json() const;
  // The `decisions` stream messages: per service, in config order, one object
  // {"service", "publication", "total", "candidates": [its items of decisions_json]}, all
  // taken under one lock, so a service's weights are those of one apply and sum to
  // `total` (steer::kWeightTotal) or are all 0. "publication": the selector's
  // publications for the service since the services started (as publications()).
  boost::json::array decisions_by_service() const;

  // GET /metrics (thread-safe): every candidate, in steer_state order, with its applied
  // weight (0 before any apply) and ct mark; publications per service since start.
  struct CandidateWeight {
    std::string service, instance, wan;  // instance: reported id, else the address (as decisions_json)
    uint32_t weight = 0;
    uint32_t mark = 0;  // steer::candidate_mark
    bool ipv6 = false;  // the VIP's family: where its conntrack entries live
  };
  std::vector<CandidateWeight> candidate_weights() const;
  std::vector<std::pair<std::string, uint64_t>> publications() const;

  bool deciding() const;  // warm-up over
  std::optional<steer::State> applied() const;

 private:
  bool ready(const std::vector<PathView>& paths, const report::InstanceTable::Map& table) const;
  Status apply_state(const steer::State& desired, bool force);
  void seed(size_t n, const steer::Service& live);  // the Selector starts from these weights
  // Under mu_: weight of candidate k of service n as applied (0 before any apply), and the
  // display name of instance i (reported id, else its address).
  uint32_t applied_weight(size_t n, size_t k) const;
  std::string instance_name(size_t n, size_t i) const;
  boost::json::array service_decisions(size_t n) const;  // under mu_: service n's decisions_json items

  config::CpeConfig cfg_;
  Apply apply_;
  Adopt adopt_;
  Event event_;
  Clock clock_;
  Ids ids_source_;
  steer::Assignment ids_;  // set by start(), before any API reader exists; then constant
  std::vector<std::vector<uint32_t>> marks_;  // steer::candidate_marks of cfg_ and ids_, set with ids_
  select::Selector selector_;
  std::chrono::steady_clock::time_point started_{};
  std::chrono::steady_clock::time_point last_apply_{};
  std::chrono::steady_clock::time_point last_error_log_{};
  // Written on the services thread, read by API handlers (decisions_json, deciding()).
  std::atomic<bool> deciding_{false};

  mutable std::mutex mu_;  // guards what the API reads below
  std::optional<steer::State> applied_;
  struct View {
    std::vector<std::string> names;            // per instance
    std::vector<bool> measured;                // per instance: ever gave a figure of its own
    std::vector<steer::Health> health;         // per candidate
    std::string last_change;                   // reason of the last publication
    std::optional<select::Publication> pub;
    uint64_t publications = 0;                 // selector publications since start
  };
  std::vector<View> views_;  // per service
};

}  // namespace cats::cpe
