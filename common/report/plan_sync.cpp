#include "report/plan_sync.hpp"

#include <algorithm>

namespace cats::report {

std::string_view to_string(SyncState s) {
  switch (s) {
    case SyncState::pending: return "pending";
    case SyncState::in_sync: return "in_sync";
    case SyncState::error: return "error";
  }
  return "unknown";
}

void PlanSync::set_plan(const std::string& vcpe, std::vector<PlanInstance> instances, uint64_t revision, Time now) {
  std::sort(instances.begin(), instances.end());
  auto [it, inserted] = plans_.try_emplace(vcpe);
  auto& p = it->second;
  p.vcpe = vcpe;
  p.revision = revision;
  auto d = plan_digest(instances);
  if (!d) {
    p.instances = std::move(instances);
    p.state = SyncState::error;
    p.error = d.error().message;
    p.since = now;
    return;
  }
  if (!inserted && p.state != SyncState::error && *d == p.digest) return;
  p.instances = std::move(instances);
  p.digest = *d;
  p.state = SyncState::pending;
  p.error.clear();
  p.since = now;
  p.last_sent.reset();  // due at once
}

bool PlanSync::due(const std::string& vcpe, Time now) const {
  auto it = plans_.find(vcpe);
  if (it == plans_.end()) return false;
  const auto& p = it->second;
  if (p.state == SyncState::error) return false;
  if (!p.last_sent) return true;
  return now - *p.last_sent >= (p.state == SyncState::in_sync ? cfg_.refresh : cfg_.resend_pending);
}

void PlanSync::sent(const std::string& vcpe, Time now) {
  auto it = plans_.find(vcpe);
  if (it == plans_.end()) return;
  it->second.last_sent = now;
  ++it->second.sent;
}

void PlanSync::failed(const std::string& vcpe, const std::string& error, Time now) {
  auto it = plans_.find(vcpe);
  if (it == plans_.end()) return;
  it->second.state = SyncState::error;
  it->second.error = error;
  it->second.since = now;
}

bool PlanSync::on_ack(const PlanAck& ack, Time now) {
  auto it = plans_.find(ack.vcpe_id);
  if (it == plans_.end()) return false;
  auto& p = it->second;
  if (p.state == SyncState::error || ack.digest != p.digest) {
    ++p.stale_acks;
    return false;
  }
  if (p.state != SyncState::in_sync) p.since = now;
  p.state = SyncState::in_sync;
  p.acked_revision = ack.revision;
  p.applied = ack.applied;
  p.refused = ack.refused;
  return true;
}

const PlanStatus* PlanSync::find(const std::string& vcpe) const {
  auto it = plans_.find(vcpe);
  return it == plans_.end() ? nullptr : &it->second;
}

std::vector<PlanStatus> PlanSync::status() const {
  std::vector<PlanStatus> out;
  for (const auto& [_, p] : plans_) out.push_back(p);
  return out;
}

}  // namespace cats::report
