// The configuration owned by SQLite, served and applied live (issue 9, docs/API.md
// "Configuration"): the /api/v1/config routes over configdb::ConfigDb, the apply of a
// new revision to the running daemon, and the expiry of unconfirmed changes.
//
// Threads: every database operation and every apply runs on the services io thread
// (route handlers post and wait), so changes, confirmations and expiries are serialised
// without a lock, and a reload of the services (LiveServices) runs there inline.
//
// Apply order (all or nothing): the overlay first (tunnels and routes the new services
// probe over), then the services (probing, collector, steering). When a step fails the
// done steps are undone, the revision is not stored, and the answer says what failed.
// Settings that locate the daemon itself (the [cpe] table but log_level, the store path,
// the HTTPS listen addresses and certificate) are refused while it runs (field errors):
// they change through the file and --reimport, at a restart.
#pragma once

#include "api/api.hpp"
#include "auth/auth.hpp"
#include "config/config.hpp"
#include "configdb/configdb.hpp"
#include "cpe/enrol.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <string>

namespace cats::cpe {

// The fields of `next` that cannot change while the daemon runs, as JSON pointers.
configdb::FieldErrors fixed_while_running(const config::CpeConfig& running, const config::CpeConfig& next);

// The WANs of `next` whose interface is new (an added WAN, or another interface than the
// running WAN of that name has) and does not exist on this host (`exists`): a change that
// cannot be applied live (the overlay re-plans its routes and tunnel over that interface),
// refused at /wan/N/interface before anything is committed, in a dry run too. A running
// WAN's interface that has gone away does not block other changes.
configdb::FieldErrors missing_interfaces(const config::CpeConfig& running, const config::CpeConfig& next,
                                         const std::function<bool(const std::string&)>& exists);

// True when every difference between the documents tunes selection only: the [selection]
// table, or a service's sla, weights, service_time_ms, access_delay_ms, spread_pct,
// spread_power, or a WAN's cost or weight. Such a change is applied to the running selector, without a restart.
bool tuning_only(const boost::json::value& before, const boost::json::value& after);

// The configuration a document describes (through the one validator, document.hpp).
Result<config::CpeConfig> config_from_document(const boost::json::value& doc, const std::string& name);

class ConfigService {
 public:
  // Makes `next` the running configuration, or fails leaving the running one in place.
  // `tuning`: only selection tuning changed (tuning_only), so nothing needs a restart.
  using Apply = std::function<Status(const config::CpeConfig& next, bool tuning)>;
  using EventSink = std::function<void(const std::string&, const std::string&, const std::string&)>;
  using Clock = configdb::ConfigDb::Clock;  // unix ms

  // `db`: the configuration database the running `cfg` came from. Adds the routes to
  // `router`; audit rows go to `accounts` (may be null: none).
  // `id`: this CPE's public keys, for the "add a vCPE" bundle (enrol.hpp).
  static std::unique_ptr<ConfigService> start(boost::asio::io_context& io, api::Router& router,
                                              configdb::ConfigDb db, const config::CpeConfig& cfg, Apply apply,
                                              auth::Auth* accounts, EventSink events, Clock clock, CpeIdentity id);
  ~ConfigService();
  ConfigService(const ConfigService&) = delete;
  ConfigService& operator=(const ConfigService&) = delete;

  struct Impl;

 private:
  explicit ConfigService(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace cats::cpe
