// Curve25519 keys (OpenSSL X25519). Base64 in config and UI, hex on UAPI.
#pragma once

#include "base/result.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace cats::wg {

using Key = std::array<uint8_t, 32>;

Result<Key> generate_private_key();
Result<Key> public_from_private(const Key& priv);
std::string to_base64(const Key& k);
Result<Key> from_base64(std::string_view s);
std::string to_hex(const Key& k);
Result<Key> from_hex(std::string_view s);

// Load a base64 private key from a file, or create one (mode 0600, parent dir 0700) if the
// file does not exist. Refuses a file readable by group/others.
Result<Key> load_or_create_private_key(const std::string& path);

}  // namespace cats::wg
