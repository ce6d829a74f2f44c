#include "auth/kdf.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <chrono>

using namespace cats::auth;

namespace {
const std::array<uint8_t, kSaltBytes> kSalt{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
}

TEST_CASE("argon2id: PHC string carries its parameters and verifies the right password only") {
  auto h = argon2id_hasher(KdfParams{64, 2, 1});
  auto phc = h->hash("a long enough password", kSalt);
  REQUIRE(phc.has_value());
  CHECK(phc->rfind("$argon2id$v=19$m=64,t=2,p=1$", 0) == 0);
  CHECK(phc->find("a long enough password") == std::string::npos);
  CHECK(h->verify(*phc, "a long enough password").value() == true);
  CHECK(h->verify(*phc, "a long enough passwore").value() == false);
  CHECK(h->verify(*phc, "").value() == false);

  // Another salt, another hash; same inputs, same hash.
  auto again = h->hash("a long enough password", kSalt);
  CHECK(*again == *phc);
  auto salt2 = kSalt;
  salt2[0] = 99;
  CHECK(*h->hash("a long enough password", salt2) != *phc);
}

TEST_CASE("argon2id: a hasher with other parameters still verifies old hashes") {
  auto old_h = argon2id_hasher(KdfParams{64, 1, 1});
  auto phc = old_h->hash("password of old times", kSalt);
  REQUIRE(phc.has_value());
  auto new_h = argon2id_hasher(KdfParams{128, 2, 1});
  CHECK(new_h->verify(*phc, "password of old times").value() == true);
}

TEST_CASE("argon2id: a tampered PHC string is refused or fails to match") {
  auto h = argon2id_hasher(KdfParams{64, 1, 1});
  std::string phc = *h->hash("tamper with me please", kSalt);

  SECTION("hash bytes changed: no match") {
    std::string t = phc;
    char& c = t[t.size() - 3];
    c = c == 'A' ? 'B' : 'A';
    auto r = h->verify(t, "tamper with me please");
    CHECK((!r.has_value() || *r == false));
  }
  SECTION("cost lowered: no match (the hash was made with other parameters)") {
    std::string t = phc;
    t.replace(t.find("t=1"), 3, "t=2");
    auto r = h->verify(t, "tamper with me please");
    CHECK((!r.has_value() || *r == false));
  }
  SECTION("absurd memory cost: refused before allocating") {
    std::string t = phc;
    t.replace(t.find("m=64"), 4, "m=4000000000");
    CHECK_FALSE(h->verify(t, "tamper with me please").has_value());
  }
  SECTION("other algorithms and garbage are errors") {
    std::string t = phc;
    t.replace(0, 9, "$argon2i");
    CHECK_FALSE(h->verify(t, "tamper with me please").has_value());
    CHECK_FALSE(h->verify("", "x").has_value());
    CHECK_FALSE(h->verify("$argon2id$v=19$m=64,t=1,p=1$$", "x").has_value());
    CHECK_FALSE(h->verify("$argon2id$v=16$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAA", "x").has_value());
  }
}

TEST_CASE("argon2id: passwords over the bound are refused, not hashed") {
  auto h = argon2id_hasher(KdfParams{64, 1, 1});
  std::string big(kMaxPassword + 1, 'x');
  CHECK_FALSE(h->hash(big, kSalt).has_value());
  auto phc = *h->hash("short enough password", kSalt);
  CHECK(h->verify(phc, big).value() == false);
}

TEST_CASE("argon2id: production parameters cost tens of milliseconds", "[.bench]") {
  auto h = argon2id_hasher(KdfParams{});
  auto t0 = std::chrono::steady_clock::now();
  constexpr int kRuns = 5;
  for (int i = 0; i < kRuns; ++i) REQUIRE(h->hash("benchmark password", kSalt).has_value());
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / kRuns;
  WARN("argon2id m=64MiB t=1 p=1: " << ms << " ms per hash");
  CHECK(ms > 5);
}
