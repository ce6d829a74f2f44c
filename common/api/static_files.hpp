// The web UI's built files (webui/, docs/ARCHITECTURE.md "Web UI"), served by the Router.
//
// The whole build is read into memory once, at start: a few hundred KB, each file with the
// .br / .gz twins the build made. Each file becomes one exact GET route, so the Router
// stays exact-match and a request path can never name anything the loader did not pick:
// "..", NUL, "//", percent-escapes and symlinks out of the root are simply no route (404).
// Swapping the files on disk takes a restart, as a package upgrade does anyway.
#pragma once

#include "api/api.hpp"
#include "base/result.hpp"

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cats::api {

struct StaticLimits {
  size_t max_file_bytes = 4u << 20;    // one file (or one of its compressed twins)
  size_t max_total_bytes = 32u << 20;  // everything loaded
  size_t max_files = 512;
};

// One servable file and its precompressed forms ("" when the build made none).
struct StaticFile {
  std::string content_type;
  std::string identity;
  std::string gzip;
  std::string br;
  bool immutable = false;  // under assets/: the name carries a content hash
};

enum class Encoding { identity, gzip, br };

// The best encoding the client accepts among those present (RFC 9110 12.5.3): the highest
// q, ties broken br > gzip > identity; "*" stands for any coding not named; q=0 refuses.
// identity is acceptable unless refused; when nothing is, identity anyway (a 406 for a
// stylesheet helps nobody).
Encoding negotiate(std::string_view accept_encoding, bool have_br, bool have_gzip);

// "text/javascript; charset=utf-8" for "x.js"...; application/octet-stream when unknown.
std::string content_type_for(std::string_view file_name);

// A relative path the loader accepts as a URL path: segments of [A-Za-z0-9._-], none
// starting with '.', no empty segment. Everything else is skipped at load.
bool servable_name(std::string_view relative);

class StaticFiles : public std::enable_shared_from_this<StaticFiles> {
 public:
  // Loads every regular file under root (symlinks are not followed). Needs index.html.
  // Fails on a file or total beyond the limits, rather than serving half a UI.
  static Result<std::shared_ptr<const StaticFiles>> load(const std::string& root, const StaticLimits& limits = {});

  // GET routes: each file at "/<relative path>" (but index.html), and index.html at each
  // of spa_paths (the client-side pages: "/", "/login"...). Returns the registered paths,
  // which are the ones the guard lets through without a login.
  std::vector<std::string> add_routes(Router& router, const std::vector<std::string>& spa_paths) const;

  // The answer for one file: negotiated encoding, Vary, Cache-Control (immutable for
  // hashed assets, no-store for the index so a new build is picked up at once).
  static Response serve(const StaticFile& f, const Request& r);

  const std::map<std::string, StaticFile>& files() const { return files_; }
  size_t total_bytes() const { return total_; }

 private:
  std::map<std::string, StaticFile> files_;  // by relative path ("assets/index-3f2a.js")
  size_t total_ = 0;
};

}  // namespace cats::api
