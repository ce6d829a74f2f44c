// C-NMA probing (R7): one STAMP sender per (WAN x vCPE) path, bound to that WAN's tunnel;
// each path's state damped (stamp/flap_damping.hpp, RFC 2439) before steering and the API
// see it; path events; readmission of held paths and instances. Part of
// CpeServices::Impl (cnma_impl.hpp).
#include "cpe/cnma_impl.hpp"

#include "base/clock.hpp"
#include "base/log.hpp"

#include <algorithm>
#include <cstdio>

namespace cats::cpe {

Status CpeServices::Impl::start_paths() {
  std::optional<stamp::AuthKey> auth;
  if (!cfg.probing.auth_key.empty()) {
    auto k = stamp::AuthKey::make(cfg.probing.auth_key);
    if (!k) return fail(k.error().context("probing.auth_key"));
    auth = std::move(*k);
  }
  std::weak_ptr<Impl> wself = weak_from_this();
  for (size_t w = 0; w < cfg.wans.size(); ++w) {
    for (size_t v = 0; v < cfg.vcpes.size(); ++v) {
      const auto& wan = cfg.wans[w];
      const auto& vc = cfg.vcpes[v];
      stamp::SenderConfig sc;
      sc.name = wan.name + "/" + vc.name;
      sc.device = wan.tunnel_interface;  // the oif rule routes it over this WAN's tunnel only
      if (cfg.lan.address) sc.local_address = *cfg.lan.address;
      sc.reflector = udp::endpoint(vc.address, cfg.probing.port);
      sc.interval = std::chrono::milliseconds(cfg.probing.interval_ms);
      sc.stats.timeout = std::chrono::milliseconds(cfg.probing.timeout_ms);
      sc.stats.min_timeout = std::chrono::milliseconds(cfg.probing.min_timeout_ms);
      sc.stats.up_after = std::max<uint32_t>(1, cfg.probing.hold_down);
      sc.stats.down_after = std::max<uint32_t>(1, cfg.probing.down_after);
      // The window must outlast the timeout (validate(StatsConfig)).
      sc.stats.window_age = std::max<std::chrono::milliseconds>(sc.stats.window_age, sc.stats.timeout * 4);
      sc.key = auth;
      const size_t index = paths.size();
      auto on_change = [wself, index](const std::string&, const stamp::StateChange& c) {
        if (auto self = wself.lock()) self->on_probe_change(index, c);
      };
      auto snd = stamp::StampSender::start(io, std::move(sc), rng, on_change);
      if (!snd) return fail(snd.error().context("path " + wan.name + "/" + vc.name));
      paths.push_back({w, v, std::move(*snd), stamp::DampedState(damping_config()), wan.name + "/" + vc.name});
    }
  }
  // A path held down for flapping before a restart stays held after it (RFC 2439's
  // penalty does not reset because the router restarted its process).
  const ClockPair now{sh->mono(), unix_ms(sh->wall())};
  for (const auto& row : kept_damping_rows()) {
    if (row.kind != "path") continue;
    for (auto& p : paths)
      if (p.name == row.name)
        if (auto k = kept_damping(row, now)) p.damp.restore(*k);
  }
  refresh_paths();
  return ok();
}

std::vector<store::FlapDampingRow> CpeServices::Impl::kept_damping_rows() {
  std::lock_guard lk(sh->store_mu);
  if (!sh->store) return {};
  auto rows = sh->store->flap_damping();
  if (!rows) {
    log::error("cpe", "flap damping: " + rows.error().message + "; paths and instances start undamped");
    return {};
  }
  return std::move(*rows);
}

void CpeServices::Impl::keep_damping(std::string kind, std::string name, const stamp::FlapDamping::Kept& k) {
  const ClockPair now{sh->mono(), unix_ms(sh->wall())};
  std::lock_guard lk(sh->store_mu);
  if (sh->store) sh->store->put_flap_damping(damping_row(std::move(kind), std::move(name), k, now), now.wall_ms);
}

void CpeServices::Impl::restore_instance_damping() {
  const ClockPair now{sh->mono(), unix_ms(sh->wall())};
  for (const auto& row : kept_damping_rows()) {
    const auto a = row.name.find('/'), b = a == std::string::npos ? a : row.name.find('/', a + 1);
    if (row.kind != "instance" || b == std::string::npos) continue;
    const report::InstanceKey ik{row.name.substr(0, a), row.name.substr(a + 1, b - a - 1), row.name.substr(b + 1)};
    auto k = kept_damping(row, now);
    if (!k) continue;
    std::lock_guard lk(sh->mu);
    sh->inst_damp.try_emplace(ik, sh->inst_damping).first->second.restore(*k);
  }
}

stamp::DampingConfig CpeServices::Impl::damping_config() const {
  stamp::DampingConfig d;
  d.enabled = cfg.probing.flap_half_life_ms > 0;
  if (d.enabled) d.half_life = std::chrono::milliseconds(cfg.probing.flap_half_life_ms);
  d.suppress = cfg.probing.flap_suppress;
  d.reuse = cfg.probing.flap_reuse;
  d.max_hold = std::chrono::milliseconds(cfg.probing.flap_max_hold_ms);
  return d;
}

// "penalty 1955, 2 flaps, held 20.7 s" (the damping part of a path event's detail).
std::string CpeServices::Impl::damping_detail(const stamp::FlapDamping& d, SteadyClock::time_point now) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "penalty %.0f, %llu flaps", d.penalty(now),
                static_cast<unsigned long long>(d.flaps()));
  std::string out = buf;
  if (auto end = d.held_until(now)) {
    std::snprintf(buf, sizeof buf, ", held down for %.1f s (until the penalty decays below %.0f)",
                  std::chrono::duration<double>(*end - now).count(), d.config().reuse);
    out += buf;
  }
  return out;
}

