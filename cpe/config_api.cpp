#include "cpe/config_api.hpp"

#include "base/log.hpp"
#include "configdb/schema.hpp"
#include "cpe/config_parts.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <regex>
#include <future>
#include <net/if.h>
#include <variant>

namespace cats::cpe {

namespace json = boost::json;
using configdb::ConfigError;
using configdb::FieldErrors;

namespace {

constexpr const char* kLog = "config";
constexpr auto kExpiryTick = std::chrono::seconds(1);
constexpr int64_t kMaxConfirmWithinS = 3600;
constexpr size_t kAuditDiffBytes = 4000;  // audit rows are bounded; the revision keeps the whole diff

std::optional<int64_t> parse_int(const std::string& s, int64_t lo, int64_t hi) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) return std::nullopt;
  return v;
}

api::Response error_response(const ConfigError& e) {
  std::vector<api::FieldError> fs;
  for (const auto& f : e.fields) fs.push_back({f.field, f.message});
  auto r = api::Response::error(e.http_status(), e.code(), e.message, std::move(fs));
  if (e.kind == ConfigError::Kind::conflict && e.current_rev > 0) r.headers.emplace_back("ETag", configdb::etag(e.current_rev));
  return r;
}

api::Response invalid(FieldErrors errs, const std::string& message) {
  std::vector<api::FieldError> fs;
  for (auto& f : errs) fs.push_back({std::move(f.field), std::move(f.message)});
  return api::Response::error(400, "invalid", message, std::move(fs));
}

json::object revision_json(const configdb::Revision& r) {
  json::object o{{"revision", r.rev}, {"ts_ms", r.ts_ms}, {"author", r.change.author},
                 {"peer", r.change.peer}, {"comment", r.change.comment}};
  o["confirm_by_ms"] = r.confirm_by_ms ? json::value(*r.confirm_by_ms) : json::value(nullptr);
  o["confirmed_ms"] = r.confirmed_ms ? json::value(*r.confirmed_ms) : json::value(nullptr);
  return o;
}

json::value pending_json(const std::optional<configdb::Pending>& p) {
  if (!p) return nullptr;
  return json::object{{"revision", p->rev}, {"base", p->base}, {"deadline_ms", p->deadline_ms}};
}

// Who asks, captured on the server thread (the guard's principal is thread-local).
struct Caller {
  std::string actor;
  std::string peer;
  bool admin = false;
};

Caller caller_of(const api::Request& r) {
  Caller c;
  c.peer = r.peer;
  if (const auto* p = auth::current_principal()) {
    c.actor = p->actor();
    c.admin = p->role == auth::Role::admin;
  } else if (r.local) {
    c.actor = "root";
    c.admin = true;
  }
  return c;
}

}  // namespace

FieldErrors fixed_while_running(const config::CpeConfig& a, const config::CpeConfig& b) {
  FieldErrors out;
  auto fixed = [&](bool same, const std::string& field) {
    if (!same) out.push_back({field, "cannot change while cats-cpe runs; edit the file and restart with --reimport"});
  };
  fixed(a.daemon.name == b.daemon.name, "/cpe/name");
  fixed(a.daemon.state_dir == b.daemon.state_dir, "/cpe/state_dir");
  fixed(a.daemon.control_socket == b.daemon.control_socket, "/cpe/control_socket");
  fixed(a.daemon.wireguard == b.daemon.wireguard, "/cpe/wireguard");
  fixed(a.daemon.wireguard_go == b.daemon.wireguard_go, "/cpe/wireguard_go");
  fixed(a.store_path == b.store_path, "/store/path");
  fixed(a.management.listen == b.management.listen, "/management/listen");
  fixed(a.management.cert_file == b.management.cert_file, "/management/cert_file");
  fixed(a.management.key_file == b.management.key_file, "/management/key_file");
  fixed(a.management.session_idle_s == b.management.session_idle_s, "/management/session_idle_s");
  fixed(a.management.session_max_s == b.management.session_max_s, "/management/session_max_s");
  fixed(a.management.max_connections == b.management.max_connections, "/management/max_connections");
  fixed(a.management.webui_dir == b.management.webui_dir, "/management/webui_dir");
  fixed(a.management.max_connections_per_client == b.management.max_connections_per_client,
        "/management/max_connections_per_client");
  return out;
}

