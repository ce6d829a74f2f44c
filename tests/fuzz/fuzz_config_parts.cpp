// Parts of the configuration by pointer (cpe/config_parts): "<pointer>\n<JSON document>".
// Any bytes give a part or a refusal; a patch put_part/delete_part returns always applies.
#include "configdb/diff.hpp"
#include "cpe/config_parts.hpp"

#include <boost/json/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto nl = in.find('\n');
  if (nl == std::string_view::npos) return 0;
  const auto path = in.substr(0, nl);
  boost::json::error_code ec;
  boost::json::parse_options po;
  po.max_depth = 32;
  auto doc = boost::json::parse(in.substr(nl + 1), ec, {}, po);
  if (ec) return 0;
  if (auto ptr = cats::cpe::resolve_part(doc, path)) {
    boost::system::error_code e2;
    if (!doc.find_pointer(*ptr, e2)) __builtin_trap();  // resolved means it is there
  }
  if (auto p = cats::cpe::put_part(doc, path, boost::json::value(7)))
    if (!cats::configdb::apply(doc, *p)) __builtin_trap();
  if (auto p = cats::cpe::delete_part(doc, path))
    if (!cats::configdb::apply(doc, *p)) __builtin_trap();
  return 0;
}
