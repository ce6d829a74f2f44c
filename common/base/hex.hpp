// Fixed-width hex of 32-bit values: how marks and masks appear in nft scripts, rules,
// logs and golden text ("0x00f10000"), the same everywhere so they can be compared.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace cats {

inline std::string hex32(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}

}  // namespace cats