FieldErrors missing_interfaces(const config::CpeConfig& running, const config::CpeConfig& next,
                               const std::function<bool(const std::string&)>& exists) {
  FieldErrors out;
  for (size_t i = 0; i < next.wans.size(); ++i) {
    const auto& w = next.wans[i];
    auto was = std::find_if(running.wans.begin(), running.wans.end(), [&](const config::Wan& r) { return r.name == w.name; });
    if (was != running.wans.end() && was->interface == w.interface) continue;
    if (!exists(w.interface))
      out.push_back({"/wan/" + std::to_string(i) + "/interface",
                     "no interface \"" + w.interface + "\" on this host: the WAN could not be applied"});
  }
  return out;
}

bool tuning_only(const json::value& before, const json::value& after) {
  static const std::regex tunable(
      "^/selection(/.*)?$|^/service/[0-9]+/(sla|weights|service_time_ms|access_delay_ms|spread_pct|spread_power|priority)(/.*)?$"
      // An instance's load source only changes its vCPE's sampling plan (CpeServices::retune);
      // a WAN's cost and weight are selection inputs only (docs/SELECTION.md "WAN cost and weight").
      "|^/service/[0-9]+/instance/[0-9]+/(load_url|prometheus)(/.*)?$"
      "|^/wan/[0-9]+/(cost|weight)$");
  const auto ops = configdb::diff(before, after);
  return !ops.empty() && std::all_of(ops.begin(), ops.end(), [](const configdb::PatchOp& op) {
    return std::regex_match(op.path, tunable);
  });
}

Result<config::CpeConfig> config_from_document(const json::value& doc, const std::string& name) {
  auto text = configdb::to_toml(doc);
  if (!text) {
    std::string msg;
    for (const auto& f : text.error()) msg += f.field + ": " + f.message + "; ";
    return Error::msg(name + ": " + msg);
  }
  return config::parse_cpe(*text, name);
}

struct ConfigService::Impl : std::enable_shared_from_this<Impl> {
  Impl(boost::asio::io_context& ctx, configdb::ConfigDb d, config::CpeConfig cfg, Apply a, auth::Auth* acc, EventSink ev,
       Clock c)
      : io(ctx), db(std::move(d)), running(std::move(cfg)), apply(std::move(a)), accounts(acc), events(std::move(ev)),
        clock(std::move(c)), expiry(io) {}

  boost::asio::io_context& io;
  configdb::ConfigDb db;
  config::CpeConfig running;
  Apply apply;
  auth::Auth* accounts;
  EventSink events;
  Clock clock;
  boost::asio::steady_timer expiry;
  bool stopped = false;
  CpeIdentity identity;

  // --- on the io thread ---

  // One change (commit, revert, import) through the database, applying it to the
  // daemon inside the database's transaction (configdb::ConfigDb::Apply).
  template <class Op>
  configdb::Outcome<int64_t> change(const Op& op, const Caller& who, const std::string& what) {
    std::optional<config::CpeConfig> applied;
    auto before = db.current();
    configdb::ConfigDb::Apply hook = [&](int64_t rev, const json::value& doc) -> Status {
      CATS_TRY_ASSIGN(next, config_from_document(doc, "revision " + std::to_string(rev)));
      next.revision = rev;  // carried by the sampling plans (cnma.cpp)
      const bool tuning = before && tuning_only(before->doc, doc);
      log::info(kLog, "applying revision " + std::to_string(rev) + " (" + what + (tuning ? ", tuning only" : "") + ")");
      CATS_TRY(apply(next, tuning));
      applied = std::move(next);
      return ok();
    };
    auto r = op(hook);
    if (!r) {
      if (applied) {
        // Applied, then the database refused the commit (a full disk at COMMIT): the
        // running daemon returns to the stored revision.
        if (auto back = apply(running, false); !back)
          log::error(kLog, "returning to the stored configuration failed: " + back.error().message);
      }
      log::warn(kLog, what + " refused: " + r.error().message);
      return r;
    }
    if (applied) running = std::move(*applied);
    if (before && *r != before->rev) record(*r, before->rev, who, what);
    return r;
  }

