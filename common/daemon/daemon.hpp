// The lifecycle both daemons share: validate, adopt or create the overlay, serve the local
// control API, reconcile periodically, and on SIGTERM remove everything we created.
//
// Signals: SIGTERM/SIGINT = stop and remove our state (tunnels, rules, routes, nft table)
// but for the CPE's WAN input filter (table inet cats_input), which guards the box while
// the daemon is down; `--cleanup` removes that too.
// SIGUSR2 = restart in place: re-exec the binary, leaving kernel state alone, so the new
// process adopts it without breaking a flow (nginx-style binary upgrade; a kill -9 and a
// fresh start adopt the same way).
#pragma once

#include "api/api.hpp"
#include "api/encoding.hpp"
#include "api/prometheus.hpp"
#include "config/config.hpp"
#include "overlay/plan.hpp"
#include "wg/wg.hpp"

#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cats::daemon {

// Role-specific work beyond the overlay (probing, reports, sampling): started after the
// first apply, on its own io_context thread; destroying it stops everything it runs.
class Services {
 public:
  virtual ~Services() = default;
};

struct ServiceContext {
  boost::asio::io_context& io;  // run by the services thread
  api::Router& router;          // add control API routes here (before the API starts)
  const config::Daemon& daemon;
  // Add what the services expose on GET /metrics; run on the API server's thread.
  std::vector<api::prom::Collector>& metrics;
  // A configuration change: converge the overlay to `next` (tunnels, routes, rules; added
  // before removed) and make it the plan the daemon reconciles and shows. Fails, with the
  // kernel back at the previous plan, when a required interface is missing or the kernel
  // refuses. Thread-safe; any thread.
  std::function<Status(const overlay::Plan& next)> change_plan;
};

using ServicesFactory = std::function<Result<std::unique_ptr<Services>>(ServiceContext&)>;

struct Site {
  std::string role;  // "cpe" or "vcpe"
  config::Daemon daemon;
  overlay::Plan plan;
  ServicesFactory services;  // may be empty
  config::Management management;  // HTTPS; off when listen is empty
};

// Request durations by (route, status) for cats_api_request_duration_seconds. Routes
// come from the route table ("" = unmatched, shown as "other"), statuses from handlers:
// bounded. Thread-safe (both servers' threads observe).
class RequestStats {
 public:
  void observe(const std::string& route, int status, double seconds);
  void collect(api::prom::Exposition& e) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, api::prom::Histogram> by_;
};

// The access rule of a daemon without accounts (the vCPE, and the CPE until its services
// set their own): the root-only Unix socket may do anything; over HTTPS only GET/HEAD of
// /api/v1/status and /metrics, and only from a source in management.metrics_allow
// (nobody when it is empty).
api::Guard read_only_guard(const config::Management& m);

// argv is kept for the SIGUSR2 re-exec.
int run(const Site& site, const std::vector<std::string>& argv);
// Remove leftovers of a crashed run (the plan's tunnels and any recorded earlier ones,
// our rules, routes and nft table) and the CPE's WAN input filter: the explicit teardown.
// Nothing else is touched.
int cleanup(const Site& site);
// Print the WireGuard public key (generating the private key on first use).
int print_pubkey(const config::Daemon& d);

// Shared by both daemons' main(): `NAME --config FILE [--cleanup|--check|--reimport]` or
// `NAME pubkey [--report] --config FILE`; `-h`/`--help` anywhere asks for the usage.
struct Args {
  std::string config;
  enum class Mode { run, cleanup, check, pubkey, help } mode = Mode::run;
  bool report_key = false;  // pubkey --report: the Ed25519 key reports are signed with
  bool reimport = false;    // --reimport: the file replaces a configuration the database owns (CPE)
};

// Print the Ed25519 report-signing public key (generating the key on first use).
int print_report_pubkey(const config::Daemon& d);
std::string report_key_path(const config::Daemon& d);
// Where the WireGuard private key lives (made on first use, 0600).
std::string wireguard_key_path(const config::Daemon& d);
// argv as main() has it (argv[0] is the program). An unknown argument, a missing value or
// no --config is an Error naming it; the caller prints it with usage() and exits 2.
Result<Args> parse_args(const std::vector<std::string>& argv);
// The two usage lines, each ending in a newline.
std::string usage(const std::string& prog);

