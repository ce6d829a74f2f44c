#include "auth/auth.hpp"
#include "base/clock.hpp"
#include "base/hex.hpp"

#include "auth/db.hpp"
#include "base/log.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdlib>

namespace cats::auth {

namespace {

constexpr const char* kLog = "auth";
constexpr size_t kSecretBytes = 32;  // 256-bit cookies, CSRF tokens, token secrets, setup token
constexpr size_t kTokenIdBytes = 8;

std::string sha256_hex(std::string_view s) {
  uint8_t md[32];
  unsigned len = 0;
  if (EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr) != 1 || len != sizeof md) std::abort();
  return hex_bytes(md);
}

bool ct_equal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Events go to the caller's callback once stored, after Auth's lock is released (the
// callback may log, or call back into the daemon).
class Outbox {
 public:
  explicit Outbox(const Options& o) : o_(o) {}
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;
  ~Outbox() {
    for (const auto& e : q_) {
      // Only names, addresses and actions: never a secret (auth.hpp).
      log::info(kLog, e.action + (e.subject.empty() ? "" : " " + e.subject) + " by " +
                          (e.actor.empty() ? "-" : e.actor) + " from " + (e.peer.empty() ? "local" : e.peer) +
                          (e.detail.empty() ? "" : " (" + e.detail + ")"));
      if (o_.on_event) o_.on_event(e);
    }
  }
  void push(AuditEntry e) { q_.push_back(std::move(e)); }

 private:
  const Options& o_;
  std::vector<AuditEntry> q_;
};

Failure unauthorized() { return {Fail::unauthorized, "wrong user name or password"}; }

}  // namespace

void throw_exception_from_error(const Failure& f, const boost::source_location&) { throw std::runtime_error(f.message); }

int http_status(Fail f) {
  switch (f) {
    case Fail::invalid: return 422;
    case Fail::unauthorized: return 401;
    case Fail::forbidden: return 403;
    case Fail::not_found: return 404;
    case Fail::conflict: return 409;
    case Fail::throttled: return 429;
    case Fail::storage: return 503;
  }
  return 500;
}

std::string_view role_name(Role r) { return r == Role::admin ? "admin" : "viewer"; }
std::optional<Role> parse_role(std::string_view s) {
  if (s == "admin") return Role::admin;
  if (s == "viewer") return Role::viewer;
  return std::nullopt;
}

std::string Principal::actor() const {
  if (via == Via::token) return "token:" + token_id + " (" + user + ")";
  return user;
}

std::string check_user_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxName) return "must be 1 to 64 characters";
  if (!std::isalnum(static_cast<unsigned char>(name[0]))) return "must start with a letter or digit";
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
      return "may hold only letters, digits, '.', '_' and '-'";
  return {};
}

std::string check_password(const std::string& password, const std::string& user) {
  if (password.size() > kMaxPassword) return "must be at most 1024 bytes";
  // Characters, not bytes: count every byte that does not continue a UTF-8 sequence.
  size_t chars = static_cast<size_t>(
      std::count_if(password.begin(), password.end(), [](char c) { return (static_cast<uint8_t>(c) & 0xC0) != 0x80; }));
  if (chars < kMinPassword) return "must be at least 12 characters";
  if (password == user) return "must not be the user name";
  return {};
}

namespace {

std::string random_hex(const Options& o, size_t bytes) {
  std::vector<uint8_t> b(bytes);
  o.random(b);
  std::string s = hex_bytes(b);
  OPENSSL_cleanse(b.data(), b.size());
  return s;
}

Res<std::string> hash_password(const Options& o, PasswordHasher& h, const std::string& password) {
  std::array<uint8_t, kSaltBytes> salt{};
  o.random(salt);
  auto r = h.hash(password, salt);
  if (!r) return Failure(Fail::storage, "password hashing failed: " + r.error().message);
  return std::move(*r);
}

}  // namespace

struct Auth::Impl {
  std::mutex mu;
  std::unique_ptr<detail::Db> db;
  std::shared_ptr<PasswordHasher> hasher;
  LoginLimiter limiter;
  std::string setup_token;       // plaintext, kept for setup-url on the root socket
  std::string setup_hash;        // what tokens are compared with
  bool setup_done = false;       // once per process: a used token is never replaced
  std::string dummy_hash;        // verified for unknown users, so they cost the same time

  explicit Impl(LimiterOptions l) : limiter(l) {}

