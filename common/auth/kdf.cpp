#include "auth/kdf.hpp"

#include <argon2.h>

#include <cstdio>
#include <mutex>

namespace cats::auth {
namespace {

// Bounds on parameters read back from a stored PHC string: a tampered row must not make
// a login allocate gigabytes or spin for minutes.
constexpr uint32_t kMaxMemoryKib = 1024 * 1024;
constexpr uint32_t kMaxIterations = 64;
constexpr uint32_t kMaxParallelism = 16;

class Argon2id final : public PasswordHasher {
 public:
  explicit Argon2id(KdfParams p) : p_(p) {}

  Result<std::string> hash(std::string_view password, std::span<const uint8_t, kSaltBytes> salt) override {
    if (password.size() > kMaxPassword) return Error::msg("password too long");
    size_t len = argon2_encodedlen(p_.iterations, p_.memory_kib, p_.parallelism, kSaltBytes, kHashBytes, Argon2_id);
    std::string out(len, '\0');
    std::lock_guard lk(mu_);
    int rc = argon2id_hash_encoded(p_.iterations, p_.memory_kib, p_.parallelism, password.data(), password.size(),
                                   salt.data(), salt.size(), kHashBytes, out.data(), out.size());
    if (rc != ARGON2_OK) return Error::msg(std::string("argon2id: ") + argon2_error_message(rc));
    out.resize(out.find('\0'));
    return out;
  }

  Result<bool> verify(const std::string& phc, std::string_view password) override {
    if (password.size() > kMaxPassword) return false;
    CATS_TRY(check_params(phc));
    std::lock_guard lk(mu_);
    // argon2id_verify recomputes with the string's own parameters and salt, and compares
    // with a constant-time loop (argon2.c argon2_compare).
    int rc = argon2id_verify(phc.c_str(), password.data(), password.size());
    if (rc == ARGON2_OK) return true;
    if (rc == ARGON2_VERIFY_MISMATCH) return false;
    return Error::msg(std::string("stored password hash unusable: ") + argon2_error_message(rc));
  }

 private:
  // "$argon2id$v=19$m=<kib>,t=<n>,p=<n>$": checked before libargon2 allocates m KiB.
  static Status check_params(const std::string& phc) {
    unsigned v = 0, m = 0, t = 0, p = 0;
    int used = 0;
    if (phc.size() > 256 ||
        std::sscanf(phc.c_str(), "$argon2id$v=%u$m=%u,t=%u,p=%u$%n", &v, &m, &t, &p, &used) != 4 || used == 0)
      return fail(Error::msg("stored password hash is not an argon2id PHC string"));
    if (v != ARGON2_VERSION_13 || m > kMaxMemoryKib || t == 0 || t > kMaxIterations || p == 0 || p > kMaxParallelism)
      return fail(Error::msg("stored password hash has out-of-range parameters"));
    return ok();
  }

  KdfParams p_;
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<PasswordHasher> argon2id_hasher(KdfParams params) { return std::make_unique<Argon2id>(params); }

}  // namespace cats::auth
