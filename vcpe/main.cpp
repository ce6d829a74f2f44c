// cats-vcpe: the cloud-side appliance (CATS egress, C-SMA). So far: one WireGuard tunnel
// per (CPE, WAN) path, return traffic pinned to the path it arrived on, the control API.
#include "daemon/daemon.hpp"
#include "overlay/site_plan.hpp"

int main(int argc, char** argv) {
  return cats::daemon::site_main(argc, argv, "cats-vcpe", "vcpe", cats::config::load_vcpe, cats::overlay::plan_vcpe);
}
