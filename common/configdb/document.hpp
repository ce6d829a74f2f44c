// The whole CPE configuration as one JSON document whose keys are exactly the TOML file's
// (tables -> objects, arrays of tables -> arrays of objects). It is validated by rendering
// it to TOML and running config::check_cpe on it: one validator, so that the file and the
// API can never disagree. Field errors name RFC 6901 JSON pointers ("/wan/0/name").
#pragma once

#include "base/result.hpp"

#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace cats::configdb {

// Same shape as api::FieldError: the JSON pointer of the field ("" = the whole document).
struct FieldError {
  std::string field;
  std::string message;
};
using FieldErrors = std::vector<FieldError>;
// "field: message" lines (tests and logs print results with it).
inline std::ostream& operator<<(std::ostream& os, const FieldErrors& errs) {
  for (auto& e : errs) os << e.field << ": " << e.message << "\n";
  return os;
}
// Called by Expected<T, FieldErrors>::value() on an error.
[[noreturn]] void throw_exception_from_error(const FieldErrors& e, const boost::source_location&);

constexpr size_t kMaxDocumentBytes = 1 << 20;  // the TOML loader's limit too
constexpr int kMaxDepth = 32;

// Parses a document's JSON text: syntax, size, nesting depth and duplicate keys (which
// RFC 8259 §4 leaves undefined and boost::json would silently resolve to the last one).
// On success the value is an object; nothing else about it is checked yet.
Expected<boost::json::value, FieldErrors> parse_document(std::string_view text);

// Every problem of a parsed document: JSON-only ones (null, numbers TOML cannot hold,
// depth) and then everything config::check_cpe finds. Empty = valid.
FieldErrors validate(const boost::json::value& doc);

// The document as TOML text (what check_cpe reads); fails on what TOML cannot hold.
Expected<std::string, FieldErrors> to_toml(const boost::json::value& doc);
// A TOML file as a document (bootstrap). The text must pass config::check_cpe.
Expected<boost::json::value, FieldErrors> from_toml(std::string_view text, const std::string& file_name);

// One text per document: object keys sorted (byte order), no white space, integral
// numbers written as integers, others in the shortest form that reads back the same
// (std::to_chars). Stored revisions are in this form, so equal documents are equal bytes.
std::string canonical(const boost::json::value& doc);
// Readable form of the same (2-space indent, sorted keys) for export and the text diff.
std::string pretty(const boost::json::value& doc);

// "wan[1].name" (a config::Problem field) -> "/wan/1/name", resolved against `doc` so
// that keys holding '.' or '[' (a WAN named "a.b" under vcpe.ports) map right.
std::string pointer_for(std::string_view field, const boost::json::value& doc);
// RFC 6901 §4 escaping of one reference token ('~' -> "~0", '/' -> "~1").
std::string escape_token(std::string_view key);

// Secrets: JSON pointers of values exported only on request (probing.auth_key, the
// STAMP HMAC key; the other keys in the file are public keys).
const std::vector<std::string>& secret_pointers();
inline constexpr std::string_view kRedacted = "<redacted>";
// A copy with every present secret replaced by "<redacted>".
boost::json::value redact(const boost::json::value& doc);
// Each secret in `doc` that is "<redacted>" gets `current`'s value (removed when
// `current` has none), so an exported-and-edited document can be imported back.
void restore_secrets(boost::json::value& doc, const boost::json::value& current);

}  // namespace cats::configdb
