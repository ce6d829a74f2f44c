// Plain data shared by the auth store, logic and HTTP layer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cats::auth {

enum class Role { admin, viewer };
std::string_view role_name(Role r);
std::optional<Role> parse_role(std::string_view s);

struct User {
  std::string name;
  Role role = Role::viewer;
  std::string password_hash;  // PHC string; never leaves common/auth
  int64_t created_ms = 0;
  bool disabled = false;
};

struct Session {
  std::string id_hash;  // hex SHA-256 of the cookie value; the value itself is never stored
  std::string user;
  std::string csrf;
  int64_t created_ms = 0;
  int64_t last_used_ms = 0;
  std::string peer;
};

struct Token {
  std::string id;           // public part of "cats_<id>_<secret>", the lookup key
  std::string name;         // label given at creation
  Role role = Role::viewer;
  std::string secret_hash;  // hex SHA-256 of the secret; never leaves common/auth
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
  std::optional<int64_t> last_used_ms;
  bool revoked = false;
  std::string created_by;
};

// One audit row; also what the event callback receives. `detail` is free text or JSON
// (a diff); it never holds passwords, cookie values, token secrets or hashes.
struct AuditEntry {
  int64_t id = 0;  // assigned by the store
  int64_t ts_ms = 0;
  std::string actor;  // user name, "root" on the local socket, "token:<id>", or "" when unknown
  std::string peer;
  std::string action;  // "login", "login_failed", "lockout", "logout", "user_add", ...
  std::string subject;
  std::string detail;
};

}  // namespace cats::auth
