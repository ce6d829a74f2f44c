#include "cpe/live_services.hpp"

#include "base/log.hpp"

#include <boost/asio/post.hpp>

#include <future>

namespace cats::cpe {

Result<LiveServices::Slot> LiveServices::make(const config::CpeConfig& cfg, std::optional<steer::State> previous) {
  auto routes = std::make_shared<api::Router>();
  CATS_TRY_ASSIGN(s, starter_(*routes, cfg, std::move(previous)));
  Slot slot;
  slot.metrics = s->metrics_collector();
  slot.services = std::move(s);
  slot.routes = std::move(routes);
  slot.cfg = cfg;
  return slot;
}

Result<std::unique_ptr<LiveServices>> LiveServices::start(boost::asio::io_context& io, api::Router& router,
                                                          std::vector<api::prom::Collector>& metrics,
                                                          const config::CpeConfig& cfg, Starter starter) {
  std::unique_ptr<LiveServices> live(new LiveServices(io, std::move(starter)));
  CATS_TRY_ASSIGN(slot, live->make(cfg, std::nullopt));
  live->slot_ = std::move(slot);
  LiveServices* self = live.get();
  // The route set does not depend on the configuration (CpeServices::start), so the
  // first services' routes are the ones every later start registers too.
  for (const auto& [method, path] : live->slot_.routes->routes())
    router.add(method, path, [self](const api::Request& r) { return self->routes()->dispatch(r); });
  metrics.push_back([self](api::prom::Exposition& e) {
    api::prom::Collector c;
    {
      std::lock_guard lk(self->mu_);
      c = self->slot_.metrics;
    }
    c(e);
  });
  return live;
}

LiveServices::~LiveServices() = default;

std::shared_ptr<const api::Router> LiveServices::routes() const {
  std::lock_guard lk(mu_);
  return slot_.routes;
}

std::function<void(const std::string&, const std::string&, const std::string&)> LiveServices::event_sink() {
  return [this](const std::string& kind, const std::string& subject, const std::string& detail) {
    std::function<void(const std::string&, const std::string&, const std::string&)> sink;
    {
      std::lock_guard lk(mu_);
      if (slot_.services) sink = slot_.services->event_sink();
    }
    if (sink) sink(kind, subject, detail);
  };
}

Status LiveServices::reload_here(const config::CpeConfig& cfg) {
  // Stop first: the new services bind the same collector port and probe the same paths.
  std::unique_ptr<CpeServices> old;
  {
    std::lock_guard lk(mu_);
    old = std::move(slot_.services);
  }
  auto previous = old->steering_state();
  old.reset();
  auto next = make(cfg, previous);
  if (!next) {
    log::error("cpe", "starting the services for the new configuration: " + next.error().message +
                          "; starting the previous one again");
    auto back = make(slot_.cfg, previous);
    if (!back) {
      // Nothing runs now: both configurations failed to start. Abort rather than serve
      // an API that shows nothing and a kernel nobody steers (a restart adopts it).
      log::error("cpe", "restarting the previous services failed: " + back.error().message);
      std::abort();
    }
    std::lock_guard lk(mu_);
    slot_ = std::move(*back);
    return next.error();
  }
  std::lock_guard lk(mu_);
  slot_ = std::move(*next);
  return ok();
}

void LiveServices::retune(const config::CpeConfig& cfg) {
  auto here = [this, &cfg] {
    slot_.services->retune(cfg);
    slot_.cfg = cfg;  // what a failed reload returns to
  };
  if (io_.get_executor().running_in_this_thread()) return here();
  std::packaged_task<void()> task(here);
  auto done = task.get_future();
  boost::asio::post(io_, std::move(task));
  done.get();
}

Status LiveServices::reload(const config::CpeConfig& cfg) {
  if (io_.get_executor().running_in_this_thread()) return reload_here(cfg);
  std::packaged_task<Status()> task([this, &cfg] { return reload_here(cfg); });
  auto done = task.get_future();
  boost::asio::post(io_, std::move(task));
  return done.get();
}

}  // namespace cats::cpe
