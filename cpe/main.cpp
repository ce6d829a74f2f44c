// cats-cpe: the branch appliance (CATS ingress: C-NMA, C-PS, C-TC): the overlay (one
// WireGuard tunnel per WAN with a peer per vCPE, underlay/overlay policy routing), the
// control API, and the CPE services (cpe/services.hpp).
#include "cpe/config_boot.hpp"
#include "cpe/services.hpp"
#include "cpe/steering.hpp"
#include "daemon/daemon.hpp"
#include "overlay/site_plan.hpp"

int main(int argc, char** argv) {
  return cats::daemon::site_main(argc, argv, "cats-cpe", "cpe", cats::cpe::load_owned_config, cats::overlay::plan_cpe,
                                 cats::cpe::services_factory, cats::cpe::describe_steering);
}