// A path's probes changed state: damp it (stamp/flap_damping.hpp), write the event, and
// let the API and steering see an effective change at once, not at the next refresh
// tick (failover, R2).
void CpeServices::Impl::on_probe_change(size_t i, const stamp::StateChange& c) {
  auto& p = paths[i];
  const auto now = sh->mono();
  const uint64_t flaps = p.damp.damping().flaps();
  auto r = p.damp.on_probe_change(c, now);
  const auto& d = p.damp.damping();
  if (d.flaps() != flaps) keep_damping("path", p.name, d.kept());
  if (r.change) {
    path_event(p, *r.change, damping_detail(d, now));
  } else if (r.held) {
    // RFC 2439 §4.2: a suppressed route is not re-advertised while its penalty is above
    // the reuse threshold, even though it is reachable again.
    sh->event("path_held", p.name, "probes up, held down by flap damping: " + damping_detail(d, now));
  } else if (c.to == stamp::PathState::down && d.config().enabled && c.from == stamp::PathState::up) {
    sh->event("path_flap", p.name, "probes down while held: " + damping_detail(d, now));
  }
  refresh_paths();
  publish_paths();  // a state change reaches the stream at once, not at the next sample
  if (r.change) steer_tick();
}

void CpeServices::Impl::path_event(const Path& p, const stamp::StateChange& c, const std::string& detail) {
  sh->event(c.to == stamp::PathState::up     ? "path_up"
            : c.to == stamp::PathState::down ? "path_down"
                                             : "path_unknown",
            p.name, std::string(stamp::to_string(c.from)) + " -> " + std::string(stamp::to_string(c.to)) +
                        (detail.empty() ? "" : "; " + detail));
  if (c.to == stamp::PathState::up && !di_sent[p.vcpe]) send_desired(p.vcpe);
}

// Readmits held paths and instances whose hold has ended while they are up.
void CpeServices::Impl::check_holds() {
  const auto now = sh->mono();
  bool changed = false;
  std::vector<std::pair<report::InstanceKey, std::string>> readmitted;
  {
    std::lock_guard lk(sh->mu);
    const auto& table = sh->collector.table().entries();
    for (auto it = sh->inst_damp.begin(); it != sh->inst_damp.end();) {
      if (it->second.tick(now)) readmitted.emplace_back(it->first, damping_detail(it->second.damping(), now));
      // Forgotten by the table and not held: nothing left to damp.
      if (!table.count(it->first) && !it->second.damping().held(now))
        it = sh->inst_damp.erase(it);
      else
        ++it;
    }
  }
  for (const auto& [k, detail] : readmitted) {
    sh->event("instance_available", instance_name(k), "readmitted, flap damping hold over: " + detail);
    changed = true;
  }
  for (auto& p : paths)
    if (auto c = p.damp.tick(now)) {
      path_event(p, *c, "readmitted, flap damping hold over: " + damping_detail(p.damp.damping(), now));
      changed = true;
    }
  if (changed) {
    refresh_paths();
    steer_tick();
  }
}

void CpeServices::Impl::refresh_paths() {
  std::vector<PathView> views;
  views.reserve(paths.size());
  const auto now = sh->mono();
  for (const auto& p : paths) {
    PathView v;
    v.wan = cfg.wans[p.wan].name;
    v.vcpe = cfg.vcpes[p.vcpe].name;
    v.tunnel = cfg.wans[p.wan].tunnel_interface;
    v.snap = p.sender->snapshot();
    v.probe_state = v.snap.state;
    v.snap.state = p.damp.state();  // steering and the API use the damped state
    const auto& d = p.damp.damping();
    v.penalty = d.penalty(now);
    v.flaps = d.flaps();
    if (auto end = d.held_until(now))
      v.held_ms = std::chrono::duration_cast<std::chrono::milliseconds>(*end - now).count();
    views.push_back(std::move(v));
  }
  std::lock_guard lk(sh->mu);
  sh->paths = std::move(views);
}

}  // namespace cats::cpe
