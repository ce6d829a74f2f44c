// Ed25519 (RFC 8032) keys for signing metric reports (R23: secure advertisements), via
// OpenSSL 3 EVP_PKEY_ED25519 with EVP_DigestSign/Verify and a NULL digest (PureEdDSA).
// Private key material is never logged and never put into error messages.
#pragma once

#include "base/result.hpp"

#include <openssl/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cats::report {

inline constexpr size_t kEd25519KeySize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;
using RawKey = std::array<uint8_t, kEd25519KeySize>;
using Signature = std::array<uint8_t, kEd25519SignatureSize>;

std::string base64_encode(std::span<const uint8_t> b);
// Strict: standard alphabet, padding required, no whitespace.
Result<std::vector<uint8_t>> base64_decode(std::string_view s);

class SigningKey;
Result<SigningKey> load_or_create_signing_key(const std::string& path);

class PublicKey {
 public:
  static Result<PublicKey> from_raw(std::span<const uint8_t> raw);
  static Result<PublicKey> from_base64(std::string_view s);
  const RawKey& raw() const { return raw_; }
  std::string to_base64() const { return base64_encode(raw_); }
  // False for any mismatch, including a signature of the wrong length.
  bool verify(std::span<const uint8_t> message, std::span<const uint8_t> signature) const;

  friend bool operator==(const PublicKey& a, const PublicKey& b) { return a.raw_ == b.raw_; }

 private:
  RawKey raw_{};
  std::shared_ptr<EVP_PKEY> pkey_;  // immutable after construction; shared by copies
};

class SigningKey {
 public:
  static Result<SigningKey> generate();
  static Result<SigningKey> from_seed(std::span<const uint8_t> seed);  // 32-byte RFC 8032 seed
  Result<Signature> sign(std::span<const uint8_t> message) const;
  const PublicKey& public_key() const { return pub_; }

 private:
  friend Result<SigningKey> load_or_create_signing_key(const std::string& path);
  std::shared_ptr<EVP_PKEY> pkey_;
  PublicKey pub_;
};

// Load a base64 seed from `path`, or create one (mode 0600, parent dirs 0700) when the
// file does not exist. Refuses a key file accessible by group/others.
Result<SigningKey> load_or_create_signing_key(const std::string& path);

}  // namespace cats::report