// Status JSON for GET /api/v1/status (tunnels, peers, handshakes, bytes); `devices` are
// what WireGuard reports for the plan's tunnels (a missing one is shown as down).
boost::json::value status_json(const Site& site, const std::string& backend, const std::vector<wg::Device>& devices);

// GET /metrics, the part every daemon has (Prometheus text 0.0.4, docs/API.md
// "Metrics"): per WireGuard peer of the plan's tunnels {tunnel, peer} its last handshake
// (unix seconds; absent before the first), bytes received and sent; cats_build_info
// {version} 1; cats_start_time_seconds (unix seconds). Peers WireGuard shows that the plan
// does not name are left out (labels come from the configuration only).
void daemon_metrics(api::prom::Exposition& e, const Site& site, const std::vector<wg::Device>& devices,
                    double start_time_unix_s);
// The version cats_build_info reports (the CMake project version).
const char* build_version();
// The /metrics handler: runs every collector into one exposition (rendered afresh on
// every scrape, so never stale), gzip-encoded when the request accepts it (api::encode_for;
// Prometheus asks for gzip). The gzip member is made by an api::PartsGzip from two parts:
// the families of the `state` collectors (WireGuard, build, the role services: they change
// a few times a second) and those of the `per_request` collectors, run after them
// (cats_api_request_duration_seconds: changes with every request, this one included).
// Deflating the text is the costly part of a gzip answer (docs/BENCHMARKS.md "/metrics
// with gzip"); the state's part is deflated only when its text changed since the last
// scrape. The exposition is rendered into buffers kept from one scrape to the next
// (Exposition::reset). Copies share both (the HTTPS and Unix servers each copy the
// router); a lock serialises their scrapes.
class MetricsRoute {
 public:
  MetricsRoute(std::vector<api::prom::Collector> state, std::vector<api::prom::Collector> per_request);
  api::Response operator()(const api::Request& r) const;
  // Parts deflated so far (not reused), for tests.
  uint64_t deflated_parts() const { return shared_->gzip.deflated(); }

 private:
  struct Shared {
    std::mutex mu;  // held while the collectors run and the text is rendered
    api::prom::Exposition exposition;
    api::PartsGzip gzip;
  };
  std::vector<api::prom::Collector> state_, per_request_;
  std::shared_ptr<Shared> shared_;
};

// The whole main() of a daemon: parse arguments, load and validate the config, build
// the plan, then check / print the public key / clean up / run.
// `load(args)` returns the configuration to run; `services(cfg)` the ServicesFactory for it.
// `describe(cfg)` (optional) adds role-specific desired state to the --check output.
struct NoDescribe {
  template <class Cfg>
  std::string operator()(const Cfg&) const { return {}; }
};

template <class Load, class PlanFn, class ServicesFn, class DescribeFn = NoDescribe>
int site_main(int argc, char** argv, const std::string& prog, const std::string& role, Load load, PlanFn plan,
              ServicesFn services, DescribeFn describe = {}) {
  std::vector<std::string> args(argv, argv + argc);
  auto a = parse_args(args);
  if (!a) {
    std::fprintf(stderr, "%s: %s\n%s", prog.c_str(), a.error().message.c_str(), usage(prog).c_str());
    return 2;
  }
  if (a->mode == Args::Mode::help) {
    std::fputs(usage(prog).c_str(), stdout);
    return 0;
  }
  if (a->mode == Args::Mode::pubkey) {
    // Own section only: the keys exist before any peer is configured (first deployment).
    auto d = config::load_daemon_section(a->config, role);
    if (!d) {
      std::fprintf(stderr, "%s: invalid configuration:\n%s\n", prog.c_str(), d.error().message.c_str());
      return 1;
    }
    return a->report_key ? print_report_pubkey(*d) : print_pubkey(*d);
  }
  auto cfg = load(*a);
  if (!cfg) {
    std::fprintf(stderr, "%s: invalid configuration:\n%s\n", prog.c_str(), cfg.error().message.c_str());
    return 1;
  }
  Site site{role, cfg->daemon, plan(*cfg), services(*cfg), cfg->management};
  switch (a->mode) {
    case Args::Mode::check:
      std::fputs(overlay::render(site.plan).c_str(), stdout);
      std::fputs(describe(*cfg).c_str(), stdout);
      return 0;
    case Args::Mode::pubkey:
    case Args::Mode::help: break;  // handled above
    case Args::Mode::cleanup: return cleanup(site);
    case Args::Mode::run: break;
  }
  return run(site, args);
}

}  // namespace cats::daemon
