#include "configdb/configdb.hpp"

#include "base/hex.hpp"
#include "store/sqlite_util.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/evp.h>

#include <array>

namespace cats::configdb {

namespace json = boost::json;
using store::detail::DbPtr;
using store::detail::StmtPtr;

namespace {

// Append-only, like the store's list (common/store/schema.cpp): a released step is never
// edited. config_state holds one row: the imported TOML file and the pending chain.
constexpr const char* kV1 = R"sql(
CREATE TABLE config_revisions (
  rev INTEGER PRIMARY KEY,
  ts_ms INTEGER NOT NULL,
  author TEXT NOT NULL,
  peer TEXT NOT NULL,
  comment TEXT NOT NULL,
  doc TEXT NOT NULL,
  diff TEXT NOT NULL,
  confirm_by_ms INTEGER,
  confirmed_ms INTEGER
);
CREATE TABLE config_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  toml_sha256 TEXT,
  toml_file TEXT,
  pending_rev INTEGER,
  pending_base INTEGER,
  pending_deadline_ms INTEGER
);
INSERT INTO config_state(id) VALUES (1);
)sql";
constexpr std::array<store::detail::Migration, 1> kMigrations{{{1, kV1}}};
constexpr const char* kVersionTable = "config_schema_version";
constexpr size_t kMaxList = 1000;
constexpr size_t kMaxTextField = 4096;  // author, peer, comment

ConfigError storage(sqlite3* db, int rc, const std::string& what) {
  return {ConfigError::Kind::storage, "configuration database: " + what + ": " + store::detail::describe(db, rc), {}, 0};
}
ConfigError storage(const Error& e) {
  return {ConfigError::Kind::storage, "configuration database: " + e.message, {}, 0};
}
ConfigError invalid(FieldErrors f) {
  return {ConfigError::Kind::invalid, "the configuration is not valid", std::move(f), 0};
}
ConfigError not_found(int64_t rev) {
  return {ConfigError::Kind::not_found, "no revision " + std::to_string(rev) + " (never made, or pruned)", {}, 0};
}

// A statement with its binds; step() until done. Errors carry the connection's message.
class Stmt {
 public:
  static Outcome<Stmt> make(sqlite3* db, const std::string& sql) {
    auto s = store::detail::prepare(db, sql);
    if (!s) return storage(s.error());
    return Stmt(db, std::move(*s));
  }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_.get(), i, v);
    return *this;
  }
  Stmt& bind(int i, std::string_view v) {
    sqlite3_bind_text(s_.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, std::optional<int64_t> v) {
    if (v) sqlite3_bind_int64(s_.get(), i, *v);
    else sqlite3_bind_null(s_.get(), i);
    return *this;
  }
  // true: a row is ready; false: done.
  Outcome<bool> step() {
    int rc = sqlite3_step(s_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return storage(db_, rc, "step");
  }
  Outcome<void> run() {
    auto r = step();
    if (!r) return r.error();
    return {};
  }
  int64_t i64(int col) const { return sqlite3_column_int64(s_.get(), col); }
  std::optional<int64_t> opt(int col) const {
    if (sqlite3_column_type(s_.get(), col) == SQLITE_NULL) return std::nullopt;
    return i64(col);
  }
  std::string text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_.get(), col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_.get(), col))) : std::string();
  }

 private:
  Stmt(sqlite3* db, StmtPtr s) : db_(db), s_(std::move(s)) {}
  sqlite3* db_;
  StmtPtr s_;
};

