// Which configuration cats-cpe runs (issue 9 "Configuration owned by SQLite"): the file
// bootstraps an empty database as revision 1; after that the database's current
// revision runs, and a later edit of the file is ignored with a warning unless
// --reimport is given (then the file becomes a new revision).
#pragma once

#include "config/config.hpp"
#include "daemon/daemon.hpp"

namespace cats::cpe {

// The file must always be valid (it is what --reimport and a lost database fall back
// to). --check and --cleanup read the database only when it exists and never create it.
Result<config::CpeConfig> load_owned_config(const daemon::Args& args);

}  // namespace cats::cpe
