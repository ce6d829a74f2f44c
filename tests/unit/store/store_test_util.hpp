// Shared by the store tests: a temp dir removed afterwards, and a second raw connection
// for inspecting and locking the database behind the Store's back.
#pragma once

#include "store/sqlite_util.hpp"
#include "store/store.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace cats::store::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cats-store-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    auto db = detail::open_db(path, 0);
    if (!db) throw std::runtime_error(db.error().message);
    db_ = std::move(*db);
  }
  sqlite3* get() const { return db_.get(); }
  void exec(const std::string& sql) const {
    auto st = detail::exec(db_.get(), sql);
    if (!st) throw std::runtime_error(sql + ": " + st.error().message);
  }
  // First column of the first row as int64, or -1 when there is no row.
  int64_t int_query(const std::string& sql) const {
    auto st = detail::prepare(db_.get(), sql);
    if (!st) throw std::runtime_error(sql + ": " + st.error().message);
    int rc = sqlite3_step(st->get());
    if (rc == SQLITE_DONE) return -1;
    if (rc != SQLITE_ROW) throw std::runtime_error(sql + ": " + detail::describe(db_.get(), rc));
    return sqlite3_column_int64(st->get(), 0);
  }
  std::string text_query(const std::string& sql) const {
    auto st = detail::prepare(db_.get(), sql);
    if (!st) throw std::runtime_error(sql + ": " + st.error().message);
    if (sqlite3_step(st->get()) != SQLITE_ROW) return {};
    const auto* p = sqlite3_column_text(st->get(), 0);
    return p ? reinterpret_cast<const char*>(p) : "";
  }

 private:
  detail::DbPtr db_;
};

inline std::unique_ptr<Store> must_open(const Options& o) {
  auto r = Store::open(o);
  if (!r.has_value()) FAIL("open: " << r.error().message);
  return std::move(*r);
}

inline PathSample path_sample(std::string wan, std::string vcpe, int64_t ts, double rtt, std::string state = "up") {
  PathSample p;
  p.wan = std::move(wan);
  p.vcpe = std::move(vcpe);
  p.ts_ms = ts;
  p.rtt_ms = rtt;
  p.jitter_ms = rtt / 2;
  p.loss_pct = rtt / 4;
  p.state = std::move(state);
  return p;
}

}  // namespace cats::store::test
