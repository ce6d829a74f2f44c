// Pure translation of a daemon's config into its overlay Plan.
#pragma once

#include "config/config.hpp"
#include "overlay/plan.hpp"

namespace cats::overlay {

// CPE: one tunnel per WAN (index i = 1..), one peer per vCPE on each. The tunnel's
// WireGuard fwmark selects the WAN's underlay table, so each tunnel's UDP leaves over its
// own WAN; the overlay table routes the vCPE subnets over the tunnel.
Plan plan_cpe(const config::CpeConfig& c);

// vCPE: one tunnel per (CPE, WAN) path k = 1.. (in config order), each with its own listen
// port and the CPE as its only peer. Return traffic leaves over the tunnel the flow arrived
// on: ct mark remembers the path, and the mark selects the path's table (no NAT; client
// addresses are kept).
Plan plan_vcpe(const config::VcpeConfig& c);

}  // namespace cats::overlay
