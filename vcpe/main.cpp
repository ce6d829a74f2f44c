// cats-vcpe: the cloud-side appliance (CATS egress, C-SMA): one WireGuard tunnel per
// (CPE, WAN) path with return traffic pinned to its arrival path, the control API, and the
// vCPE services (vcpe/services.hpp).
#include "daemon/daemon.hpp"
#include "overlay/site_plan.hpp"
#include "vcpe/services.hpp"

int main(int argc, char** argv) {
  return cats::daemon::site_main(argc, argv, "cats-vcpe", "vcpe", cats::vcpe::load_config, cats::overlay::plan_vcpe,
                                 cats::vcpe::services_factory);
}
