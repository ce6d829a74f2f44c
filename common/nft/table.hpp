// "Replace one of our nft tables, fingerprinted": the one way cats writes a table (the
// overlay Applier's table on the vCPE, steering's on the CPE). Pure text, no libnftables,
// so the scripts are golden-testable.
//
// The table carries the comment "cats:<fingerprint>" (a hash of what we would write). A
// daemon that finds its fingerprint on the live table knows the table is the one it would
// write, and leaves it alone (restarts, periodic reconcile); any other table is replaced.
#pragma once

#include <string>
#include <string_view>

namespace cats::nft {

// The table's first line: `\tcomment "cats:<fingerprint>"\n`.
std::string fingerprint_comment(std::string_view fingerprint);

// One transaction: create the table if absent, delete it, define it anew with the comment
// and `body` (its maps, sets and chains, one tab-indented statement per line). Atomic (all
// or nothing), idempotent, and conntrack marks survive (they live in conntrack, not the
// table). ("destroy table" would spare the create but needs nft >= 1.0.8 / kernel >= 6.3.)
// family and name must be nft identifiers (callers pass constants: base/slice.hpp).
std::string replace_table_script(std::string_view family, std::string_view name, std::string_view fingerprint,
                                 std::string_view body);

// The fingerprint in a `list table` output's "cats:" comment; "" when there is none
// (someone else's table, or one written before fingerprints).
std::string table_fingerprint(std::string_view listing);

}  // namespace cats::nft