  // Under the lock, once an admin exists by any path (setup, or an admin added by
  // add_user): the setup token dies and is never replaced in this process.
  void end_setup() {
    if (!setup_token.empty()) OPENSSL_cleanse(setup_token.data(), setup_token.size());
    setup_token.clear();
    setup_hash.clear();
    setup_done = true;
  }

  struct Attempt {
    std::optional<User> known;
    int64_t lock_if_wrong = 0;  // the lock this attempt starts if its password is wrong
  };

  // Before any hashing, so that a locked-out client costs a map lookup, not a KDF run.
  Res<Attempt> admit(const Options& o, const std::string& user, const std::string& peer_key,
                     const std::string& user_key) {
    std::lock_guard lk(mu);
    const int64_t now = o.now_ms();
    int64_t wait = std::max(limiter.wait_ms(peer_key, now), limiter.wait_ms(user_key, now));
    if (wait > 0) {
      Failure f(Fail::throttled, "too many failed logins; try again later");
      f.retry_after_s = (wait + 999) / 1000;
      return f;
    }
    Attempt a;
    if (user.size() <= kMaxName) {
      CATS_TRY_ASSIGN(row, db->user(user));
      a.known = std::move(row);
    }
    // Counted as failed until the password proves otherwise, so that parallel attempts
    // cannot all pass the check above while their KDFs run.
    a.lock_if_wrong = std::max(limiter.fail(peer_key, now), limiter.fail(user_key, now));
    return a;
  }

  // A hash of a random password, made on first use, that unknown users are checked against.
  Res<std::string> dummy_phc(const Options& o) {
    {
      std::lock_guard lk(mu);
      if (!dummy_hash.empty()) return dummy_hash;
    }
    CATS_TRY_ASSIGN(d, hash_password(o, *hasher, random_hex(o, kSecretBytes)));
    std::lock_guard lk(mu);
    if (dummy_hash.empty()) dummy_hash = d;
    return dummy_hash;
  }

  // Under the lock: a new session for `u`, stored with its audit row.
  Res<LoginResult> open_session(const Options& o, Outbox& out, const User& u, const std::string& peer, int64_t now) {
    LoginResult r{random_hex(o, kSecretBytes), random_hex(o, kSecretBytes), u.name, u.role,
                  now + o.session_absolute_ms};
    Session s{sha256_hex(r.cookie), u.name, r.csrf, now, now, peer};
    auto stored = commit(o, out, {0, now, u.name, peer, "login", u.name, ""}, [&]() -> Status {
      CATS_TRY(db->delete_expired_sessions(now - o.session_idle_ms, now - o.session_absolute_ms));
      CATS_TRY(db->insert_session(s));
      return db->trim_sessions(u.name, o.max_sessions_per_user);
    });
    if (!stored) return stored.error();
    return r;
  }

  // `body` and the audit row `e` as one transaction; the event is sent once committed.
  Res<void> commit(const Options& o, Outbox& out, AuditEntry e, const std::function<Status()>& body) {
    if (e.ts_ms == 0) e.ts_ms = o.now_ms();
    auto st = db->tx([&]() -> Status {
      CATS_TRY(body());
      return db->insert_audit(e, o.audit_max_rows);
    });
    if (!st) {
      log::error(kLog, st.error().message);
      return Failure(st.error());
    }
    out.push(std::move(e));
    return {};
  }
};

Auth::Auth(Options o) : o_(std::move(o)), impl_(std::make_unique<Impl>(o_.limiter)) {}

Auth::~Auth() {
  if (!impl_->setup_token.empty()) OPENSSL_cleanse(impl_->setup_token.data(), impl_->setup_token.size());
}

Result<std::unique_ptr<Auth>> Auth::open(Options o) {
  if (!o.now_ms) o.now_ms = unix_ms_now;
  if (!o.random)
    o.random = [](std::span<uint8_t> out) {
      // A CSPRNG that cannot produce bytes leaves nothing safe to do.
      if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) std::abort();
    };
  if (!o.hasher) o.hasher = argon2id_hasher(o.kdf);
  auto a = std::unique_ptr<Auth>(new Auth(std::move(o)));
  CATS_TRY_ASSIGN(db, detail::Db::open(a->o_.db_path, a->o_.busy_timeout_ms, a->o_.now_ms()));
  a->impl_->db = std::move(db);
  a->impl_->hasher = a->o_.hasher;
  return a;
}

// --- first admin ---

