#include "api/static_files.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <system_error>

namespace cats::api {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "0.5" -> 500; a malformed weight counts as 1 (lenient, like browsers' servers).
int qvalue(std::string_view params) {
  for (size_t at = 0; at < params.size();) {
    auto semi = params.find(';', at);
    auto p = trim(params.substr(at, semi == std::string_view::npos ? std::string_view::npos : semi - at));
    at = semi == std::string_view::npos ? params.size() : semi + 1;
    if (p.size() < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=') continue;
    auto v = p.substr(2);
    if (v.empty() || (v[0] != '0' && v[0] != '1')) return 1000;
    int q = (v[0] - '0') * 1000;
    if (v.size() > 1 && v[1] == '.') {
      int scale = 100;
      for (size_t i = 2; i < v.size() && i < 5 && v[i] >= '0' && v[i] <= '9'; ++i, scale /= 10) q += (v[i] - '0') * scale;
    }
    return std::min(q, 1000);
  }
  return 1000;
}

std::optional<std::string> read_file(const fs::path& p, size_t limit, std::string& why) {
  std::error_code ec;
  auto size = fs::file_size(p, ec);
  if (ec) {
    why = p.string() + ": " + ec.message();
    return std::nullopt;
  }
  if (size > limit) {
    why = p.string() + ": " + std::to_string(size) + " bytes, more than the limit of " + std::to_string(limit);
    return std::nullopt;
  }
  std::ifstream in(p, std::ios::binary);
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    why = p.string() + ": read failed";
    return std::nullopt;
  }
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Encoding negotiate(std::string_view accept_encoding, bool have_br, bool have_gzip) {
  std::optional<int> br, gzip, identity, star;
  for (size_t at = 0; at <= accept_encoding.size();) {
    auto comma = accept_encoding.find(',', at);
    auto item = accept_encoding.substr(at, comma == std::string_view::npos ? std::string_view::npos : comma - at);
    at = comma == std::string_view::npos ? accept_encoding.size() + 1 : comma + 1;
    auto semi = item.find(';');
    auto name = lower(trim(item.substr(0, semi)));
    int q = semi == std::string_view::npos ? 1000 : qvalue(item.substr(semi + 1));
    if (name == "br") br = q;
    else if (name == "gzip" || name == "x-gzip") gzip = q;
    else if (name == "identity") identity = q;
    else if (name == "*") star = q;
  }
  const int q_br = have_br ? br.value_or(star.value_or(0)) : 0;
  const int q_gz = have_gzip ? gzip.value_or(star.value_or(0)) : 0;
  const int q_id = identity.value_or(star.value_or(1));  // identity is fine unless refused
  if (q_br > 0 && q_br >= q_gz && q_br >= q_id) return Encoding::br;
  if (q_gz > 0 && q_gz >= q_id) return Encoding::gzip;
  return Encoding::identity;
}

std::string content_type_for(std::string_view name) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},   {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},           {".map", "application/json"},
      {".svg", "image/svg+xml"},               {".png", "image/png"},
      {".ico", "image/x-icon"},                {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},   {".webmanifest", "application/manifest+json"},
  };
  for (const auto& [ext, type] : kTypes)
    if (ends_with(name, ext)) return std::string(type);
  return "application/octet-stream";
}

bool servable_name(std::string_view rel) {
  if (rel.empty()) return false;
  for (size_t at = 0; at <= rel.size();) {
    auto slash = rel.find('/', at);
    auto seg = rel.substr(at, slash == std::string_view::npos ? std::string_view::npos : slash - at);
    at = slash == std::string_view::npos ? rel.size() + 1 : slash + 1;
    // No empty segment ("a//b", leading or trailing '/'), no dot files, so no "." or "..".
    if (seg.empty() || seg.front() == '.') return false;
    for (char c : seg) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '-';
      if (!ok) return false;
    }
  }
  return true;
}

