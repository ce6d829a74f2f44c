// Accounts and access for the management plane (issue 9, DESIGN.md §4): users with roles,
// password login with sessions (cookie + CSRF token), API tokens for scripts, a login
// rate limiter, the first-admin setup token, and a bounded audit log. State lives in the
// auth_* tables of the daemon's SQLite file. The HTTP side (authenticate, guard, routes)
// is at the bottom; see docs/ARCHITECTURE.md "Management plane: accounts".
//
// Secrets handled here (passwords, cookie values, token secrets, the setup token) are
// only ever returned once to their owner; they never appear in logs, audit rows, events,
// errors or other answers, and only their hashes are stored.
#pragma once

#include "api/api.hpp"
#include "auth/kdf.hpp"
#include "auth/limiter.hpp"
#include "auth/types.hpp"
#include "base/result.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace cats::api {
class Offload;
}

namespace cats::auth {

// Why an operation was refused; the HTTP layer maps it to a status (http_status()).
enum class Fail {
  invalid,       // 422: a field breaks a rule (`field` names its JSON path)
  unauthorized,  // 401: wrong or missing credentials
  forbidden,     // 403
  not_found,     // 404
  conflict,      // 409: exists already, would remove the last admin...
  throttled,     // 429: locked out for retry_after_s
  storage,       // 503: the database refused the write (full, locked); nothing changed
};
struct Failure {
  Fail kind = Fail::storage;
  std::string message;
  std::string field;  // JSON path ("/password") for Fail::invalid
  int64_t retry_after_s = 0;
  Failure() = default;
  Failure(Fail k, std::string m, std::string f = {}) : kind(k), message(std::move(m)), field(std::move(f)) {}
  // A store error: the database refused.
  Failure(const Error& e) : kind(Fail::storage), message(e.message) {}  // NOLINT(implicit)
};
[[noreturn]] void throw_exception_from_error(const Failure& f, const boost::source_location&);
template <class T>
using Res = Expected<T, Failure>;
int http_status(Fail f);

// Who is asking, once authenticated.
struct Principal {
  enum class Via { local, session, token };
  std::string user;  // "root" on the local socket; the token's creator for a token
  Role role = Role::viewer;
  Via via = Via::local;
  std::string session_id_hash;  // Via::session
  std::string csrf;             // Via::session: the token X-CSRF-Token must equal
  std::string token_id;         // Via::token
  // "alice", "root", "token:<id> (alice)": the actor in audit rows.
  std::string actor() const;
};

struct Options {
  std::string db_path;  // the daemon's state database (shared with common/store)
  int busy_timeout_ms = 200;
  KdfParams kdf;
  // Injected for tests; null means production: Argon2id(kdf), the system clock
  // (ms since the epoch), OpenSSL's RAND_bytes.
  std::shared_ptr<PasswordHasher> hasher;
  std::function<int64_t()> now_ms;
  std::function<void(std::span<uint8_t>)> random;
  // Every audited event (logins, failures, lock-outs, changes) after it was stored; the
  // CPE forwards these to its event log. Called without Auth's lock held.
  std::function<void(const AuditEntry&)> on_event;
  int64_t session_idle_ms = 30 * 60 * 1000;
  int64_t session_absolute_ms = 12 * 60 * 60 * 1000;
  // Beyond it a login ends the user's oldest session: the table stays bounded.
  int64_t max_sessions_per_user = 32;
  int64_t token_max_lifetime_ms = 366LL * 24 * 60 * 60 * 1000;
  int64_t token_touch_interval_ms = 60 * 1000;  // last_used writes at most this often
  int64_t audit_max_rows = 10000;
  LimiterOptions limiter;
};

struct LoginResult {
  std::string cookie;  // the session cookie's value: set it, never log it
  std::string csrf;
  std::string user;
  Role role = Role::viewer;
  int64_t expires_ms = 0;  // absolute expiry
};

struct NewToken {
  Token info;          // without secret_hash
  std::string secret;  // "cats_<id>_<secret>", shown once
};

// Bounds on what a caller may store.
inline constexpr size_t kMinPassword = 12;  // characters (UTF-8 code points)
inline constexpr size_t kMaxName = 64;

// "" when acceptable, otherwise why not. Names: 1-64 of [A-Za-z0-9._-], starting with a
// letter or digit. Passwords: 12+ characters, at most 1024 bytes, not the user name.
std::string check_user_name(const std::string& name);
std::string check_password(const std::string& password, const std::string& user);

class Auth {
 public:
  static Result<std::unique_ptr<Auth>> open(Options o);

