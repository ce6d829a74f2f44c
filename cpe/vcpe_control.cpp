// Signed messages from the CPE to each vCPE over a tunnel: the desired report interval
// (R11) and the sampling plan (issue 9, report/plan_sync.hpp), one sequence for both;
// the vCPE's plan acknowledgements. Part of CpeServices::Impl (cnma_impl.hpp).
#include "cpe/cnma_impl.hpp"

#include "base/log.hpp"

#include <algorithm>

namespace cats::cpe {

namespace {

constexpr const char* kLog = "cpe";

}  // namespace

// The first WAN whose path to vCPE v is up (a message into a dead tunnel is lost).
std::optional<size_t> CpeServices::Impl::up_wan(size_t v) const {
  for (const auto& p : paths)
    if (p.vcpe == v && p.sender->snapshot().state == stamp::PathState::up) return p.wan;
  return std::nullopt;
}

uint64_t CpeServices::Impl::next_seq() {
  if (di_seq == 0) di_seq = report::initial_sequence(wall_ns());
  return di_seq++;
}

uint64_t CpeServices::Impl::wall_ns() const {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(sh->wall().time_since_epoch()).count());
}

// One signed message to vCPE v over the tunnel of WAN w. Errors are logged once each
// (at warning: a sender that stays silent is what issue 14 found).
bool CpeServices::Impl::send_to_vcpe(size_t v, size_t w, const std::vector<uint8_t>& bytes, const char* what) {
  auto st = tun_socks[w]->send(bytes, udp::endpoint(cfg.vcpes[v].address, cfg.reporting.port));
  if (!st) {
    std::string e = std::string(what) + " to " + cfg.vcpes[v].name + " via " + cfg.wans[w].name + ": " +
                    st.error().message;
    if (e != to_vcpe_error[v]) log::warn(kLog, e + " (retried)");
    to_vcpe_error[v] = std::move(e);
    return false;
  }
  if (!to_vcpe_error[v].empty()) log::info(kLog, std::string(what) + " to " + cfg.vcpes[v].name + " sent again");
  to_vcpe_error[v].clear();
  return true;
}

// R11: tell the vCPE the report interval this CPE wants.
void CpeServices::Impl::send_desired(size_t v) {
  if (!key || !cfg.lan.address) return;
  auto wan = up_wan(v);
  if (!wan) return;  // retried when a path comes up and every kDesiredTick
  const uint64_t ns = wall_ns();
  report::DesiredInterval d{cfg.daemon.name, cfg.vcpes[v].name, next_seq(), ns, cfg.reporting.min_interval_ms,
                            cfg.reporting.max_interval_ms};
  auto bytes = report::encode_desired_interval(d, *key);
  if (!bytes) {
    log::warn(kLog, "desired interval for " + cfg.vcpes[v].name + ": " + bytes.error().message);
    return;
  }
  if (!send_to_vcpe(v, *wan, *bytes, "desired interval")) return;
  if (!di_sent[v]) log::info(kLog, "desired interval sent to " + cfg.vcpes[v].name + " via " + cfg.wans[*wan].name);
  di_sent[v] = true;
}

// Issue 9: the instances each vCPE fronts, as the configuration lists them. The
// instance id is its address ("10.2.1.10:8080"): the CPE knows instances by vCPE,
// service and address, and the id must name the same instance in every report.
std::vector<report::PlanInstance> CpeServices::Impl::plan_for(const config::CpeConfig& c, const std::string& vcpe) {
  std::vector<report::PlanInstance> out;
  for (const auto& svc : c.services)
    for (const auto& in : svc.instances)
      if (in.vcpe == vcpe) {
        report::PlanInstance p{svc.select.id, endpoint_to_string(in.address), in.address, in.load_url, {}};
        for (const auto& s : in.prometheus) p.prometheus.push_back({s.url, s.preset});
        out.push_back(std::move(p));
      }
  return out;
}

void CpeServices::Impl::set_plans(const config::CpeConfig& c) {
  const auto now = sh->mono();
  std::lock_guard lk(sh->mu);
  for (const auto& v : c.vcpes)
    sh->plans.set_plan(v.name, plan_for(c, v.name), static_cast<uint64_t>(std::max<int64_t>(0, c.revision)), now);
}

// Sends the plans that are due (PlanSync: until confirmed, then as a refresh), each in
// as many parts as it needs (report::split_plan), every part with its own sequence.
void CpeServices::Impl::send_plans() {
  if (!key || !cfg.lan.address) return;
  const auto now = sh->mono();
  for (size_t v = 0; v < cfg.vcpes.size(); ++v) {
    std::vector<report::PlanInstance> instances;
    report::SamplingPlan p;
    {
      std::lock_guard lk(sh->mu);
      if (!sh->plans.due(cfg.vcpes[v].name, now)) continue;
      const auto* st = sh->plans.find(cfg.vcpes[v].name);
      instances = st->instances;
      p.revision = st->revision;
      p.digest = st->digest;
    }
    auto wan = up_wan(v);
    if (!wan) continue;
    p.cpe_id = cfg.daemon.name;
    p.vcpe_id = cfg.vcpes[v].name;
    auto fail = [&](const std::string& why) {
      log::warn(kLog, "sampling plan for " + p.vcpe_id + ": " + why);
      std::lock_guard lk(sh->mu);
      sh->plans.failed(p.vcpe_id, why, now);
    };
    auto parts = report::split_plan(instances, p.cpe_id, p.vcpe_id);
    if (!parts) {
      fail(parts.error().message);
      continue;
    }
    p.parts = static_cast<uint8_t>(parts->size());
    bool all_sent = true;
    for (size_t i = 0; i < parts->size() && all_sent; ++i) {
      p.part = static_cast<uint8_t>(i);
      p.instances = std::move((*parts)[i]);
      p.seq = next_seq();
      p.timestamp_ns = wall_ns();
      auto bytes = report::encode_sampling_plan(p, *key);
      if (!bytes) {
        fail(bytes.error().message);
        all_sent = false;
        break;
      }
      all_sent = send_to_vcpe(v, *wan, *bytes, "sampling plan");
    }
    if (!all_sent) continue;
    std::lock_guard lk(sh->mu);
    sh->plans.sent(p.vcpe_id, now);
  }
}

void CpeServices::Impl::on_plan_ack(std::span<const uint8_t> bytes) {
  const auto now = sh->mono();
  std::optional<report::PlanAck> ack;
  bool confirmed = false, was_in_sync = false;
  {
    std::lock_guard lk(sh->mu);
    auto res = sh->collector.accept_ack(bytes, rx_from.address(), report::Now{now, sh->wall()});
    if (!res.accepted()) return;  // counted and logged (rate-limited) by the collector
    ack = std::move(res.ack);
    if (ack->cpe_id != cfg.daemon.name) return;
    const auto* st = sh->plans.find(ack->vcpe_id);
    was_in_sync = st && st->state == report::SyncState::in_sync;
    confirmed = sh->plans.on_ack(*ack, now);
  }
  if (!confirmed || was_in_sync) return;
  std::string detail = "revision " + std::to_string(ack->revision) + ", " + std::to_string(ack->applied) +
                       " instance(s) sampled";
  for (const auto& f : ack->refused)
    detail += "; refused " + f.service_id + "/" + f.instance_id + ": " + std::string(report::to_string(f.reason));
  sh->event("plan_in_sync", ack->vcpe_id, detail);
}

}  // namespace cats::cpe
