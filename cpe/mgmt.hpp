// The CPE's management plane beyond the control API it shares with the vCPE: accounts
// (common/auth) over the daemon's SQLite file, the access guard of every route, the
// one-time setup URL, and the routes that go with them (docs/API.md).
#pragma once

#include "api/api.hpp"
#include "api/offload.hpp"
#include "auth/auth.hpp"
#include "config/config.hpp"

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace cats::cpe {

// kind, subject, detail: the CPE's event log (CpeServices::event_sink()).
using EventSink = std::function<void(const std::string&, const std::string&, const std::string&)>;

// Where a person sets the first admin's password: https://<host>:<port>/setup#token=<t>
// (a fragment, so the token is in no request line, log or Referer). host = the first
// listen address, or the LAN address when that is a wildcard. nullopt when HTTPS is off.
std::optional<std::string> setup_url(const config::CpeConfig& cfg, const std::string& token);

// Who may do what on every route, composed in one place:
//  - GET /metrics from a source in management.metrics_allow: no login (scrapers);
//  - GET of the web UI's files (ui_paths, from add_webui_routes): no login, Host checked;
//  - everything else: auth::make_guard (local socket = root; else session or token,
//    roles, CSRF, Origin, Host against allowed_hosts).
api::Guard cpe_guard(auth::Auth& a, const config::Management& m, std::vector<std::string> ui_paths = {});

class Management {
 public:
  // Opens the accounts in cfg.store_path, adds the auth routes, GET /api/v1/setup-url
  // (local socket only) and the web UI's files (webui_routes.hpp) to `router`, sets the
  // guard, and prints the setup URL while there is no admin.
  static Result<std::unique_ptr<Management>> start(api::Router& router, const config::CpeConfig& cfg,
                                                   EventSink events);
  auth::Auth& accounts() { return *auth_; }
  // A configuration change: the guard checks Host and scrapers against `m` from now on.
  void set_access(const config::Management& m);

 private:
  explicit Management(std::unique_ptr<auth::Auth> a) : auth_(std::move(a)) {}
  std::unique_ptr<auth::Auth> auth_;
  // Password hashes of the auth routes, off the servers' threads. Declared after auth_ so
  // that it is destroyed first: its running job uses auth_.
  api::Offload kdf_{"cats-kdf"};
  struct GuardSlot {
    std::mutex mu;
    api::Guard guard;
  };
  // The router's guard forwards here: the servers copied the router when they started.
  std::shared_ptr<GuardSlot> guard_ = std::make_shared<GuardSlot>();
  std::vector<std::string> ui_paths_;  // the web UI's files, readable without a login
};

}  // namespace cats::cpe
