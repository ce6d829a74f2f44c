// The CPE services (probing, collector, steering: CpeServices) as one slot that a
// configuration change refills while the daemon runs (issue 9 "applied live").
//
// Routes and metrics are registered once, at start, as forwarders to whatever services
// are current, because the servers copy the router when they start. A reload stops the
// current services and starts new ones on the services io thread, handing over the
// steering state so that unchanged services keep their weights (Steering::start). When
// the new ones fail to start, the previous configuration is started again.
#pragma once

#include "api/api.hpp"
#include "api/prometheus.hpp"
#include "config/config.hpp"
#include "cpe/cnma.hpp"

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace cats::cpe {

class LiveServices {
 public:
  // Starts CpeServices for one configuration on `router` (a private one per start) with
  // the steering state of the services it replaces (nullopt at daemon start).
  using Starter = std::function<Result<std::unique_ptr<CpeServices>>(api::Router& router, const config::CpeConfig& cfg,
                                                                     std::optional<steer::State> previous)>;

  // The first services for `cfg`; their routes are forwarded from `router` and their
  // metrics added to `metrics`.
  static Result<std::unique_ptr<LiveServices>> start(boost::asio::io_context& io, api::Router& router,
                                                     std::vector<api::prom::Collector>& metrics,
                                                     const config::CpeConfig& cfg, Starter starter);
  ~LiveServices();

  // Replaces the running services with ones for `cfg`, on the io thread (inline when
  // called there, else posted and waited for). On failure the previous configuration's
  // services run again and the error says what failed.
  Status reload(const config::CpeConfig& cfg);

  // A change that only tunes selection (config_api's tuning_only): the running services
  // take it (CpeServices::retune), on the io thread like reload().
  void retune(const config::CpeConfig& cfg);

  // The event log of whatever services are current (CpeServices::event_sink()).
  std::function<void(const std::string&, const std::string&, const std::string&)> event_sink();

 private:
  struct Slot {
    std::unique_ptr<CpeServices> services;
    std::shared_ptr<const api::Router> routes;
    api::prom::Collector metrics;
    config::CpeConfig cfg;
  };
  LiveServices(boost::asio::io_context& io, Starter starter) : io_(io), starter_(std::move(starter)) {}
  Result<Slot> make(const config::CpeConfig& cfg, std::optional<steer::State> previous);
  Status reload_here(const config::CpeConfig& cfg);
  std::shared_ptr<const api::Router> routes() const;

  boost::asio::io_context& io_;
  Starter starter_;
  mutable std::mutex mu_;  // guards slot_'s routes and metrics (read by server threads)
  Slot slot_;
};

}  // namespace cats::cpe