std::optional<std::string> Auth::setup_token() {
  std::lock_guard lk(impl_->mu);
  auto admins = impl_->db->active_admins();
  if (!admins) {
    log::error(kLog, admins.error().message);
    return std::nullopt;
  }
  if (*admins > 0 || impl_->setup_done) return std::nullopt;
  if (impl_->setup_token.empty()) {
    impl_->setup_token = random_hex(o_, kSecretBytes);
    impl_->setup_hash = sha256_hex(impl_->setup_token);
  }
  return impl_->setup_token;
}

Res<void> Auth::complete_setup(const std::string& token, const std::string& user, const std::string& password,
                               const std::string& peer) {
  Outbox out(o_);
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->setup_hash.empty() || !ct_equal(sha256_hex(token), impl_->setup_hash))
      return Failure(Fail::unauthorized, "invalid or used setup token");
  }
  if (auto why = check_user_name(user); !why.empty()) return Failure(Fail::invalid, "user " + why, "/user");
  if (auto why = check_password(password, user); !why.empty())
    return Failure(Fail::invalid, "password " + why, "/password");
  CATS_TRY_ASSIGN(phc, hash_password(o_, *impl_->hasher, password));  // outside the lock: it is slow
  std::lock_guard lk(impl_->mu);
  // Re-checked under the lock: two setups may have raced through the hash.
  if (impl_->setup_hash.empty() || !ct_equal(sha256_hex(token), impl_->setup_hash))
    return Failure(Fail::unauthorized, "invalid or used setup token");
  CATS_TRY_ASSIGN(admins, impl_->db->active_admins());
  if (admins > 0) return Failure(Fail::conflict, "an admin exists already");
  User u{user, Role::admin, phc, o_.now_ms(), false};
  CATS_TRY(impl_->commit(o_, out, {0, 0, user, peer, "setup", user, "first admin"},
                         [&] { return impl_->db->insert_user(u); }));
  impl_->end_setup();
  return {};
}

// --- sessions ---

Res<LoginResult> Auth::login(const std::string& user, const std::string& password, const std::string& peer) {
  Outbox out(o_);
  const std::string peer_key = "peer:" + peer, user_key = "user:" + user;
  CATS_TRY_ASSIGN(attempt, impl_->admit(o_, user, peer_key, user_key));
  std::string phc;
  if (attempt.known) {
    phc = attempt.known->password_hash;
  } else {
    // Unknown users cost one KDF run too, so timing does not tell which names exist.
    CATS_TRY_ASSIGN(dummy, impl_->dummy_phc(o_));
    phc = std::move(dummy);
  }
  auto match = impl_->hasher->verify(phc, password);  // outside the lock: it is slow
  if (!match) log::error(kLog, "user " + user + ": " + match.error().message);
  const bool accepted = attempt.known && !attempt.known->disabled && match && *match;

  std::lock_guard lk(impl_->mu);
  const int64_t now = o_.now_ms();
  if (!accepted) {
    // The attempted name only when it exists: people type passwords into the name field.
    std::string subject = attempt.known ? user : "(unknown user)";
    (void)impl_->commit(o_, out, {0, now, "", peer, "login_failed", subject, ""}, [] { return cats::ok(); });
    if (attempt.lock_if_wrong > 0)
      (void)impl_->commit(o_, out,
                          {0, now, "", peer, "lockout", subject,
                           "for " + std::to_string(attempt.lock_if_wrong / 1000) + " s"},
                          [] { return cats::ok(); });
    return unauthorized();
  }
  impl_->limiter.succeed(peer_key);
  impl_->limiter.succeed(user_key);
  return impl_->open_session(o_, out, *attempt.known, peer, now);
}

Res<void> Auth::logout(const Principal& p, const std::string& peer) {
  if (p.via != Principal::Via::session) return {};  // tokens and the local socket hold no session
  Outbox out(o_);
  std::lock_guard lk(impl_->mu);
  return impl_->commit(o_, out, {0, 0, p.actor(), peer, "logout", p.user, ""},
                       [&] { return impl_->db->delete_session(p.session_id_hash); });
}

