#include "report/ed25519.hpp"

#include "base/base64.hpp"
#include "base/secret_file.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <unistd.h>

namespace cats::report {
namespace {

struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* p) { return std::shared_ptr<EVP_PKEY>(p, EVP_PKEY_free); }

constexpr size_t kKeyFileMax = 256;

Result<SigningKey> read_key_file(const std::string& path) {
  CATS_TRY_ASSIGN(text, read_secret_file(path, "signing key", kKeyFileMax));
  auto seed = cats::base64_decode(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!seed || seed->size() != kEd25519KeySize) {
    if (seed) OPENSSL_cleanse(seed->data(), seed->size());
    return Error::msg("signing key " + path + " does not hold a base64 Ed25519 seed");
  }
  auto key = SigningKey::from_seed(*seed);
  OPENSSL_cleanse(seed->data(), seed->size());
  return key;
}

}  // namespace

std::string base64_encode(std::span<const uint8_t> b) { return cats::base64_encode(b); }

Result<std::vector<uint8_t>> base64_decode(std::string_view s) { return cats::base64_decode(s); }

Result<PublicKey> PublicKey::from_raw(std::span<const uint8_t> raw) {
  if (raw.size() != kEd25519KeySize) return Error::msg("Ed25519 public key must be 32 bytes");
  PublicKey k;
  std::copy(raw.begin(), raw.end(), k.raw_.begin());
  k.pkey_ = own(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size()));
  if (!k.pkey_) return Error::msg("invalid Ed25519 public key");
  return k;
}

Result<PublicKey> PublicKey::from_base64(std::string_view s) {
  auto raw = base64_decode(s);
  if (!raw || raw->size() != kEd25519KeySize) return Error::msg("not a base64 Ed25519 public key");
  return from_raw(*raw);
}

bool PublicKey::verify(std::span<const uint8_t> message, std::span<const uint8_t> signature) const {
  if (!pkey_ || signature.size() != kEd25519SignatureSize) return false;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  // PureEdDSA: no pre-hash, so the digest argument is NULL and the one-shot call is used.
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey_.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                          message.size()) == 1;
}

Result<SigningKey> SigningKey::generate() {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0) return Error::msg("Ed25519 keygen init failed");
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_keygen(ctx.get(), &raw) <= 0) return Error::msg("Ed25519 keygen failed");
  SigningKey k;
  k.pkey_ = own(raw);
  RawKey pub{};
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(raw, pub.data(), &len) != 1 || len != pub.size())
    return Error::msg("Ed25519 public key export failed");
  CATS_TRY_ASSIGN(p, PublicKey::from_raw(pub));
  k.pub_ = std::move(p);
  return k;
}

Result<SigningKey> SigningKey::from_seed(std::span<const uint8_t> seed) {
  if (seed.size() != kEd25519KeySize) return Error::msg("Ed25519 seed must be 32 bytes");
  SigningKey k;
  k.pkey_ = own(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  if (!k.pkey_) return Error::msg("invalid Ed25519 private key");
  RawKey pub{};
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(k.pkey_.get(), pub.data(), &len) != 1 || len != pub.size())
    return Error::msg("Ed25519 public key derivation failed");
  CATS_TRY_ASSIGN(p, PublicKey::from_raw(pub));
  k.pub_ = std::move(p);
  return k;
}

Result<Signature> SigningKey::sign(std::span<const uint8_t> message) const {
  if (!pkey_) return Error::msg("Ed25519: no key");
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey_.get()) != 1)
    return Error::msg("Ed25519 sign init failed");
  Signature sig{};
  size_t len = sig.size();
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, message.data(), message.size()) != 1 ||
      len != sig.size())
    return Error::msg("Ed25519 sign failed");
  return sig;
}

Result<SigningKey> load_or_create_signing_key(const std::string& path) {
  if (::access(path.c_str(), F_OK) == 0) return read_key_file(path);
  if (errno != ENOENT) return Error::sys(errno, "access " + path);
  CATS_TRY_ASSIGN(key, SigningKey::generate());
  RawKey seed{};
  size_t len = seed.size();
  if (EVP_PKEY_get_raw_private_key(key.pkey_.get(), seed.data(), &len) != 1 || len != seed.size())
    return Error::msg("Ed25519 private key export failed");
  std::string text = base64_encode(seed) + "\n";
  OPENSSL_cleanse(seed.data(), seed.size());
  auto st = create_secret_file(path, text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!st) {
    // Lost a creation race: use the key the winner wrote.
    if (st.error().sys_errno == EEXIST) return read_key_file(path);
    return st.error();
  }
  return key;
}

}  // namespace cats::report
