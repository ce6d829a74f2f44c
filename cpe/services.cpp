#include "cpe/services.hpp"

#include "base/log.hpp"
#include "cpe/cnma.hpp"
#include "cpe/mgmt.hpp"
#include "cpe/underlay_check.hpp"
#include "ct/conntrack.hpp"
#include "nft/nft.hpp"
#include "rtnl/rtnl.hpp"
#include "steer/programmer.hpp"

#include <random>

namespace cats::cpe {

namespace {

// Degrade, don't die: without history the probes, collector and API still work.
std::unique_ptr<store::Store> open_store(const std::string& path) {
#ifdef CATS_HAVE_STORE
  store::Options o;
  o.path = path;
  auto s = store::Store::open(o);
  if (!s) {
    log::error("cpe", "store " + path + ": " + s.error().message + "; running without history");
    return nullptr;
  }
  log::info("cpe", "store " + path + " open");
  return std::move(*s);
#else
  log::warn("cpe", "store " + path + ": built without the SQLite store; running without history");
  return nullptr;
#endif
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

// Probing, collection and steering, and the accounts that guard their routes (their
// events go to the services' event log, which the sink keeps alive).
struct AllServices : daemon::Services {
  std::unique_ptr<CpeServices> cpe;
  std::unique_ptr<Management> mgmt;
};

}  // namespace

daemon::ServicesFactory services_factory(const config::CpeConfig& cfg) {
  return [cfg](daemon::ServiceContext& ctx) -> Result<std::unique_ptr<daemon::Services>> {
    Deps deps;
    // One random_device per process, drawn only for STAMP start offsets (spreads the
    // sessions' send instants, RFC 8762 leaves scheduling to the sender).
    auto rd = std::make_shared<std::random_device>();
    deps.rng = [rd] { return static_cast<uint32_t>((*rd)()); };
    deps.store = open_store(cfg.store_path);
    // The CPE's own Ed25519 key signs desired-interval messages (docs/METRICS.md, R11/R23).
    auto key = report::load_or_create_signing_key(daemon::report_key_path(ctx.daemon));
    if (key) {
      deps.signing_key = std::move(*key);
    } else {
      log::error("cpe", "report signing key: " + key.error().message + "; not sending desired intervals");
    }
    // Steering owns table inet cats on the CPE (overlay::Plan::nft_managed is false), so it
    // runs even without services: a config that drops every service removes the table.
    auto k = open_steer_kernel();
    if (!k) return k.error().context("steering");
    auto kern = *k;
    deps.steer_apply = [kern](const steer::State& s) { return kern->prog.apply(s); };
    deps.steer_adopt = [kern](const steer::State& s) { return kern->prog.adopt(s); };
    deps.count_flows = [kern](int family, uint32_t mark) { return kern->ct.count_by_mark(family, mark, steer::kOurMarkBits); };
    warn_unrouted_vcpes(cfg);
    auto s = CpeServices::start(ctx.io, ctx.router, cfg, std::move(deps));
    if (!s) return s.error();
    ctx.metrics.push_back((*s)->metrics_collector());
    auto all = std::make_unique<AllServices>();
    all->cpe = std::move(*s);
    auto m = Management::start(ctx.router, cfg, all->cpe->event_sink());
    if (!m) return m.error().context("accounts");
    all->mgmt = std::move(*m);
    return std::unique_ptr<daemon::Services>(std::move(all));
  };
}

}  // namespace cats::cpe
