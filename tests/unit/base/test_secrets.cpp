#include "base/base64.hpp"
#include "base/secret_file.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace cats;

namespace {

std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

std::string decoded(std::string_view b64) {
  auto r = base64_decode(b64);
  REQUIRE(r.has_value());
  return std::string(r->begin(), r->end());
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/cats-base-secretXXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

unsigned mode_of(const std::filesystem::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

void write_file(const std::filesystem::path& p, const std::string& text, mode_t mode) {
  { std::ofstream(p) << text; }
  REQUIRE(::chmod(p.c_str(), mode) == 0);
}

size_t entries(const std::filesystem::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST_CASE("base64: RFC 4648 §10 test vectors both ways") {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (auto [plain, enc] : vectors) {
    CHECK(base64_encode(bytes(plain)) == enc);
    CHECK(decoded(enc) == plain);
  }
}

TEST_CASE("base64: round trip of every byte value and every tail length") {
  std::vector<uint8_t> all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<uint8_t>(i));
  for (size_t n = 0; n <= all.size(); n += 1) {
    std::span<const uint8_t> part(all.data(), n);
    auto enc = base64_encode(part);
    CHECK(enc.size() == (n + 2) / 3 * 4);
    auto dec = base64_decode(enc);
    REQUIRE(dec.has_value());
    CHECK(std::equal(dec->begin(), dec->end(), part.begin(), part.end()));
  }
}

TEST_CASE("base64: strict and canonical") {
  CHECK_FALSE(base64_decode("Zg=").has_value());        // length not a multiple of 4
  CHECK_FALSE(base64_decode("Zg").has_value());         // padding required
  CHECK_FALSE(base64_decode("Zm9v\n").has_value());     // no whitespace
  CHECK_FALSE(base64_decode(" Zm9v").has_value());
  CHECK_FALSE(base64_decode("Zm9v Zm9v").has_value());
  CHECK_FALSE(base64_decode("Zm-v").has_value());       // URL-safe alphabet is not ours
  CHECK_FALSE(base64_decode("Zm_v").has_value());
  CHECK_FALSE(base64_decode("Zg==Zm9v").has_value());   // padding only at the very end
  CHECK_FALSE(base64_decode("Z===").has_value());       // at most two '='
  CHECK_FALSE(base64_decode("====").has_value());
  CHECK_FALSE(base64_decode("Zg=v").has_value());       // nothing after '='
  CHECK_FALSE(base64_decode(std::string("Zm\0v", 4)).has_value());
  // Non-zero unused bits: same bytes as "Zg==" / "Zm8=", but not the canonical spelling.
  CHECK_FALSE(base64_decode("Zh==").has_value());
  CHECK_FALSE(base64_decode("Zm9=").has_value());
  auto e = base64_decode("Zh==");
  REQUIRE_FALSE(e.has_value());
  CHECK(e.error().message.find("Zh") == std::string::npos);  // input never echoed
}

TEST_CASE("secret_file: create then read back, 0600 in 0700 dirs, no temp left") {
  TempDir tmp;
  auto path = tmp.path / "a" / "b" / "secret";
  REQUIRE(create_secret_file(path.string(), "s3cret\n").has_value());
  CHECK(mode_of(path) == 0600);
  CHECK(mode_of(path.parent_path()) == 0700);
  CHECK(mode_of(path.parent_path().parent_path()) == 0700);
  CHECK(mode_of(tmp.path) == 0700);  // existing dir: left as mkdtemp made it
  CHECK(entries(path.parent_path()) == 1);
  auto text = read_secret_file(path.string(), "test secret", 64);
  REQUIRE(text.has_value());
  CHECK(*text == "s3cret");
}

TEST_CASE("secret_file: create never replaces, and says EEXIST") {
  TempDir tmp;
  auto path = tmp.path / "secret";
  REQUIRE(create_secret_file(path.string(), "first").has_value());
  auto again = create_secret_file(path.string(), "second");
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().sys_errno == EEXIST);
  CHECK(entries(tmp.path) == 1);  // the loser's temp file is gone
  CHECK(*read_secret_file(path.string(), "x", 64) == "first");
}

TEST_CASE("secret_file: create under a parent that is a file fails cleanly") {
  TempDir tmp;
  write_file(tmp.path / "f", "x", 0600);
  auto r = create_secret_file((tmp.path / "f" / "secret").string(), "x");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.find("not a directory") != std::string::npos);
}

TEST_CASE("secret_file: read trims trailing whitespace only") {
  TempDir tmp;
  auto path = tmp.path / "s";
  write_file(path, " lead  and inner \r\n \n", 0600);
  CHECK(*read_secret_file(path.string(), "x", 64) == " lead  and inner");
  write_file(path, "\n\n", 0600);
  CHECK(read_secret_file(path.string(), "x", 64)->empty());
  write_file(path, "", 0600);
  CHECK(read_secret_file(path.string(), "x", 64)->empty());
}

TEST_CASE("secret_file: read refuses lax modes, symlinks, non-files, oversize; never echoes contents") {
  TempDir tmp;
  auto path = tmp.path / "s";
  write_file(path, "SECRETVALUE\n", 0640);
  auto lax = read_secret_file(path.string(), "widget key", 64);
  REQUIRE_FALSE(lax.has_value());
  CHECK(lax.error().message.find("widget key " + path.string()) != std::string::npos);
  CHECK(lax.error().message.find("group/others") != std::string::npos);
  CHECK(lax.error().message.find("SECRETVALUE") == std::string::npos);
  REQUIRE(::chmod(path.c_str(), 0604) == 0);
  CHECK_FALSE(read_secret_file(path.string(), "x", 64).has_value());

  REQUIRE(::chmod(path.c_str(), 0600) == 0);
  CHECK(*read_secret_file(path.string(), "x", 12) == "SECRETVALUE");  // 12 bytes: at the bound
  auto big = read_secret_file(path.string(), "x", 11);  // the bound applies before trimming
  REQUIRE_FALSE(big.has_value());
  CHECK(big.error().message.find("too large") != std::string::npos);
  CHECK(big.error().message.find("SECRETVALUE") == std::string::npos);

  auto link = tmp.path / "link";
  std::filesystem::create_symlink(path, link);
  auto viaLink = read_secret_file(link.string(), "x", 64);
  REQUIRE_FALSE(viaLink.has_value());
  CHECK(viaLink.error().sys_errno == ELOOP);

  auto dir = tmp.path / "d";
  REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
  auto notFile = read_secret_file(dir.string(), "x", 64);
  REQUIRE_FALSE(notFile.has_value());
  CHECK(notFile.error().message.find("not a regular file") != std::string::npos);

  auto missing = read_secret_file((tmp.path / "nope").string(), "x", 64);
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().sys_errno == ENOENT);
}
