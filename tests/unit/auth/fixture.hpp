// Shared by the auth tests: a temp state file, a settable clock, a deterministic RNG, a
// hasher that counts KDF runs (cheap Argon2id parameters), recorded events, and stderr
// capture for "no secret in any log line".
#pragma once

#include "auth/auth.hpp"
#include "store/sqlite_util.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

// Catch prints a result as "ok" or its error's message (boost's operator<< would need
// every value type to be printable).
namespace Catch {
template <class T, class E>
struct StringMaker<cats::Expected<T, E>> {
  static std::string convert(const cats::Expected<T, E>& r) {
    return r.has_value() ? std::string("ok") : "error: " + r.error().message;
  }
};
}  // namespace Catch

namespace cats::auth::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cats-auth-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Real Argon2id with cheap parameters, counting the calls.
class CountingHasher : public PasswordHasher {
 public:
  CountingHasher() : inner_(argon2id_hasher(KdfParams{64, 1, 1})) {}
  Result<std::string> hash(std::string_view pw, std::span<const uint8_t, kSaltBytes> salt) override {
    ++hashes;
    return inner_->hash(pw, salt);
  }
  Result<bool> verify(const std::string& phc, std::string_view pw) override {
    ++verifies;
    if (auto f = std::exchange(during_verify, nullptr)) f();  // runs where a parallel request could
    return inner_->verify(phc, pw);
  }
  std::atomic<int> hashes{0};
  std::atomic<int> verifies{0};
  std::function<void()> during_verify;

 private:
  std::unique_ptr<PasswordHasher> inner_;
};

inline constexpr int64_t kT0 = 1'700'000'000'000;
inline constexpr int64_t kMin = 60'000;

struct World {
  TempDir dir;
  int64_t now = kT0;
  uint64_t rng = 0x9E3779B97F4A7C15ull;
  std::shared_ptr<CountingHasher> hasher = std::make_shared<CountingHasher>();
  std::vector<AuditEntry> events;

  Options options() {
    Options o;
    o.db_path = dir.file("state.db");
    o.hasher = hasher;
    o.now_ms = [this] { return now; };
    o.random = [this](std::span<uint8_t> out) {
      for (auto& b : out) {  // splitmix64: deterministic, distinct values
        uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        b = static_cast<uint8_t>(z ^ (z >> 31));
      }
    };
    o.on_event = [this](const AuditEntry& e) { events.push_back(e); };
    return o;
  }
  std::unique_ptr<Auth> open(Options o) {
    auto a = Auth::open(std::move(o));
    if (!a) FAIL("open: " << a.error().message);
    return std::move(*a);
  }
  std::unique_ptr<Auth> open() { return open(options()); }
  size_t count(const std::string& action) const {
    return static_cast<size_t>(std::count_if(events.begin(), events.end(), [&](auto& e) { return e.action == action; }));
  }
};

inline const Principal kRoot{"root", Role::admin, Principal::Via::local, {}, {}, {}};

// An admin "alice" made through the setup token.
inline void make_admin(Auth& a, const std::string& name = "alice", const std::string& pw = "correct horse battery") {
  auto tok = a.setup_token();
  REQUIRE(tok);
  auto r = a.complete_setup(*tok, name, pw, "192.0.2.1");
  REQUIRE(r.has_value());
}

// Everything written to fd 2 while alive.
class StderrCapture {
 public:
  StderrCapture() : file_(std::tmpfile()) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    ::dup2(::fileno(file_), 2);
  }
  ~StderrCapture() {
    restore();
    std::fclose(file_);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  std::string text() {
    restore();
    std::rewind(file_);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, file_)) > 0) out.append(buf, n);
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::FILE* file_;
  int saved_ = -1;
};

}  // namespace cats::auth::test
