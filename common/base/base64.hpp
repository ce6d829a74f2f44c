// Standard base64 (RFC 4648 §4) of arbitrary bytes. Used for key material, so nothing
// here logs or echoes its input.
#pragma once

#include "base/result.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cats {

std::string base64_encode(std::span<const uint8_t> bytes);

// Strict and canonical: standard alphabet, padding required, no whitespace, and the
// unused low bits of the last sextet must be zero, so each byte string has exactly one
// accepted encoding. Error messages never contain the input.
Result<std::vector<uint8_t>> base64_decode(std::string_view s);

}  // namespace cats
