// Curve25519 keys for WireGuard (https://www.wireguard.com/protocol/), via OpenSSL 3's
// X25519 (RFC 7748). Key material is never logged and never put into error messages.
#include "wg/keys.hpp"

#include "base/fd.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

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

constexpr std::string_view kB64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
  auto pos = kB64Alphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr size_t kKeyFileMax = 256;  // a base64 key plus whitespace; anything larger is junk

Result<Key> read_key_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return Error::sys(errno, "open key file " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::sys(errno, "stat key file " + path);
  if (!S_ISREG(st.st_mode)) return Error::msg("key file " + path + " is not a regular file");
  // Same rule as ssh for identity files: a secret readable by others is already leaked.
  if ((st.st_mode & 077) != 0)
    return Error::msg("key file " + path + " is accessible by group/others (chmod 600 it)");
  if (st.st_size > static_cast<off_t>(kKeyFileMax)) return Error::msg("key file " + path + " is too large");
  char buf[kKeyFileMax + 1];
  size_t len = 0;
  while (len < sizeof buf) {
    ssize_t n = ::read(fd.get(), buf + len, sizeof buf - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::sys(errno, "read key file " + path);
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  std::string_view text(buf, len);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.remove_suffix(1);
  auto key = from_base64(text);
  OPENSSL_cleanse(buf, sizeof buf);
  if (!key) return Error::msg("key file " + path + " does not hold a base64 WireGuard key");
  return key;
}

// mkdir -p with 0700 for whatever we create; existing directories are left as they are
// (they may be shared system directories we have no business chmod-ing).
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

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::sys(errno, "write");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return ok();
}

// Write to an O_EXCL temp file in the same directory, fsync, then rename without
// replacing: a reader never sees a half-written key, and two concurrent creators cannot
// overwrite each other's key (the loser adopts the winner's file).
Status write_key_file_atomically(const std::string& path, const Key& key) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return Error::sys(errno, "create " + tmp);
  std::string text = to_base64(key) + "\n";
  auto st = write_all(fd.get(), text);
  OPENSSL_cleanse(text.data(), text.size());
  if (st && ::fchmod(fd.get(), 0600) != 0) st = Error::sys(errno, "fchmod " + tmp);  // umask-proof
  if (st && ::fsync(fd.get()) != 0) st = Error::sys(errno, "fsync " + tmp);
  fd.reset();
  if (st && ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0)
    st = Error::sys(errno, "rename " + tmp + " -> " + path);
  if (!st) ::unlink(tmp.c_str());
  return st;
}

void fsync_dir_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d) ::fsync(d.get());
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

std::string to_base64(const Key& k) {
  unsigned char out[45];  // 4 * ceil(32 / 3) + NUL
  int n = EVP_EncodeBlock(out, k.data(), static_cast<int>(k.size()));
  return std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
}

Result<Key> from_base64(std::string_view s) {
  // 32 bytes are exactly 44 characters: 42 full sextets, one sextet whose low 2 bits are
  // padding (must be zero for a canonical encoding, as wg(8) also insists) and one '='.
  // EVP_DecodeBlock alone would also accept whitespace and other lengths, so check first.
  if (s.size() != 44 || s[43] != '=') return Error::msg("key must be 44 base64 characters");
  for (size_t i = 0; i < 43; ++i)
    if (b64_value(s[i]) < 0) return Error::msg("key contains a non-base64 character");
  if ((b64_value(s[42]) & 3) != 0) return Error::msg("key is not canonical base64");
  unsigned char out[33];  // 44 chars decode to 33 bytes; the last is the '=' filler
  int n = EVP_DecodeBlock(out, reinterpret_cast<const unsigned char*>(s.data()), 44);
  if (n != 33) return Error::msg("key is not valid base64");
  Key k{};
  std::copy(out, out + 32, k.begin());
  OPENSSL_cleanse(out, sizeof out);
  return k;
}

std::string to_hex(const Key& k) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(64);
  for (uint8_t b : k) {
    s.push_back(digits[b >> 4]);
    s.push_back(digits[b & 15]);
  }
  return s;
}

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
  auto slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) CATS_TRY(make_dirs(path.substr(0, slash)));
  CATS_TRY_ASSIGN(key, generate_private_key());
  auto written = write_key_file_atomically(path, key);
  if (!written) {
    // Someone created it between our lstat and rename: use theirs.
    if (written.error().sys_errno == EEXIST) return read_key_file(path);
    return written.error();
  }
  fsync_dir_of(path);
  return key;
}

}  // namespace cats::wg
