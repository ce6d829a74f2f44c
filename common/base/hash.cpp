#include "base/hash.hpp"

#include <cstdint>
#include <cstdio>

namespace cats {

std::string fnv1a_hex(std::string_view s) {
  uint64_t h = 1469598103934665603ull;  // sic: see hash.hpp, the output must not change
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  char b[24];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(h));
  return b;
}

}  // namespace cats
