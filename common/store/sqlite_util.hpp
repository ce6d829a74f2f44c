// Private to cats_store (and its unit tests): RAII handles for SQLite, the schema
// migration runner, and the per-error-kind log rate limiter.
#pragma once

#include "base/result.hpp"

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>

namespace cats::store::detail {

struct DbClose {
  // close_v2 so that a statement still alive by mistake defers the close instead of leaking it.
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbClose>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

// Resets a reused statement when the scope ends, however it ends: a statement left
// mid-step would keep its read transaction (and the WAL snapshot) open.
class StmtScope {
 public:
  explicit StmtScope(sqlite3_stmt* s) : s_(s) {}
  StmtScope(const StmtScope&) = delete;
  StmtScope& operator=(const StmtScope&) = delete;
  ~StmtScope() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  sqlite3_stmt* get() const { return s_; }

 private:
  sqlite3_stmt* s_;
};

Result<DbPtr> open_db(const std::string& path, int busy_timeout_ms);
Result<StmtPtr> prepare(sqlite3* db, const std::string& sql);
// Runs one or more statements that return no rows we need.
Status exec(sqlite3* db, const std::string& sql);
// "database is locked (SQLITE_BUSY, rc=5)" plus the connection's message when it adds detail.
std::string describe(sqlite3* db, int rc);

struct Migration {
  int version;      // strictly increasing, starting at 1
  const char* sql;  // may hold several statements
};

// The schema of this build; migrations()[i].version == i + 1.
std::span<const Migration> migrations();

// Applies every migration newer than the database's version, each in its own
// IMMEDIATE transaction together with its schema_version row, and returns the final
// version. A database already at the latest version is only read (no write lock), so
// re-opening is a no-op. A database whose version is newer than the last migration is
// refused. A failing migration is rolled back and reported; earlier ones stay applied.
// `table` names the version table: another module sharing the file (common/auth, configdb) keeps
// its own schema line in its own table, so neither's migrations see the other's versions.
Result<int> migrate(sqlite3* db, std::span<const Migration> list, int64_t now_ms,
                    const std::string& table = "schema_version");
// 0 for a database without that version table.
Result<int> schema_version(sqlite3* db, const std::string& table = "schema_version");

// At most one log line per `interval` for each error kind; the line that gets through
// says how many were suppressed since the previous one.
class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LogLimiter(Clock::duration interval) : interval_(interval) {}
  // nullopt: suppress this one. Otherwise log it, mentioning the returned count.
  std::optional<uint64_t> admit(int kind, Clock::time_point now) {
    auto [it, fresh] = kinds_.try_emplace(kind);
    Entry& e = it->second;
    if (!fresh && now - e.last < interval_) {
      ++e.suppressed;
      return std::nullopt;
    }
    e.last = now;
    return std::exchange(e.suppressed, 0);
  }

 private:
  struct Entry {
    Clock::time_point last{};
    uint64_t suppressed = 0;
  };
  Clock::duration interval_;
  std::map<int, Entry> kinds_;
};

}  // namespace cats::store::detail
