// vCPE services (C-SMA): sampling of the configured instances, signed rate-controlled
// reports to every CPE, the STAMP reflector, and their control API endpoints.
#pragma once

#include "config/config.hpp"
#include "daemon/daemon.hpp"

namespace cats::vcpe {

daemon::ServicesFactory services_factory(const config::VcpeConfig& cfg);

}  // namespace cats::vcpe
