// CPE side of the sampling plans (issue 9: "the CPE shows whether each vCPE is in sync
// with the current revision"). Pure logic, no sockets, times injected: per vCPE the plan
// this CPE wants it to sample, whether the vCPE confirmed exactly that plan (a PlanAck
// with its digest), what it refused, and when to send the plan again.
//
// States: pending (the current plan is not confirmed; resent every resend_pending) and
// in_sync (confirmed; resent every refresh so that a vCPE that restarted, and so forgot
// its plan, gets it back). A plan whose encoding fails is in error until the next one.
#pragma once

#include "report/report.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cats::report {

struct PlanSyncConfig {
  std::chrono::milliseconds resend_pending{1000};
  std::chrono::milliseconds refresh{10000};
};

enum class SyncState : uint8_t { pending, in_sync, error };
std::string_view to_string(SyncState s);

struct PlanStatus {
  std::string vcpe;
  uint64_t revision = 0;  // of the current plan
  PlanDigest digest{};
  std::vector<PlanInstance> instances;
  SyncState state = SyncState::pending;
  std::chrono::steady_clock::time_point since{};  // of the current state
  std::optional<std::chrono::steady_clock::time_point> last_sent;
  uint64_t sent = 0;
  // From the vCPE's last matching ack.
  uint64_t acked_revision = 0;
  uint8_t applied = 0;
  std::vector<PlanRefusal> refused;
  uint64_t stale_acks = 0;  // acks of an earlier plan (still on their way, or a late vCPE)
  std::string error;
};

class PlanSync {
 public:
  using Time = std::chrono::steady_clock::time_point;
  explicit PlanSync(PlanSyncConfig cfg = {}) : cfg_(cfg) {}

  // The plan for `vcpe` (instances sorted here, so the digest does not depend on config
  // order). New content: pending from `now` and due at once. Same content: only the
  // revision moves (a revision that changes nothing for this vCPE keeps it in sync).
  void set_plan(const std::string& vcpe, std::vector<PlanInstance> instances, uint64_t revision, Time now);

  bool due(const std::string& vcpe, Time now) const;
  void sent(const std::string& vcpe, Time now);
  void failed(const std::string& vcpe, const std::string& error, Time now);

  // A verified ack (Collector::accept_ack). True when it confirms the current plan.
  bool on_ack(const PlanAck& ack, Time now);

  const PlanStatus* find(const std::string& vcpe) const;
  std::vector<PlanStatus> status() const;

 private:
  PlanSyncConfig cfg_;
  std::map<std::string, PlanStatus> plans_;
};

}  // namespace cats::report