Result<std::shared_ptr<const StaticFiles>> StaticFiles::load(const std::string& root_dir, const StaticLimits& limits) {
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(fs::path(root_dir), ec);
  if (ec || !fs::is_directory(root, ec)) return Error::msg("web UI: " + root_dir + " is not a directory");
  auto out = std::make_shared<StaticFiles>();
  // Plain files first; their .gz / .br twins are attached after.
  std::vector<std::pair<std::string, fs::path>> twins;
  size_t seen = 0;
  // Default options: symlinks to directories are not followed, so the walk stays under root.
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (++seen > limits.max_files * 3) return Error::msg("web UI: more than " + std::to_string(limits.max_files) + " files in " + root_dir);
    // symlink_status: a symlink to a file is skipped too, so nothing outside root is read.
    if (!fs::is_regular_file(it->symlink_status())) continue;
    const std::string rel = it->path().lexically_relative(root).generic_string();
    if (!servable_name(rel)) continue;
    if (ends_with(rel, ".gz") || ends_with(rel, ".br")) {
      twins.emplace_back(rel, it->path());
      continue;
    }
    std::string why;
    auto body = read_file(it->path(), limits.max_file_bytes, why);
    if (!body) return Error::msg("web UI: " + why);
    out->total_ += body->size();
    StaticFile f;
    f.content_type = content_type_for(rel);
    f.identity = std::move(*body);
    f.immutable = rel.rfind("assets/", 0) == 0;
    out->files_.emplace(rel, std::move(f));
  }
  if (ec) return Error::msg("web UI: reading " + root_dir + ": " + ec.message());
  for (const auto& [rel, path] : twins) {
    auto base = out->files_.find(rel.substr(0, rel.size() - 3));
    if (base == out->files_.end()) continue;  // a stray archive is not a page
    std::string why;
    auto body = read_file(path, limits.max_file_bytes, why);
    if (!body) return Error::msg("web UI: " + why);
    out->total_ += body->size();
    (ends_with(rel, ".br") ? base->second.br : base->second.gzip) = std::move(*body);
  }
  if (out->files_.size() > limits.max_files)
    return Error::msg("web UI: more than " + std::to_string(limits.max_files) + " files in " + root_dir);
  if (out->total_ > limits.max_total_bytes)
    return Error::msg("web UI: " + std::to_string(out->total_) + " bytes in " + root_dir + ", more than the limit of " +
                      std::to_string(limits.max_total_bytes));
  if (out->files_.count("index.html") == 0) return Error::msg("web UI: no index.html in " + root_dir);
  return std::shared_ptr<const StaticFiles>(std::move(out));
}

Response StaticFiles::serve(const StaticFile& f, const Request& r) {
  const Encoding e = negotiate(r.header("accept-encoding"), !f.br.empty(), !f.gzip.empty());
  Response out = Response::text(e == Encoding::br ? f.br : e == Encoding::gzip ? f.gzip : f.identity, f.content_type);
  if (e != Encoding::identity) out.headers.emplace_back("Content-Encoding", e == Encoding::br ? "br" : "gzip");
  // Caches must key on the encoding whenever there was a choice to make.
  if (!f.br.empty() || !f.gzip.empty()) out.headers.emplace_back("Vary", "Accept-Encoding");
  // Replaces the default no-store: a hashed name never changes content (RFC 8246).
  if (f.immutable) out.headers.emplace_back("Cache-Control", "public, max-age=31536000, immutable");
  return out;
}

std::vector<std::string> StaticFiles::add_routes(Router& router, const std::vector<std::string>& spa_paths) const {
  std::vector<std::string> paths;
  // The handlers share this object (files are not copied per route or per server).
  std::shared_ptr<const StaticFiles> self = shared_from_this();
  for (const auto& [rel, file] : files_) {
    if (rel == "index.html") continue;  // only at the page paths, with no-store
    const StaticFile* f = &file;
    router.add("GET", "/" + rel, [self, f](const Request& r) { return serve(*f, r); });
    paths.push_back("/" + rel);
  }
  const StaticFile* index = &files_.at("index.html");
  for (const auto& p : spa_paths) {
    router.add("GET", p, [self, index](const Request& r) { return serve(*index, r); });
    paths.push_back(p);
  }
  return paths;
}

}  // namespace cats::api
