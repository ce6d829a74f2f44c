#include "report/ed25519.hpp"

#include "base/fd.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
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

constexpr std::string_view kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
  auto pos = kB64.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

constexpr size_t kKeyFileMax = 256;

Result<SigningKey> read_key_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return Error::sys(errno, "open signing key " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::sys(errno, "stat signing key " + path);
  if (!S_ISREG(st.st_mode)) return Error::msg("signing key " + path + " is not a regular file");
  if ((st.st_mode & 077) != 0)
    return Error::msg("signing key " + path + " is accessible by group/others (chmod 600 it)");
  if (st.st_size > static_cast<off_t>(kKeyFileMax)) return Error::msg("signing key " + path + " is too large");
  char buf[kKeyFileMax + 1];
  size_t len = 0;
  while (len < sizeof buf) {
    ssize_t n = ::read(fd.get(), buf + len, sizeof buf - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::sys(errno, "read signing key " + path);
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  std::string_view text(buf, len);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.remove_suffix(1);
  auto seed = base64_decode(text);
  OPENSSL_cleanse(buf, sizeof buf);
  if (!seed || seed->size() != kEd25519KeySize) {
    if (seed) OPENSSL_cleanse(seed->data(), seed->size());
    return Error::msg("signing key " + path + " does not hold a base64 Ed25519 seed");
  }
  auto key = SigningKey::from_seed(*seed);
  OPENSSL_cleanse(seed->data(), seed->size());
  return key;
}

Status make_dirs(const std::string& dir) {
  if (dir.empty()) return ok();
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Error::msg(dir + " exists and is not a directory");
    return ok();
  }
  auto slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) CATS_TRY(make_dirs(dir.substr(0, slash)));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Error::sys(errno, "mkdir " + dir);
  return ok();
}

// O_EXCL temp file, fsync, rename without replacing: no half-written key is ever visible
// and two concurrent creators cannot overwrite each other (the loser reads the winner's).
Status write_seed_atomically(const std::string& path, std::span<const uint8_t> seed) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return Error::sys(errno, "create " + tmp);
  std::string text = base64_encode(seed) + "\n";
  Status st = ok();
  std::string_view rest = text;
  while (st && !rest.empty()) {
    ssize_t n = ::write(fd.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) st = Error::sys(errno, "write " + tmp);
    else rest.remove_prefix(static_cast<size_t>(n));
  }
  OPENSSL_cleanse(text.data(), text.size());
  if (st && ::fchmod(fd.get(), 0600) != 0) st = Error::sys(errno, "fchmod " + tmp);
  if (st && ::fsync(fd.get()) != 0) st = Error::sys(errno, "fsync " + tmp);
  fd.reset();
  if (st && ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0)
    st = Error::sys(errno, "rename " + tmp + " -> " + path);
  if (!st) ::unlink(tmp.c_str());
  return st;
}

}  // namespace

std::string base64_encode(std::span<const uint8_t> b) {
  std::string out;
  out.reserve((b.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= b.size(); i += 3) {
    uint32_t v = (uint32_t{b[i]} << 16) | (uint32_t{b[i + 1]} << 8) | b[i + 2];
    for (int s = 18; s >= 0; s -= 6) out.push_back(kB64[(v >> s) & 63]);
  }
  size_t rest = b.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{b[i]} << 16;
    if (rest == 2) v |= uint32_t{b[i + 1]} << 8;
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kB64[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

Result<std::vector<uint8_t>> base64_decode(std::string_view s) {
  if (s.size() % 4 != 0) return Error::msg("base64: length is not a multiple of 4");
  std::vector<uint8_t> out;
  out.reserve(s.size() / 4 * 3);
  for (size_t i = 0; i < s.size(); i += 4) {
    bool last = i + 4 == s.size();
    int pad = 0;
    uint32_t v = 0;
    for (size_t j = 0; j < 4; ++j) {
      char c = s[i + j];
      if (c == '=' && last && j >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      int d = b64_value(c);
      if (d < 0 || pad > 0) return Error::msg("base64: invalid character");
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    out.push_back(static_cast<uint8_t>(v >> 16));
    if (pad < 2) out.push_back(static_cast<uint8_t>(v >> 8));
    if (pad < 1) out.push_back(static_cast<uint8_t>(v));
  }
  return out;
}

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
  auto slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) CATS_TRY(make_dirs(path.substr(0, slash)));
  CATS_TRY_ASSIGN(key, SigningKey::generate());
  RawKey seed{};
  size_t len = seed.size();
  if (EVP_PKEY_get_raw_private_key(key.pkey_.get(), seed.data(), &len) != 1 || len != seed.size())
    return Error::msg("Ed25519 private key export failed");
  auto st = write_seed_atomically(path, seed);
  OPENSSL_cleanse(seed.data(), seed.size());
  if (!st) {
    // Lost a creation race: use the key the winner wrote.
    if (st.error().sys_errno == EEXIST) return read_key_file(path);
    return st.error();
  }
  auto slash2 = path.find_last_of('/');
  std::string dir = slash2 == std::string::npos ? "." : (slash2 == 0 ? "/" : path.substr(0, slash2));
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d) ::fsync(d.get());
  return key;
}

}  // namespace cats::report
