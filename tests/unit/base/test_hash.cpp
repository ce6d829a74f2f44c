#include "base/hash.hpp"
#include "base/hex.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <string>

using namespace cats;

// Pinned outputs: nft table comments written by earlier builds carry them (hash.hpp: the
// offset basis is cats' own, not FNV's published one).
TEST_CASE("fnv1a_hex: pinned outputs, 16 lower-case hex digits") {
  CHECK(fnv1a_hex("") == "14650fb0739d0383");  // the offset basis itself
  CHECK(fnv1a_hex("a") == "44bd8ad473cd9906");
  CHECK(fnv1a_hex("foobar") == "88fad7c0a8ff07f2");
  // Bytes above 0x7f hash as unsigned, and NUL bytes count.
  CHECK(fnv1a_hex("\xff") != fnv1a_hex("\x7f"));
  CHECK(fnv1a_hex(std::string_view("a\0b", 3)) != fnv1a_hex("ab"));
  CHECK(fnv1a_hex(std::string_view("a\0b", 3)).size() == 16);
}

TEST_CASE("hex_bytes: two lower-case digits per byte, every value", "[base]") {
  CHECK(cats::hex_bytes({}).empty());
  const std::array<uint8_t, 4> b{0x00, 0x0f, 0xa5, 0xff};
  CHECK(cats::hex_bytes(b) == "000fa5ff");
  std::array<uint8_t, 256> all{};
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint8_t>(i);
  const std::string h = cats::hex_bytes(all);
  REQUIRE(h.size() == 512);
  for (size_t i = 0; i < all.size(); ++i) CHECK(std::stoul(h.substr(2 * i, 2), nullptr, 16) == i);
}
