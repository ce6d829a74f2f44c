// Stateful wrapper around decide(): keeps the last published weights per service and
// republishes only on real change, so the steering programmer (and nft) is not rewritten
// on every probe and flows do not oscillate between near-equal candidates (R5; DESIGN §3).
//
// Rules, per service:
//  * first decision: publish;
//  * a weighted candidate lost (unavailable, path down, SLA broken) or the outcome
//    changed (ok / best-effort / rejected): publish at once, hold-down or not — never
//    keep steering to something dead;
//  * membership gained/left, any candidate's cost or its instance's spare capacity (both
//    are weight inputs, see decide()) moved by more than rel_threshold relative to the
//    *published* value (so slow drift accumulates): publish, but not within hold_down of
//    the previous publication;
//  * otherwise: keep the published weights.
// After a restart, adopt() installs the weights found in the data plane so that the
// first update does not rewrite them needlessly (see adopt()).
#pragma once

#include "select/select.hpp"

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace cats::select {

struct SelectorConfig {
  double rel_threshold = 0.10;
  std::chrono::milliseconds hold_down{5000};
};

// One published weight, with the inputs it was computed from (for the event log).
// Adopted weights (Selector::adopt) have unknown inputs: cost, e2e_ms, network_ms,
// compute_ms and spare_vcpus are NaN; test with inputs_known().
struct PublishedWeight {
  std::string key;  // candidate_key(): vcpe/instance/wan
  std::string vcpe, instance, wan;
  double cost = 0.0;
  double e2e_ms = 0.0;
  double network_ms = 0.0;
  double compute_ms = 0.0;
  Exclusion excluded = Exclusion::none;
  uint32_t weight = 0;
  double spare_vcpus = 0.0;  // the instance's spare capacity (hysteresis input)

  bool inputs_known() const { return !std::isnan(cost); }  // false when adopted
};

struct Publication {
  std::string service;
  Outcome outcome = Outcome::rejected;
  std::vector<PublishedWeight> candidates;  // all scored candidates, input order
  std::chrono::steady_clock::time_point at{};  // last (re)publication or adoption: hold-down base
  bool adopted = false;  // installed by adopt(), not yet confirmed by an update()
};

struct Change {
  Publication now;
  std::vector<PublishedWeight> previous;  // empty on the first publication; NaN inputs if adopted
  // Operator-readable, for the event log: which inputs moved, "; "-separated, e.g.
  // "first decision: ok, best site3/render/wan1 19.4 ms, 3 weighted",
  // "cloud1/app1/wan1 unavailable", "b/app/wan1 cost 21.3 -> 35.0 ms (+64%: network
  // 11.3 -> 25.0 ms)", "b/app spare 4.8 -> 1.2 vCPU (-75%)", "outcome ok -> rejected",
  // "restart: a/app/wan1 now near-best".
  std::string reason;
};

class Selector {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  explicit Selector(SelectorConfig cfg = {}, Clock clock = [] { return std::chrono::steady_clock::now(); });

  // Recompute the service; returns the change when weights are (re)published.
  std::optional<Change> update(const Service& svc, std::span<const Instance> instances,
                               std::span<const Path> paths);

  // Restart: install the weights that are already in the data plane (read back from nft
  // or the store) as published. Only key (filled from vcpe/instance/wan when empty),
  // vcpe, instance, wan and weight are used; the inputs are unknown and set to NaN.
  // Hold-down starts now. On the next update(): if its outcome and its set of
  // positive-weight keys equal the adopted ones, the adopted weights stay (no Change)
  // and that decision's costs and spare capacities become the hysteresis baseline;
  // otherwise it publishes by the usual rules, with reasons prefixed "restart: ".
  void adopt(const std::string& service, Outcome outcome, std::vector<PublishedWeight> weights);

  // Currently published weights; nullptr before the first update of that service.
  const Publication* published(const std::string& service) const;
  void forget(const std::string& service) { pub_.erase(service); }

 private:
  SelectorConfig cfg_;
  Clock clock_;
  std::map<std::string, Publication, std::less<>> pub_;
};

}  // namespace cats::select
