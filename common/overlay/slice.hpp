// The overlay's view of our kernel slice. The slice itself (marks, tables, priorities,
// limits, the nft table) is defined once in base/slice.hpp; this header adds the one rule
// shape that needs rtnl.
#pragma once

#include "base/slice.hpp"
#include "rtnl/rtnl.hpp"

#include <cstdint>
#include <string>

namespace cats::overlay {

using slice::fallback_rule_prio;
using slice::is_steer_rule_prio;
using slice::kMaxTunnels;
using slice::kMaxWans;
using slice::kNftFamily;
using slice::kNftInputTable;
using slice::kNftTable;
using slice::kPathMask;
using slice::oif_rule_prio;
using slice::overlay_table;
using slice::path_mark;
using slice::path_rule_prio;
using slice::underlay_mark;
using slice::underlay_rule_prio;
using slice::underlay_table;

// Sockets bound to tunnel k (probes, reports, `ping -I`) are routed by its overlay table.
inline rtnl::Rule tunnel_oif_rule(int family, int k, const std::string& ifname) {
  rtnl::Rule r;
  r.family = family;
  r.priority = oif_rule_prio(k);
  r.oif = ifname;
  r.table = overlay_table(k);
  return r;
}

}  // namespace cats::overlay