  // --- first admin ---
  // While no active admin exists: the one-time setup token (made once per process,
  // kept only in memory). nullopt once an admin exists.
  std::optional<std::string> setup_token();
  Res<void> complete_setup(const std::string& token, const std::string& user, const std::string& password,
                           const std::string& peer);

  // --- sessions ---
  // Rate-limited per peer and per user before any password is hashed.
  Res<LoginResult> login(const std::string& user, const std::string& password, const std::string& peer);
  Res<void> logout(const Principal& p, const std::string& peer);
  // The principal of a session cookie value; touches last_used; an expired session is
  // removed and refused.
  Res<Principal> session(const std::string& cookie, const std::string& peer);
  // The principal of "cats_<id>_<secret>"; refused when unknown, revoked or expired.
  Res<Principal> bearer(const std::string& token, const std::string& peer);

  // --- users (callers check roles; these check the rules) ---
  Res<std::vector<User>> users();
  Res<void> add_user(const Principal& actor, const std::string& peer, const std::string& name, Role role,
                     const std::string& password);
  Res<void> delete_user(const Principal& actor, const std::string& peer, const std::string& name);
  // Revokes every other session of `name` (all of them when the actor is someone else).
  Res<void> set_password(const Principal& actor, const std::string& peer, const std::string& name,
                         const std::string& password);
  Res<void> revoke_sessions(const Principal& actor, const std::string& peer, const std::string& name);

  // --- API tokens ---
  Res<NewToken> create_token(const Principal& actor, const std::string& peer, const std::string& name, Role role,
                             int64_t expires_ms);
  Res<std::vector<Token>> tokens();
  Res<void> revoke_token(const Principal& actor, const std::string& peer, const std::string& id);

  // --- audit ---
  // For other modules' changes (configuration revisions...): stored, bounded, and
  // passed to on_event like our own.
  Res<void> record(AuditEntry e);
  Res<std::vector<AuditEntry>> audit(int64_t from_ms, int64_t to_ms, int64_t limit);

  int64_t now_ms() const { return o_.now_ms(); }
  const Options& options() const { return o_; }
  ~Auth();

 private:
  struct Impl;
  explicit Auth(Options o);
  Options o_;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------
// HTTP (over common/api)

struct HttpOptions {
  // Served without credentials besides setup and login: static files, "/metrics" when
  // scraping is open... Exact paths, or prefixes when ending in '/' ("/ui/").
  std::vector<std::string> public_paths;
  // Host header values accepted ("cpe.example:8443", "192.0.2.1"); empty = any. Checked
  // on every non-local request (DNS rebinding; Tailscale's LocalAPI does the same).
  std::vector<std::string> allowed_hosts;
  bool https = true;  // default port for Host/Origin comparison: 443 (else 80)
  // Readable (GET/HEAD) without credentials, matched exactly (never as a prefix, so "/"
  // is just the root page): the web UI's files. Host is still checked.
  std::vector<std::string> public_reads;
};

inline constexpr const char* kSessionCookie = "cats_session";

// The principal behind a request: the local socket is root (admin) with no login;
// otherwise "Authorization: Bearer <token>" or the cats_session cookie.
Res<Principal> authenticate(Auth& auth, const api::Request& r);

// Access control for every route (api::Router::set_guard): see docs/ARCHITECTURE.md.
// The principal it admitted is current_principal() while the handler runs.
api::Guard make_guard(Auth& auth, HttpOptions o);
// The principal the guard admitted for the request this thread is handling; nullptr on
// a public route without credentials.
const Principal* current_principal();

// The JSON error answer for a refusal: its status, "invalid" with the field's JSON path
// for Fail::invalid, Retry-After for Fail::throttled, WWW-Authenticate for a 401.
api::Response failure_response(const Failure& f);

// POST /api/v1/setup, /login, /logout; GET /session; GET/POST/DELETE /users;
// POST /users/password; GET/POST/DELETE /tokens; GET /audit (docs/ARCHITECTURE.md).
// The routes that hash a password (setup, login, POST /users, /users/password) run
// Auth on `kdf`'s worker, off the server's thread; a full queue answers 503. Both `auth`
// and `kdf` must outlive the servers serving `router`, and `kdf` must go before `auth`
// (its destructor finishes the running job).
void add_routes(api::Router& router, Auth& auth, api::Offload& kdf);

}  // namespace cats::auth
