// The configuration's revisions in SQLite (tables config_*, versioned apart from the
// store's in config_schema_version). After the first start the database, not the TOML
// file, owns the configuration: the file only bootstraps an empty database.
//
// Every write is one IMMEDIATE transaction: it is validated first (document.hpp), then
// either all of it is stored or, on any failure (full disk, locked database), nothing.
// Optimistic concurrency as HTTP's If-Match (RFC 9110 §13.1.1): a change names the
// revision it was made against and is refused (conflict, 409) when that is not current.
#pragma once

#include "base/result.hpp"
#include "configdb/diff.hpp"
#include "configdb/document.hpp"

#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;

namespace cats::configdb {

struct ConfigError {
  enum class Kind {
    invalid,    // the document breaks a rule; `fields` says where (400)
    conflict,   // expected revision is not the current one, or nothing to confirm (409)
    not_found,  // no such revision (pruned or never made) (404)
    storage,    // SQLite refused: full disk, locked, I/O error; nothing was changed (503)
    apply,      // the caller's apply hook failed; nothing was stored (500)
  };
  Kind kind = Kind::storage;
  std::string message;
  FieldErrors fields;
  int64_t current_rev = 0;  // for conflict: the revision to re-read (the new ETag)

  int http_status() const;
  const char* code() const;  // "invalid", "conflict", "not_found", "storage", "apply_failed"
};
inline std::ostream& operator<<(std::ostream& os, const ConfigError& e) { return os << e.message << "\n" << e.fields; }
[[noreturn]] void throw_exception_from_error(const ConfigError& e, const boost::source_location&);
template <class T>
using Outcome = Expected<T, ConfigError>;

// Who made a change, from where, and why (the revision's audit fields).
struct Change {
  std::string author;   // user or token name; "bootstrap" / "cats" for the daemon itself
  std::string peer;     // client address; "" on the root socket
  std::string comment;
};

struct Revision {
  int64_t rev = 0;
  int64_t ts_ms = 0;  // unix time, ms
  Change change;
  std::string doc;   // canonical text (document.hpp); empty in list()
  std::string diff;  // JSON Patch from the previous revision, secrets redacted; "[]" for the first
  std::optional<int64_t> confirm_by_ms;  // applied with confirm_within: its deadline
  std::optional<int64_t> confirmed_ms;
};

struct Current {
  int64_t rev = 0;  // 0: no revision yet (doc is {})
  boost::json::value doc;
  std::string text;  // canonical
};

// A change applied with confirm_within and not confirmed yet (LuCI's apply-and-confirm).
// Changes made on top of it while it waits join it: one confirmation (or one revert to
// `base`) settles them all.
struct Pending {
  int64_t rev = 0;          // the newest revision of the unconfirmed chain
  int64_t base = 0;         // the revision to return to when it expires
  int64_t deadline_ms = 0;  // unix ms
  bool operator==(const Pending&) const = default;
};

// "\"<rev>\"" (a strong entity tag, RFC 9110 §8.8.3) and back; nullopt when malformed.
std::string etag(int64_t rev);
std::optional<int64_t> parse_etag(std::string_view v);

class ConfigDb {
 public:
  using Clock = std::function<int64_t()>;  // unix ms
  struct Options {
    int busy_timeout_ms = 2000;
    size_t keep = 1000;  // revisions kept; the current one (and a pending base) always
    // Caps the file (SQLite pages); beyond it a write fails as on a full disk. 0 = no cap.
    int64_t max_page_count = 0;
  };

  static Result<ConfigDb> open(const std::string& path, Clock clock, Options opt);
  static Result<ConfigDb> open(const std::string& path, Clock clock) { return open(path, std::move(clock), Options{}); }
  ConfigDb(ConfigDb&&) noexcept;
  ConfigDb& operator=(ConfigDb&&) noexcept;
  ~ConfigDb();

  // Runs inside the write transaction, after the new revision is written and before it is
  // committed: the daemon applies the document here (overlay, probing, steering). A
  // failure rolls the revision back, so the database and the running daemon move as one
  // unit; the hook must itself leave the kernel at the previous revision when it fails.
  // Not called when the document is unchanged. Holds the write lock while it runs.
  using Apply = std::function<Status(int64_t rev, const boost::json::value& doc)>;

  Outcome<Current> current();
  // Validated, then stored as revision current + 1. A document equal to the current one
  // stores nothing and returns the current revision. With confirm_within, the revision
  // is pending until confirm() (see Pending).
  Outcome<int64_t> commit(int64_t expected_rev, const boost::json::value& doc, const Change& who,
                          std::optional<std::chrono::milliseconds> confirm_within = std::nullopt,
                          const Apply& apply = {});
  // The stored revision, its document WITH secrets: answers redact it (redact(), export_doc).
  Outcome<Revision> get(int64_t rev);
  // Newest first, starting at `from` (0: the current one); at most `limit` (<= 1000).
  Outcome<std::vector<Revision>> list(int64_t from, size_t limit);
  // From revision a's document to b's, secrets redacted.
  Outcome<Patch> diff(int64_t a, int64_t b);
  // Revision to_rev's document as a new revision. Reverting to the pending base settles
  // the pending chain (this is what an expiry does).
  Outcome<int64_t> revert(int64_t to_rev, const Change& who,
                          std::optional<std::chrono::milliseconds> confirm_within = std::nullopt,
                          const Apply& apply = {});
  // Pretty JSON of a revision (0: current), secrets "<redacted>" unless with_secrets.
  Outcome<std::string> export_doc(int64_t rev, bool with_secrets);
  // A whole document's JSON text, validated like any commit; "<redacted>" secrets keep
  // the current values.
  Outcome<int64_t> import_doc(std::string_view text, int64_t expected_rev, const Change& who, const Apply& apply = {});

  // Revision 1 from the TOML file, only when the database has no revision (returns
  // false, doing nothing, otherwise). The file's SHA-256 is remembered for toml_changed.
  Outcome<bool> bootstrap_from_toml(std::string_view text, const std::string& file_name);
  // True when `text` is not the file imported last (the caller warns: "TOML edited after
  // import; ignored (use --reimport)").
  Outcome<bool> toml_changed(std::string_view text);
  // --reimport: the file as a new revision (validated), remembered as the imported one.
  Outcome<int64_t> reimport(std::string_view text, const std::string& file_name, const Change& who,
                            const Apply& apply = {});

  Outcome<std::optional<Pending>> pending();
  // Settles the pending chain whose newest revision is `rev`.
  Outcome<void> confirm(int64_t rev);
  // The pending chain when its deadline has passed at now_ms: revert(p.base, ...) it.
  Outcome<std::optional<Pending>> expired(int64_t now_ms);

 private:
  struct Impl;
  explicit ConfigDb(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Hex SHA-256 (FIPS 180-4) of the text; what toml_changed compares.
std::string sha256_hex(std::string_view text);

}  // namespace cats::configdb
