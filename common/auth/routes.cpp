// The account routes (add_routes): parse -> call Auth -> view. Bodies are JSON objects
// with known fields only; a bad one is a 400 (not JSON) or 422 naming the field's JSON
// path. Views never carry password hashes, token secret hashes or cookie values.
#include "auth/auth.hpp"

#include "api/offload.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <limits>

namespace cats::auth {

namespace json = boost::json;

namespace {

api::Response invalid(const std::string& field, const std::string& message) {
  return api::Response::error(422, "invalid", message, {{field, message}});
}

std::string peer_of(const api::Request& r) { return r.local ? "local" : r.peer; }

// A request body: a JSON object whose members are all in `fields`.
struct Body {
  json::object obj;
  std::optional<api::Response> error;

  Body(const api::Request& r, std::initializer_list<const char*> fields) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    if (ec || !v.is_object()) {
      error = api::Response::error(400, "bad_json", "body must be a JSON object");
      return;
    }
    obj = std::move(v.as_object());
    for (const auto& kv : obj) {
      if (std::none_of(fields.begin(), fields.end(), [&](const char* f) { return kv.key() == f; })) {
        error = invalid("/" + std::string(kv.key()), "unknown field");
        return;
      }
    }
  }

  // The string member `name`; sets `error` when missing or not a string.
  std::string str(const char* name) {
    if (error) return {};
    auto* v = obj.if_contains(name);
    if (v == nullptr || !v->is_string()) {
      error = invalid(std::string("/") + name, "required string");
      return {};
    }
    return std::string(v->as_string());
  }

  Role role(const char* name) {
    std::string s = str(name);
    if (error) return Role::viewer;
    auto r = parse_role(s);
    if (!r) error = invalid(std::string("/") + name, "must be \"admin\" or \"viewer\"");
    return r.value_or(Role::viewer);
  }

