#include "cpe/cnma.hpp"

#include "api/sse.hpp"
#include "base/hex.hpp"
#include "base/log.hpp"
#include "cpe/metrics.hpp"
#include "cpe/views.hpp"
#include "report/collector.hpp"
#include "report/plan_sync.hpp"
#include "report/report.hpp"
#include "stamp/flap_damping.hpp"
#include "stamp/sender.hpp"
#include "tunsock/tunnel_socket.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/json/serialize.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>

namespace cats::cpe {

namespace asio = boost::asio;
namespace json = boost::json;
using udp = asio::ip::udp;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr const char* kLog = "cpe";
constexpr auto kFastTick = 100ms;             // availability expiry and path snapshot refresh
constexpr auto kSampleTick = 1s;              // one store sample per path / instance
constexpr auto kDesiredTick = 10s;            // desired-interval refresh towards each vCPE (R11)
// Sampling plans (report/plan_sync.hpp): resent every second until the vCPE confirms
// the current one, then every kDesiredTick (a restarted vCPE gets its plan back).
constexpr auto kPlanResend = 1s;
constexpr auto kMaintainTick = 60s;           // store downsampling / pruning
// Flow counts per candidate for /metrics: one filtered conntrack dump per candidate
// (at most steer::kMaxCandidates) this often, on the services thread, whatever the
// scrape rate.
constexpr auto kFlowTick = 5s;
constexpr size_t kEventRing = 1000;           // in-memory events when there is no store
constexpr size_t kHistoryLimit = 10000;       // rows per history reply
constexpr int64_t kDefaultHistoryMs = 3600'000;

int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::optional<int64_t> parse_i64(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string q(const api::Request& r, const char* key) {
  auto it = r.query.find(key);
  return it == r.query.end() ? std::string() : it->second;
}

}  // namespace

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
  report::InstanceTable::Map damped_entries() const {
    auto m = collector.table().entries();
    for (auto& [k, st] : m) {
      auto it = inst_damp.find(k);
      if (it != inst_damp.end() && st.available() && it->second.state() != stamp::PathState::up)
        st.reported_available = false;
    }
    return m;
  }

  // Events go to the log, the in-memory ring (so the API has recent ones without a store)
  // and the store.
  void event(const std::string& kind, const std::string& subject, const std::string& detail) {
    store::Event e{unix_ms(wall()), kind, subject, detail};
    log::info(kLog, kind + " " + subject + (detail.empty() ? "" : ": " + detail));
    // Coalesced per kind and subject when events come faster than the stream's rate: a
    // flapping path's latest path_up / path_down; the store keeps every one.
    if (hub) hub->publish("events", kind + " " + subject, json::serialize(events_json({e}).at(0)));
    {
      std::lock_guard lk(mu);
      ring.push_back(e);
      while (ring.size() > kEventRing) ring.pop_front();
    }
    std::lock_guard lk(store_mu);
    if (store) store->add_event(e);
  }
};

struct CpeServices::Impl : std::enable_shared_from_this<Impl> {
  asio::io_context& io;
  config::CpeConfig cfg;
  std::shared_ptr<Shared> sh;
  std::optional<report::SigningKey> key;
  std::function<uint32_t()> rng;

  struct Path {
    size_t wan, vcpe;
    std::shared_ptr<stamp::StampSender> sender;
    stamp::DampedState damp;  // the state steering uses: the probes', held down while damped
    std::string name;         // "wan/vcpe"
  };
  std::vector<Path> paths;

  udp::socket report_sock;
  std::array<uint8_t, report::kMaxDatagram + 1> rx{};  // +1 tells an oversized datagram apart
  udp::endpoint rx_from;
  bool report_bind_logged = false;

  // Per WAN, bound to its tunnel and our inner address; reopened when the tunnel is
  // re-created (tunsock/tunnel_socket.hpp, issue 14). Desired intervals and plans.
  std::vector<std::unique_ptr<tunsock::TunnelUdpSocket>> tun_socks;
  std::vector<bool> di_sent;  // per vCPE: one went out since start
  std::vector<std::string> to_vcpe_error;  // per vCPE: the last send error logged
  uint64_t di_seq = 0;        // one sequence for desired intervals and plans (the vCPE checks one)

  std::array<uint64_t, report::kVerdictCount> rejected_reported{};  // counts covered by events
  std::array<std::optional<SteadyClock::time_point>, report::kVerdictCount> rejected_event_at{};

  asio::steady_timer fast, sample, desired, maintain, flow;
  std::function<Result<size_t>(int, uint32_t)> count_flows;
  bool flow_error_logged = false;
  bool stopped = false;
  std::shared_ptr<Steering> steering;  // null when no service is configured
  // Per service, the weights and health last streamed (publish_decisions).
  std::map<std::string, std::string> streamed_decisions;