Res<Principal> Auth::session(const std::string& cookie, const std::string& peer) {
  Outbox out(o_);
  std::lock_guard lk(impl_->mu);
  const int64_t now = o_.now_ms();
  const std::string id_hash = sha256_hex(cookie);
  CATS_TRY_ASSIGN(row, impl_->db->session(id_hash));
  if (!row) return Failure(Fail::unauthorized, "no such session; log in");
  if (now - row->last_used_ms > o_.session_idle_ms || now - row->created_ms > o_.session_absolute_ms) {
    (void)impl_->commit(o_, out, {0, now, row->user, peer, "session_expired", row->user, ""},
                        [&] { return impl_->db->delete_session(id_hash); });
    return Failure(Fail::unauthorized, "session expired; log in again");
  }
  CATS_TRY_ASSIGN(u, impl_->db->user(row->user));
  if (!u || u->disabled) return Failure(Fail::unauthorized, "no such session; log in");
  // last_used at minute granularity: idle expiry needs no more, and reads stay reads.
  if (now - row->last_used_ms >= o_.token_touch_interval_ms) {
    if (auto st = impl_->db->tx([&] { return impl_->db->touch_session(id_hash, now); }); !st)
      log::warn(kLog, st.error().message);
  }
  return Principal{u->name, u->role, Principal::Via::session, id_hash, row->csrf, {}};
}

Res<Principal> Auth::bearer(const std::string& token, const std::string& peer) {
  (void)peer;
  // "cats_" <16 hex id> "_" <64 hex secret>
  constexpr size_t kId = kTokenIdBytes * 2, kSecret = kSecretBytes * 2;
  Failure bad(Fail::unauthorized, "invalid API token");
  if (token.size() != 5 + kId + 1 + kSecret || token.compare(0, 5, "cats_") != 0 || token[5 + kId] != '_')
    return bad;
  std::string id = token.substr(5, kId), secret = token.substr(6 + kId);
  if (!is_lower_hex(id) || !is_lower_hex(secret)) return bad;
  std::lock_guard lk(impl_->mu);
  const int64_t now = o_.now_ms();
  CATS_TRY_ASSIGN(t, impl_->db->token(id));
  if (!t || !ct_equal(sha256_hex(secret), t->secret_hash)) return bad;
  if (t->revoked) return Failure(Fail::unauthorized, "API token revoked");
  if (now >= t->expires_ms) return Failure(Fail::unauthorized, "API token expired");
  if (!t->last_used_ms || now - *t->last_used_ms >= o_.token_touch_interval_ms) {
    if (auto st = impl_->db->tx([&] { return impl_->db->touch_token(id, now); }); !st)
      log::warn(kLog, st.error().message);
  }
  return Principal{t->created_by, t->role, Principal::Via::token, {}, {}, id};
}

// --- users ---

Res<std::vector<User>> Auth::users() {
  std::lock_guard lk(impl_->mu);
  CATS_TRY_ASSIGN(list, impl_->db->users());
  return list;
}

Res<void> Auth::add_user(const Principal& actor, const std::string& peer, const std::string& name, Role role,
                         const std::string& password) {
  if (auto why = check_user_name(name); !why.empty()) return Failure(Fail::invalid, "name " + why, "/name");
  if (auto why = check_password(password, name); !why.empty())
    return Failure(Fail::invalid, "password " + why, "/password");
  {
    std::lock_guard lk(impl_->mu);
    CATS_TRY_ASSIGN(existing, impl_->db->user(name));
    if (existing) return Failure(Fail::conflict, "user " + name + " exists already", "/name");
  }
  CATS_TRY_ASSIGN(phc, hash_password(o_, *impl_->hasher, password));
  Outbox out(o_);
  std::lock_guard lk(impl_->mu);
  CATS_TRY_ASSIGN(existing, impl_->db->user(name));
  if (existing) return Failure(Fail::conflict, "user " + name + " exists already", "/name");
  User u{name, role, phc, o_.now_ms(), false};
  CATS_TRY(impl_->commit(o_, out, {0, 0, actor.actor(), peer, "user_add", name, "role=" + std::string(role_name(role))},
                         [&] { return impl_->db->insert_user(u); }));
  // An admin made here (`catsctl user add` on the root socket) ends the first-admin setup
  // as complete_setup does: the setup URL printed at start must not work any more.
  if (role == Role::admin) impl_->end_setup();
  return {};
}

Res<void> Auth::delete_user(const Principal& actor, const std::string& peer, const std::string& name) {
  Outbox out(o_);
  std::lock_guard lk(impl_->mu);
  CATS_TRY_ASSIGN(u, impl_->db->user(name));
  if (!u) return Failure(Fail::not_found, "no user " + name);
  CATS_TRY_ASSIGN(admins, impl_->db->active_admins());
  if (u->role == Role::admin && !u->disabled && admins <= 1)
    return Failure(Fail::conflict, "cannot delete the last admin");
  return impl_->commit(o_, out, {0, 0, actor.actor(), peer, "user_delete", name, ""}, [&]() -> Status {
    CATS_TRY(impl_->db->delete_sessions_of(name, ""));
    CATS_TRY(impl_->db->delete_user(name));
    return ok();
  });
}

