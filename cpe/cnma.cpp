// CpeServices (cnma.hpp): start-up wiring of the C-NMA's parts (cnma_impl.hpp lists them)
// and steering on the services io_context, the API routes that need steering, and the
// public interface the daemon and LiveServices use.
#include "cpe/cnma.hpp"

#include "base/clock.hpp"
#include "base/log.hpp"
#include "cpe/cnma_impl.hpp"
#include "cpe/metrics.hpp"

#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

namespace cats::cpe {

namespace json = boost::json;

namespace {

constexpr const char* kLog = "cpe";

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
  // The instance figures an earlier run kept (kept_figures.hpp): a restart does not turn
  // an instance known as measured into one to explore (issue 8).
  if (sh->store) {
    if (auto rows = sh->store->instance_figures(); rows)
      sh->collector.seed_figures(kept_figures(*rows, {sh->mono(), unix_ms(sh->wall())}));
    else
      log::error(kLog, "instance figures: " + rows.error().message + "; instances start as never measured");
  }
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
  impl->restore_instance_damping();
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
  add_state_routes(router, sh, cfg);
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
  if (impl_->steering) {
    impl_->steering->retune(next);
    // A steering round right after this handler, on the services thread, rather than at
    // the next kFastTick (up to 100 ms later): a WAN cost PATCH reaches the nft maps about
    // when its answer leaves. Posted, not run here: this runs inside the configuration's
    // SQLite transaction (ConfigService waits for it), and the round's events, written to
    // the same database, would wait for that transaction and be dropped. The Selector
    // takes a reconfiguration at once, whatever its hold-down.
    boost::asio::post(impl_->io, [w = std::weak_ptr<Impl>(impl_)] {
      if (auto s = w.lock(); s && !s->stopped) s->steer_tick();
    });
  }
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
    std::map<uint32_t, uint64_t> flows;
    {
      // Formatted straight from the shared state under its lock: copying the paths and the
      // instance table first (with every instance's metrics) cost more than the text.
      std::lock_guard lk(sh->mu);
      std::array<uint64_t, report::kVerdictCount> counts{};
      for (size_t i = 0; i < counts.size(); ++i) counts[i] = sh->collector.count(static_cast<report::Verdict>(i));
      path_metrics(e, sh->paths);
      instance_metrics(e, sh->collector.table().entries(),
                       [&](const report::InstanceKey& k, const report::InstanceState& is) {
                         return sh->damped_available(k, is);
                       });
      report_metrics(e, counts);
      plan_metrics(e, sh->plans.status());
      flows = sh->flows;
    }
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
