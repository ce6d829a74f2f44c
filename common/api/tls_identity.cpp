// The HTTPS server's certificate: the configured one, or a self-signed ECDSA P-256 one made
// on first start with OpenSSL 3's EVP API (as a browser's "add exception" or catsctl's pin
// trusts it by fingerprint).
#include "api/https.hpp"
#include "base/ip.hpp"
#include "base/secret_file.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>

namespace cats::api {

TlsIdentity::~TlsIdentity() { OPENSSL_cleanse(key_pem.data(), key_pem.size()); }

namespace {

template <auto F>
struct Deleter {
  template <class T>
  void operator()(T* p) const { F(p); }
};
using Bio = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using PKey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using Bn = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using Ext = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;

constexpr size_t kMaxCertFile = 64 * 1024;  // a leaf plus a few intermediates
constexpr size_t kMaxKeyFile = 16 * 1024;
constexpr long kValiditySeconds = 2L * 365 * 24 * 3600;
constexpr long kBackdateSeconds = 3600;  // tolerate a client clock a little behind ours

bool exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

Bio mem_bio(std::string_view s) { return Bio(BIO_new_mem_buf(s.data(), static_cast<int>(s.size()))); }

std::string bio_text(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string{};
}

Result<std::string> read_public_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rbe");
  if (!f) return Error::sys(errno, "open certificate " + path);
  std::string out(kMaxCertFile + 1, '\0');
  size_t n = std::fread(out.data(), 1, out.size(), f);
  bool bad = std::ferror(f) != 0;
  std::fclose(f);
  if (bad) return Error::msg("read certificate " + path);
  if (n > kMaxCertFile) return Error::msg("certificate " + path + " is too large");
  out.resize(n);
  return Result<std::string>(boost::system::in_place_value, std::move(out));
}

std::string fingerprint_of(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  std::string out;
  char b[4];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(b, sizeof b, "%02X", md[i]);
    if (i) out += ':';
    out += b;
  }
  return out;
}

// A SAN entry: an address becomes IP:, anything else DNS: (RFC 5280 4.2.1.6). Names are
// bounded and plain, so they cannot smuggle another entry into OpenSSL's "a,b" syntax.
Result<std::string> san_entry(const std::string& name) {
  if (parse_address(name)) return "IP:" + name;
  if (name.empty() || name.size() > 253) return Error::msg("bad certificate name: '" + name + "'");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '.' || c == '*';
    if (!ok) return Error::msg("bad certificate name: '" + name + "'");
  }
  return "DNS:" + name;
}

Status add_ext(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  Ext ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || !X509_add_ext(cert, ext.get(), -1)) return Error::msg("certificate extension " + value);
  return ok();
}

Status set_random_serial(X509* cert) {
  // 128 random bits, positive (RFC 5280 4.1.2.2: at most 20 octets, non-negative).
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) return Error::msg("no randomness for the certificate serial");
  raw[0] &= 0x7f;
  raw[0] |= 0x40;  // exactly 16 octets, never a leading zero
  Bn bn(BN_bin2bn(raw, sizeof raw, nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert))) return Error::msg("certificate serial");
  return ok();
}

Result<X509Ptr> make_self_signed(EVP_PKEY* key, const std::string& cn, std::span<const std::string> san) {
  X509Ptr cert(X509_new());
  if (!cert || !X509_set_version(cert.get(), X509_VERSION_3)) return Error::msg("X509_new");
  CATS_TRY(set_random_serial(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValiditySeconds);
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (cn.empty() || cn.size() > 64 ||  // RFC 5280 ub-common-name
      !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()),
                                  -1, -1, 0))
    return Error::msg("bad certificate common name: '" + cn + "'");
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key);
  std::string alt;
  for (const auto& n : san) {
    CATS_TRY_ASSIGN(e, san_entry(n));
    alt += (alt.empty() ? "" : ",") + e;
  }
  CATS_TRY(add_ext(cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  CATS_TRY(add_ext(cert.get(), NID_key_usage, "critical,digitalSignature"));
  CATS_TRY(add_ext(cert.get(), NID_ext_key_usage, "serverAuth"));
  CATS_TRY(add_ext(cert.get(), NID_subject_key_identifier, "hash"));
  if (!alt.empty()) CATS_TRY(add_ext(cert.get(), NID_subject_alt_name, alt));
  if (X509_sign(cert.get(), key, EVP_sha256()) <= 0) return Error::msg("signing the certificate");
  return cert;
}

// The certificate (0644) next to an already written key, atomically: a reader sees no file
// or a whole one.
Status write_public_file(const std::string& path, const std::string& text) {
  uint64_t nonce = 0;
  if (::getrandom(&nonce, sizeof nonce, 0) != static_cast<ssize_t>(sizeof nonce)) nonce = 0;
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(nonce);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return Error::sys(errno, "create " + tmp);
  bool ok_write = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fchmod(fd, 0644) == 0 && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok_write || ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
    if (ok_write) err = errno;
    ::unlink(tmp.c_str());
    return Error::sys(err, "write certificate " + path);
  }
  return ok();
}

