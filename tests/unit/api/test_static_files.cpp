#include "api/api.hpp"
#include "api/http.hpp"
#include "api/static_files.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

using namespace cats::api;
namespace fs = std::filesystem;

namespace {

// A build output like webui/dist: index.html, a hashed asset with its twins, and things
// the loader must not serve.
struct Dist {
  fs::path root;
  Dist() {
    root = fs::temp_directory_path() / ("cats-static-" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root / "assets");
    put("index.html", "<!doctype html><title>cats</title>");
    put("index.html.gz", "GZ-INDEX");
    put("assets/app-3f2a.js", "console.log(1)");
    put("assets/app-3f2a.js.gz", "GZ-JS");
    put("assets/app-3f2a.js.br", "BR-JS");
    put("assets/app-3f2a.css", "body{}");
    put("favicon.svg", "<svg/>");
    put(".secret", "hidden");
    put("assets/we ird.js", "x");
    put("orphan.js.br", "nobody's twin");
    fs::create_symlink("/etc/hostname", root / "assets" / "link.js");
  }
  ~Dist() { fs::remove_all(root); }
  void put(const std::string& rel, const std::string& text) const { std::ofstream(root / rel) << text; }
};

Request get(std::string path, std::string accept = {}) {
  Request r;
  r.method = "GET";
  r.path = std::move(path);
  if (!accept.empty()) r.headers["accept-encoding"] = std::move(accept);
  return r;
}

std::string header(const Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return {};
}

}  // namespace

TEST_CASE("static files: encoding negotiation") {
  CHECK(negotiate("gzip, deflate, br, zstd", true, true) == Encoding::br);
  CHECK(negotiate("gzip, deflate", true, true) == Encoding::gzip);
  CHECK(negotiate("", true, true) == Encoding::identity);
  CHECK(negotiate("br;q=0, gzip", true, true) == Encoding::gzip);
  CHECK(negotiate("br;q=0.5, gzip;q=0.8", true, true) == Encoding::gzip);
  CHECK(negotiate("br", false, true) == Encoding::identity);  // no .br made
  CHECK(negotiate("*", true, true) == Encoding::br);
  CHECK(negotiate("*;q=0, gzip", true, true) == Encoding::gzip);
  CHECK(negotiate("identity;q=0", false, false) == Encoding::identity);  // nothing else to send
  CHECK(negotiate("GZIP;Q=1.0", false, true) == Encoding::gzip);
  CHECK(negotiate("br;q=0.001, identity;q=0.5", true, true) == Encoding::identity);
}

TEST_CASE("static files: names and types") {
  CHECK(servable_name("assets/app-3f2a.js"));
  CHECK(servable_name("index.html"));
  CHECK_FALSE(servable_name("../etc/passwd"));
  CHECK_FALSE(servable_name("assets/../index.html"));
  CHECK_FALSE(servable_name("/etc/passwd"));
  CHECK_FALSE(servable_name("a//b"));
  CHECK_FALSE(servable_name(".env"));
  CHECK_FALSE(servable_name("a b"));
  CHECK_FALSE(servable_name(std::string("a\0b", 3)));
  CHECK_FALSE(servable_name("a%2e%2e"));
  CHECK(content_type_for("x.js") == "text/javascript; charset=utf-8");
  CHECK(content_type_for("index.html") == "text/html; charset=utf-8");
  CHECK(content_type_for("x.css") == "text/css; charset=utf-8");
  CHECK(content_type_for("x.bin") == "application/octet-stream");
}

TEST_CASE("static files: routes, caching, traversal refused") {
  Dist d;
  auto files = StaticFiles::load(d.root.string());
  REQUIRE(files);
  Router rt;
  auto paths = (*files)->add_routes(rt, {"/", "/login"});
  CHECK(std::find(paths.begin(), paths.end(), "/assets/app-3f2a.js") != paths.end());

  SECTION("hashed asset: negotiated, immutable") {
    auto br = rt.dispatch(get("/assets/app-3f2a.js", "gzip, deflate, br"));
    CHECK(br.status == 200);
    CHECK(*br.raw == "BR-JS");
    CHECK(header(br, "Content-Encoding") == "br");
    CHECK(header(br, "Vary") == "Accept-Encoding");
    CHECK(header(br, "Cache-Control") == "public, max-age=31536000, immutable");
    CHECK(br.content_type == "text/javascript; charset=utf-8");
    auto gz = rt.dispatch(get("/assets/app-3f2a.js", "gzip"));
    CHECK(*gz.raw == "GZ-JS");
    CHECK(header(gz, "Content-Encoding") == "gzip");
    auto id = rt.dispatch(get("/assets/app-3f2a.js"));
    CHECK(*id.raw == "console.log(1)");
    CHECK(header(id, "Content-Encoding").empty());
    CHECK(header(id, "Vary") == "Accept-Encoding");
    // No twins: nothing to vary on.
    auto css = rt.dispatch(get("/assets/app-3f2a.css", "br"));
    CHECK(*css.raw == "body{}");
    CHECK(header(css, "Vary").empty());
    CHECK(css.content_type == "text/css; charset=utf-8");
  }
  SECTION("pages: index.html, never cached; the wire answer keeps the security headers") {
    for (const char* p : {"/", "/login"}) {
      auto r = rt.dispatch(get(p, "br, gzip"));
      CHECK(r.status == 200);
      CHECK(*r.raw == "GZ-INDEX");
      CHECK(header(r, "Cache-Control").empty());  // the default no-store stays
      auto wire = detail::to_beast(r, 11, true);
      CHECK(wire[boost::beast::http::field::cache_control] == "no-store");
      CHECK(wire[boost::beast::http::field::content_encoding] == "gzip");
      CHECK(std::string(wire["Content-Security-Policy"]).find("script-src 'self'") != std::string::npos);
    }
    auto fav = rt.dispatch(get("/favicon.svg"));
    CHECK(fav.status == 200);
    CHECK(header(fav, "Cache-Control").empty());  // not hashed: not immutable
  }
  SECTION("nothing outside what the loader picked") {
    for (const char* p : {"/index.html", "/assets/../index.html", "/assets/%2e%2e/index.html", "/.secret",
                          "/assets/link.js", "/etc/hostname", "/assets/app-3f2a.js.br", "/orphan.js.br",
                          "/assets/we ird.js", "/assets/", "/assets", "//assets/app-3f2a.js"}) {
      INFO(p);
      CHECK(rt.dispatch(get(p)).status == 404);
    }
    Request post = get("/");
    post.method = "POST";
    CHECK(rt.dispatch(post).status == 405);
  }
}

TEST_CASE("static files: bounded and complete, or refused") {
  Dist d;
  StaticLimits small;
  small.max_file_bytes = 16;
  d.put("assets/big.js", std::string(17, 'x'));
  auto big = StaticFiles::load(d.root.string(), small);
  REQUIRE_FALSE(big);
  CHECK(big.error().message.find("big.js") != std::string::npos);
  StaticLimits total;
  total.max_total_bytes = 40;
  CHECK_FALSE(StaticFiles::load(d.root.string(), total));
  fs::remove(d.root / "index.html");
  auto no_index = StaticFiles::load(d.root.string());
  REQUIRE_FALSE(no_index);
  CHECK(no_index.error().message.find("index.html") != std::string::npos);
  CHECK_FALSE(StaticFiles::load((d.root / "nope").string()));
}