// BEGIN IMMEDIATE (the write lock first, so a read-then-write cannot be overtaken);
// rolled back on destruction unless committed.
class Tx {
 public:
  static Outcome<Tx> begin(sqlite3* db) {
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return storage(db, rc, "begin");
    return Tx(db);
  }
  Tx(Tx&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}
  Tx& operator=(Tx&&) = delete;
  ~Tx() {
    // SQLITE_FULL and others may already have rolled back; only an open one is undone.
    if (db_ && sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Outcome<void> commit() {
    int rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return storage(db_, rc, "commit");
    db_ = nullptr;
    return {};
  }

 private:
  explicit Tx(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

struct State {
  std::string toml_sha256;
  std::optional<Pending> pending;
};

Outcome<State> read_state(sqlite3* db) {
  auto s = Stmt::make(db, "SELECT toml_sha256, pending_rev, pending_base, pending_deadline_ms FROM config_state");
  if (!s) return s.error();
  auto row = s->step();
  if (!row) return row.error();
  State st;
  if (!*row) return st;
  st.toml_sha256 = s->text(0);
  if (auto rev = s->opt(1)) st.pending = Pending{*rev, s->opt(2).value_or(0), s->opt(3).value_or(0)};
  return st;
}

Outcome<void> write_pending(sqlite3* db, const std::optional<Pending>& p) {
  auto s = Stmt::make(db, "UPDATE config_state SET pending_rev = ?, pending_base = ?, pending_deadline_ms = ?");
  if (!s) return s.error();
  s->bind(1, p ? std::optional(p->rev) : std::nullopt)
      .bind(2, p ? std::optional(p->base) : std::nullopt)
      .bind(3, p ? std::optional(p->deadline_ms) : std::nullopt);
  return s->run();
}

Outcome<Current> read_current(sqlite3* db) {
  auto s = Stmt::make(db, "SELECT rev, doc FROM config_revisions ORDER BY rev DESC LIMIT 1");
  if (!s) return s.error();
  auto row = s->step();
  if (!row) return row.error();
  Current c;
  if (!*row) {
    c.doc = json::object();
    c.text = canonical(c.doc);
    return c;
  }
  c.rev = s->i64(0);
  c.text = s->text(1);
  json::error_code ec;
  c.doc = json::parse(c.text, ec);
  if (ec) return ConfigError{ConfigError::Kind::storage, "configuration database: revision " + std::to_string(c.rev) +
                                                             " is not JSON (" + ec.message() + ")", {}, 0};
  return c;
}

Outcome<Revision> read_revision(sqlite3* db, int64_t rev, bool with_doc) {
  auto s = Stmt::make(db, "SELECT rev, ts_ms, author, peer, comment, doc, diff, confirm_by_ms, confirmed_ms "
                          "FROM config_revisions WHERE rev = ?");
  if (!s) return s.error();
  s->bind(1, rev);
  auto row = s->step();
  if (!row) return row.error();
  if (!*row) return not_found(rev);
  return Revision{s->i64(0), s->i64(1), {s->text(2), s->text(3), s->text(4)}, with_doc ? s->text(5) : std::string(),
                  s->text(6), s->opt(7), s->opt(8)};
}

Outcome<json::value> read_doc(sqlite3* db, int64_t rev) {
  auto r = read_revision(db, rev, true);
  if (!r) return r.error();
  json::error_code ec;
  auto v = json::parse(r->doc, ec);
  if (ec) return ConfigError{ConfigError::Kind::storage, "configuration database: revision " + std::to_string(rev) +
                                                             " is not JSON", {}, 0};
  return v;
}

FieldErrors check_change(const Change& who) {
  FieldErrors f;
  if (who.author.size() > kMaxTextField) f.push_back({"author", "longer than 4096 bytes"});
  if (who.peer.size() > kMaxTextField) f.push_back({"peer", "longer than 4096 bytes"});
  if (who.comment.size() > kMaxTextField) f.push_back({"comment", "longer than 4096 bytes"});
  return f;
}

}  // namespace

struct ConfigDb::Impl {
  using Apply = ConfigDb::Apply;
  DbPtr db;
  Clock clock;
  Options opt;

  // How a write treats the pending chain (see Pending).
  enum class Settle { extend, settle };

  // Inside an open transaction: `doc` (already valid) as the next revision. Returns the
  // current revision unchanged when the document is the same.
  Outcome<int64_t> write(const Current& cur, const json::value& doc, const Change& who,
                         std::optional<std::chrono::milliseconds> within, Settle settle, const Apply& apply,
                         const std::string* stored_text = nullptr) {
    sqlite3* d = db.get();
    auto st = read_state(d);
    if (!st) return st.error();
    std::optional<Pending> pending = st->pending;
    if (settle == Settle::settle) pending.reset();
    // A revert keeps the stored bytes: Boost 1.81's parser does not round every decimal
    // correctly (Boost 1.83 has numbers::precise), so re-printing a parsed float could
    // change its last digit.
    std::string text = stored_text ? *stored_text : canonical(doc);
    int64_t now = clock();
    int64_t rev = cur.rev;
    if (text != cur.text) {
      rev = cur.rev + 1;
      std::optional<int64_t> deadline;
      if (within) deadline = now + within->count();
      auto ins = Stmt::make(d, "INSERT INTO config_revisions(rev, ts_ms, author, peer, comment, doc, diff, "
                               "confirm_by_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
      if (!ins) return ins.error();
      ins->bind(1, rev).bind(2, now).bind(3, who.author).bind(4, who.peer).bind(5, who.comment).bind(6, text);
      ins->bind(7, canonical(to_json(redact(configdb::diff(cur.doc, doc))))).bind(8, deadline);
      if (auto r = ins->run(); !r) return r.error();
      if (pending) pending->rev = rev;  // joins the unconfirmed chain
      if (deadline) {
        if (!pending) pending = Pending{rev, cur.rev, *deadline};
        else pending->deadline_ms = *deadline;
      }
    }
    if (pending != st->pending)
      if (auto r = write_pending(d, pending); !r) return r.error();
    if (auto r = prune(rev, pending); !r) return r.error();
    if (apply && rev != cur.rev)
      if (auto r = apply(rev, doc); !r)
        return ConfigError{ConfigError::Kind::apply, "applying revision " + std::to_string(rev) + " failed: " +
                                                         r.error().message, {}, cur.rev};
    return rev;
  }

  Outcome<void> prune(int64_t current, const std::optional<Pending>& pending) {
    if (current <= static_cast<int64_t>(opt.keep)) return {};
    auto del = Stmt::make(db.get(), "DELETE FROM config_revisions WHERE rev <= ? AND rev != ? AND rev != ?");
    if (!del) return del.error();
    del->bind(1, current - static_cast<int64_t>(std::max<size_t>(opt.keep, 1)))
        .bind(2, current)
        .bind(3, pending ? pending->base : current);
    return del->run();
  }

  // Validate, then one transaction: check the expected revision, write.
  Outcome<int64_t> commit(std::optional<int64_t> expected, const json::value& doc, const Change& who,
                          std::optional<std::chrono::milliseconds> within, Settle settle, const Apply& apply,
                          const std::string* stored_text = nullptr) {
    auto errs = validate(doc);
    for (auto& f : check_change(who)) errs.push_back(f);
    if (!errs.empty()) return invalid(std::move(errs));
    auto tx = Tx::begin(db.get());
    if (!tx) return tx.error();
    auto cur = read_current(db.get());
    if (!cur) return cur.error();
    if (expected && *expected != cur->rev)
      return ConfigError{ConfigError::Kind::conflict,
                         "the configuration changed: revision " + std::to_string(cur->rev) + " is current, not " +
                             std::to_string(*expected) + "; re-read it and apply the change again",
                         {}, cur->rev};
    auto rev = write(*cur, doc, who, within, settle, apply, stored_text);
    if (!rev) return rev.error();
    if (auto r = tx->commit(); !r) return r.error();
    return *rev;
  }

  Outcome<void> set_toml(std::string_view text, const std::string& file) {
    auto s = Stmt::make(db.get(), "UPDATE config_state SET toml_sha256 = ?, toml_file = ?");
    if (!s) return s.error();
    s->bind(1, sha256_hex(text)).bind(2, file);
    return s->run();
  }
};

int ConfigError::http_status() const {
  switch (kind) {
    case Kind::invalid: return 400;
    case Kind::conflict: return 409;
    case Kind::not_found: return 404;
    case Kind::storage: return 503;
    case Kind::apply: return 500;
  }
  return 500;
}

const char* ConfigError::code() const {
  switch (kind) {
    case Kind::invalid: return "invalid";
    case Kind::conflict: return "conflict";
    case Kind::not_found: return "not_found";
    case Kind::storage: return "storage";
    case Kind::apply: return "apply_failed";
  }
  return "error";
}

void throw_exception_from_error(const ConfigError& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

std::string etag(int64_t rev) { return "\"" + std::to_string(rev) + "\""; }

std::optional<int64_t> parse_etag(std::string_view v) {
  if (v.size() < 3 || v.size() > 21 || v.front() != '"' || v.back() != '"') return std::nullopt;
  int64_t r = 0;
  for (char c : v.substr(1, v.size() - 2)) {
    if (c < '0' || c > '9') return std::nullopt;
    r = r * 10 + (c - '0');
  }
  return r;
}

std::string sha256_hex(std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  // EVP_Digest fails only on allocation failure; an empty hash would then never match.
  if (EVP_Digest(text.data(), text.size(), md, &n, EVP_sha256(), nullptr) != 1) return {};
  return hex_bytes(std::span<const uint8_t>(md, n));
}

ConfigDb::ConfigDb(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ConfigDb::ConfigDb(ConfigDb&&) noexcept = default;
ConfigDb& ConfigDb::operator=(ConfigDb&&) noexcept = default;
ConfigDb::~ConfigDb() = default;

Result<ConfigDb> ConfigDb::open(const std::string& path, Clock clock, Options opt) {
  CATS_TRY_ASSIGN(db, store::detail::open_db(path, opt.busy_timeout_ms));
  // WAL: readers (the API's GETs) never wait for a writer, nor block one.
  CATS_TRY(store::detail::exec(db.get(), "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL"));
  if (opt.max_page_count > 0)
    CATS_TRY(store::detail::exec(db.get(), "PRAGMA max_page_count = " + std::to_string(opt.max_page_count)));
  CATS_TRY(store::detail::migrate(db.get(), kMigrations, clock(), kVersionTable));
  return ConfigDb(std::make_unique<Impl>(Impl{std::move(db), std::move(clock), opt}));
}

Outcome<Current> ConfigDb::current() { return read_current(impl_->db.get()); }

Outcome<int64_t> ConfigDb::commit(int64_t expected_rev, const json::value& doc, const Change& who,
                                  std::optional<std::chrono::milliseconds> confirm_within, const Apply& apply) {
  return impl_->commit(expected_rev, doc, who, confirm_within, Impl::Settle::extend, apply);
}

Outcome<Revision> ConfigDb::get(int64_t rev) { return read_revision(impl_->db.get(), rev, true); }

Outcome<std::vector<Revision>> ConfigDb::list(int64_t from, size_t limit) {
  auto s = Stmt::make(impl_->db.get(), "SELECT rev FROM config_revisions WHERE ? = 0 OR rev <= ? ORDER BY rev DESC LIMIT ?");
  if (!s) return s.error();
  s->bind(1, from).bind(2, from).bind(3, static_cast<int64_t>(std::min(limit, kMaxList)));
  std::vector<int64_t> revs;
  for (;;) {
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) break;
    revs.push_back(s->i64(0));
  }
  std::vector<Revision> out;
  for (auto r : revs) {
    auto rev = read_revision(impl_->db.get(), r, false);
    if (!rev) return rev.error();
    out.push_back(std::move(*rev));
  }
  return out;
}

Outcome<Patch> ConfigDb::diff(int64_t a, int64_t b) {
  auto da = read_doc(impl_->db.get(), a);
  if (!da) return da.error();
  auto db = read_doc(impl_->db.get(), b);
  if (!db) return db.error();
  return redact(configdb::diff(*da, *db));
}

Outcome<int64_t> ConfigDb::revert(int64_t to_rev, const Change& who,
                                  std::optional<std::chrono::milliseconds> confirm_within, const Apply& apply) {
  auto target = read_revision(impl_->db.get(), to_rev, true);
  if (!target) return target.error();
  auto doc = read_doc(impl_->db.get(), to_rev);
  if (!doc) return doc.error();
  auto st = read_state(impl_->db.get());
  if (!st) return st.error();
  bool settles = st->pending && st->pending->base == to_rev && !confirm_within;
  // Expected = the revision read now: a change committed in between makes this a conflict
  // instead of silently undoing it as well.
  auto cur = read_current(impl_->db.get());
  if (!cur) return cur.error();
  return impl_->commit(cur->rev, *doc, who, confirm_within, settles ? Impl::Settle::settle : Impl::Settle::extend,
                       apply, &target->doc);
}

Outcome<std::string> ConfigDb::export_doc(int64_t rev, bool with_secrets) {
  json::value doc;
  if (rev == 0) {
    auto c = current();
    if (!c) return c.error();
    doc = std::move(c->doc);
  } else {
    auto d = read_doc(impl_->db.get(), rev);
    if (!d) return d.error();
    doc = std::move(*d);
  }
  return pretty(with_secrets ? doc : redact(doc));
}

Outcome<int64_t> ConfigDb::import_doc(std::string_view text, int64_t expected_rev, const Change& who,
                                      const Apply& apply) {
  auto doc = parse_document(text);
  if (!doc) return invalid(doc.error());
  auto cur = current();
  if (!cur) return cur.error();
  if (cur->rev != expected_rev)
    return ConfigError{ConfigError::Kind::conflict,
                       "the configuration changed: revision " + std::to_string(cur->rev) + " is current, not " +
                           std::to_string(expected_rev),
                       {}, cur->rev};
  restore_secrets(*doc, cur->doc);
  return impl_->commit(expected_rev, *doc, who, std::nullopt, Impl::Settle::extend, apply);
}

Outcome<bool> ConfigDb::bootstrap_from_toml(std::string_view text, const std::string& file_name) {
  auto doc = from_toml(text, file_name);
  auto tx = Tx::begin(impl_->db.get());
  if (!tx) return tx.error();
  auto cur = read_current(impl_->db.get());
  if (!cur) return cur.error();
  if (cur->rev != 0) return false;
  if (!doc) return invalid(doc.error());
  // No apply hook: the daemon applies the current revision at start anyway.
  auto rev = impl_->write(*cur, *doc, {"bootstrap", "", "imported from " + file_name}, std::nullopt,
                          Impl::Settle::extend, {});
  if (!rev) return rev.error();
  if (auto r = impl_->set_toml(text, file_name); !r) return r.error();
  if (auto r = tx->commit(); !r) return r.error();
  return true;
}

Outcome<bool> ConfigDb::toml_changed(std::string_view text) {
  auto st = read_state(impl_->db.get());
  if (!st) return st.error();
  return st->toml_sha256 != sha256_hex(text);
}

Outcome<int64_t> ConfigDb::reimport(std::string_view text, const std::string& file_name, const Change& who,
                                    const Apply& apply) {
  auto doc = from_toml(text, file_name);
  if (!doc) return invalid(doc.error());
  auto errs = check_change(who);
  if (!errs.empty()) return invalid(std::move(errs));
  auto tx = Tx::begin(impl_->db.get());
  if (!tx) return tx.error();
  auto cur = read_current(impl_->db.get());
  if (!cur) return cur.error();
  auto rev = impl_->write(*cur, *doc, who, std::nullopt, Impl::Settle::extend, apply);
  if (!rev) return rev.error();
  if (auto r = impl_->set_toml(text, file_name); !r) return r.error();
  if (auto r = tx->commit(); !r) return r.error();
  return *rev;
}

Outcome<std::optional<Pending>> ConfigDb::pending() {
  auto st = read_state(impl_->db.get());
  if (!st) return st.error();
  return st->pending;
}

Outcome<void> ConfigDb::confirm(int64_t rev) {
  auto tx = Tx::begin(impl_->db.get());
  if (!tx) return tx.error();
  auto st = read_state(impl_->db.get());
  if (!st) return st.error();
  if (!st->pending || st->pending->rev != rev)
    return ConfigError{ConfigError::Kind::conflict,
                       "revision " + std::to_string(rev) + " is not awaiting confirmation" +
                           (st->pending ? " (revision " + std::to_string(st->pending->rev) + " is)" : ""),
                       {}, st->pending ? st->pending->rev : 0};
  auto s = Stmt::make(impl_->db.get(), "UPDATE config_revisions SET confirmed_ms = ? WHERE rev > ? AND rev <= ?");
  if (!s) return s.error();
  s->bind(1, impl_->clock()).bind(2, st->pending->base).bind(3, rev);
  if (auto r = s->run(); !r) return r.error();
  if (auto r = write_pending(impl_->db.get(), std::nullopt); !r) return r.error();
  return tx->commit();
}

Outcome<std::optional<Pending>> ConfigDb::expired(int64_t now_ms) {
  auto p = pending();
  if (!p) return p.error();
  if (*p && (*p)->deadline_ms <= now_ms) return *p;
  return std::optional<Pending>();
}

}  // namespace cats::configdb
