// Curve25519 keys for WireGuard (https://www.wireguard.com/protocol/), via OpenSSL 3's
// X25519 (RFC 7748). Key material is never logged and never put into error messages.
#include "wg/keys.hpp"

#include "base/base64.hpp"
#include "base/hex.hpp"
#include "base/secret_file.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <sys/stat.h>

#include <algorithm>
#include <memory>

namespace cats::wg {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

// RFC 7748 §5 "decodeScalar25519": the same clamping `wg genkey` applies, so keys we
// generate are byte-identical in form to the ones the WireGuard tools produce.
void clamp(Key& k) {
  k[0] &= 248;
  k[31] &= 127;
  k[31] |= 64;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr size_t kKeyFileMax = 256;  // a base64 key plus whitespace; anything larger is junk

Result<Key> read_key_file(const std::string& path) {
  CATS_TRY_ASSIGN(text, read_secret_file(path, "key file", kKeyFileMax));
  auto key = from_base64(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!key) return Error::msg("key file " + path + " does not hold a base64 WireGuard key");
  return key;
}

}  // namespace

Result<Key> generate_private_key() {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0) return Error::msg("X25519 keygen init failed");
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_keygen(ctx.get(), &raw) <= 0) return Error::msg("X25519 keygen failed");
  PkeyPtr pkey(raw);
  Key k{};
  size_t len = k.size();
  if (EVP_PKEY_get_raw_private_key(pkey.get(), k.data(), &len) <= 0 || len != k.size())
    return Error::msg("X25519 raw private key export failed");
  clamp(k);
  return k;
}

Result<Key> public_from_private(const Key& priv) {
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv.data(), priv.size()));
  if (!pkey) return Error::msg("X25519 private key import failed");
  Key pub{};
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), pub.data(), &len) <= 0 || len != pub.size())
    return Error::msg("X25519 public key derivation failed");
  return pub;
}

std::string to_base64(const Key& k) { return base64_encode(k); }

Result<Key> from_base64(std::string_view s) {
  // 32 bytes are exactly 44 characters: 42 full sextets, one sextet whose low 2 bits are
  // padding (must be zero for a canonical encoding, as wg(8) also insists) and one '='.
  // base64_decode is strict and canonical; the length and '=' checks here pin 32 bytes.
  if (s.size() != 44 || s[43] != '=') return Error::msg("key must be 44 base64 characters");
  if (s[42] == '=') return Error::msg("key contains a non-base64 character");
  auto raw = base64_decode(s);
  if (!raw) {
    return Error::msg(raw.error().message.find("canonical") != std::string::npos
                          ? "key is not canonical base64"
                          : "key contains a non-base64 character");
  }
  Key k{};
  const bool fits = raw->size() == k.size();  // always, given the checks above
  if (fits) std::copy(raw->begin(), raw->end(), k.begin());
  OPENSSL_cleanse(raw->data(), raw->size());
  if (!fits) return Error::msg("key is not valid base64");
  return k;
}

std::string to_hex(const Key& k) { return hex_bytes(k); }

Result<Key> from_hex(std::string_view s) {
  if (s.size() != 64) return Error::msg("hex key must be 64 characters");
  Key k{};
  for (size_t i = 0; i < 32; ++i) {
    int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return Error::msg("hex key contains a non-hex character");
    k[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return k;
}

Result<Key> load_or_create_private_key(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) return read_key_file(path);
  if (errno != ENOENT) return Error::sys(errno, "stat key file " + path);
  CATS_TRY_ASSIGN(key, generate_private_key());
  std::string text = to_base64(key) + "\n";
  auto written = create_secret_file(path, text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!written) {
    // Someone created it between our lstat and rename: use theirs.
    if (written.error().sys_errno == EEXIST) return read_key_file(path);
    return written.error();
  }
  return key;
}

}  // namespace cats::wg