  void record(int64_t rev, int64_t prev, const Caller& who, const std::string& what) {
    std::string text;
    if (prev > 0)
      if (auto d = db.diff(prev, rev)) text = configdb::diff_text(*d);
    if (text.size() > kAuditDiffBytes) text = text.substr(0, kAuditDiffBytes) + "…";
    const std::string subject = "revision " + std::to_string(rev);
    log::info(kLog, subject + " (" + what + ") by " + who.actor + (who.peer.empty() ? "" : " from " + who.peer));
    if (events) events("config", subject, what + " by " + who.actor);
    if (accounts) {
      auth::AuditEntry e;
      e.ts_ms = clock();
      e.actor = who.actor;
      e.peer = who.peer;
      e.action = "config_change";
      e.subject = subject;
      e.detail = text;
      if (auto st = accounts->record(std::move(e)); !st) log::warn(kLog, "audit row for " + subject + " not stored");
    }
  }

  // A refusal before the database is touched: settings that locate the daemon itself, and
  // WAN interfaces the host does not have (missing_interfaces).
  std::optional<api::Response> refuse_fixed(const json::value& doc) {
    auto next = config_from_document(doc, "the change");
    if (!next) return std::nullopt;  // the validator names the fields (commit)
    auto errs = fixed_while_running(running, *next);
    if (!errs.empty()) return invalid(std::move(errs), "these settings cannot change while cats-cpe runs");
    errs = missing_interfaces(running, *next, [](const std::string& name) { return if_nametoindex(name.c_str()) != 0; });
    if (!errs.empty()) return invalid(std::move(errs), "the change names an interface this host does not have");
    return std::nullopt;
  }

  void arm_expiry() {
    expiry.expires_after(kExpiryTick);
    expiry.async_wait([w = weak_from_this()](boost::system::error_code ec) {
      auto self = w.lock();
      if (!self || self->stopped || ec) return;
      self->check_expiry();
      self->arm_expiry();
    });
  }

  // LuCI's apply-and-confirm: an unconfirmed change returns to the revision before it.
  void check_expiry() {
    auto p = db.expired(clock());
    if (!p || !*p) return;
    const auto pend = **p;
    const std::string comment = "confirmation of revision " + std::to_string(pend.rev) + " expired";
    Caller who{"cats", "", true};
    auto r = change([&](const configdb::ConfigDb::Apply& hook) {
      return db.revert(pend.base, configdb::Change{"cats", "", comment}, std::nullopt, hook);
    }, who, comment);
    if (!r) log::error(kLog, comment + "; reverting failed (retrying): " + r.error().message);
  }

  api::Response changed(const configdb::Outcome<int64_t>& r) {
    if (!r) return error_response(r.error());
    json::object out{{"revision", *r}};
    auto p = db.pending();
    out["pending"] = p ? pending_json(*p) : json::value(nullptr);
    auto resp = api::Response::json(std::move(out));
    resp.headers.emplace_back("ETag", configdb::etag(*r));
    return resp;
  }
};

