#include "base/hash.hpp"

#include <catch2/catch.hpp>

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
