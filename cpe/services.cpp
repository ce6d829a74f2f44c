#include "cpe/services.hpp"
#include "base/clock.hpp"

#include "base/log.hpp"
#include "cpe/cnma.hpp"
#include "cpe/config_api.hpp"
#include "cpe/config_boot.hpp"
#include "cpe/live_services.hpp"
#include "cpe/mgmt.hpp"
#include "cpe/underlay_check.hpp"
#include "ct/conntrack.hpp"
#include "nft/nft.hpp"
#include "overlay/site_plan.hpp"
#include "rtnl/rtnl.hpp"
#include "steer/programmer.hpp"
#include "wg/wg.hpp"

#include <chrono>
#include <random>

namespace cats::cpe {

namespace {

// Degrade, don't die: without history the probes, collector and API still work.
std::unique_ptr<store::Store> open_store(const std::string& path) {
  store::Options o;
  o.path = path;
  auto s = store::Store::open(o);
  if (!s) {
    log::error("cpe", "store " + path + ": " + s.error().message + "; running without history");
    return nullptr;
  }
  log::info("cpe", "store " + path + " open");
  return std::move(*s);
}

// Steering's own kernel handles (used on the services thread only; the daemon's Applier
// keeps its own on the main thread) and the Programmer over them.
struct SteerKernel {
  nft::Nft nft;
  rtnl::Rtnl rt;
  ct::Conntrack ct;
  steer::Programmer prog;
  SteerKernel(nft::Nft n, rtnl::Rtnl r, ct::Conntrack c)
      : nft(std::move(n)), rt(std::move(r)), ct(std::move(c)), prog(nft, rt, ct) {}
};

Result<std::shared_ptr<SteerKernel>> open_steer_kernel() {
  CATS_TRY_ASSIGN(n, nft::Nft::open());
  CATS_TRY_ASSIGN(r, rtnl::Rtnl::open());
  CATS_TRY_ASSIGN(c, ct::Conntrack::open());
  return std::make_shared<SteerKernel>(std::move(n), std::move(r), std::move(c));
}

// Probing, collection and steering (reloadable), the accounts that guard their routes,
// and the configuration service that reloads them. Destroyed in reverse order: the
// configuration service first, since its apply uses the other two.
struct AllServices : daemon::Services {
  std::unique_ptr<LiveServices> live;
  std::unique_ptr<Management> mgmt;
  std::unique_ptr<ConfigService> config;
};

// This CPE's public keys for the "add a vCPE" bundle (the daemon made both at start).
CpeIdentity cpe_identity(const config::Daemon& d, const std::string& report_key_path) {
  CpeIdentity id;
  if (auto k = wg::load_or_create_private_key(daemon::wireguard_key_path(d)))
    if (auto pub = wg::public_from_private(*k)) id.wireguard_public_key = wg::to_base64(*pub);
  if (auto k = report::load_or_create_signing_key(report_key_path)) id.report_public_key = k->public_key().to_base64();
  return id;
}

}  // namespace

daemon::ServicesFactory services_factory(const config::CpeConfig& cfg) {
  return [cfg](daemon::ServiceContext& ctx) -> Result<std::unique_ptr<daemon::Services>> {
    // One random_device per process, drawn only for STAMP start offsets (spreads the
    // sessions' send instants, RFC 8762 leaves scheduling to the sender).
    auto rd = std::make_shared<std::random_device>();
    // Steering owns table inet cats on the CPE (overlay::Plan::nft_managed is false), so it
    // runs even without services: a config that drops every service removes the table.
    auto k = open_steer_kernel();
    if (!k) return k.error().context("steering");
    auto kern = *k;
    const std::string key_path = daemon::report_key_path(ctx.daemon);
    boost::asio::io_context& io = ctx.io;
    LiveServices::Starter starter = [rd, kern, key_path, &io](api::Router& router, const config::CpeConfig& c,
                                                               std::optional<steer::State> previous) {
      Deps deps;
      deps.rng = [rd] { return static_cast<uint32_t>((*rd)()); };
      deps.store = open_store(c.store_path);
      // The CPE's own Ed25519 key signs desired-interval messages (docs/METRICS.md, R11/R23).
      if (auto key = report::load_or_create_signing_key(key_path)) deps.signing_key = std::move(*key);
      else log::error("cpe", "report signing key: " + key.error().message + "; not sending desired intervals");
      deps.steer_apply = [kern](const steer::State& s) { return kern->prog.apply(s); };
      deps.steer_adopt = [kern](const steer::State& s) { return kern->prog.adopt(s); };
      deps.steer_ids = {[kern] { return kern->prog.live_assignment(); }, [kern](int id) { return kern->prog.carried(id); }};
      deps.count_flows = [kern](int family, uint32_t mark) { return kern->ct.count_by_mark(family, mark, steer::kOurMarkBits); };
      deps.previous_steering = std::move(previous);
      warn_unrouted_vcpes(c);
      return CpeServices::start(io, router, c, std::move(deps));
    };
    auto all = std::make_unique<AllServices>();
    auto live = LiveServices::start(ctx.io, ctx.router, ctx.metrics, cfg, std::move(starter));
    if (!live) return live.error();
    all->live = std::move(*live);
    auto m = Management::start(ctx.router, cfg, all->live->event_sink());
    if (!m) return m.error().context("accounts");
    all->mgmt = std::move(*m);
    auto db = configdb::ConfigDb::open(cfg.store_path, unix_ms_now);
    if (!db) return db.error().context("configuration database");
    CATS_TRY_ASSIGN(rev, bootstrap(*db, cfg));
    config::CpeConfig current = cfg;
    if (rev != current.revision) {
      // The file just became revision 1: the running services (started from the file,
      // revision 0) carry the real revision in their sampling plans from now on. Same
      // content, so this only moves the plans' revision (CpeServices::retune). Posted:
      // the services' io thread does not run yet (retune would wait for it), and it runs
      // it first thing (a plan sent before says revision 0 until its next refresh); `all`
      // outlives that thread (daemon.cpp).
      current.revision = rev;
      boost::asio::post(ctx.io, [live = all->live.get(), current] { live->retune(current); });
    }
    // Overlay, then services; each failure undoes what was done (docs/API.md "Configuration").
    auto running = std::make_shared<config::CpeConfig>(current);
    auto change_plan = ctx.change_plan;
    ConfigService::Apply apply = [running, change_plan, live = all->live.get(),
                                  mgmt = all->mgmt.get()](const config::CpeConfig& next, bool tuning) -> Status {
      if (tuning) {
        live->retune(next);
        *running = next;
        return ok();
      }
      CATS_TRY(change_plan(overlay::plan_cpe(next)));
      if (auto st = live->reload(next); !st) {
        if (auto back = change_plan(overlay::plan_cpe(*running)); !back)
          log::error("config", "returning the overlay to the running configuration: " + back.error().message);
        return st.error().context("services");
      }
      mgmt->set_access(next.management);
      log::set_level(log::parse_level(next.daemon.log_level));
      *running = next;
      return ok();
    };
    all->config = ConfigService::start(ctx.io, ctx.router, std::move(*db), current, std::move(apply),
                                       &all->mgmt->accounts(), all->live->event_sink(), unix_ms_now,
                                       cpe_identity(ctx.daemon, key_path));
    return std::unique_ptr<daemon::Services>(std::move(all));
  };
}

}  // namespace cats::cpe
