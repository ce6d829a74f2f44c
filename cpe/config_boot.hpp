// Which configuration cats-cpe runs (issue 9 "Configuration owned by SQLite"): the file
// bootstraps an empty database as revision 1; after that the database's current
// revision runs, and a later edit of the file is ignored with a warning unless
// --reimport is given (then the file becomes a new revision).
#pragma once

#include "config/config.hpp"
#include "configdb/configdb.hpp"
#include "daemon/daemon.hpp"

namespace cats::cpe {

// The file must always be valid (it is what --reimport and a lost database fall back
// to). Without a database (or with an empty one) the file runs; nothing is created here.
// --check shows the file's plan (warning when the database runs another); --cleanup the
// database's, which is what made the kernel state.
Result<config::CpeConfig> load_owned_config(const daemon::Args& args);

// Once the daemon is up (interfaces found, overlay applied): the file it runs becomes
// revision 1 of an empty database. Nothing when the database has a revision already.
// Returns the database's current revision: the one that runs from now on (the caller
// gives it to the running services, whose sampling plans carry it).
Result<int64_t> bootstrap(configdb::ConfigDb& db, const config::CpeConfig& running);

}  // namespace cats::cpe