  Impl(asio::io_context& io_, config::CpeConfig c, std::shared_ptr<Shared> s)
      : io(io_), cfg(std::move(c)), sh(std::move(s)), report_sock(io_), fast(io_), sample(io_), desired(io_),
        maintain(io_), flow(io_) {}

  Status start_paths() {
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
    refresh_paths();
    return ok();
  }

  stamp::DampingConfig damping_config() const {
    stamp::DampingConfig d;
    d.enabled = cfg.probing.flap_half_life_ms > 0;
    if (d.enabled) d.half_life = std::chrono::milliseconds(cfg.probing.flap_half_life_ms);
    d.suppress = cfg.probing.flap_suppress;
    d.reuse = cfg.probing.flap_reuse;
    d.max_hold = std::chrono::milliseconds(cfg.probing.flap_max_hold_ms);
    return d;
  }

  // "penalty 1955, 2 flaps, held 20.7 s" (the damping part of a path event's detail).
  static std::string damping_detail(const stamp::FlapDamping& d, SteadyClock::time_point now) {
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
  void on_probe_change(size_t i, const stamp::StateChange& c) {
    auto& p = paths[i];
    const auto now = sh->mono();
    auto r = p.damp.on_probe_change(c, now);
    const auto& d = p.damp.damping();
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

  void path_event(const Path& p, const stamp::StateChange& c, const std::string& detail) {
    sh->event(c.to == stamp::PathState::up     ? "path_up"
              : c.to == stamp::PathState::down ? "path_down"
                                               : "path_unknown",
              p.name, std::string(stamp::to_string(c.from)) + " -> " + std::string(stamp::to_string(c.to)) +
                          (detail.empty() ? "" : "; " + detail));
    if (c.to == stamp::PathState::up && !di_sent[p.vcpe]) send_desired(p.vcpe);
  }

  // Readmits held paths and instances whose hold has ended while they are up.
  void check_holds() {
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

  void refresh_paths() {
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

  // The collector listens on the CPE's inner address: reports arrive through the tunnels
  // (DESIGN §3), where WireGuard has already authenticated the peer.
  void open_report_socket() {
    if (report_sock.is_open() || !cfg.lan.address) return;
    boost::system::error_code ec;
    udp::endpoint ep(*cfg.lan.address, cfg.reporting.port);
    report_sock.open(ep.protocol(), ec);
    if (!ec) report_sock.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) report_sock.bind(ep, ec);
    if (ec) {
      if (!report_bind_logged) log::error(kLog, "collector: bind " + endpoint_to_string(ep) + ": " + ec.message());
      report_bind_logged = true;
      report_sock.close(ec);
      return;  // retried every second
    }
    log::info(kLog, "collector listening on " + endpoint_to_string(report_sock.local_endpoint(ec)));
    arm_receive();
  }

  void arm_receive() {
    std::weak_ptr<Impl> wself = weak_from_this();
    report_sock.async_receive_from(asio::buffer(rx), rx_from, [wself](boost::system::error_code ec, size_t n) {
      auto self = wself.lock();
      if (!self || self->stopped || ec == asio::error::operation_aborted) return;
      if (!ec) self->on_report(n);
      self->arm_receive();
    });
  }

  void on_report(size_t n) {
    const std::span<const uint8_t> bytes(rx.data(), n);
    if (auto t = report::peek_type(bytes); t && *t == report::MessageType::plan_ack) return on_plan_ack(bytes);
    report::AcceptResult res;
    {
      std::lock_guard lk(sh->mu);
      res = sh->collector.accept(std::span<const uint8_t>(rx.data(), n), rx_from.address(),
                                 report::Now{sh->mono(), sh->wall()});
    }
    // Rejections are counted and logged (rate-limited) by the Collector; their events are
    // summarised per cause in check_rejections().
    for (const auto& e : res.events) availability_event(e);
    if (res.accepted()) steer_tick();  // a load change reaches the weights at once (R3)
  }

  // One selection + data-plane round on the current inputs (steering.hpp).
  void steer_tick() {
    if (!steering) return;
    std::vector<PathView> ps;
    report::InstanceTable::Map table;
    {
      std::lock_guard lk(sh->mu);
      ps = sh->paths;
      table = sh->damped_entries();
    }
    steering->tick(ps, table);
    publish_decisions();
  }

  // The stream's path and instance messages: one per path / instance, shaped as the
  // items of GET /api/v1/paths and /instances. The hub coalesces and rate-limits.
  void publish_paths() {
    json::array a;
    {
      std::lock_guard lk(sh->mu);
      a = paths_json(sh->paths);
    }
    for (const auto& v : a) {
      const auto& o = v.as_object();
      sh->hub->publish("paths", std::string(o.at("wan").as_string()) + "/" + std::string(o.at("vcpe").as_string()),
                       json::serialize(v));
    }
  }

  void publish_instances() {
    json::array a;
    {
      std::lock_guard lk(sh->mu);
      a = instances_json(sh->damped_entries(), sh->mono());
    }
    for (const auto& v : a) {
      const auto& o = v.as_object();
      sh->hub->publish("instances",
                       std::string(o.at("vcpe").as_string()) + "/" + std::string(o.at("service").as_string()) + "/" +
                           std::string(o.at("instance").as_string()),
                       json::serialize(v));
    }
  }

  // A service's candidates go to the stream as one message (Steering::decisions_by_service)
  // when its weights or health changed; costs and reasons move every tick and would only
  // be noise. One message per service, coalesced per service by the hub: a client never
  // sees half of one publication and half of the next (docs/API.md "stream").
  void publish_decisions() {
    auto a = steering->decisions_by_service();
    std::map<std::string, std::string> sig;
    for (const auto& v : a) {
      const auto& m = v.as_object();
      const std::string svc(m.at("service").as_string());
      auto& s = sig[svc];
      for (const auto& c : m.at("candidates").as_array()) {
        const auto& o = c.as_object();
        s += json::serialize(o.at("instance")) + json::serialize(o.at("wan")) + json::serialize(o.at("weight")) +
             json::serialize(o.at("health")) + ";";
      }
      auto it = streamed_decisions.find(svc);
      if (it != streamed_decisions.end() && it->second == s) continue;
      sh->hub->publish("decisions", svc, json::serialize(v));
    }
    streamed_decisions = std::move(sig);
  }

  static std::string instance_name(const report::InstanceKey& k) {
    return k.vcpe_id + "/" + k.service_id + "/" + k.instance_id;
  }

  // An instance's availability changed in the collector: damp it as a path (a flap =
  // available -> unavailable), then write the event.
  void availability_event(const report::AvailabilityEvent& e) {
    static constexpr const char* reasons[] = {"reported", "withdrawn", "expired"};
    const auto now = sh->mono();
    std::string detail = reasons[static_cast<size_t>(e.reason)];
    stamp::DampedState::Result r;
    {
      std::lock_guard lk(sh->mu);
      auto& d = sh->inst_damp.try_emplace(e.key, sh->inst_damping).first->second;
      const auto to = e.available ? stamp::PathState::up : stamp::PathState::down;
      r = d.on_probe_change(stamp::StateChange{d.probe_state(), to, 0, now}, now);
      if (d.damping().flaps() > 0) detail += "; " + damping_detail(d.damping(), now);
    }
    if (r.held)
      sh->event("instance_held", instance_name(e.key), "available again, held unavailable by flap damping: " + detail);
    else
      sh->event(e.available ? "instance_available" : "instance_unavailable", instance_name(e.key), detail);
  }

  // One event per rejection cause per collector log interval, carrying how many were
  // rejected since the last one: a flood of forged reports (R23) is visible in the
  // history without writing an event per datagram.
  void check_rejections() {
    std::array<uint64_t, report::kVerdictCount> now_counts{};
    std::chrono::seconds interval;
    {
      std::lock_guard lk(sh->mu);
      for (size_t i = 0; i < report::kVerdictCount; ++i)
        now_counts[i] = sh->collector.count(static_cast<report::Verdict>(i));
      interval = sh->collector.config().log_interval;
    }
    auto now = sh->mono();
    for (size_t i = 1; i < report::kVerdictCount; ++i) {  // 0 = accepted
      uint64_t delta = now_counts[i] - rejected_reported[i];
      if (delta == 0) continue;
      if (rejected_event_at[i] && now - *rejected_event_at[i] < interval) continue;
      rejected_reported[i] = now_counts[i];
      rejected_event_at[i] = now;
      sh->event("report_rejected", std::string(report::to_string(static_cast<report::Verdict>(i))),
                std::to_string(delta) + " rejected");
    }
  }

  // The first WAN whose path to vCPE v is up (a message into a dead tunnel is lost).
  std::optional<size_t> up_wan(size_t v) const {
    for (const auto& p : paths)
      if (p.vcpe == v && p.sender->snapshot().state == stamp::PathState::up) return p.wan;
    return std::nullopt;
  }

  uint64_t next_seq() {
    if (di_seq == 0) di_seq = report::initial_sequence(wall_ns());
    return di_seq++;
  }

  uint64_t wall_ns() const {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(sh->wall().time_since_epoch()).count());
  }

  // One signed message to vCPE v over the tunnel of WAN w. Errors are logged once each
  // (at warning: a sender that stays silent is what issue 14 found).
  bool send_to_vcpe(size_t v, size_t w, const std::vector<uint8_t>& bytes, const char* what) {
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
  void send_desired(size_t v) {
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
  static std::vector<report::PlanInstance> plan_for(const config::CpeConfig& c, const std::string& vcpe) {
    std::vector<report::PlanInstance> out;
    for (const auto& svc : c.services)
      for (const auto& in : svc.instances)
        if (in.vcpe == vcpe) out.push_back({svc.select.id, endpoint_to_string(in.address), in.address});
    return out;
  }

  void set_plans(const config::CpeConfig& c) {
    const auto now = sh->mono();
    std::lock_guard lk(sh->mu);
    for (const auto& v : c.vcpes)
      sh->plans.set_plan(v.name, plan_for(c, v.name), static_cast<uint64_t>(std::max<int64_t>(0, c.revision)), now);
  }

  // Sends the plans that are due (PlanSync: until confirmed, then as a refresh).
  void send_plans() {
    if (!key || !cfg.lan.address) return;
    const auto now = sh->mono();
    for (size_t v = 0; v < cfg.vcpes.size(); ++v) {
      report::SamplingPlan p;
      {
        std::lock_guard lk(sh->mu);
        if (!sh->plans.due(cfg.vcpes[v].name, now)) continue;
        const auto* st = sh->plans.find(cfg.vcpes[v].name);
        p.instances = st->instances;
        p.revision = st->revision;
      }
      auto wan = up_wan(v);
      if (!wan) continue;
      p.cpe_id = cfg.daemon.name;
      p.vcpe_id = cfg.vcpes[v].name;
      p.seq = next_seq();
      p.timestamp_ns = wall_ns();
      auto bytes = report::encode_sampling_plan(p, *key);
      if (!bytes) {
        log::warn(kLog, "sampling plan for " + p.vcpe_id + ": " + bytes.error().message);
        std::lock_guard lk(sh->mu);
        sh->plans.failed(p.vcpe_id, bytes.error().message, now);
        continue;
      }
      if (!send_to_vcpe(v, *wan, *bytes, "sampling plan")) continue;
      std::lock_guard lk(sh->mu);
      sh->plans.sent(p.vcpe_id, now);
    }
  }

  void on_plan_ack(std::span<const uint8_t> bytes) {
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

  template <class F>
  void every(asio::steady_timer& t, SteadyClock::duration period, F f) {
    t.expires_after(period);
    std::weak_ptr<Impl> wself = weak_from_this();
    t.async_wait([wself, &t, period, f](boost::system::error_code ec) {
      auto self = wself.lock();
      if (!self || self->stopped || ec) return;
      f(*self);
      self->every(t, period, f);
    });
  }

  void on_fast() {
    std::vector<report::AvailabilityEvent> evs;
    {
      std::lock_guard lk(sh->mu);
      evs = sh->collector.expire(sh->mono());
    }
    for (const auto& e : evs) availability_event(e);
    check_holds();
    refresh_paths();
    steer_tick();
    send_plans();
    sh->hub->tick();  // coalesced stream messages whose slot has come
  }

  void on_sample() {
    open_report_socket();
    check_rejections();
    int64_t ts = unix_ms(sh->wall());
    std::vector<store::PathSample> ps;
    std::vector<store::InstanceSample> is;
    {
      std::lock_guard lk(sh->mu);
      ps = path_samples(sh->paths, ts);
      is = instance_samples(sh->damped_entries(), ts);
    }
    publish_paths();
    publish_instances();
    std::lock_guard lk(sh->store_mu);
    if (!sh->store) return;
    if (!ps.empty()) sh->store->add_path_samples(ps);
    if (!is.empty()) sh->store->add_instance_samples(is);
  }

  // A candidate whose count fails is left out (its series disappears) rather than shown as 0.
  void on_flow() {
    if (!steering || !count_flows) return;
    std::map<uint32_t, uint64_t> counts;
    for (const auto& c : steering->candidate_weights()) {
      auto n = count_flows(c.ipv6 ? AF_INET6 : AF_INET, c.mark);
      if (n) {
        counts[c.mark] = *n;
        continue;
      }
      if (!flow_error_logged) log::warn(kLog, "counting flows by ct mark: " + n.error().message);
      flow_error_logged = true;
    }
    std::lock_guard lk(sh->mu);
    sh->flows = std::move(counts);
    sh->flows_counted_ms = unix_ms(sh->wall());
  }

  void on_maintain() {
    std::lock_guard lk(sh->store_mu);
    if (sh->store) sh->store->maintain(unix_ms(sh->wall()));
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    for (auto& p : paths) p.sender->stop();
    boost::system::error_code ec;
    report_sock.close(ec);
    for (auto& s : tun_socks) s->close();
    fast.cancel();
    sample.cancel();
    desired.cancel();
    maintain.cancel();
    flow.cancel();
    sh->hub->close();  // nothing feeds it any more: its streams end, their clients reconnect
  }
};

namespace {

// GET /api/v1/plans (docs/API.md): per vCPE, the plan and its sync state; "since_ms" is
// how long it has been in that state (pending since, in sync since).
json::object plans_json(const std::vector<report::PlanStatus>& plans, SteadyClock::time_point now) {
  json::array out;
  for (const auto& p : plans) {
    json::array inst, refused;
    for (const auto& i : p.instances)
      inst.push_back(json::object{{"service", i.service_id}, {"instance", i.instance_id},
                                  {"address", endpoint_to_string(i.address)}});
    for (const auto& f : p.refused)
      refused.push_back(json::object{{"service", f.service_id}, {"instance", f.instance_id},
                                     {"reason", std::string(report::to_string(f.reason))}});
    json::object o{{"vcpe", p.vcpe},
                   {"state", std::string(report::to_string(p.state))},
                   {"revision", p.revision},
                   {"digest", hex_bytes(p.digest)},
                   {"since_ms", std::chrono::duration_cast<std::chrono::milliseconds>(now - p.since).count()},
                   {"instances", std::move(inst)},
                   {"sent", p.sent},
                   {"acked_revision", p.state == report::SyncState::in_sync ? json::value(p.acked_revision) : nullptr},
                   {"applied", p.applied},
                   {"refused", std::move(refused)},
                   {"stale_acks", p.stale_acks},
                   {"error", p.error}};
    out.push_back(std::move(o));
  }
  return json::object{{"vcpes", std::move(out)}};
}

void add_routes(api::Router& router, const std::shared_ptr<Shared>& sh, const config::CpeConfig& cfg) {
  struct Names {
    std::vector<std::pair<std::string, std::string>> paths;  // (wan, vcpe)
    std::vector<VcpeSeq> vcpes;
  };
  auto names = std::make_shared<Names>();
  for (const auto& w : cfg.wans)
    for (const auto& v : cfg.vcpes) names->paths.emplace_back(w.name, v.name);
  for (const auto& v : cfg.vcpes) names->vcpes.push_back({v.name, v.address.to_string(), std::nullopt});

  // [from, to] in unix ms; default the last hour. Returns an error message when invalid.
  auto range = [sh](const api::Request& r, int64_t& from, int64_t& to) -> std::optional<std::string> {
    to = unix_ms(sh->wall());
    from = to - kDefaultHistoryMs;
    if (auto s = q(r, "from"); !s.empty()) {
      auto v = parse_i64(s);
      if (!v) return "from: expected unix milliseconds";
      from = *v;
    }
    if (auto s = q(r, "to"); !s.empty()) {
      auto v = parse_i64(s);
      if (!v) return "to: expected unix milliseconds";
      to = *v;
    }
    if (from > to) return "from is after to";
    return std::nullopt;
  };
  auto no_store = [] { return api::Response::error(503, "no history: the store is not open"); };
  // ?points=N (1..store::kMaxPoints): 0 when absent (raw rows, as before points existed).
  auto points = [](const api::Request& r, int64_t& n) -> std::optional<std::string> {
    n = 0;
    auto s = q(r, "points");
    if (s.empty()) return std::nullopt;
    auto v = parse_i64(s);
    if (!v || *v < 1 || *v > store::kMaxPoints) return "points: expected 1.." + std::to_string(store::kMaxPoints);
    n = *v;
    return std::nullopt;
  };

  router.add("GET", "/api/v1/paths", [sh, names, range, points, no_store](const api::Request& r) {
    if (q(r, "history") != "1") {
      std::lock_guard lk(sh->mu);
      return api::Response::json(paths_json(sh->paths));
    }
    int64_t from = 0, to = 0, n = 0;
    if (auto e = range(r, from, to)) return api::Response::error(400, *e);
    if (auto e = points(r, n)) return api::Response::error(400, *e);
    std::string wan = q(r, "wan"), vcpe = q(r, "vcpe");
    std::vector<store::PathSample> rows;
    std::lock_guard lk(sh->store_mu);
    if (!sh->store) return no_store();
    if (n > 0) {
      std::vector<store::PathBucket> buckets;
      for (const auto& [w, v] : names->paths) {
        if ((!wan.empty() && w != wan) || (!vcpe.empty() && v != vcpe)) continue;
        if (buckets.size() >= kHistoryLimit) break;  // whole series only, as for raw rows
        auto h = sh->store->path_buckets(w, v, from, to, n);
        if (!h) return api::Response::error(400, h.error().message);
        buckets.insert(buckets.end(), h->begin(), h->end());
      }
      return api::Response::json(path_buckets_json(buckets));
    }
    for (const auto& [w, v] : names->paths) {
      if ((!wan.empty() && w != wan) || (!vcpe.empty() && v != vcpe)) continue;
      if (rows.size() >= kHistoryLimit) break;
      auto h = sh->store->path_history(w, v, from, to, kHistoryLimit - rows.size());
      if (!h) return api::Response::error(500, h.error().message);
      rows.insert(rows.end(), h->begin(), h->end());
    }
    return api::Response::json(path_history_json(rows));
  });

  router.add("GET", "/api/v1/instances", [sh, range, points, no_store](const api::Request& r) {
    if (q(r, "history") != "1") {
      std::lock_guard lk(sh->mu);
      return api::Response::json(instances_json(sh->damped_entries(), sh->mono()));
    }
    int64_t from = 0, to = 0, n = 0;
    if (auto e = range(r, from, to)) return api::Response::error(400, *e);
    if (auto e = points(r, n)) return api::Response::error(400, *e);
    std::string vcpe = q(r, "vcpe"), service = q(r, "service"), instance = q(r, "instance");
    // Unfiltered fields span the instances the table knows now.
    std::vector<report::InstanceKey> keys;
    if (!vcpe.empty() && !service.empty() && !instance.empty()) {
      keys.push_back({vcpe, service, instance});
    } else {
      std::lock_guard lk(sh->mu);
      for (const auto& [k, st] : sh->collector.table().entries())
        if ((vcpe.empty() || k.vcpe_id == vcpe) && (service.empty() || k.service_id == service) &&
            (instance.empty() || k.instance_id == instance))
          keys.push_back(k);
    }
    std::vector<store::InstanceSample> rows;
    std::lock_guard lk(sh->store_mu);
    if (!sh->store) return no_store();
    if (n > 0) {
      std::vector<store::InstanceBucket> buckets;
      for (const auto& k : keys) {
        if (buckets.size() >= kHistoryLimit) break;
        auto h = sh->store->instance_buckets(k.vcpe_id, k.service_id, k.instance_id, from, to, n);
        if (!h) return api::Response::error(400, h.error().message);
        buckets.insert(buckets.end(), h->begin(), h->end());
      }
      return api::Response::json(instance_buckets_json(buckets));
    }
    for (const auto& k : keys) {
      if (rows.size() >= kHistoryLimit) break;
      auto h = sh->store->instance_history(k.vcpe_id, k.service_id, k.instance_id, from, to,
                                           kHistoryLimit - rows.size());
      if (!h) return api::Response::error(500, h.error().message);
      rows.insert(rows.end(), h->begin(), h->end());
    }
    return api::Response::json(instance_history_json(rows));
  });

  // Server-Sent Events (api/sse.hpp). Last-Event-ID as the header (what EventSource sends
  // on a reconnect) or ?last_event_id= for clients that cannot set headers.
  router.add("GET", "/api/v1/stream", [sh](const api::Request& r) {
    auto topics = api::sse::parse_topics(q(r, "topics"));
    if (!topics) return api::Response::error(400, topics.error().message);
    std::optional<uint64_t> last;
    std::string id = r.header("last-event-id");
    if (id.empty()) id = q(r, "last_event_id");
    if (!id.empty()) {
      auto v = api::sse::parse_last_event_id(id);
      if (!v) return api::Response::error(400, v.error().message);
      last = *v;
    }
    auto sub = sh->hub->subscribe(std::move(*topics), last);
    if (!sub)
      return api::Response::error(503, "too many event streams open (at most " +
                                           std::to_string(sh->hub->options().max_streams) + ")");
    return api::Response::streamed(std::move(sub), "text/event-stream");
  });

  router.add("GET", "/api/v1/reports", [sh, names](const api::Request&) {
    std::lock_guard lk(sh->mu);
    std::array<uint64_t, report::kVerdictCount> c{};
    for (size_t i = 0; i < c.size(); ++i) c[i] = sh->collector.count(static_cast<report::Verdict>(i));
    auto vs = names->vcpes;
    for (auto& v : vs) v.last_seq = sh->collector.last_seq(v.vcpe);
    return api::Response::json(reports_json(c, vs));
  });

  // Issue 9: per vCPE, the sampling plan this CPE sends it and whether the vCPE applies
  // exactly that plan (report/plan_sync.hpp).
  router.add("GET", "/api/v1/plans", [sh](const api::Request&) {
    std::lock_guard lk(sh->mu);
    return api::Response::json(plans_json(sh->plans.status(), sh->mono()));
  });

  // Filtered in SQL (store::EventQuery): a page asking for one path's events reads those only.
  router.add("GET", "/api/v1/events", [sh](const api::Request& r) {
    store::EventQuery eq;
    if (auto bad = event_query(r.query, unix_ms(sh->wall()), eq))
      return api::Response::error(400, "invalid", bad->field + ": " + bad->message, {*bad});
    {
      std::lock_guard lk(sh->store_mu);
      if (sh->store) {
        auto ev = sh->store->events(eq);
        if (!ev) return api::Response::error(500, ev.error().message);
        return api::Response::json(events_json(*ev));
      }
    }
    // Without a store: the recent events kept in memory, through the same filter.
    std::vector<store::Event> out;
    std::lock_guard lk(sh->mu);
    for (const auto& e : sh->ring)
      if (store::matches(eq, e)) out.push_back(e);
    out = store::newest_per_bucket(eq, out);
    const size_t n = std::min(out.size(), eq.limit);
    if (eq.newest) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(n));
    else out.resize(n);
    return api::Response::json(events_json(out));
  });
}

}  // namespace

Result<std::unique_ptr<CpeServices>> CpeServices::start(asio::io_context& io, api::Router& router,
                                                        const config::CpeConfig& cfg, Deps deps) {
  std::vector<report::VcpePeer> peers;
  for (const auto& v : cfg.vcpes) {
    if (v.report_key.empty()) {
      // Without a key no report can verify (R23): the vCPE stays without instances.
      log::warn(kLog, "vcpe " + v.name + ": no report_key configured; its reports will be rejected");
      continue;
    }
    auto k = report::PublicKey::from_raw(v.report_key);
    if (!k) return k.error().context("vcpe " + v.name + " report_key");
    peers.push_back({v.name, *k, {v.address}});  // the only source its reports may come from
  }
  report::CollectorConfig cc;
  // Expiry is kExpiryIntervals x the max interval the vCPEs are told to use (R3/R4).
  cc.max_interval = std::chrono::milliseconds(std::max<uint32_t>(1, cfg.reporting.max_interval_ms));
  auto wall = deps.wall ? deps.wall : [] { return std::chrono::system_clock::now(); };
  // The collector's replay marks live in the store (report/collector.hpp): the ones an
  // earlier run (or the configuration this reload replaces) stored, and each new one is
  // written before its report is accepted. The writer runs under Shared::mu, on the
  // store's own marks connection (never behind store_mu and a history query).
  std::vector<report::ReplayMark> marks;
  report::MarkWriter write_mark;
  if (deps.store) {
    if (auto stored = deps.store->replay_marks(); stored) {
      for (auto& m : *stored)
        marks.push_back({std::move(m.vcpe), m.stream == "plan_ack" ? report::Stream::plan_ack : report::Stream::report,
                         m.seq});
    } else {
      log::error(kLog, "replay marks: " + stored.error().message + "; the collector starts without them");
    }
    write_mark = [st = deps.store.get(), wall](const report::ReplayMark& m) {
      return st->put_replay_mark({m.vcpe_id, std::string(report::to_string(m.stream)), m.seq}, unix_ms(wall()));
    };
  }
  auto sh = std::make_shared<Shared>(std::move(peers), cc, std::move(marks), std::move(write_mark));
  sh->wall = std::move(wall);
  sh->mono = deps.mono ? deps.mono : [] { return SteadyClock::now(); };
  sh->store = std::move(deps.store);  // outlives the writer's use: Shared owns both
  {
    api::sse::Options so;
    // Ids continue across restarts (unix µs at start, far above any earlier run's count at
    // ≤ 40 messages/s, below 2^53 so JavaScript reads them exactly): a client's id from an
    // earlier run is never mistaken for one of this run's, it gets a reset.
    so.first_id = static_cast<uint64_t>(std::max<int64_t>(1, unix_ms(sh->wall()) * 1000));
    sh->hub = api::sse::Hub::make(so, sh->mono);
  }

  auto impl = std::make_shared<Impl>(io, cfg, sh);
  sh->inst_damping = impl->damping_config();
  impl->key = std::move(deps.signing_key);
  impl->rng = std::move(deps.rng);
  if (cfg.lan.address)
    for (const auto& w : cfg.wans)
      impl->tun_socks.push_back(std::make_unique<tunsock::TunnelUdpSocket>(
          io, tunsock::Options{w.tunnel_interface, *cfg.lan.address, std::nullopt}));
  impl->di_sent.assign(cfg.vcpes.size(), false);
  impl->to_vcpe_error.assign(cfg.vcpes.size(), std::string());
  impl->set_plans(cfg);
  if (auto st = impl->start_paths(); !st) {
    impl->stop();
    return st.error();
  }
  impl->open_report_socket();
  add_routes(router, sh, cfg);
  if (!cfg.services.empty() || deps.steer_apply) {
    std::weak_ptr<Shared> wsh = sh;
    auto event = [wsh](const std::string& kind, const std::string& subject, const std::string& detail) {
      if (auto s = wsh.lock()) s->event(kind, subject, detail);
    };
    Steering::Apply apply = deps.steer_apply;
    Steering::Adopt adopt = deps.steer_adopt;
    // Without a kernel seam (tests, or no services): decide and show, program nothing.
    if (!apply) apply = [](const steer::State&) -> Result<steer::ApplyReport> { return steer::ApplyReport{}; };
    if (!adopt) adopt = [](const steer::State&) -> Result<std::optional<steer::State>> { return std::optional<steer::State>{}; };
    impl->steering = std::make_shared<Steering>(cfg, std::move(apply), std::move(adopt), std::move(event), sh->mono,
                                                std::move(deps.steer_ids));
    auto started = impl->steering->start(deps.previous_steering);
    // A reload (a configuration change) must not leave the kernel half-changed: it fails
    // here and the caller returns to the previous configuration. At daemon start the
    // steering keeps retrying on its own, as it does for any later apply.
    if (!started && deps.previous_steering) {
      impl->stop();
      return started.error().context("steering");
    }
    auto st = impl->steering;
    router.add("GET", "/api/v1/services", [st](const api::Request&) { return api::Response::json(st->services_json()); });
    router.add("GET", "/api/v1/decisions", [st](const api::Request&) { return api::Response::json(st->decisions_json()); });
  }

  // Flow counts of every candidate, as the last kFlowTick count found them (the very counts
  // /metrics shows: nothing is counted per request).
  router.add("GET", "/api/v1/flows", [sh, st = impl->steering](const api::Request&) {
    json::array out;
    int64_t counted = 0;
    std::map<uint32_t, uint64_t> flows;
    {
      std::lock_guard lk(sh->mu);
      flows = sh->flows;
      counted = sh->flows_counted_ms;
    }
    if (st)
      for (const auto& c : st->candidate_weights()) {
        auto f = flows.find(c.mark);
        out.push_back(json::object{{"service", c.service},
                                   {"instance", c.instance},
                                   {"wan", c.wan},
                                   {"flows", f == flows.end() ? json::value(nullptr) : json::value(f->second)}});
      }
    return api::Response::json(json::object{{"services", std::move(out)},
                                            {"counted_ms", counted ? json::value(counted) : json::value(nullptr)}});
  });

  impl->every(impl->fast, kFastTick, [](Impl& s) { s.on_fast(); });
  impl->every(impl->sample, kSampleTick, [](Impl& s) { s.on_sample(); });
  impl->every(impl->maintain, kMaintainTick, [](Impl& s) { s.on_maintain(); });
  impl->count_flows = std::move(deps.count_flows);
  impl->on_flow();
  impl->every(impl->flow, kFlowTick, [](Impl& s) { s.on_flow(); });
  for (size_t v = 0; v < cfg.vcpes.size(); ++v) impl->send_desired(v);
  impl->every(impl->desired, kDesiredTick, [](Impl& s) {
    for (size_t v = 0; v < s.cfg.vcpes.size(); ++v) s.send_desired(v);
  });
  log::info(kLog, std::to_string(impl->paths.size()) + " paths probed, " + std::to_string(cfg.vcpes.size()) +
                      " vCPEs reporting");
  return std::unique_ptr<CpeServices>(new CpeServices(std::move(impl)));
}

std::function<void(const std::string&, const std::string&, const std::string&)> CpeServices::event_sink() const {
  return [sh = impl_->sh](const std::string& kind, const std::string& subject, const std::string& detail) {
    sh->event(kind, subject, detail);
  };
}

void CpeServices::retune(const config::CpeConfig& next) {
  if (impl_->steering) impl_->steering->retune(next);
  // A tuning change moves the revision, not the plans: each stays in sync (same digest).
  impl_->set_plans(next);
}

std::optional<steer::State> CpeServices::steering_state() const {
  return impl_->steering ? impl_->steering->applied() : std::nullopt;
}

CpeServices::~CpeServices() {
  if (impl_) impl_->stop();
}

api::prom::Collector CpeServices::metrics_collector() const {
  return [sh = impl_->sh, st = impl_->steering](api::prom::Exposition& e) {
    std::vector<PathView> paths;
    report::InstanceTable::Map table;
    std::array<uint64_t, report::kVerdictCount> counts{};
    std::map<uint32_t, uint64_t> flows;
    std::vector<report::PlanStatus> plans;
    {
      std::lock_guard lk(sh->mu);
      plans = sh->plans.status();
      paths = sh->paths;
      table = sh->damped_entries();
      for (size_t i = 0; i < counts.size(); ++i) counts[i] = sh->collector.count(static_cast<report::Verdict>(i));
      flows = sh->flows;
    }
    path_metrics(e, paths);
    instance_metrics(e, table);
    report_metrics(e, counts);
    plan_metrics(e, plans);
    if (!st) return;
    std::vector<CandidateMetric> cs;
    for (auto& c : st->candidate_weights()) {
      auto f = flows.find(c.mark);
      cs.push_back({std::move(c.service), std::move(c.instance), std::move(c.wan), c.weight,
                    f == flows.end() ? std::nullopt : std::optional<uint64_t>(f->second)});
    }
    std::vector<ServicePublications> ps;
    for (auto& [svc, n] : st->publications()) ps.push_back({svc, n});
    steering_metrics(e, cs, ps);
  };
}

std::optional<udp::endpoint> CpeServices::report_endpoint() const {
  boost::system::error_code ec;
  if (!impl_->report_sock.is_open()) return std::nullopt;
  auto ep = impl_->report_sock.local_endpoint(ec);
  if (ec) return std::nullopt;
  return ep;
}

}  // namespace cats::cpe