  int64_t int64(const char* name) {
    if (error) return 0;
    auto* v = obj.if_contains(name);
    if (v == nullptr || !v->is_int64()) {
      error = invalid(std::string("/") + name, "required integer");
      return 0;
    }
    return v->as_int64();
  }
};

json::object user_view(const User& u) {
  return {{"name", u.name}, {"role", role_name(u.role)}, {"created_ms", u.created_ms}, {"disabled", u.disabled}};
}

json::object token_view(const Token& t) {
  json::object o{{"id", t.id},
                 {"name", t.name},
                 {"role", role_name(t.role)},
                 {"created_ms", t.created_ms},
                 {"expires_ms", t.expires_ms},
                 {"revoked", t.revoked},
                 {"created_by", t.created_by}};
  o["last_used_ms"] = t.last_used_ms ? json::value(*t.last_used_ms) : json::value(nullptr);
  return o;
}

json::object audit_view(const AuditEntry& e) {
  return {{"id", e.id},         {"ts_ms", e.ts_ms},     {"actor", e.actor},  {"peer", e.peer},
          {"action", e.action}, {"subject", e.subject}, {"detail", e.detail}};
}

std::string session_cookie(const std::string& value, bool clear) {
  return std::string(kSessionCookie) + "=" + value + (clear ? "; Max-Age=0" : "") +
         "; HttpOnly; Secure; SameSite=Strict; Path=/";
}

api::Response no_principal() { return api::Response::error(401, "authentication required"); }

// ?name=<value> for the routes addressing one item (the Router matches exact paths).
std::optional<std::string> query_param(const api::Request& r, const char* name) {
  auto it = r.query.find(name);
  if (it == r.query.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

// setup, login, add_user and set_password run a password hash (Argon2id, ~75 ms): the
// body is checked here, the Auth call runs on the Offload worker with copies of what it
// needs (the request and the guard's thread-local principal stay behind).
api::Response setup(Auth& auth, api::Offload& kdf, const api::Request& r) {
  Body b(r, {"token", "user", "password"});
  std::string token = b.str("token"), user = b.str("user"), password = b.str("password");
  if (b.error) return *b.error;
  return kdf.submit([&auth, token = std::move(token), user = std::move(user), password = std::move(password),
                     peer = peer_of(r)] {
    if (auto res = auth.complete_setup(token, user, password, peer); !res) return failure_response(res.error());
    return api::Response::json(json::object{{"user", user}, {"role", "admin"}}, 201);
  });
}

api::Response login(Auth& auth, api::Offload& kdf, const api::Request& r) {
  Body b(r, {"user", "password"});
  std::string user = b.str("user"), password = b.str("password");
  if (b.error) return *b.error;
  return kdf.submit([&auth, user = std::move(user), password = std::move(password), peer = peer_of(r)] {
    auto res = auth.login(user, password, peer);
    if (!res) return failure_response(res.error());
    auto out = api::Response::json(json::object{{"csrf_token", res->csrf},
                                                {"user", res->user},
                                                {"role", role_name(res->role)},
                                                {"expires_ms", res->expires_ms}});
    out.headers.emplace_back("Set-Cookie", session_cookie(res->cookie, false));
    return out;
  });
}

api::Response logout(Auth& auth, const api::Request& r) {
  const Principal* p = current_principal();
  if (p == nullptr) return no_principal();
  if (auto res = auth.logout(*p, peer_of(r)); !res) return failure_response(res.error());
  auto out = api::Response::json(json::object{});
  out.headers.emplace_back("Set-Cookie", session_cookie("", true));
  return out;
}

api::Response whoami(const api::Request&) {
  const Principal* p = current_principal();
  if (p == nullptr) return no_principal();
  static const char* via[] = {"local", "session", "token"};
  json::object o{{"user", p->user}, {"role", role_name(p->role)}, {"via", via[static_cast<int>(p->via)]}};
  if (p->via == Principal::Via::session) o["csrf_token"] = p->csrf;
  if (p->via == Principal::Via::token) o["token_id"] = p->token_id;
  return api::Response::json(std::move(o));
}

api::Response list_users(Auth& auth) {
  auto res = auth.users();
  if (!res) return failure_response(res.error());
  json::array a;
  for (const auto& u : *res) a.push_back(user_view(u));
  return api::Response::json(json::object{{"users", std::move(a)}});
}

api::Response add_user(Auth& auth, api::Offload& kdf, const api::Request& r) {
  const Principal* p = current_principal();
  if (p == nullptr) return no_principal();
  Body b(r, {"name", "role", "password"});
  std::string name = b.str("name"), password = b.str("password");
  Role role = b.role("role");
  if (b.error) return *b.error;
  return kdf.submit([&auth, actor = *p, peer = peer_of(r), name = std::move(name), role, password = std::move(password)] {
    if (auto res = auth.add_user(actor, peer, name, role, password); !res) return failure_response(res.error());
    return api::Response::json(json::object{{"name", name}, {"role", role_name(role)}}, 201);
  });
}

api::Response delete_user(Auth& auth, const api::Request& r) {
  const Principal* p = current_principal();
  if (p == nullptr) return no_principal();
  auto name = query_param(r, "name");
  if (!name) return api::Response::error(400, "bad_request", "?name= is required");
  if (auto res = auth.delete_user(*p, peer_of(r), *name); !res) return failure_response(res.error());
  return api::Response::json(json::object{});
}

// An admin sets anyone's password; anyone else only their own.
api::Response set_password(Auth& auth, api::Offload& kdf, const api::Request& r) {
  const Principal* p = current_principal();
  if (p == nullptr) return no_principal();
  auto name = query_param(r, "name");
  if (!name) return api::Response::error(400, "bad_request", "?name= is required");
  if (p->role != Role::admin && !(p->via == Principal::Via::session && p->user == *name))
    return api::Response::error(403, "forbidden", "only an admin may set another user's password");
  Body b(r, {"password"});
  std::string password = b.str("password");
  if (b.error) return *b.error;
  return kdf.submit([&auth, actor = *p, peer = peer_of(r), name = *name, password = std::move(password)] {
    if (auto res = auth.set_password(actor, peer, name, password); !res) return failure_response(res.error());
    return api::Response::json(json::object{});
  });
}

api::Response revoke_sessions(Auth& auth, const api::Request& r) {
  const Principal* p = current_principal();
  if (p == nullptr) return no_principal();
  auto name = query_param(r, "name");
  if (!name) return api::Response::error(400, "bad_request", "?name= is required");
  if (auto res = auth.revoke_sessions(*p, peer_of(r), *name); !res) return failure_response(res.error());
  return api::Response::json(json::object{});
}

api::Response list_tokens(Auth& auth) {
  auto res = auth.tokens();
  if (!res) return failure_response(res.error());
  json::array a;
  for (const auto& t : *res) a.push_back(token_view(t));
  return api::Response::json(json::object{{"tokens", std::move(a)}});
}

api::Response add_token(Auth& auth, const api::Request& r) {
  const Principal* p = current_principal();
  if (p == nullptr) return no_principal();
  Body b(r, {"name", "role", "expires_ms"});
  std::string name = b.str("name");
  Role role = b.role("role");
  int64_t expires = b.int64("expires_ms");
  if (b.error) return *b.error;
  auto res = auth.create_token(*p, peer_of(r), name, role, expires);
  if (!res) return failure_response(res.error());
  json::object o = token_view(res->info);
  o["token"] = res->secret;  // the only time it is ever shown
  return api::Response::json(std::move(o), 201);
}

api::Response revoke_token(Auth& auth, const api::Request& r) {
  const Principal* p = current_principal();
  if (p == nullptr) return no_principal();
  auto id = query_param(r, "id");
  if (!id) return api::Response::error(400, "bad_request", "?id= is required");
  if (auto res = auth.revoke_token(*p, peer_of(r), *id); !res) return failure_response(res.error());
  return api::Response::json(json::object{});
}

// ?from=<ms>&to=<ms>&limit=<n>, all optional.
api::Response audit(Auth& auth, const api::Request& r) {
  int64_t v[3] = {0, std::numeric_limits<int64_t>::max(), 100};
  const char* names[3] = {"from", "to", "limit"};
  for (int i = 0; i < 3; ++i) {
    auto s = query_param(r, names[i]);
    if (!s) continue;
    try {
      size_t used = 0;
      v[i] = std::stoll(*s, &used);
      if (used != s->size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      return api::Response::error(400, "bad_request", std::string("?") + names[i] + "= must be an integer");
    }
  }
  auto res = auth.audit(v[0], v[1], v[2]);
  if (!res) return failure_response(res.error());
  json::array a;
  for (const auto& e : *res) a.push_back(audit_view(e));
  return api::Response::json(json::object{{"entries", std::move(a)}});
}

}  // namespace

void add_routes(api::Router& router, Auth& auth, api::Offload& kdf) {
  Auth* a = &auth;
  api::Offload* k = &kdf;
  router.add("POST", "/api/v1/setup", [a, k](const api::Request& r) { return setup(*a, *k, r); });
  router.add("POST", "/api/v1/login", [a, k](const api::Request& r) { return login(*a, *k, r); });
  router.add("POST", "/api/v1/logout", [a](const api::Request& r) { return logout(*a, r); });
  router.add("GET", "/api/v1/session", whoami);
  router.add("GET", "/api/v1/users", [a](const api::Request&) { return list_users(*a); });
  router.add("POST", "/api/v1/users", [a, k](const api::Request& r) { return add_user(*a, *k, r); });
  router.add("DELETE", "/api/v1/users", [a](const api::Request& r) { return delete_user(*a, r); });
  router.add("POST", "/api/v1/users/password", [a, k](const api::Request& r) { return set_password(*a, *k, r); });
  router.add("DELETE", "/api/v1/users/sessions", [a](const api::Request& r) { return revoke_sessions(*a, r); });
  router.add("GET", "/api/v1/tokens", [a](const api::Request&) { return list_tokens(*a); });
  router.add("POST", "/api/v1/tokens", [a](const api::Request& r) { return add_token(*a, r); });
  router.add("DELETE", "/api/v1/tokens", [a](const api::Request& r) { return revoke_token(*a, r); });
  router.add("GET", "/api/v1/audit", [a](const api::Request& r) { return audit(*a, r); });
}

}  // namespace cats::auth
