#include "wg/keys.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace cats::wg;

namespace {

Key hex_key(std::string_view s) {
  auto k = from_hex(s);
  REQUIRE(k.has_value());
  return *k;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/cats-wg-keys-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("X25519 public keys match RFC 7748 section 6.1 test vectors") {
  // Alice
  auto alice_pub = public_from_private(hex_key("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  REQUIRE(alice_pub.has_value());
  CHECK(to_hex(*alice_pub) == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  // Bob
  auto bob_pub = public_from_private(hex_key("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
  REQUIRE(bob_pub.has_value());
  CHECK(to_hex(*bob_pub) == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
}

TEST_CASE("generated private keys are clamped, distinct and derive a public key") {
  auto a = generate_private_key();
  auto b = generate_private_key();
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(*a != *b);
  CHECK(((*a)[0] & 7) == 0);
  CHECK(((*a)[31] & 0x80) == 0);
  CHECK(((*a)[31] & 0x40) == 0x40);
  CHECK(public_from_private(*a).has_value());
}

TEST_CASE("base64 round trip and known encoding") {
  Key k = hex_key("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  // Cross-checked with: echo 77076d...2c2a | xxd -r -p | base64
  CHECK(to_base64(k) == "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=");
  auto back = from_base64(to_base64(k));
  REQUIRE(back.has_value());
  CHECK(*back == k);
  for (int i = 0; i < 20; ++i) {
    auto g = generate_private_key();
    REQUIRE(g.has_value());
    auto r = from_base64(to_base64(*g));
    REQUIRE(r.has_value());
    CHECK(*r == *g);
  }
}

TEST_CASE("base64 rejects junk") {
  const std::string good = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
  CHECK(from_base64(good).has_value());
  CHECK_FALSE(from_base64("").has_value());
  CHECK_FALSE(from_base64(good.substr(0, 43)).has_value());               // short
  CHECK_FALSE(from_base64(good + "=").has_value());                       // long
  CHECK_FALSE(from_base64(" " + good.substr(1)).has_value());             // whitespace
  CHECK_FALSE(from_base64(good.substr(0, 43) + "A").has_value());         // no padding
  CHECK_FALSE(from_base64(good.substr(0, 42) + "==").has_value());        // 31 bytes
  CHECK_FALSE(from_base64(good.substr(0, 42) + "p=").has_value());        // non-canonical tail bits
  CHECK_FALSE(from_base64("!" + good.substr(1)).has_value());
  CHECK_FALSE(from_base64(good.substr(0, 10) + "=" + good.substr(11)).has_value());
  CHECK_FALSE(from_base64(std::string(43, '\0') + "=").has_value());
}

TEST_CASE("hex round trip and rejects") {
  Key k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i * 8 + 1);
  auto h = to_hex(k);
  CHECK(h.size() == 64);
  CHECK(h.substr(0, 6) == "010911");
  CHECK(*from_hex(h) == k);
  CHECK(from_hex("8520F0098930A754748B7DDCB43EF75A0DBF3A0D26381AF4EBA4A98EAA9B4E6A").has_value());
  CHECK_FALSE(from_hex(h.substr(1)).has_value());
  CHECK_FALSE(from_hex(h + "0").has_value());
  CHECK_FALSE(from_hex("g" + h.substr(1)).has_value());
  CHECK_FALSE(from_hex(std::string(64, ' ')).has_value());
}

TEST_CASE("load_or_create_private_key creates 0600 in a 0700 dir and reloads the same key") {
  TempDir tmp;
  auto path = tmp.path / "etc" / "cats" / "wg.key";
  auto k1 = load_or_create_private_key(path.string());
  REQUIRE(k1.has_value());
  CHECK(mode_of(path) == 0600);
  CHECK(mode_of(path.parent_path()) == 0700);
  auto k2 = load_or_create_private_key(path.string());
  REQUIRE(k2.has_value());
  CHECK(*k1 == *k2);
  // No temp file left behind.
  size_t files = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(path.parent_path())) ++files;
  CHECK(files == 1);
}

TEST_CASE("load_or_create_private_key refuses lax permissions and junk, without echoing it") {
  TempDir tmp;
  auto path = tmp.path / "wg.key";
  REQUIRE(load_or_create_private_key(path.string()).has_value());
  REQUIRE(::chmod(path.c_str(), 0640) == 0);
  auto lax = load_or_create_private_key(path.string());
  REQUIRE_FALSE(lax.has_value());
  CHECK(lax.error().message.find("group/others") != std::string::npos);

  auto junk = tmp.path / "junk.key";
  {
    std::ofstream f(junk);
    f << "not-a-key-SECRETVALUE\n";
  }
  REQUIRE(::chmod(junk.c_str(), 0600) == 0);
  auto bad = load_or_create_private_key(junk.string());
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message.find("SECRETVALUE") == std::string::npos);

  // A key written by `wg genkey` (trailing newline) loads.
  auto wgkey = tmp.path / "genkey.key";
  {
    std::ofstream f(wgkey);
    f << "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n";
  }
  REQUIRE(::chmod(wgkey.c_str(), 0600) == 0);
  auto loaded = load_or_create_private_key(wgkey.string());
  REQUIRE(loaded.has_value());
  CHECK(to_hex(*loaded) == "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
}
