#include "base/base64.hpp"

#include <openssl/crypto.h>

namespace cats {
namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
  auto pos = kAlphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

}  // namespace

std::string base64_encode(std::span<const uint8_t> b) {
  std::string out;
  out.reserve((b.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= b.size(); i += 3) {
    uint32_t v = (uint32_t{b[i]} << 16) | (uint32_t{b[i + 1]} << 8) | b[i + 2];
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  size_t rest = b.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{b[i]} << 16;
    if (rest == 2) v |= uint32_t{b[i + 1]} << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

Result<std::vector<uint8_t>> base64_decode(std::string_view s) {
  if (s.size() % 4 != 0) return Error::msg("base64: length is not a multiple of 4");
  std::vector<uint8_t> out;
  out.reserve(s.size() / 4 * 3);  // never reallocates, so no stray copies of decoded bytes
  // The input is often a secret: wipe what was decoded so far before reporting an error.
  auto fail = [&out](const char* why) {
    OPENSSL_cleanse(out.data(), out.size());
    return Error::msg(why);
  };
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
      int d = sextet(c);
      if (d < 0 || pad > 0) return fail("base64: invalid character");
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    // Canonical: the bits the padding leaves unused must be zero.
    if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))
      return fail("base64: not canonical");
    out.push_back(static_cast<uint8_t>(v >> 16));
    if (pad < 2) out.push_back(static_cast<uint8_t>(v >> 8));
    if (pad < 1) out.push_back(static_cast<uint8_t>(v));
  }
  return out;
}

}  // namespace cats
