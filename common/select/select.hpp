// The CATS path selector (C-PS): per service, score every (instance × path) candidate
// and turn the near-best ones into integer flow weights for nft `numgen random mod 1000`.
//
// Pure and deterministic: plain data in, plain data out, no clock, no I/O, no globals,
// so a decision can be replayed from its logged inputs. The stateful part (hysteresis,
// hold-down) lives in selector.hpp. Model and reasons: docs/SELECTION.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cats::select {

inline constexpr double kNoLimit = std::numeric_limits<double>::infinity();
// Weights sum to exactly this, matching `numgen random mod 1000` ranges.
inline constexpr uint32_t kWeightTotal = 1000;

// Service-level agreement: candidates breaking any limit are excluded (or only used in
// best-effort mode). Capability is never relaxed: a GPU job cannot run without a GPU
// (draft §4.1: the "closest site" may lack GPU support and must not be chosen).
struct Sla {
  double max_rtt_ms = kNoLimit;
  double max_jitter_ms = kNoLimit;
  double max_loss_pct = kNoLimit;
  double max_e2e_ms = kNoLimit;  // whole estimate incl. access + compute (draft fig. 3: < 20 ms)
  std::string required_capability;  // empty: none
  double min_free_capacity = 0.0;   // 0..1 share of the instance still free
  // 0..1 share of the instance's GPU memory still free (draft §4.5: a model must fit);
  // an instance that reports no GPU memory figure cannot show it and fails a limit > 0.
  double min_gpu_memory_free = 0.0;
};

// cost = access_delay_ms + network·(rtt + jitter_k·jitter + loss_k·rtt·p/(1−p))
//                        + compute·compute_delay
struct CostWeights {
  double network = 1.0;
  double compute = 1.0;
  double jitter_k = 2.0;  // de-jitter buffer ≈ 2× jitter
  double loss_k = 1.0;    // retransmission rounds are one RTT each
};

// How existing flows are treated. The selector only weights *new* flows; the steering
// programmer keeps existing ones pinned (conntrack mark) when mode is `flow`.
enum class Affinity : uint8_t { none, flow, source };
enum class OnNoCandidate : uint8_t { reject, best_effort };

struct Service {
  std::string id;
  Sla sla;
  CostWeights weights;
  Affinity affinity = Affinity::flow;
  OnNoCandidate on_no_candidate = OnNoCandidate::reject;
  // Mean per-request service time on one vCPU (M/M/c estimate when an instance does not
  // report its processing delay).
  double service_time_ms = 10.0;
  // Delay common to every candidate (client ↔ CPE access, draft fig. 3 "client delay").
  double access_delay_ms = 0.0;
  // Trunk reservation (draft §4.2 priorities; docs/SELECTION.md "Priorities"): the share
  // of every instance's capacity this service leaves to others. 0 for a normal service;
  // a low-priority one sees an instance's utilisation as u / (1 − reserve): its spare is
  // only the capacity above the reserve, and its M/M/c estimate rises as that fills, so
  // it leaves a filling instance before normal services do.
  double reserve = 0.0;
  // R5 spreading: candidates with cost ≤ (1+epsilon)·best share new flows. An instance's
  // share ∝ spare vCPUs · (best / its best in-window path cost)^power; within the instance
  // its in-window paths split that ∝ (instance best / path cost)^power (docs/SELECTION.md).
  double epsilon = 0.25;
  double power = 2.0;
  // Exploration (docs/SELECTION.md "Exploration"): an eligible instance that was never
  // measured (Instance::measured false) is priced by a guess, so it is kept out of the
  // ranking and gets explore_share of new flows, all such instances together at most
  // explore_max, until its vCPE reports a figure. Only when some measured instance is
  // eligible too; when none is, the guesses are all there is and rank as usual.
  double explore_share = 0.05;
  double explore_max = 0.10;
};

