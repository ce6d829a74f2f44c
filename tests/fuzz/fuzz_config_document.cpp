// The JSON configuration document (configdb): arbitrary bytes must give a document or
// field errors, never a crash; a valid document's canonical text must be stable, and its
// TOML rendering must load as the same document.
#include "configdb/diff.hpp"
#include "configdb/document.hpp"

#include <boost/json/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cats::configdb;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = parse_document(text);
  if (!doc) {
    if (doc.error().empty()) __builtin_trap();  // a refusal must say why
    return 0;
  }
  auto errs = validate(*doc);
  for (auto& e : errs)
    if (e.message.empty() || (!e.field.empty() && e.field[0] != '/')) __builtin_trap();
  auto c = canonical(*doc);
  if (canonical(boost::json::parse(c)) != c) __builtin_trap();
  if (canonical(boost::json::parse(pretty(*doc))) != c) __builtin_trap();
  auto p = diff(boost::json::object{}, *doc);
  auto back = cats::configdb::apply(boost::json::object{}, p);
  if (!back || canonical(*back) != c) __builtin_trap();
  if (errs.empty()) {
    auto toml = to_toml(*doc);
    if (!toml) __builtin_trap();
    auto again = from_toml(*toml, "fuzz.toml");
    if (!again || canonical(*again) != c) __builtin_trap();
  }
  return 0;
}
