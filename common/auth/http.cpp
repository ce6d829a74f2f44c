// The HTTP side of common/auth: who is asking (authenticate), whether they may
// (make_guard), and the account routes (add_routes).
#include "auth/auth.hpp"
#include "auth/headers.hpp"


#include <openssl/crypto.h>

#include <algorithm>
#include <set>

namespace cats::auth {


namespace {

thread_local std::optional<Principal> g_current;

constexpr const char* kSetup = "/api/v1/setup";
constexpr const char* kLogin = "/api/v1/login";
constexpr const char* kLogout = "/api/v1/logout";
constexpr const char* kPassword = "/api/v1/users/password";
constexpr std::string_view kUsers = "/api/v1/users";
constexpr std::string_view kTokens = "/api/v1/tokens";

// The account lists (users, their sessions, API tokens) are the admin's: a viewer reads
// the configuration and the live state, not who can log in or which scripts hold a key
// (least privilege; the web UI shows the Users page to admins only, issue 10).
bool account_route(std::string_view path) {
  auto under = [&](std::string_view root) {
    return path == root || (path.starts_with(root) && path[root.size()] == '/');
  };
  return under(kUsers) || under(kTokens);
}

// RFC 9110 §9.2.1 safe methods we serve; everything else changes something.
bool is_safe(const std::string& m) { return m == "GET" || m == "HEAD"; }

api::Response forbidden(const std::string& code, const std::string& message) {
  return api::Response::error(403, code, message);
}

bool ct_equal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// The origin a browser says the request came from: Origin, or Referer when a browser
// omitted Origin (RFC 6454 §7.3; OWASP CSRF cheat sheet, "verifying origin").
std::optional<std::string> source_origin(const api::Request& r) {
  if (const auto& o = r.header("origin"); !o.empty()) return url_authority(o);
  if (const auto& ref = r.header("referer"); !ref.empty()) return url_authority(ref);
  return std::nullopt;
}

// The checks every change through a browser session needs: the CSRF token only a page
// of ours can read, and an Origin/Referer naming the host it was sent to.
std::optional<api::Response> check_csrf(const api::Request& r, const Principal& p, const std::string& host) {
  const auto& sent = r.header("x-csrf-token");
  if (sent.empty() || !ct_equal(sent, p.csrf)) return forbidden("csrf", "missing or wrong X-CSRF-Token");
  auto origin = source_origin(r);
  if (!origin) return forbidden("origin", "a change needs an Origin or Referer header");
  if (*origin != host) return forbidden("origin", "Origin does not match Host");
  return std::nullopt;
}

// An exact public path, or under a public prefix (an entry ending in '/').
bool is_public(const std::set<std::string>& open, const std::string& path) {
  if (open.count(path) != 0) return true;
  return std::any_of(open.begin(), open.end(), [&](const std::string& p) {
    return !p.empty() && p.back() == '/' && path.compare(0, p.size(), p) == 0;
  });
}

}  // namespace

const Principal* current_principal() { return g_current ? &*g_current : nullptr; }

api::Response failure_response(const Failure& f) {
  std::vector<api::FieldError> fields;
  if (!f.field.empty()) fields.push_back({f.field, f.message});
  int status = http_status(f.kind);
  auto res = api::Response::error(status, f.kind == Fail::invalid ? "invalid" : api::error_code_for(status), f.message,
                                  std::move(fields));
  if (f.kind == Fail::throttled) res.headers.emplace_back("Retry-After", std::to_string(f.retry_after_s));
  // RFC 9110 §11.6.1: a 401 names the scheme it accepts.
  if (f.kind == Fail::unauthorized) res.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"cats\"");
  return res;
}

Res<Principal> authenticate(Auth& auth, const api::Request& r) {
  if (r.local) return Principal{"root", Role::admin, Principal::Via::local, {}, {}, {}};
  if (const auto& h = r.header("authorization"); !h.empty()) {
    auto a = parse_authorization(h);
    if (!a || a->scheme != "bearer") return Failure(Fail::unauthorized, "Authorization must be \"Bearer <token>\"");
    return auth.bearer(a->token, r.peer);
  }
  if (const auto& c = r.header("cookie"); !c.empty()) {
    if (auto v = find_cookie(c, kSessionCookie)) return auth.session(*v, r.peer);
  }
  return Failure(Fail::unauthorized, "authentication required");
}

api::Guard make_guard(Auth& auth, HttpOptions o) {
  std::vector<std::string> hosts;
  for (const auto& h : o.allowed_hosts) hosts.push_back(host_authority(h, o.https).value_or(h));
  std::set<std::string> open(o.public_paths.begin(), o.public_paths.end());
  std::set<std::string> reads(o.public_reads.begin(), o.public_reads.end());
  open.insert(kSetup);
  open.insert(kLogin);
  return [&auth, hosts = std::move(hosts), open = std::move(open), reads = std::move(reads),
          https = o.https](const api::Request& r) -> std::optional<api::Response> {
    g_current.reset();
    if (r.local) {
      g_current = Principal{"root", Role::admin, Principal::Via::local, {}, {}, {}};
      return std::nullopt;
    }
    // Every request, reads too: a Host we do not serve is DNS rebinding or a mistake.
    auto host = host_authority(r.header("host"), https);
    if (!host || !host_allowed(*host, hosts)) return forbidden("host", "Host not allowed");
    const bool unsafe = !is_safe(r.method);
    if (!unsafe && reads.count(r.path) != 0) return std::nullopt;
    if (is_public(open, r.path)) {
      // No session to protect yet, but a cross-site form must not log a browser in
      // (login CSRF): when a browser says where it came from, it must be here.
      if (unsafe && (!r.header("origin").empty() || !r.header("referer").empty()) && source_origin(r) != host)
        return forbidden("origin", "Origin does not match Host");
      return std::nullopt;
    }
    auto p = authenticate(auth, r);
    if (!p) return failure_response(p.error());
    if (unsafe && p->role != Role::admin && r.path != kLogout && r.path != kPassword)
      return forbidden("forbidden", "role viewer may only read");
    if (!unsafe && p->role != Role::admin && account_route(r.path))
      return forbidden("forbidden", "users and tokens are listed to admins only");
    // Bearer tokens are no ambient credential a browser would attach: no CSRF check.
    if (unsafe && p->via == Principal::Via::session)
      if (auto stop = check_csrf(r, *p, *host)) return stop;
    g_current = std::move(*p);
    return std::nullopt;
  };
}

}  // namespace cats::auth
