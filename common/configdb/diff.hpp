// Structural difference of two configuration documents as an RFC 6902 JSON Patch
// (objects compared by key, arrays by index), and a readable text form of it.
#pragma once

#include "configdb/document.hpp"

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <vector>

namespace cats::configdb {

struct PatchOp {
  std::string op;    // "add", "remove", "replace" (RFC 6902 §4.1-4.3); a rename is remove + add
  std::string path;  // RFC 6901 JSON pointer
  std::optional<boost::json::value> value;  // add, replace
  std::optional<boost::json::value> old;    // remove, replace: the value before (text form only)
};
using Patch = std::vector<PatchOp>;

// Ops that turn `a` into `b` when applied in order. Array tails: added elements in
// increasing index, removed ones from the end (so every index is valid when applied).
Patch diff(const boost::json::value& a, const boost::json::value& b);
// [{"op","path","value"?}] (RFC 6902); `old` is left out.
boost::json::value to_json(const Patch& p);
// The patch from its JSON form (the stored diff, or a client's PATCH body): ops add,
// remove, replace and test (RFC 6902 §4.1-4.3, 4.6). At most 10000 ops.
Expected<Patch, FieldErrors> patch_from_json(const boost::json::value& v);
// Applies `p` to `doc` (a copy is changed; on any failed op nothing is returned).
Expected<boost::json::value, FieldErrors> apply(const boost::json::value& doc, const Patch& p);
// Secrets (secret_pointers()) inside any op's value or old value become "<redacted>".
Patch redact(Patch p);
// One line per op: "+ /service/1 = {...}", "- /wan/1 (was {...})", "~ /probing/interval_ms: 50 -> 70".
std::string diff_text(const Patch& p);

}  // namespace cats::configdb
