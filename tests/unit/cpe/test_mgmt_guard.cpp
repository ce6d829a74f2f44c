// The CPE's HTTPS guard (cpe/mgmt.hpp cpe_guard): issue 9 "Scraping needs a token or an
// allow-listed source; this is configurable". A metrics_allow source reads /metrics with
// no credentials, and nothing else; any other source, and any other route or method,
// goes through the accounts' guard (401 without a session or token).
#include "auth/auth.hpp"
#include "auth/kdf.hpp"
#include "cpe/mgmt.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

using namespace cats;

namespace {

struct Dir {
  std::string path;
  Dir() {
    std::string t = (std::filesystem::temp_directory_path() / "cats-guard-XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()) != nullptr);
    path = t;
  }
  ~Dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

api::Request get(const std::string& path, const std::string& peer, const std::string& method = "GET") {
  api::Request r;
  r.method = method;
  r.path = path;
  r.peer = peer;
  r.headers["host"] = "10.1.0.1:8443";
  return r;
}

}  // namespace

TEST_CASE("cpe guard: /metrics without credentials from metrics_allow sources only, GET and HEAD only") {
  Dir d;
  auth::Options o;
  o.db_path = d.path + "/cats.db";
  o.hasher = std::shared_ptr<auth::PasswordHasher>(auth::argon2id_hasher(auth::KdfParams{64, 1, 1}));
  auto a = auth::Auth::open(std::move(o));
  REQUIRE(a.has_value());
  config::Management m;
  m.listen = {*parse_endpoint("10.1.0.1:8443")};
  m.metrics_allow = {*parse_prefix("10.1.0.0/24"), *parse_prefix("fd00::/64")};
  auto g = cpe::cpe_guard(**a, m);

  CHECK_FALSE(g(get("/metrics", "10.1.0.11")).has_value());  // served
  CHECK_FALSE(g(get("/metrics", "fd00::5")).has_value());
  CHECK_FALSE(g(get("/metrics", "10.1.0.11", "HEAD")).has_value());
  for (const auto& [path, peer, method] : {std::tuple{"/metrics", "192.0.2.9", "GET"},      // not listed
                                           std::tuple{"/metrics", "fd00:1::5", "GET"},      // another /64
                                           std::tuple{"/api/v1/paths", "10.1.0.11", "GET"},  // only /metrics
                                           std::tuple{"/metrics", "10.1.0.11", "POST"}}) {   // only reads
    auto r = g(get(path, peer, method));
    INFO(method << " " << path << " from " << peer);
    REQUIRE(r.has_value());
    CHECK(r->status == 401);
  }

  // Configurable: without an allow-list every scrape needs a token.
  m.metrics_allow.clear();
  auto none = cpe::cpe_guard(**a, m);
  auto r = none(get("/metrics", "10.1.0.11"));
  REQUIRE(r.has_value());
  CHECK(r->status == 401);
}
