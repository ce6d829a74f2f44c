#include "auth/db.hpp"

#include <utility>

namespace cats::auth::detail {

namespace sd = store::detail;

namespace {

// Version 1. Every name starts with auth_ so it cannot meet common/store's tables.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE auth_users (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
  password_hash TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE auth_sessions (
  id_hash TEXT PRIMARY KEY,
  user TEXT NOT NULL REFERENCES auth_users(name) ON DELETE CASCADE,
  csrf TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  last_used_ms INTEGER NOT NULL,
  peer TEXT NOT NULL);
CREATE INDEX auth_sessions_user ON auth_sessions(user);
CREATE TABLE auth_tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
  secret_hash TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  last_used_ms INTEGER,
  revoked INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL);
CREATE TABLE auth_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  peer TEXT NOT NULL,
  action TEXT NOT NULL,
  subject TEXT NOT NULL,
  detail TEXT NOT NULL);
CREATE INDEX auth_audit_ts ON auth_audit(ts_ms);
)sql";

constexpr sd::Migration kMigrations[] = {{1, kSchemaV1}};

}  // namespace

class Db::Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* st) : db_(db), st_(st) {}
  Query(Query&& o) noexcept : db_(o.db_), st_(std::exchange(o.st_, nullptr)) {}
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Query& operator=(Query&&) = delete;
  ~Query() {
    if (st_ == nullptr) return;
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
  // true: a row is ready; false: done.
  Result<bool> step() {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return Error::msg(sd::describe(db_, rc));
  }
  int64_t i64(int col) const { return sqlite3_column_int64(st_, col); }
  bool is_null(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(st_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(st_, col))) : "";
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_;
};

Result<std::unique_ptr<Db>> Db::open(const std::string& path, int busy_timeout_ms, int64_t now_ms) {
  auto db = sd::open_db(path, busy_timeout_ms);
  if (!db) return db.error().context("auth store " + path);
  // WAL as common/store uses it on the same file; foreign keys so that a deleted user's
  // sessions go with it.
  if (auto st = sd::exec(db->get(), "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON"); !st)
    return st.error().context("auth store " + path);
  if (auto v = sd::migrate(db->get(), kMigrations, now_ms, "auth_schema_version"); !v)
    return v.error().context("auth store " + path);
  return std::unique_ptr<Db>(new Db(std::move(*db)));
}

Status Db::tx(const std::function<Status()>& body) {
  sqlite3* db = db_.get();
  // A rollback that itself failed earlier would make every later BEGIN fail.
  if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  Status st = sd::exec(db, "BEGIN IMMEDIATE");
  if (st) st = body();
  if (st) st = sd::exec(db, "COMMIT");
  if (!st && sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  if (!st) return fail(st.error().context("auth store write"));
  return ok();
}

Result<Db::Query> Db::query(const std::string& sql, std::initializer_list<Arg> args) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    CATS_TRY_ASSIGN(st, sd::prepare(db_.get(), sql));
    it = cache_.emplace(sql, std::move(st)).first;
  }
  sqlite3_stmt* st = it->second.get();
  Query q(db_.get(), st);
  int i = 1;
  for (const Arg& a : args) {
    int rc = std::holds_alternative<int64_t>(a)
                 ? sqlite3_bind_int64(st, i, std::get<int64_t>(a))
                 : sqlite3_bind_text(st, i, std::get<std::string_view>(a).data(),
                                     static_cast<int>(std::get<std::string_view>(a).size()), SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) return Error::msg("bind: " + sd::describe(db_.get(), rc));
    ++i;
  }
  return q;
}

Result<int64_t> Db::write(const std::string& sql, std::initializer_list<Arg> args) {
  CATS_TRY_ASSIGN(q, query(sql, args));
  CATS_TRY(q.step());
  return static_cast<int64_t>(sqlite3_changes(db_.get()));
}

namespace {

template <class Q>
User user_from(const Q& q) {
  return User{q.text(0), parse_role(q.text(1)).value_or(Role::viewer), q.text(2), q.i64(3), q.i64(4) != 0};
}

template <class Q>
Token token_from(const Q& q) {
  Token t{q.text(0), q.text(1), parse_role(q.text(2)).value_or(Role::viewer), q.text(3), q.i64(4), q.i64(5),
          std::nullopt, q.i64(7) != 0, q.text(8)};
  if (!q.is_null(6)) t.last_used_ms = q.i64(6);
  return t;
}

constexpr const char* kUserCols = "SELECT name, role, password_hash, created_ms, disabled FROM auth_users";
constexpr const char* kTokenCols =
    "SELECT id, name, role, secret_hash, created_ms, expires_ms, last_used_ms, revoked, created_by FROM auth_tokens";

}  // namespace

Result<std::optional<User>> Db::user(const std::string& name) {
  CATS_TRY_ASSIGN(q, query(std::string(kUserCols) + " WHERE name = ?", {name}));
  CATS_TRY_ASSIGN(row, q.step());
  if (!row) return std::optional<User>();
  return std::optional<User>(user_from(q));
}

Result<std::vector<User>> Db::users() {
  CATS_TRY_ASSIGN(q, query(std::string(kUserCols) + " ORDER BY name"));
  std::vector<User> out;
  for (;;) {
    CATS_TRY_ASSIGN(row, q.step());
    if (!row) return out;
    out.push_back(user_from(q));
  }
}

Result<int64_t> Db::active_admins() {
  CATS_TRY_ASSIGN(q, query("SELECT count(*) FROM auth_users WHERE role = 'admin' AND disabled = 0"));
  CATS_TRY(q.step());
  return q.i64(0);
}

