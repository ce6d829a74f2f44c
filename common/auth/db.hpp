// Private to cats_auth (and its unit tests): the auth_* tables in the daemon's SQLite
// state file, with their own version table (auth_schema_version) so that common/store's
// migrations and ours never see each other. Not thread-safe: Auth serialises calls.
#pragma once

#include "auth/types.hpp"
#include "base/result.hpp"
#include "store/sqlite_util.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace cats::auth::detail {

class Db {
 public:
  static Result<std::unique_ptr<Db>> open(const std::string& path, int busy_timeout_ms, int64_t now_ms);

  // Runs `body` in one IMMEDIATE transaction: all of it is committed, or (on any error,
  // including a full disk or a lock held past the busy timeout) none of it.
  Status tx(const std::function<Status()>& body);

  Result<std::optional<User>> user(const std::string& name);
  Result<std::vector<User>> users();
  Result<int64_t> active_admins();
  Result<std::optional<Session>> session(const std::string& id_hash);
  Result<std::optional<Token>> token(const std::string& id);
  Result<std::vector<Token>> tokens();
  // Newest first, ts in [from_ms, to_ms], at most `limit`.
  Result<std::vector<AuditEntry>> audit(int64_t from_ms, int64_t to_ms, int64_t limit);

  // Writes: call inside tx(). Those returning a count report the rows changed.
  Status insert_user(const User& u);
  Result<int64_t> delete_user(const std::string& name);
  Result<int64_t> set_password(const std::string& name, const std::string& phc);
  Status insert_session(const Session& s);
  Status delete_session(const std::string& id_hash);
  // Every session of `user` except `keep_id_hash` (may be "").
  Status delete_sessions_of(const std::string& user, const std::string& keep_id_hash);
  // Keeps the newest `keep` sessions of `user`.
  Status trim_sessions(const std::string& user, int64_t keep);
  Status touch_session(const std::string& id_hash, int64_t now_ms);
  Status delete_expired_sessions(int64_t idle_before_ms, int64_t created_before_ms);
  Status insert_token(const Token& t);
  Result<int64_t> revoke_token(const std::string& id);
  Status touch_token(const std::string& id, int64_t now_ms);
  // Appends and drops the oldest rows beyond `max_rows`.
  Status insert_audit(const AuditEntry& e, int64_t max_rows);

 private:
  using Arg = std::variant<int64_t, std::string_view>;
  class Query;
  explicit Db(store::detail::DbPtr db) : db_(std::move(db)) {}
  // A cached statement with `args` bound, reset when the Query ends.
  Result<Query> query(const std::string& sql, std::initializer_list<Arg> args = {});
  // Runs a statement that returns no rows; the number of rows it changed.
  Result<int64_t> write(const std::string& sql, std::initializer_list<Arg> args);

  store::detail::DbPtr db_;
  std::unordered_map<std::string, store::detail::StmtPtr> cache_;
};

}  // namespace cats::auth::detail
