// Our named slice of shared kernel resources, defined once (DESIGN §2 "own a named
// slice"): mark bits, routing table ids, ip rule priorities, the route/rule protocol, the
// nft table, and the limits that follow from them. Nothing outside these ranges is ever
// created, changed or deleted by us. Used by rtnl (which refuses anything outside),
// overlay (underlay/overlay tables and rules), steer (candidate marks, steering rules) and
// config (which refuses a configuration beyond the limits, as a field error).
//
//   fwmark / ct mark bits (kOurMarkBits; bits 0x0000ffff belong to others)
//     0xff000000       candidate id c (1..255), steering (common/steer/steer.hpp "Mark layout")
//     0x00ff0000       path (kPathMask):
//       0x01..0xef       path marks (vCPE: return path k; CPE: steering, WAN i of a candidate)
//       0xf1..0xff       CPE underlay: WireGuard fwmark of WAN i (1..15)
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
//   route/rule protocol 201 (kRouteProtocol)
//   nft              table inet cats (vCPE: overlay Applier; CPE: steering)
//                    table inet cats_input (CPE: the WAN input filter, [firewall] wan_input;
//                                  overlay/input_filter.hpp). Unlike everything above it
//                                  outlives the daemon: a stop or in-place restart keeps
//                                  it, only --cleanup (and package removal) deletes it
#pragma once

#include <cstdint>

namespace cats::slice {

// ---- limits --------------------------------------------------------------------------
inline constexpr int kMaxWans = 15;      // path values 0x01..0x0f, underlay 0xf1..0xff
inline constexpr int kMaxTunnels = 200;  // overlay tables 10101..10300
// Candidates: the candidate id is the top byte of the mark, 0 meaning "none drawn".
inline constexpr uint32_t kCandidateMask = 0xff000000;
inline constexpr int kCandidateShift = 24;
inline constexpr int kMaxCandidates = static_cast<int>(kCandidateMask >> kCandidateShift);  // all services together
inline constexpr int kMaxCandidatesPerService = 64;  // a service's weight map

// ---- marks ---------------------------------------------------------------------------
inline constexpr uint32_t kPathMask = 0x00ff0000;  // path / underlay bits of fwmark and ct mark
inline constexpr int kPathShift = 16;
inline constexpr uint32_t kOurMarkBits = kCandidateMask | kPathMask;

inline constexpr uint32_t path_mark(int k) { return static_cast<uint32_t>(k) << kPathShift; }
inline constexpr int path_of(uint32_t mark) { return static_cast<int>((mark & kPathMask) >> kPathShift); }
inline constexpr uint32_t underlay_mark(int wan) { return path_mark(0xf0 + wan); }
inline constexpr uint32_t candidate_mark(int cid, int wan) {
  return static_cast<uint32_t>(cid) << kCandidateShift | path_mark(wan);
}
inline constexpr int candidate_id_of(uint32_t mark) { return static_cast<int>(mark >> kCandidateShift); }

// ---- routing tables and ip rules -----------------------------------------------------
inline constexpr uint8_t kRouteProtocol = 201;  // RTPROT value tagging our routes and rules
inline constexpr uint32_t kTableMin = 10000;    // our routing table ids
inline constexpr uint32_t kTableMax = 10999;
inline constexpr uint32_t kRulePriorityMin = 10000;  // our ip rule priority range
inline constexpr uint32_t kRulePriorityMax = 10999;

inline constexpr uint32_t underlay_table(int wan) { return 10000u + static_cast<uint32_t>(wan); }
inline constexpr uint32_t overlay_table(int k) { return 10100u + static_cast<uint32_t>(k); }
inline constexpr uint32_t underlay_rule_prio(int wan) { return 10010u + static_cast<uint32_t>(wan); }
inline constexpr uint32_t path_rule_prio(int k) { return 10200u + static_cast<uint32_t>(k); }
inline constexpr uint32_t oif_rule_prio(int k) { return 10500u + static_cast<uint32_t>(k); }
inline constexpr uint32_t steer_rule_prio(int wan) { return 10800u + static_cast<uint32_t>(wan); }
inline constexpr uint32_t fallback_rule_prio(int wan) { return 10900u + static_cast<uint32_t>(wan); }
// Steering's own priorities: the overlay Applier neither adds nor deletes rules here.
inline constexpr uint32_t kSteerRulePrioMin = steer_rule_prio(1);
inline constexpr uint32_t kSteerRulePrioMax = steer_rule_prio(kMaxWans);
inline constexpr bool is_steer_rule_prio(uint32_t prio) { return prio >= kSteerRulePrioMin && prio <= kSteerRulePrioMax; }

// ---- nftables ------------------------------------------------------------------------
inline constexpr const char* kNftFamily = "inet";
inline constexpr const char* kNftTable = "cats";
// The CPE's WAN input filter (default-deny on the WAN interfaces): a table of its own so
// that it can stay while `inet cats` comes and goes with the daemon.
inline constexpr const char* kNftInputTable = "cats_input";

// The ranges do not overlap and stay inside what rtnl accepts.
static_assert(kMaxCandidates == 255);
static_assert(candidate_mark(kMaxCandidates, kMaxWans) == 0xff0f0000);
static_assert((path_mark(kMaxWans) & ~kPathMask) == 0 && (underlay_mark(kMaxWans) & ~kPathMask) == 0);
static_assert(path_mark(kMaxWans) < underlay_mark(1));
static_assert(underlay_table(kMaxWans) < overlay_table(1) && overlay_table(kMaxTunnels) <= kTableMax);
static_assert(underlay_rule_prio(kMaxWans) < path_rule_prio(1) && path_rule_prio(kMaxTunnels) < oif_rule_prio(1));
static_assert(oif_rule_prio(kMaxTunnels) < kSteerRulePrioMin && kSteerRulePrioMax < fallback_rule_prio(1));
static_assert(fallback_rule_prio(kMaxWans) <= kRulePriorityMax && underlay_rule_prio(1) >= kRulePriorityMin);

}  // namespace cats::slice
