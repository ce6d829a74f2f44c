// Password hashing: Argon2id (RFC 9106) through Debian's libargon2, stored as a PHC
// string ("$argon2id$v=19$m=65536,t=1,p=1$<salt>$<hash>") so that every hash carries its
// own parameters and they can be raised later without invalidating existing ones.
#pragma once

#include "base/result.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace cats::auth {

struct KdfParams {
  // m=64 MiB, t=1, p=1 (RFC 9106 §4 and OWASP's password storage cheat sheet: memory
  // first, then passes). Measured with libargon2 20171227 on the 2-core development
  // machine: 74 ms per hash idle, 130-143 ms with two other builds running (m=46 MiB:
  // 48 / 82-93 ms). The hashes run one at a time (argon2id_hasher), so logins add at most
  // 64 MiB to the daemon's resident memory, and only while one runs (glibc unmaps blocks
  // that large on free).
  uint32_t memory_kib = 64 * 1024;
  uint32_t iterations = 1;
  uint32_t parallelism = 1;
};

inline constexpr size_t kSaltBytes = 16;   // RFC 9106 §3.1: 128 bits for password hashing
inline constexpr size_t kHashBytes = 32;
inline constexpr size_t kMaxPassword = 1024;  // bytes; bounds the work one request can ask for

// Injected so that tests can count calls (the rate limiter must refuse before any KDF
// runs) and use cheap parameters.
class PasswordHasher {
 public:
  virtual ~PasswordHasher() = default;
  // The PHC string of `password` with this salt.
  virtual Result<std::string> hash(std::string_view password, std::span<const uint8_t, kSaltBytes> salt) = 0;
  // Whether `password` matches `phc`, using the parameters stored in `phc`; the hash is
  // compared in constant time. A malformed or tampered `phc` is an Error.
  virtual Result<bool> verify(const std::string& phc, std::string_view password) = 0;
};

// Argon2id with `params` for new hashes. Calls are serialised: one hash at a time bounds
// memory and keeps a burst of logins from taking every core.
std::unique_ptr<PasswordHasher> argon2id_hasher(KdfParams params);

}  // namespace cats::auth