Result<TlsIdentity> create_identity(const std::string& cert_file, const std::string& key_file,
                                    const std::string& cn, std::span<const std::string> san) {
  PKey key(EVP_EC_gen("P-256"));
  if (!key) return Error::msg("generating an ECDSA P-256 key");
  CATS_TRY_ASSIGN(cert, make_self_signed(key.get(), cn, san));
  TlsIdentity id;
  Bio kb(BIO_new(BIO_s_mem())), cb(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) ||
      !PEM_write_bio_X509(cb.get(), cert.get()))
    return Error::msg("encoding the new certificate");
  id.key_pem = bio_text(kb.get());
  id.cert_pem = bio_text(cb.get());
  id.fingerprint_sha256 = fingerprint_of(cert.get());
  id.generated = true;
  // Key first: a crash in between leaves only the key, which the next start reports.
  CATS_TRY(create_secret_file(key_file, id.key_pem));
  if (auto st = write_public_file(cert_file, id.cert_pem); !st) {
    ::unlink(key_file.c_str());
    return st.error();
  }
  return id;
}

Result<TlsIdentity> load_identity(const std::string& cert_file, const std::string& key_file) {
  TlsIdentity id;
  CATS_TRY_ASSIGN(cert_text, read_public_file(cert_file));
  id.cert_pem = std::move(cert_text);
  CATS_TRY_ASSIGN(key_text, read_secret_file(key_file, "TLS key", kMaxKeyFile));
  id.key_pem = std::move(key_text);
  OPENSSL_cleanse(key_text.data(), key_text.size());
  Bio cb = mem_bio(id.cert_pem);
  X509Ptr cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  if (!cert) return Error::msg("certificate " + cert_file + " holds no PEM certificate");
  Bio kb = mem_bio(id.key_pem);
  PKey key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!key) return Error::msg("TLS key " + key_file + " holds no PEM private key (or it is encrypted)");
  if (X509_check_private_key(cert.get(), key.get()) != 1)
    return Error::msg("TLS key " + key_file + " does not belong to certificate " + cert_file);
  id.fingerprint_sha256 = fingerprint_of(cert.get());
  return id;
}

}  // namespace

Result<TlsIdentity> load_or_create_identity(const std::string& cert_file, const std::string& key_file,
                                            const std::string& common_name, std::span<const std::string> san) {
  bool have_cert = exists(cert_file), have_key = exists(key_file);
  if (have_cert && have_key) return load_identity(cert_file, key_file);
  if (have_cert != have_key)
    return Error::msg("only one of certificate " + cert_file + " and TLS key " + key_file +
                      " exists: restore the other, or remove both to generate a new identity");
  auto slash = cert_file.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    // The key's directory is made 0700 by create_secret_file; the certificate's, if it is
    // another one, the same way (mkdir -p).
    std::string dir = cert_file.substr(0, slash);
    for (size_t pos = 1; pos <= dir.size(); ++pos) {
      if (pos != dir.size() && dir[pos] != '/') continue;
      if (::mkdir(dir.substr(0, pos).c_str(), 0700) != 0 && errno != EEXIST)
        return Error::sys(errno, "create directory " + dir.substr(0, pos));
    }
  }
  return create_identity(cert_file, key_file, common_name, san);
}

Result<std::string> cert_fingerprint_sha256(std::string_view der_or_pem) {
  X509Ptr cert;
  if (der_or_pem.find("-----BEGIN") != std::string_view::npos) {
    Bio b = mem_bio(der_or_pem);
    cert.reset(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  } else {
    auto* p = reinterpret_cast<const unsigned char*>(der_or_pem.data());
    cert.reset(d2i_X509(nullptr, &p, static_cast<long>(der_or_pem.size())));
  }
  if (!cert) return Error::msg("not a certificate (DER or PEM)");
  return fingerprint_of(cert.get());
}

}  // namespace cats::api
