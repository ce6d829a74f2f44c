#include "report/ed25519.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

using namespace cats::report;

TEST_CASE("ed25519: sign/verify, base64 round trip of the public key") {
  auto k = SigningKey::generate();
  REQUIRE(k.has_value());
  std::vector<uint8_t> msg{1, 2, 3};
  auto sig = k->sign(msg);
  REQUIRE(sig.has_value());
  CHECK(k->public_key().verify(msg, *sig));
  msg[0] ^= 1;
  CHECK_FALSE(k->public_key().verify(msg, *sig));
  std::string b64 = k->public_key().to_base64();
  CHECK(b64.size() == 44);
  auto pub = PublicKey::from_base64(b64);
  REQUIRE(pub.has_value());
  CHECK(*pub == k->public_key());
  CHECK_FALSE(PublicKey::from_base64("not base64").has_value());
  CHECK_FALSE(PublicKey::from_base64("AAAA").has_value());  // wrong length
  CHECK_FALSE(k->public_key().verify(msg, std::span<const uint8_t>(sig->data(), 63)));
}

TEST_CASE("ed25519: RFC 8032 test 1 (empty message) from a seed") {
  // RFC 8032 §7.1 TEST 1.
  auto hex = [](std::string_view h) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i < h.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
    return out;
  };
  auto seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  auto pub = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  auto sig = hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                 "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  auto k = SigningKey::from_seed(seed);
  REQUIRE(k.has_value());
  CHECK(std::equal(pub.begin(), pub.end(), k->public_key().raw().begin()));
  auto s = k->sign({});
  REQUIRE(s.has_value());
  CHECK(std::equal(sig.begin(), sig.end(), s->begin()));
}

TEST_CASE("ed25519: load_or_create persists a 0600 key and reloads the same key") {
  char tmpl[] = "/tmp/cats-report-keyXXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  std::string dir = tmpl;
  std::string path = dir + "/sub/signing.key";
  auto a = load_or_create_signing_key(path);
  REQUIRE(a.has_value());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto b = load_or_create_signing_key(path);
  REQUIRE(b.has_value());
  CHECK(a->public_key() == b->public_key());

  ::chmod(path.c_str(), 0644);
  CHECK_FALSE(load_or_create_signing_key(path).has_value());
  ::chmod(path.c_str(), 0600);
  { std::ofstream(path) << "garbage\n"; }
  CHECK_FALSE(load_or_create_signing_key(path).has_value());

  std::remove(path.c_str());
  ::rmdir((dir + "/sub").c_str());
  ::rmdir(dir.c_str());
}
