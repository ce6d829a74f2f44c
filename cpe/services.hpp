// CPE services: STAMP probing of every (WAN x vCPE) path (C-NMA), the metric report
// collector, and their control API endpoints.
#pragma once

#include "config/config.hpp"
#include "daemon/daemon.hpp"

namespace cats::cpe {

daemon::ServicesFactory services_factory(const config::CpeConfig& cfg);

}  // namespace cats::cpe
