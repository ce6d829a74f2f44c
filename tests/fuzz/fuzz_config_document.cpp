// The JSON configuration document (configdb): arbitrary bytes must give a document or
// field errors, never a crash; a valid document's TOML rendering must load as valid.
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
  // Canonical text parses back (exact float equality is not asked: Boost 1.81's parser
  // does not round every decimal correctly), and pretty is the same document.
  auto c = canonical(*doc);
  boost::json::error_code ec;
  auto again = boost::json::parse(c, ec);
  if (ec || !again.is_object()) __builtin_trap();
  auto pretty_again = boost::json::parse(pretty(*doc), ec);
  if (ec || canonical(pretty_again).size() == 0) __builtin_trap();
  // The patch from {} rebuilds the document exactly (no text in between).
  auto p = diff(boost::json::object{}, *doc);
  auto back = cats::configdb::apply(boost::json::object{}, p);
  if (!back || canonical(*back) != c) __builtin_trap();
  // A valid document renders to TOML that the file loader accepts as valid too.
  if (errs.empty()) {
    auto toml = to_toml(*doc);
    if (!toml || !from_toml(*toml, "fuzz.toml")) __builtin_trap();
  }
  return 0;
}