// A probed path (STAMP, per WAN × vCPE tunnel) towards one vCPE.
struct Path {
  std::string vcpe;
  std::string wan;
  double rtt_ms = 0.0;
  double jitter_ms = 0.0;
  double loss_pct = 0.0;  // 0..100
  bool up = true;
  // The WAN's configured `cost` and `weight` ([[wan]], docs/SELECTION.md "WAN cost and
  // weight"). cost_ms is added to every candidate's cost over this WAN (not to its E2E
  // estimate, so no SLA sees it): a metered link is used only when it is better by more
  // than its cost, or the others are down. weight scales this path's part of an
  // instance's share against the instance's other in-window paths (mwan3's weight among
  // members of equal metric). Defaults change nothing.
  double cost_ms = 0.0;
  double weight = 1.0;
};

// A service instance behind a vCPE, as reported (R8–R11) and health-checked (R4).
// vcpus and utilization also drive the spreading (spare capacity). An instance that only
// reports its processing delay keeps the defaults (1 vCPU, 0 %): spare 1 vCPU.
struct Instance {
  std::string vcpe;
  std::string id;
  bool available = true;
  double vcpus = 1.0;
  double utilization = 0.0;  // 0..1
  std::optional<double> processing_delay_ms;
  std::vector<std::string> capabilities;
  double free_capacity = 1.0;  // 0..1
  // The instance's own figures (as its vCPE reports them: configured there, or learned from
  // the instance's measured processing delays). service_time_ms is its nominal per-request
  // time on one vCPU; when set it replaces Service::service_time_ms in the M/M/c estimate.
  std::optional<double> service_time_ms;
  // False while neither a processing delay nor a service time of this instance has ever
  // been measured or configured: its cost is a guess, so it gets only a small, bounded
  // exploration share of new flows until it has been measured (docs/SELECTION.md).
  bool measured = true;
  // LLM-style servers (draft §4.5; vLLM, Triton, DCGM presets, docs/METRICS.md). Their
  // utilisation is near 100 % whenever they are busy, so it says little; what a new
  // request meets is the queue ahead of it (and the time to its first token, which the
  // vllm preset reports as the processing delay: the cost's compute term).
  std::optional<double> queue_depth;  // requests waiting, not yet admitted to the batch
  double gpus = 0.0;                  // nominal GPUs (0: none reported)
  std::optional<double> gpu_memory_utilization;  // 0..1 of the GPUs' memory in use
};

enum class Exclusion : uint8_t {
  none,
  unavailable,
  path_down,
  invalid_metrics,
  capability,
  sla_rtt,
  sla_jitter,
  sla_loss,
  sla_e2e,
  sla_capacity,
  sla_gpu_memory,
};
std::string_view to_string(Exclusion e);
// SLA breakers may still carry traffic in best-effort mode; the others never.
inline bool is_sla(Exclusion e) { return e >= Exclusion::sla_rtt; }

// The terms of a candidate's cost (docs/SELECTION.md "Cost"), each as it enters the cost,
// i.e. already multiplied by its cost weight, for showing where a cost comes from (the
// decisions API, the Services page). They add up to Scored::cost to rounding: cost is
// still computed as w_net · network + …, one product, where the parts are one product
// each (with exactly representable inputs the sums are equal to the bit).
struct CostParts {
  double access_ms = 0.0;    // the service's access delay
  double delay_ms = 0.0;     // w_net · rtt
  double jitter_ms = 0.0;    // w_net · jitter_k · jitter: the de-jitter buffer
  double loss_ms = 0.0;      // w_net · loss_k · rtt · p/(1−p): retransmission rounds
  double compute_ms = 0.0;   // w_comp · compute (reported or modelled)
  double wan_cost_ms = 0.0;  // the WAN's configured cost (not weighted)
  double sum() const { return access_ms + delay_ms + jitter_ms + loss_ms + compute_ms + wan_cost_ms; }
};

