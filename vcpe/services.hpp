// vCPE services (C-SMA): sampling of the configured instances, signed rate-controlled
// reports to every CPE, the STAMP reflector, and their control API endpoints.
#pragma once

#include "config/config.hpp"
#include "daemon/daemon.hpp"

namespace cats::vcpe {

daemon::ServicesFactory services_factory(const config::VcpeConfig& cfg);

// The configuration cats-vcpe runs, from its parsed arguments: the file. --reimport is
// refused: a vCPE keeps no configuration database for a file to replace.
Result<config::VcpeConfig> load_config(const daemon::Args& args);

}  // namespace cats::vcpe
