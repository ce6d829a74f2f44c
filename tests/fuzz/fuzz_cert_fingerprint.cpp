// Untrusted certificate bytes (a configured file, a peer's certificate) through
// cert_fingerprint_sha256, DER and PEM alike, and a peer address through the per-client
// limit key.
#include "api/https.hpp"
#include "api/session.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto fp = cats::api::cert_fingerprint_sha256(bytes);
  if (fp && fp->size() != 95) __builtin_trap();  // 32 "XX" joined by ':'
  std::string pem = "-----BEGIN CERTIFICATE-----\n" + std::string(bytes) + "\n-----END CERTIFICATE-----\n";
  (void)cats::api::cert_fingerprint_sha256(pem);
  (void)cats::api::detail::client_key(std::string(bytes.substr(0, 64)));
  return 0;
}
