// Stateful wrapper around decide(): keeps the last published weights per service and
// republishes only on real change, so the steering programmer (and nft) is not rewritten
// on every probe and flows do not oscillate between near-equal candidates (R5; DESIGN §3).
//
// Rules, per service:
//  * first decision: publish;
//  * a weighted candidate lost (unavailable, path down, SLA broken) or the outcome
//    changed (ok / best-effort / rejected): publish at once, hold-down or not — never
//    keep steering to something dead;
//  * membership gained, or any candidate's cost moved by more than rel_threshold relative
//    to the *published* cost (so slow drift accumulates): publish, but not within
//    hold_down of the previous publication;
//  * otherwise: keep the published weights.
#pragma once

#include "select/select.hpp"

#include <chrono>
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
struct PublishedWeight {
  std::string key;  // candidate_key(): vcpe/instance/wan
  std::string vcpe, instance, wan;
  double cost = 0.0;
  double e2e_ms = 0.0;
  double network_ms = 0.0;
  double compute_ms = 0.0;
  Exclusion excluded = Exclusion::none;
  uint32_t weight = 0;
};

struct Publication {
  std::string service;
  Outcome outcome = Outcome::rejected;
  std::vector<PublishedWeight> candidates;  // all scored candidates, input order
  std::chrono::steady_clock::time_point at{};
};

struct Change {
  Publication now;
  std::vector<PublishedWeight> previous;  // empty on the first publication
  std::string reason;                     // human-readable, for the event log
};

class Selector {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  explicit Selector(SelectorConfig cfg = {}, Clock clock = [] { return std::chrono::steady_clock::now(); });

  // Recompute the service; returns the change when weights are (re)published.
  std::optional<Change> update(const Service& svc, std::span<const Instance> instances,
                               std::span<const Path> paths);

  // Currently published weights; nullptr before the first update of that service.
  const Publication* published(const std::string& service) const;
  void forget(const std::string& service) { pub_.erase(service); }

 private:
  SelectorConfig cfg_;
  Clock clock_;
  std::map<std::string, Publication, std::less<>> pub_;
};

}  // namespace cats::select
