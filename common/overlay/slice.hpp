// Our named slice of shared kernel resources. Nothing outside these ranges is ever
// created, changed or deleted by us (DESIGN §2 "own a named slice").
//
//   fwmark bits      0x00ff0000 (rtnl::kMarkMask); other bits belong to others
//     0x01..0xef       path marks (vCPE: return path k; CPE: steering, later)
//     0xf1..0xff       CPE underlay: WireGuard fwmark of WAN i (1..15)
//   routing tables   10001..10015  CPE underlay, one per WAN (default via the WAN gateway)
//                    10101..10300  overlay, one per tunnel (routes over that tunnel)
//   rule priorities  10011..10025  CPE: fwmark underlay(i) -> underlay table i
//                    10201..10400  fwmark path(k) -> overlay table k   (vCPE return path)
//                    10501..10700  oif tunnel k -> overlay table k     (sockets bound to a tunnel)
//                    10801..10815  CPE: steering, fwmark WAN i -> overlay table i
//                                  (owned by common/steer/programmer.hpp, not the overlay
//                                  Applier; teardown removes them with the rest)
//                    10901..10915  CPE: fallback lookup of overlay table i (LAN traffic to
//                                  the clouds that is not a steered service flow)
//   route/rule protocol 201 (rtnl::kRouteProtocol)
//   nft              table inet cats (vCPE: overlay Applier; CPE: steering)
#pragma once

#include "rtnl/rtnl.hpp"

#include <cstdint>
#include <string>

namespace cats::overlay {

inline constexpr int kMaxWans = 15;
inline constexpr int kMaxTunnels = 200;

inline constexpr uint32_t underlay_mark(int wan) { return static_cast<uint32_t>(0xf0 + wan) << 16; }
inline constexpr uint32_t path_mark(int k) { return static_cast<uint32_t>(k) << 16; }
inline constexpr uint32_t underlay_table(int wan) { return 10000u + static_cast<uint32_t>(wan); }
inline constexpr uint32_t overlay_table(int k) { return 10100u + static_cast<uint32_t>(k); }
inline constexpr uint32_t underlay_rule_prio(int wan) { return 10010u + static_cast<uint32_t>(wan); }
inline constexpr uint32_t path_rule_prio(int k) { return 10200u + static_cast<uint32_t>(k); }
inline constexpr uint32_t oif_rule_prio(int k) { return 10500u + static_cast<uint32_t>(k); }
inline constexpr uint32_t fallback_rule_prio(int wan) { return 10900u + static_cast<uint32_t>(wan); }
// Steering's own priorities (steer::steer_rule_prio): the overlay Applier neither adds nor
// deletes rules here.
inline constexpr uint32_t kSteerRulePrioMin = 10801;
inline constexpr uint32_t kSteerRulePrioMax = 10800u + kMaxWans;
inline constexpr bool is_steer_rule_prio(uint32_t prio) { return prio >= kSteerRulePrioMin && prio <= kSteerRulePrioMax; }

inline constexpr const char* kNftTable = "cats";

// Sockets bound to tunnel k (probes, reports, `ping -I`) are routed by its overlay table.
inline rtnl::Rule tunnel_oif_rule(int family, int k, const std::string& ifname) {
  rtnl::Rule r;
  r.family = family;
  r.priority = oif_rule_prio(k);
  r.oif = ifname;
  r.table = overlay_table(k);
  return r;
}

static_assert(underlay_mark(kMaxWans) <= rtnl::kMarkMask);
static_assert(overlay_table(kMaxTunnels) <= rtnl::kTableMax);
static_assert(fallback_rule_prio(kMaxWans) <= rtnl::kRulePriorityMax);

}  // namespace cats::overlay
