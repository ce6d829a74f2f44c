// catsctl config: the configuration the CPE's database owns (docs/API.md "Configuration").
//
//   config get [POINTER]                    the document (or one value), secrets redacted
//   config set POINTER JSON [--confirm S] [--comment C]
//   config del POINTER [--confirm S] [--comment C]
//   config diff A B                         text diff of two revisions
//   config history [--limit N]
//   config revert N [--confirm S] [--comment C]
//   config confirm N
//   config export [--revision N] [--secrets]
//   config import FILE|- [--comment C]
//
// set/del/import are made against the revision catsctl just read (If-Match): a change
// someone else made in between is a 409, never silently overwritten.
#pragma once

#include "accounts.hpp"

namespace cats::ctl {

Result<Call> config_call(const std::vector<std::string>& args, std::istream& in);
std::string config_usage();

}  // namespace cats::ctl
