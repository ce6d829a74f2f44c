#include "cpe/mgmt.hpp"
#include "cpe/webui_routes.hpp"

#include "base/log.hpp"

#include <boost/json/object.hpp>

#include <algorithm>
#include <cstdio>

namespace cats::cpe {

namespace {

bool wildcard(const IpAddress& a) { return a.is_unspecified(); }

std::string host_port(const IpAddress& a, uint16_t port) {
  const std::string h = a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
  return h + ":" + std::to_string(port);
}

// allowed_hosts as configured; when that list is set, the concrete listen addresses are
// always accepted too (empty stays "any").
std::vector<std::string> hosts_for(const config::Management& m) {
  std::vector<std::string> out = m.allowed_hosts;
  if (out.empty()) return out;
  for (const auto& ep : m.listen)
    if (!wildcard(ep.address())) out.push_back(host_port(ep.address(), ep.port()));
  return out;
}

}  // namespace

std::optional<std::string> setup_url(const config::CpeConfig& cfg, const std::string& token) {
  if (cfg.management.listen.empty()) return std::nullopt;
  const auto& ep = cfg.management.listen.front();
  IpAddress host = ep.address();
  if (wildcard(host) && cfg.lan.address) host = *cfg.lan.address;
  return "https://" + host_port(host, ep.port()) + "/setup#token=" + token;
}

api::Guard cpe_guard(auth::Auth& a, const config::Management& m, std::vector<std::string> ui_paths) {
  auth::HttpOptions o;
  // Exact paths, GET only: public_paths would take "/" for a prefix of everything.
  o.public_reads = std::move(ui_paths);
  o.allowed_hosts = hosts_for(m);
  o.https = true;
  auto inner = auth::make_guard(a, std::move(o));
  return [inner = std::move(inner), allow = m.metrics_allow](const api::Request& r) -> std::optional<api::Response> {
    if (!r.local && r.path == "/metrics" && (r.method == "GET" || r.method == "HEAD")) {
      auto ip = parse_address(r.peer);
      if (ip && std::any_of(allow.begin(), allow.end(), [&](const Prefix& p) { return p.contains(*ip); }))
        return std::nullopt;
    }
    return inner(r);
  };
}

Result<std::unique_ptr<Management>> Management::start(api::Router& router, const config::CpeConfig& cfg,
                                                      EventSink events) {
  auth::Options o;
  o.db_path = cfg.store_path;
  o.session_idle_ms = int64_t{cfg.management.session_idle_s} * 1000;
  o.session_absolute_ms = int64_t{cfg.management.session_max_s} * 1000;
  o.on_event = [events = std::move(events)](const auth::AuditEntry& e) {
    if (events) events("auth_" + e.action, e.actor.empty() ? e.peer : e.actor + "@" + (e.peer.empty() ? "local" : e.peer),
                       e.subject + (e.detail.empty() ? "" : ": " + e.detail));
  };
  CATS_TRY_ASSIGN(a, auth::Auth::open(std::move(o)));
  std::unique_ptr<Management> m(new Management(std::move(a)));
  auth::Auth& acc = *m->auth_;
  auth::add_routes(router, acc, m->kdf_);
  // The one-time setup URL, for `catsctl setup-url` on the root-only socket.
  router.add("GET", "/api/v1/setup-url", [&acc, cfg](const api::Request& r) {
    if (!r.local) return api::Response::error(403, "the setup URL is given on the local control socket only");
    auto t = acc.setup_token();
    if (!t) return api::Response::error(409, "conflict", "an admin exists already; log in, or `catsctl user add`");
    auto url = setup_url(cfg, *t);
    boost::json::object out{{"token", *t}};
    if (url) out["url"] = *url;
    else out["url"] = nullptr;
    return api::Response::json(std::move(out));
  });
  // The login page must load before anyone is logged in.
  m->ui_paths_ = add_webui_routes(router, cfg.management);
  m->set_access(cfg.management);
  router.set_guard([slot = m->guard_](const api::Request& r) {
    api::Guard g;
    {
      std::lock_guard lk(slot->mu);
      g = slot->guard;
    }
    return g(r);
  });
  if (auto t = acc.setup_token()) {
    // Shown where the person installing the box looks: the log and the console. It dies
    // once the first admin is set (auth::Auth::complete_setup).
    const auto url = setup_url(cfg, *t);
    const std::string msg = url ? "no admin yet: set one at " + *url
                                : "no admin yet: `catsctl user add NAME --role admin` (HTTPS is off)";
    log::warn("mgmt", msg);
    std::fprintf(stderr, "cats-cpe: %s\n", msg.c_str());
  }
  return m;
}

void Management::set_access(const config::Management& m) {
  auto g = cpe_guard(*auth_, m, ui_paths_);
  std::lock_guard lk(guard_->mu);
  guard_->guard = std::move(g);
}

}  // namespace cats::cpe