Result<std::optional<Session>> Db::session(const std::string& id_hash) {
  CATS_TRY_ASSIGN(q, query("SELECT id_hash, user, csrf, created_ms, last_used_ms, peer FROM auth_sessions "
                           "WHERE id_hash = ?",
                           {id_hash}));
  CATS_TRY_ASSIGN(row, q.step());
  if (!row) return std::optional<Session>();
  return std::optional<Session>(Session{q.text(0), q.text(1), q.text(2), q.i64(3), q.i64(4), q.text(5)});
}

Result<std::optional<Token>> Db::token(const std::string& id) {
  CATS_TRY_ASSIGN(q, query(std::string(kTokenCols) + " WHERE id = ?", {id}));
  CATS_TRY_ASSIGN(row, q.step());
  if (!row) return std::optional<Token>();
  return std::optional<Token>(token_from(q));
}

Result<std::vector<Token>> Db::tokens() {
  CATS_TRY_ASSIGN(q, query(std::string(kTokenCols) + " ORDER BY created_ms, id"));
  std::vector<Token> out;
  for (;;) {
    CATS_TRY_ASSIGN(row, q.step());
    if (!row) return out;
    out.push_back(token_from(q));
  }
}

Result<std::vector<AuditEntry>> Db::audit(int64_t from_ms, int64_t to_ms, int64_t limit) {
  CATS_TRY_ASSIGN(q, query("SELECT id, ts_ms, actor, peer, action, subject, detail FROM auth_audit "
                           "WHERE ts_ms >= ? AND ts_ms <= ? ORDER BY id DESC LIMIT ?",
                           {from_ms, to_ms, limit}));
  std::vector<AuditEntry> out;
  for (;;) {
    CATS_TRY_ASSIGN(row, q.step());
    if (!row) return out;
    out.push_back(AuditEntry{q.i64(0), q.i64(1), q.text(2), q.text(3), q.text(4), q.text(5), q.text(6)});
  }
}

Status Db::insert_user(const User& u) {
  CATS_TRY(write("INSERT INTO auth_users(name, role, password_hash, created_ms, disabled) VALUES (?, ?, ?, ?, ?)",
                 {u.name, role_name(u.role), u.password_hash, u.created_ms, int64_t{u.disabled}}));
  return ok();
}

Result<int64_t> Db::delete_user(const std::string& name) {
  return write("DELETE FROM auth_users WHERE name = ?", {name});
}

Result<int64_t> Db::set_password(const std::string& name, const std::string& phc) {
  return write("UPDATE auth_users SET password_hash = ? WHERE name = ?", {phc, name});
}

Status Db::insert_session(const Session& s) {
  CATS_TRY(write("INSERT INTO auth_sessions(id_hash, user, csrf, created_ms, last_used_ms, peer) "
                 "VALUES (?, ?, ?, ?, ?, ?)",
                 {s.id_hash, s.user, s.csrf, s.created_ms, s.last_used_ms, s.peer}));
  return ok();
}

Status Db::delete_session(const std::string& id_hash) {
  CATS_TRY(write("DELETE FROM auth_sessions WHERE id_hash = ?", {id_hash}));
  return ok();
}

Status Db::delete_sessions_of(const std::string& user, const std::string& keep_id_hash) {
  CATS_TRY(write("DELETE FROM auth_sessions WHERE user = ? AND id_hash != ?", {user, keep_id_hash}));
  return ok();
}

Status Db::trim_sessions(const std::string& user, int64_t keep) {
  CATS_TRY(write("DELETE FROM auth_sessions WHERE user = ? AND id_hash NOT IN "
                 "(SELECT id_hash FROM auth_sessions WHERE user = ? ORDER BY created_ms DESC, rowid DESC LIMIT ?)",
                 {user, user, keep}));
  return ok();
}

Status Db::touch_session(const std::string& id_hash, int64_t now_ms) {
  CATS_TRY(write("UPDATE auth_sessions SET last_used_ms = ? WHERE id_hash = ?", {now_ms, id_hash}));
  return ok();
}

Status Db::delete_expired_sessions(int64_t idle_before_ms, int64_t created_before_ms) {
  CATS_TRY(write("DELETE FROM auth_sessions WHERE last_used_ms < ? OR created_ms < ?",
                 {idle_before_ms, created_before_ms}));
  return ok();
}

Status Db::insert_token(const Token& t) {
  CATS_TRY(write("INSERT INTO auth_tokens(id, name, role, secret_hash, created_ms, expires_ms, last_used_ms, "
                 "revoked, created_by) VALUES (?, ?, ?, ?, ?, ?, NULL, 0, ?)",
                 {t.id, t.name, role_name(t.role), t.secret_hash, t.created_ms, t.expires_ms, t.created_by}));
  return ok();
}

Result<int64_t> Db::revoke_token(const std::string& id) {
  return write("UPDATE auth_tokens SET revoked = 1 WHERE id = ? AND revoked = 0", {id});
}

Status Db::touch_token(const std::string& id, int64_t now_ms) {
  CATS_TRY(write("UPDATE auth_tokens SET last_used_ms = ? WHERE id = ?", {now_ms, id}));
  return ok();
}

Status Db::insert_audit(const AuditEntry& e, int64_t max_rows) {
  CATS_TRY(write("INSERT INTO auth_audit(ts_ms, actor, peer, action, subject, detail) VALUES (?, ?, ?, ?, ?, ?)",
                 {e.ts_ms, e.actor, e.peer, e.action, e.subject, e.detail}));
  // Keep the newest max_rows: drop everything at or below the (max_rows+1)-th newest id.
  CATS_TRY(write("DELETE FROM auth_audit WHERE id <= "
                 "(SELECT id FROM auth_audit ORDER BY id DESC LIMIT 1 OFFSET ?)",
                 {max_rows}));
  return ok();
}

}  // namespace cats::auth::detail