// A path's network delay term by term, unweighted: rtt, the jitter penalty
// jitter_k·jitter and the loss penalty loss_k·rtt·p/(1−p) (p = loss_pct/100 ≤ 0.99).
struct NetworkTerms {
  double rtt_ms = 0.0;
  double jitter_ms = 0.0;
  double loss_ms = 0.0;
};

struct Scored {
  std::size_t instance = 0;  // index into the instances span
  std::size_t path = 0;      // index into the paths span
  double network_ms = 0.0;   // rtt + jitter and loss penalties (unweighted)
  double compute_ms = 0.0;   // reported or M/M/c-estimated
  bool compute_estimated = false;
  double e2e_ms = 0.0;       // access + network + compute (unweighted, as in draft fig. 3)
  double wan_cost_ms = 0.0;  // the path's configured cost_ms, part of cost
  double cost = 0.0;         // weighted, plus wan_cost_ms; what ranking and weights use
  CostParts parts;           // cost term by term (shown, never ranked on)
  double spare_vcpus = 0.0;  // spare_vcpus(instance): the capacity factor of its weight
  bool exploring = false;    // unmeasured instance: weighted by exploration, not by cost
  Exclusion excluded = Exclusion::none;
  uint32_t weight = 0;       // share of new flows out of kWeightTotal
};

enum class Outcome : uint8_t { ok, best_effort, rejected };
std::string_view to_string(Outcome o);

struct Decision {
  Outcome outcome = Outcome::rejected;
  std::vector<Scored> candidates;  // every (instance, path) pair with matching vCPE, input order
  std::optional<std::size_t> best; // index into candidates
  std::size_t eligible = 0;        // candidates passing every filter
};

// Mean sojourn time of an M/M/c queue: c servers (vCPUs), utilisation rho, mean service
// time s. rho is clamped to [0, 0.99] so a saturated instance is very expensive, not
// infinite (best-effort can still rank it).
double mmc_sojourn_ms(double vcpus, double utilization, double service_time_ms);
// Erlang C: probability that an arrival waits (c servers, offered load a = c·rho).
double erlang_c(unsigned c, double rho);
// rtt + jitter_k·jitter + loss_k·rtt·p/(1−p), p = loss_pct/100 clamped to 0.99.
NetworkTerms network_terms(const Path& p, const CostWeights& w);
double network_delay_ms(const Path& p, const CostWeights& w);  // the sum of network_terms()

// Spare capacity of an instance for the spreading: vcpus · (1 − utilization), never
// below kSpareFloorVcpus. Non-finite or non-positive vcpus count as 1 vCPU, non-finite
// utilization as 0 (an instance reporting only its processing delay: spare 1). An
// instance reporting a queue depth q (an LLM server) has units / (1 + q) instead, units
// = its GPUs if it reports any, else its vCPUs (docs/SELECTION.md "LLM servers").
inline constexpr double kSpareFloorVcpus = 0.01;
double spare_vcpus(const Instance& in);
// The instance's vCPUs and utilisation as the selector uses them: non-finite or
// non-positive vcpus count as 1, utilisation is clamped to 0..1, non-finite as 0.
double effective_vcpus(const Instance& in);
double effective_utilization(const Instance& in);
// The available instances' busy vCPUs (Σ vcpus × utilisation, as above) and vCPUs.
double pool_busy(std::span<const Instance> instances);
double pool_vcpus(std::span<const Instance> instances);

// Score and weight every candidate of one service. Candidates are the (instance, path)
// pairs where path.vcpe == instance.vcpe.
Decision decide(const Service& svc, std::span<const Instance> instances, std::span<const Path> paths);

// Integer apportionment of kWeightTotal ∝ shares: every positive share gets ≥ 1, the rest
// by largest remainder (ties to the lower index). Exposed for tests.
std::vector<uint32_t> apportion(std::span<const double> shares);

// Stable identity of a candidate across decisions ("vcpe/instance/wan").
std::string candidate_key(const Instance& i, const Path& p);

}  // namespace cats::select
