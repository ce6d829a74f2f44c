// The CPE services' state shared between threads, private to the files of the C-NMA
// (cpe/cnma.cpp and its parts, listed in cnma_impl.hpp): the report collector, the path
// snapshots, the event ring, the history store, instance flap damping, flow counts,
// sampling plans and the stream hub, and the event log over them. Written on the services
// io_context, read by the control API servers' threads: one mutex for the state, one for
// the store, so a slow history query never holds up report processing. Also the
// services' cadence, which these files share.
#pragma once

#include "api/sse.hpp"
#include "cpe/views.hpp"
#include "report/collector.hpp"
#include "report/plan_sync.hpp"
#include "stamp/flap_damping.hpp"
#include "store/store.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cats::cpe {

using SteadyClock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kFastTick{100};  // availability expiry and path snapshot refresh
constexpr std::chrono::seconds kSampleTick{1};       // one store sample per path / instance
constexpr std::chrono::seconds kDesiredTick{10};     // desired-interval refresh towards each vCPE (R11)
// Sampling plans (report/plan_sync.hpp): resent every second until the vCPE confirms
// the current one, then every kDesiredTick (a restarted vCPE gets its plan back).
constexpr std::chrono::seconds kPlanResend{1};
constexpr std::chrono::seconds kMaintainTick{60};    // store downsampling / pruning
// Flow counts per candidate for /metrics: one filtered conntrack dump per candidate
// (at most steer::kMaxCandidates) this often, on the services thread, whatever the
// scrape rate.
constexpr std::chrono::seconds kFlowTick{5};

// State read by API handlers (server thread) and written on the io thread.
struct Shared {
  std::mutex mu;
  report::Collector collector;
  std::vector<PathView> paths;  // refreshed from the senders every kFastTick
  std::deque<store::Event> ring;
  std::function<std::chrono::system_clock::time_point()> wall;
  std::function<SteadyClock::time_point()> mono;

  // The store is used from both threads; SQLite handles are not shared unlocked. The
  // collector's replay marks (written under mu) use the store's own marks connection and lock.
  std::mutex store_mu;
  std::unique_ptr<store::Store> store;

  // Flap damping of instance availability (the paths' rule, stamp/flap_damping.hpp): an
  // instance whose reports mark it unavailable and available again repeatedly is held
  // unavailable. Under mu.
  stamp::DampingConfig inst_damping;
  std::map<report::InstanceKey, stamp::DampedState> inst_damp;

  // Conntrack entries per candidate mark, refreshed every kFlowTick (/metrics,
  // /api/v1/flows), and when (unix ms; 0: not yet). Under mu.
  std::map<uint32_t, uint64_t> flows;
  int64_t flows_counted_ms = 0;

  // Per vCPE, the sampling plan and whether the vCPE confirmed it. Under mu.
  report::PlanSync plans{report::PlanSyncConfig{std::chrono::milliseconds(kPlanResend),
                                                std::chrono::duration_cast<std::chrono::milliseconds>(kDesiredTick)}};

  // GET /api/v1/stream: fed here (services thread; events from any thread), read by the
  // API servers' threads. Set before any thread runs; thread-safe itself.
  std::shared_ptr<api::sse::Hub> hub;

  Shared(std::vector<report::VcpePeer> peers, report::CollectorConfig cc, std::vector<report::ReplayMark> marks,
         report::MarkWriter write_mark)
      : collector(std::move(peers), cc, std::move(marks), std::move(write_mark)) {}
  // The collector's table as steering and the API see it: an instance held by flap
  // damping is unavailable although its reports say available. Call under mu.
  report::InstanceTable::Map damped_entries() const;
  // The same judgement for one entry of collector.table(), without copying the table
  // (GET /metrics formats straight from it). Call under mu.
  bool damped_available(const report::InstanceKey& k, const report::InstanceState& st) const;

  // Events go to the log, the in-memory ring (so the API has recent ones without a store)
  // and the store.
  void event(const std::string& kind, const std::string& subject, const std::string& detail);
};

}  // namespace cats::cpe
