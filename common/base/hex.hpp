// Hex text, the same everywhere so it can be compared:
//  * hex32: fixed-width 32-bit values, how marks and masks appear in nft scripts, rules,
//    logs and golden text ("0x00f10000");
//  * hex_bytes: bytes as lower-case hex, two digits each (keys, digests, tokens).
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>

namespace cats {

inline std::string hex32(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}

inline std::string hex_bytes(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 15]);
  }
  return s;
}

}  // namespace cats
