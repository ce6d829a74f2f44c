// Shared by the configdb tests: the example configuration (docs/examples/cpe.toml) as
// TOML text and as a document, a temp dir, and small document editors.
#pragma once

#include "configdb/document.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace cats::configdb::test {

inline std::string example_toml() {
  std::ifstream f(std::string(CATS_SOURCE_DIR) + "/docs/examples/cpe.toml");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline boost::json::value example_doc() {
  auto d = from_toml(example_toml(), "cpe.toml");
  if (!d) throw std::runtime_error("example does not load: " + d.error().front().message);
  return *d;
}

// 16 bytes, base64: the smallest valid STAMP HMAC key.
inline constexpr const char* kAuthKey = "AAECAwQFBgcICQoLDA0ODw==";

inline boost::json::value& at(boost::json::value& doc, const char* pointer) { return doc.at_pointer(pointer); }

inline bool has(const FieldErrors& errs, const std::string& field, const std::string& message_part) {
  for (auto& e : errs)
    if (e.field == field && e.message.find(message_part) != std::string::npos) return true;
  return false;
}

inline std::string dump(const FieldErrors& errs) {
  std::string s;
  for (auto& e : errs) s += e.field + ": " + e.message + "\n";
  return s;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cats-configdb-XXXXXX").string();
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

}  // namespace cats::configdb::test

// Catch prints a result as "value" / its error (boost's own operator<< needs the value
// type to be printable too).
namespace Catch {
template <class T, class E>
struct StringMaker<cats::Expected<T, E>> {
  static std::string convert(const cats::Expected<T, E>& r) {
    if (r) return "value";
    std::ostringstream os;
    os << "error: " << r.error();
    return os.str();
  }
};
}  // namespace Catch