namespace {

// Runs `fn` on the io thread and waits for its answer (a bounded wait: a daemon that is
// stopping answers 503 rather than holding the server thread).
api::Response on_io(const std::shared_ptr<ConfigService::Impl>& impl, std::function<api::Response()> fn) {
  auto task = std::make_shared<std::packaged_task<api::Response()>>(std::move(fn));
  auto done = task->get_future();
  boost::asio::post(impl->io, [task] { (*task)(); });
  if (done.wait_for(std::chrono::seconds(30)) != std::future_status::ready)
    return api::Response::error(503, "unavailable", "the configuration service did not answer in 30 s");
  return done.get();
}

struct ChangeArgs {
  std::optional<std::chrono::milliseconds> confirm_within;
  int64_t expected = 0;
  std::string comment;
  bool dry_run = false;  // ?dry_run=1: checked and diffed, nothing committed or applied
};

// If-Match (RFC 9110 §13.1.1; required, RFC 6585 §3 428), ?confirm_within=S, ?comment=.
std::variant<ChangeArgs, api::Response> change_args(const api::Request& r, bool need_if_match) {
  ChangeArgs a;
  if (need_if_match) {
    const auto& im = r.header("if-match");
    if (im.empty())
      return api::Response::error(428, "precondition_required",
                                  "If-Match: \"<revision>\" is required (GET /api/v1/config gives it as ETag)");
    auto e = configdb::parse_etag(im);
    if (!e) return api::Response::error(400, "bad_request", "If-Match must be a revision's ETag, \"<number>\"");
    a.expected = *e;
  }
  if (auto it = r.query.find("confirm_within"); it != r.query.end()) {
    auto s = parse_int(it->second, 1, kMaxConfirmWithinS);
    if (!s) return api::Response::error(400, "bad_request", "confirm_within must be 1..3600 (seconds)");
    a.confirm_within = std::chrono::seconds(*s);
  }
  if (auto it = r.query.find("comment"); it != r.query.end()) a.comment = it->second;
  if (auto it = r.query.find("dry_run"); it != r.query.end()) {
    if (it->second != "1" && it->second != "0") return api::Response::error(400, "bad_request", "dry_run must be 0 or 1");
    a.dry_run = it->second == "1";
  }
  return a;
}

api::Response conflict(int64_t current_rev) {
  return error_response(ConfigError{ConfigError::Kind::conflict,
                                    "the configuration changed: revision " + std::to_string(current_rev) +
                                        " is current; re-read it and apply the change again",
                                    {}, current_rev});
}

// ?dry_run=1 (a form's preview): every check a commit makes before it applies anything (the
// revision, the document's validity, settings fixed while running) and the diff it would
// make, redacted. Nothing is committed, applied or recorded; the apply itself can still fail.
api::Response dry_run(ConfigService::Impl& s, const configdb::Current& cur, const ChangeArgs& a,
                      const json::value& doc) {
  if (cur.rev != a.expected) return conflict(cur.rev);
  if (auto errs = configdb::validate(doc); !errs.empty()) return invalid(std::move(errs), "the configuration is not valid");
  if (auto refused = s.refuse_fixed(doc)) return *refused;
  auto p = configdb::redact(configdb::diff(cur.doc, doc));
  return api::Response::json(json::object{{"dry_run", true},
                                          {"revision", cur.rev},
                                          {"diff", configdb::to_json(p)},
                                          {"text", configdb::diff_text(p)}});
}

std::variant<json::value, api::Response> parse_json_body(const std::string& body) {
  boost::system::error_code ec;
  json::parse_options po;
  po.max_depth = configdb::kMaxDepth;
  auto v = json::parse(body, ec, {}, po);
  if (ec) return api::Response::error(400, "bad_request", "the body is not JSON: " + ec.message());
  return v;
}

// A patch on the current document, made against revision a.expected (PATCH, and PUT or
// DELETE of one part).
api::Response patch_current(ConfigService::Impl& s, const ChangeArgs& a, const Caller& who, const configdb::Patch& patch,
                            const std::string& what) {
  auto cur = s.db.current();
  if (!cur) return error_response(cur.error());
  if (cur->rev != a.expected) return conflict(cur->rev);
  auto doc = configdb::apply(cur->doc, patch);
  if (!doc) return invalid(doc.error(), "the change does not apply to the current configuration");
  configdb::restore_secrets(*doc, cur->doc);
  if (a.dry_run) return dry_run(s, *cur, a, *doc);
  if (auto refused = s.refuse_fixed(*doc)) return *refused;
  return s.changed(s.change([&](const configdb::ConfigDb::Apply& hook) {
    return s.db.commit(a.expected, *doc, {who.actor, who.peer, a.comment}, a.confirm_within, hook);
  }, who, what));
}

// A whole new document: PUT (a confirmable change) or import (an export read back, kept as
// sent). Either way the current document's secrets stay where the new one has them redacted,
// and settings fixed while running are refused before anything is applied.
enum class Whole { put, import };
api::Response replace_whole(ConfigService::Impl& s, const std::string& body, const ChangeArgs& a, const Caller& who,
                            Whole kind) {
  auto doc = configdb::parse_document(body);
  if (!doc)
    return invalid(doc.error(), kind == Whole::put ? "the configuration document is not valid JSON"
                                                   : "the imported document is not valid JSON");
  auto cur = s.db.current();
  if (!cur) return error_response(cur.error());
  configdb::restore_secrets(*doc, cur->doc);
  if (a.dry_run) return dry_run(s, *cur, a, *doc);
  if (auto refused = s.refuse_fixed(*doc)) return *refused;
  if (kind == Whole::put)
    return s.changed(s.change([&](const configdb::ConfigDb::Apply& hook) {
      return s.db.commit(a.expected, *doc, {who.actor, who.peer, a.comment}, a.confirm_within, hook);
    }, who, "PUT"));
  const std::string comment = a.comment.empty() ? "import" : a.comment;
  return s.changed(s.change([&](const configdb::ConfigDb::Apply& hook) {
    return s.db.import_doc(body, a.expected, {who.actor, who.peer, comment}, hook);
  }, who, "import"));
}

std::optional<int64_t> revision_param(const json::value& body, const std::string& key) {
  if (!body.is_object()) return std::nullopt;
  const auto* v = body.as_object().if_contains(key);
  if (!v || !v->is_int64() || v->as_int64() < 1) return std::nullopt;
  return v->as_int64();
}

void add_routes(api::Router& router, const std::shared_ptr<ConfigService::Impl>& impl) {
  using Impl = ConfigService::Impl;
  std::weak_ptr<Impl> w = impl;
  // Every handler runs its body on the io thread with a live Impl.
  auto route = [&router, w](const char* method, const char* path,
                            std::function<api::Response(Impl&, const api::Request&, const Caller&)> fn) {
    router.add(method, path, [w, fn](const api::Request& r) {
      auto self = w.lock();
      if (!self) return api::Response::error(503, "unavailable", "the configuration service is stopping");
      const Caller who = caller_of(r);
      return on_io(self, [self, fn, r, who] { return fn(*self, r, who); });
    });
  };

  // A whole document (PUT, import) may be as large as the configuration file may be; every
  // other body keeps the server's small limit.
  router.allow_body("/api/v1/config", configdb::kMaxDocumentBytes);
  router.allow_body("/api/v1/config/import", configdb::kMaxDocumentBytes);

  route("GET", "/api/v1/config", [](Impl& s, const api::Request& r, const Caller& who) {
    auto cur = s.db.current();
    if (!cur) return error_response(cur.error());
    const bool secrets = r.query.count("secrets") && r.query.at("secrets") == "1";
    if (secrets && !who.admin) return api::Response::error(403, "forbidden", "secrets are shown to admins only");
    json::value doc = secrets ? cur->doc : configdb::redact(cur->doc);
    if (auto it = r.query.find("path"); it != r.query.end()) {  // one part (config_parts.hpp)
      auto ptr = resolve_part(doc, it->second);
      if (!ptr) return api::Response::error(404, "not_found", "no such part of the configuration: " + it->second);
      boost::system::error_code ec;
      doc = *doc.find_pointer(*ptr, ec);
    }
    auto resp = api::Response::json(std::move(doc));
    resp.headers.emplace_back("ETag", configdb::etag(cur->rev));
    return resp;
  });

  route("GET", "/api/v1/config/schema", [](Impl&, const api::Request&, const Caller&) {
    return api::Response::json(configdb::schema());
  });

  route("PUT", "/api/v1/config", [](Impl& s, const api::Request& r, const Caller& who) {
    auto args = change_args(r, true);
    if (auto* e = std::get_if<api::Response>(&args)) return *e;
    const auto& a = std::get<ChangeArgs>(args);
    if (auto it = r.query.find("path"); it != r.query.end()) {  // one part (config_parts.hpp)
      auto body = parse_json_body(r.body);
      if (auto* e = std::get_if<api::Response>(&body)) return *e;
      auto cur = s.db.current();
      if (!cur) return error_response(cur.error());
      auto patch = put_part(cur->doc, it->second, std::get<json::value>(body));
      if (!patch) return api::Response::error(404, "not_found", patch.error().front().message + ": " + it->second);
      return patch_current(s, a, who, *patch, "PUT " + it->second);
    }
    return replace_whole(s, r.body, a, who, Whole::put);
  });

  route("PATCH", "/api/v1/config", [](Impl& s, const api::Request& r, const Caller& who) {
    auto args = change_args(r, true);
    if (auto* e = std::get_if<api::Response>(&args)) return *e;
    auto body = parse_json_body(r.body);
    if (auto* e = std::get_if<api::Response>(&body)) return *e;
    auto patch = configdb::patch_from_json(std::get<json::value>(body));
    if (!patch) return invalid(patch.error(), "the body is not a valid JSON Patch (RFC 6902)");
    return patch_current(s, std::get<ChangeArgs>(args), who, *patch, "PATCH");
  });

  // One part: DELETE /api/v1/config?path=/service/app1 (If-Match), config_parts.hpp.
  route("DELETE", "/api/v1/config", [](Impl& s, const api::Request& r, const Caller& who) {
    auto args = change_args(r, true);
    if (auto* e = std::get_if<api::Response>(&args)) return *e;
    auto it = r.query.find("path");
    if (it == r.query.end()) return api::Response::error(400, "bad_request", "DELETE needs ?path=<JSON pointer>");
    auto cur = s.db.current();
    if (!cur) return error_response(cur.error());
    auto patch = delete_part(cur->doc, it->second);
    if (!patch) return api::Response::error(404, "not_found", patch.error().front().message + ": " + it->second);
    return patch_current(s, std::get<ChangeArgs>(args), who, *patch, "DELETE " + it->second);
  });

  route("GET", "/api/v1/config/revisions", [](Impl& s, const api::Request& r, const Caller&) {
    int64_t from = 0, limit = 50;
    if (auto it = r.query.find("from"); it != r.query.end()) {
      auto v = parse_int(it->second, 0, INT64_MAX);
      if (!v) return api::Response::error(400, "bad_request", "from must be a revision number");
      from = *v;
    }
    if (auto it = r.query.find("limit"); it != r.query.end()) {
      auto v = parse_int(it->second, 1, 1000);
      if (!v) return api::Response::error(400, "bad_request", "limit must be 1..1000");
      limit = *v;
    }
    auto list = s.db.list(from, static_cast<size_t>(limit));
    if (!list) return error_response(list.error());
    auto cur = s.db.current();
    if (!cur) return error_response(cur.error());
    auto pend = s.db.pending();
    if (!pend) return error_response(pend.error());
    json::array revs;
    for (const auto& rv : *list) revs.push_back(revision_json(rv));
    auto resp = api::Response::json(json::object{{"current", cur->rev}, {"pending", pending_json(*pend)},
                                                 {"revisions", std::move(revs)}});
    resp.headers.emplace_back("ETag", configdb::etag(cur->rev));
    return resp;
  });

  route("GET", "/api/v1/config/diff", [](Impl& s, const api::Request& r, const Caller&) {
    auto num = [&](const char* k) -> std::optional<int64_t> {
      auto it = r.query.find(k);
      return it == r.query.end() ? std::nullopt : parse_int(it->second, 1, INT64_MAX);
    };
    auto a = num("from"), b = num("to");
    if (!a || !b) return api::Response::error(400, "bad_request", "from and to must be revision numbers");
    auto d = s.db.diff(*a, *b);
    if (!d) return error_response(d.error());
    if (r.query.count("format") && r.query.at("format") == "text")
      return api::Response::text(configdb::diff_text(*d), "text/plain; charset=utf-8");
    return api::Response::json(configdb::to_json(*d));
  });

  route("POST", "/api/v1/config/revert", [](Impl& s, const api::Request& r, const Caller& who) {
    auto args = change_args(r, false);
    if (auto* e = std::get_if<api::Response>(&args)) return *e;
    const auto& a = std::get<ChangeArgs>(args);
    auto body = parse_json_body(r.body);
    if (auto* e = std::get_if<api::Response>(&body)) return *e;
    const auto& b = std::get<json::value>(body);
    auto rev = revision_param(b, "revision");
    if (!rev) return invalid({{"/revision", "must be a revision number"}}, "which revision to return to");
    std::string comment = a.comment;
    if (const auto* c = b.as_object().if_contains("comment"); c && c->is_string()) comment = std::string(c->as_string());
    if (comment.empty()) comment = "revert to revision " + std::to_string(*rev);
    auto target = s.db.get(*rev);
    if (!target) return error_response(target.error());
    if (auto doc = configdb::parse_document(target->doc))
      if (auto refused = s.refuse_fixed(*doc)) return *refused;
    return s.changed(s.change([&](const configdb::ConfigDb::Apply& hook) {
      return s.db.revert(*rev, {who.actor, who.peer, comment}, a.confirm_within, hook);
    }, who, comment));
  });

  route("POST", "/api/v1/config/confirm", [](Impl& s, const api::Request& r, const Caller& who) {
    auto body = parse_json_body(r.body);
    if (auto* e = std::get_if<api::Response>(&body)) return *e;
    auto rev = revision_param(std::get<json::value>(body), "revision");
    if (!rev) return invalid({{"/revision", "must be the pending revision's number"}}, "which revision to confirm");
    auto c = s.db.confirm(*rev);
    if (!c) return error_response(c.error());
    log::info(kLog, "revision " + std::to_string(*rev) + " confirmed by " + who.actor);
    if (s.events) s.events("config", "revision " + std::to_string(*rev), "confirmed by " + who.actor);
    return api::Response::json(json::object{{"revision", *rev}, {"confirmed", true}});
  });

  route("GET", "/api/v1/config/export", [](Impl& s, const api::Request& r, const Caller& who) {
    const bool secrets = r.query.count("secrets") && r.query.at("secrets") == "1";
    if (secrets && !who.admin) return api::Response::error(403, "forbidden", "secrets are exported to admins only");
    int64_t rev = 0;
    if (auto it = r.query.find("revision"); it != r.query.end()) {
      auto v = parse_int(it->second, 1, INT64_MAX);
      if (!v) return api::Response::error(400, "bad_request", "revision must be a number");
      rev = *v;
    }
    auto text = s.db.export_doc(rev, secrets);
    if (!text) return error_response(text.error());
    auto resp = api::Response::text(*text, "application/json");
    resp.headers.emplace_back("Content-Disposition", "attachment; filename=\"cats-cpe-config.json\"");
    return resp;
  });

  // "Add a vCPE" (enrol.hpp): the bundle; with the vCPE's keys, also the revision adding
  // it, made as a JSON Patch by patch_current like any other change (If-Match, dry_run,
  // confirm_within, comment), and answered with the bundle.
  route("POST", "/api/v1/vcpes", [](Impl& s, const api::Request& r, const Caller& who) {
    auto body = parse_json_body(r.body);
    if (auto* e = std::get_if<api::Response>(&body)) return *e;
    auto e = enrol(s.running, s.identity, std::get<json::value>(body));
    if (!e) return invalid(e.error(), "the vCPE request is not valid");
    // If-Match only once the request changes something: the bundle alone is a read.
    auto args = change_args(r, e->has_keys);
    if (auto* err = std::get_if<api::Response>(&args)) return *err;
    json::object out{{"cpe_public_key", s.identity.wireguard_public_key},
                     {"cpe_report_key", s.identity.report_public_key},
                     {"vcpe", e->entry},
                     {"vcpe_toml", e->vcpe_toml},
                     {"cloud_init", e->cloud_init},
                     {"revision", nullptr}};
    if (!e->has_keys) return api::Response::json(std::move(out));
    auto a = std::get<ChangeArgs>(args);
    const std::string what = "add vCPE " + std::string(e->entry.at("name").as_string());
    if (a.comment.empty()) a.comment = what;
    auto cur = s.db.current();
    if (!cur) return error_response(cur.error());
    const auto* list = cur->doc.is_object() ? cur->doc.as_object().if_contains("vcpe") : nullptr;
    configdb::Patch patch;
    if (list && list->is_array())
      patch.push_back({"add", "/vcpe/" + std::to_string(list->as_array().size()), json::value(e->entry), {}});
    else
      patch.push_back({"add", "/vcpe", json::value(json::array{e->entry}), {}});
    auto res = patch_current(s, a, who, patch, what);
    if (res.status != 200 || !res.body.is_object()) return res;  // refused: the change's own error
    // The change's answer (revision and pending, or the dry run's diff) joins the bundle.
    for (auto& kv : res.body.as_object()) out[kv.key()] = kv.value();
    auto resp = api::Response::json(std::move(out), a.dry_run ? 200 : 201);
    resp.headers = std::move(res.headers);
    return resp;
  });

  route("POST", "/api/v1/config/import", [](Impl& s, const api::Request& r, const Caller& who) {
    auto args = change_args(r, true);
    if (auto* e = std::get_if<api::Response>(&args)) return *e;
    return replace_whole(s, r.body, std::get<ChangeArgs>(args), who, Whole::import);
  });
}

}  // namespace

std::unique_ptr<ConfigService> ConfigService::start(boost::asio::io_context& io, api::Router& router,
                                                    configdb::ConfigDb db, const config::CpeConfig& cfg, Apply apply,
                                                    auth::Auth* accounts, EventSink events, Clock clock, CpeIdentity id) {
  auto impl = std::make_shared<Impl>(io, std::move(db), cfg, std::move(apply), accounts, std::move(events),
                                     std::move(clock));
  impl->identity = std::move(id);
  add_routes(router, impl);
  impl->arm_expiry();
  return std::unique_ptr<ConfigService>(new ConfigService(std::move(impl)));
}

ConfigService::~ConfigService() {
  impl_->stopped = true;
  impl_->expiry.cancel();
}

}  // namespace cats::cpe
