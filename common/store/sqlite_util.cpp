#include "store/sqlite_util.hpp"

#include <algorithm>

namespace cats::store::detail {

std::string describe(sqlite3* db, int rc) {
  std::string s = sqlite3_errstr(rc);
  // The connection's message names the table, constraint or file; errstr only the class.
  if (db != nullptr && sqlite3_extended_errcode(db) == rc) {
    std::string m = sqlite3_errmsg(db);
    if (m != s) s = m + " (" + s + ")";
  }
  return s + " [rc=" + std::to_string(rc) + "]";
}

Result<DbPtr> open_db(const std::string& path, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW,
                           nullptr);
  DbPtr db(raw);  // sqlite hands out a handle even on failure; it must be closed too
  if (rc != SQLITE_OK) return Error::msg("open: " + describe(db.get(), rc));
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), busy_timeout_ms);
  return db;
}

Result<StmtPtr> prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size() + 1), SQLITE_PREPARE_PERSISTENT, &raw,
                              nullptr);
  StmtPtr s(raw);
  if (rc != SQLITE_OK) return Error::msg("prepare: " + describe(db, rc));
  return s;
}

Status exec(sqlite3* db, const std::string& sql) {
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return fail(Error::msg(describe(db, rc)));
  return ok();
}

namespace {

Result<int> query_int(sqlite3* db, const std::string& sql) {
  CATS_TRY_ASSIGN(st, prepare(db, sql));
  int rc = sqlite3_step(st.get());
  if (rc == SQLITE_ROW) return sqlite3_column_int(st.get(), 0);
  if (rc == SQLITE_DONE) return 0;
  return Error::msg(describe(db, rc));
}

// Leaves no transaction open behind an error, whatever state sqlite left it in
// (SQLITE_FULL, for one, may already have rolled back).
void rollback(sqlite3* db) {
  if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
}

}  // namespace

Result<int> schema_version(sqlite3* db, const std::string& version_table) {
  CATS_TRY_ASSIGN(has_table, query_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '" +
                                               version_table + "'"));
  if (has_table == 0) return 0;
  return query_int(db, "SELECT coalesce(max(version), 0) FROM " + version_table);
}

Result<int> migrate(sqlite3* db, std::span<const Migration> list, int64_t now_ms, const std::string& version_table) {
  for (size_t i = 0; i < list.size(); ++i) {
    // A gap or reordering in the list is a programming error that would skip a step.
    if (list[i].version != static_cast<int>(i) + 1) return Error::msg("migration list out of order");
  }
  const int latest = static_cast<int>(list.size());
  auto newer = [&](int v) {
    return Error::msg("database schema version " + std::to_string(v) + " is newer than this build supports (" +
                      std::to_string(latest) + "); it was written by a newer version, refusing to open it");
  };

  // Fast path without the write lock: the usual re-open of an up-to-date database must
  // not wait for (or block) another writer.
  CATS_TRY_ASSIGN(current, schema_version(db, version_table));
  if (current > latest) return newer(current);
  if (current == latest && current > 0) return current;

  for (;;) {
    // IMMEDIATE: the version read below and the migration are one atomic step even when
    // two processes open the same new file at once.
    if (auto st = exec(db, "BEGIN IMMEDIATE"); !st) return st.error().context("begin migration");
    auto step = [&]() -> Result<int> {
      CATS_TRY(exec(db, "CREATE TABLE IF NOT EXISTS " + version_table +
                            " (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)"));
      CATS_TRY_ASSIGN(v, schema_version(db, version_table));
      if (v > latest) return newer(v);
      if (v == latest) return v;
      const Migration& m = list[static_cast<size_t>(v)];
      if (auto st = exec(db, m.sql); !st) return st.error().context("migration to version " + std::to_string(m.version));
      CATS_TRY_ASSIGN(ins, prepare(db, "INSERT INTO " + version_table + "(version, applied_ms) VALUES (?, ?)"));
      sqlite3_bind_int(ins.get(), 1, m.version);
      sqlite3_bind_int64(ins.get(), 2, now_ms);
      if (int rc = sqlite3_step(ins.get()); rc != SQLITE_DONE) return Error::msg(describe(db, rc));
      return m.version;
    };
    auto r = step();
    if (!r) {
      rollback(db);
      return r.error();
    }
    if (auto st = exec(db, "COMMIT"); !st) {
      rollback(db);
      return st.error().context("commit migration");
    }
    if (*r == latest) return *r;
  }
}

}  // namespace cats::store::detail
