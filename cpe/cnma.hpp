// The CPE's C-NMA (network metric agent: STAMP probing of every WAN x vCPE path, R7) and
// the report collector (signed vCPE reports, R8-R11, R23; availability, R3/R4), with
// their history (SQLite store), events and control API endpoints.
//
// Threads: everything that probes, receives or writes runs on the services io_context;
// API handlers run on the control server's thread. What both touch lives in one Shared
// block behind a mutex; the store has its own mutex so a slow history query never holds
// up report processing.
#pragma once

#include "api/api.hpp"
#include "api/prometheus.hpp"
#include "config/config.hpp"
#include "daemon/daemon.hpp"
#include "report/ed25519.hpp"
#include "cpe/steering.hpp"
#include "store/store.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

namespace cats::cpe {

struct Deps {
  std::function<uint32_t()> rng;                                 // STAMP start offsets
  std::function<std::chrono::system_clock::time_point()> wall;   // default: system_clock
  std::function<std::chrono::steady_clock::time_point()> mono;   // default: steady_clock
  std::unique_ptr<store::Store> store;                           // null: no history
  std::optional<report::SigningKey> signing_key;                 // null: no desired-interval messages
  // The kernel seam of steering (steer::Programmer in the daemon). Both empty: no
  // steering (selection still runs and is shown by the API).
  Steering::Apply steer_apply;
  Steering::Adopt steer_adopt;
  Steering::Ids steer_ids;
  // Conntrack entries of `family` (AF_INET/AF_INET6) with ct mark `mark` under
  // steer::kOurMarkBits; called on the services thread. Empty: cats_service_flows absent.
  std::function<Result<size_t>(int family, uint32_t mark)> count_flows;
  // A reload: the steering state of the services this replaces. Unchanged services keep
  // their weights (Steering::start), and a refused first apply fails start().
  std::optional<steer::State> previous_steering;
};

class CpeServices : public daemon::Services {
 public:
  // Starts probing and collecting on `io` and registers the API routes on `router`.
  static Result<std::unique_ptr<CpeServices>> start(boost::asio::io_context& io, api::Router& router,
                                                    const config::CpeConfig& cfg, Deps deps);
  ~CpeServices() override;
  CpeServices(const CpeServices&) = delete;
  CpeServices& operator=(const CpeServices&) = delete;

  // What GET /metrics shows of probing, the collector and steering (cpe/metrics.hpp);
  // runs on the API server's thread, taking the services' locks.
  api::prom::Collector metrics_collector() const;

  // The CPE's event log (log, in-memory ring, store) for other modules' events; usable
  // from any thread, for as long as anything holds it.
  std::function<void(const std::string& kind, const std::string& subject, const std::string& detail)> event_sink() const;

  // Steering::retune (on the services thread): a change that only tunes selection. It
  // posts a steering round at once (the next handler on the services thread), rather
  // than waiting for the next periodic tick.
  void retune(const config::CpeConfig& next);

  // What steering last applied to the kernel (nullopt before the first apply).
  std::optional<steer::State> steering_state() const;

  // Where the collector listens (the port is the kernel's when reporting.port is 0).
  std::optional<boost::asio::ip::udp::endpoint> report_endpoint() const;

  struct Impl;

 private:
  explicit CpeServices(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace cats::cpe