Res<void> Auth::set_password(const Principal& actor, const std::string& peer, const std::string& name,
                             const std::string& password) {
  if (auto why = check_password(password, name); !why.empty())
    return Failure(Fail::invalid, "password " + why, "/password");
  {
    std::lock_guard lk(impl_->mu);
    CATS_TRY_ASSIGN(u, impl_->db->user(name));
    if (!u) return Failure(Fail::not_found, "no user " + name);
  }
  CATS_TRY_ASSIGN(phc, hash_password(o_, *impl_->hasher, password));
  // The actor's own session survives its own password change; every other one ends.
  const bool own = actor.via == Principal::Via::session && actor.user == name;
  Outbox out(o_);
  std::lock_guard lk(impl_->mu);
  return impl_->commit(o_, out, {0, 0, actor.actor(), peer, "password_change", name, "other sessions revoked"},
                       [&]() -> Status {
                         CATS_TRY_ASSIGN(n, impl_->db->set_password(name, phc));
                         if (n == 0) return fail(Error::msg("user " + name + " vanished"));
                         return impl_->db->delete_sessions_of(name, own ? actor.session_id_hash : "");
                       });
}

Res<void> Auth::revoke_sessions(const Principal& actor, const std::string& peer, const std::string& name) {
  Outbox out(o_);
  std::lock_guard lk(impl_->mu);
  return impl_->commit(o_, out, {0, 0, actor.actor(), peer, "sessions_revoke", name, ""},
                       [&] { return impl_->db->delete_sessions_of(name, ""); });
}

// --- API tokens ---

Res<NewToken> Auth::create_token(const Principal& actor, const std::string& peer, const std::string& name, Role role,
                                 int64_t expires_ms) {
  if (auto why = check_user_name(name); !why.empty()) return Failure(Fail::invalid, "name " + why, "/name");
  Outbox out(o_);
  std::lock_guard lk(impl_->mu);
  const int64_t now = o_.now_ms();
  if (expires_ms <= now) return Failure(Fail::invalid, "expiry must be in the future", "/expires_ms");
  if (expires_ms - now > o_.token_max_lifetime_ms)
    return Failure(Fail::invalid, "expiry must be within a year", "/expires_ms");
  NewToken nt;
  nt.info = Token{random_hex(o_, kTokenIdBytes), name, role, {}, now, expires_ms, std::nullopt, false, actor.user};
  std::string secret = random_hex(o_, kSecretBytes);
  Token stored = nt.info;
  stored.secret_hash = sha256_hex(secret);
  nt.secret = "cats_" + nt.info.id + "_" + secret;
  OPENSSL_cleanse(secret.data(), secret.size());
  CATS_TRY(impl_->commit(o_, out,
                         {0, now, actor.actor(), peer, "token_add", nt.info.id,
                          "name=" + name + " role=" + std::string(role_name(role)) +
                              " expires_ms=" + std::to_string(expires_ms)},
                         [&] { return impl_->db->insert_token(stored); }));
  return nt;
}

Res<std::vector<Token>> Auth::tokens() {
  std::lock_guard lk(impl_->mu);
  CATS_TRY_ASSIGN(list, impl_->db->tokens());
  return list;
}

Res<void> Auth::revoke_token(const Principal& actor, const std::string& peer, const std::string& id) {
  Outbox out(o_);
  std::lock_guard lk(impl_->mu);
  CATS_TRY_ASSIGN(t, impl_->db->token(id));
  if (!t || t->revoked) return Failure(Fail::not_found, "no active token " + id);
  return impl_->commit(o_, out, {0, 0, actor.actor(), peer, "token_revoke", id, "name=" + t->name},
                       [&]() -> Status {
                         CATS_TRY(impl_->db->revoke_token(id));
                         return cats::ok();
                       });
}

// --- audit ---

Res<void> Auth::record(AuditEntry e) {
  Outbox out(o_);
  std::lock_guard lk(impl_->mu);
  return impl_->commit(o_, out, std::move(e), [] { return cats::ok(); });
}

Res<std::vector<AuditEntry>> Auth::audit(int64_t from_ms, int64_t to_ms, int64_t limit) {
  std::lock_guard lk(impl_->mu);
  CATS_TRY_ASSIGN(list, impl_->db->audit(from_ms, to_ms, std::clamp<int64_t>(limit, 1, 1000)));
  return list;
}

}  // namespace cats::auth
