// Steering data plane as plain desired state (DESIGN §2 "Service identifier -> address",
// "Path choice", "One draw decides instance and path together"; draft R1, R2, R16, R17).
// Everything here is a pure function of the State; steer::Programmer (programmer.hpp)
// applies it to the kernel.
//
// Mark layout (the slice is base/slice.hpp; DESIGN §2 "Own a named slice"):
//
//   bits 0xff000000  candidate id c (1..255, base/slice.hpp), unique across all services of a
//                    State and stable (see "Candidate ids" below). NEW slice claimed by
//                    steering: nothing else in cats uses these bits, and the ct mark is
//                    only ever set by our own table.
//   bits 0x00ff0000  path: WAN index i (1..15) of the candidate -> values 0x01..0x0f, inside
//                    the CPE's "path marks 0x01..0xef" range. The WireGuard underlay marks
//                    (0xf0+i)<<16 never equal i<<16 under mask 0x00ff0000, and their rules
//                    (priority 10011..10025) are evaluated before ours, so underlay packets
//                    keep matching first.
//   bits 0x0000ffff  untouched (not ours).
//
//   candidate mark = c<<24 | i<<16. One number drawn per new connection picks it, so the
//   instance (via @targets, keyed by the whole mark) and the path (via the ip rule on the
//   path bits) are chosen together (DESIGN "one draw").
//
//   ip rule  priority 10800+i (10801..10815, steer_rule_prio in base/slice.hpp; after the underlay rules
//            10011.., the oif rules 10501.. and before the CPE fallback 10901..):
//            fwmark i<<16/0x00ff0000 -> table 10100+i (the WAN's overlay table), proto 201.
//
// nft objects (in table inet cats; names prefixed so they can live beside the overlay's
// chains "prerouting"/"output" in the same table):
//   map w_<id>     typeof numgen random mod 1000 : meta mark; flags interval — weights
//   map s_<id>     client address -> mark, flags dynamic,timeout (sticky services only, R16)
//   map targets    mark : ipv4_addr . inet_service  (targets6 for IPv6) — DNAT targets
//   map moved      type mark : mark — path_down candidate -> sibling candidate of the same
//                  instance over another WAN (path failover, programmer.hpp)
//   set dead       type mark — marks of the unreachable candidates: a sticky client whose
//                  entry names one of them is drawn anew (see "Sticky services" below)
//   set c_<id>     type mark — the marks of the service's candidates. No rule reads it: it
//                  is where the candidate ids live, so a restarted daemon reads them back
//                  from the kernel (with @targets naming each mark's instance) instead of
//                  from a store of its own.
//   chain steer_prerouting  filter, prerouting, priority mangle: draw on ct state new,
//                           re-mark moved flows, restore meta mark from ct mark on every
//                           packet (R16 affinity)
//   chain steer_dstnat      nat, prerouting, priority dstnat: dnat to @targets[ct mark]
//   chain steer_forward     filter, forward: new VIP connections without a candidate
//                           (all weights 0, or no decision yet) are rejected at once
//
// Sticky services (R16), per new connection of the service, in this order:
//   1. ct mark set ip saddr map @s_<id>        known client: its last candidate
//   2. ct mark @dead delete @s_<id> { saddr : ct mark } ct mark set 0
//                                              ... unless that candidate is unreachable:
//                                              forget the entry
//   3. ct mark and 0xff000000 == 0 -> draw     unknown client, or forgotten in 2.
//   4. ct mark and 0xff000000 != 0 update @s_<id> { saddr : ct mark }   remember/refresh
// So a client sticks to its candidate until the entry times out, except that an
// unreachable candidate is never reused: its entry is deleted in the packet path, the draw
// picks another candidate and 4. stores that one, so the client sticks to the new
// candidate at once (stateless: the Programmer never touches s_<id>). The delete in 2. is
// needed because `update` on an existing element only refreshes its timeout and keeps its
// value (the kernel's dynset update); the kernel wants the data register for a map's
// delete, its value is ignored. A sticky entry holding a path_down candidate is kept (the
// instance is alive): the service-wide `moved` rule that follows re-marks the new flow,
// like every packet of every flow of that candidate, to its sibling over another WAN,
// while the entry keeps the original mark, so the client returns to the original path
// once it is ok again. The values stored in s_<id> are always whole candidate marks
// (steps 1 and 3 set the entire ct mark), which is why step 2 matches the ct mark exactly.
//
// Candidate ids. A candidate is (service, instance address:port, WAN) (CandidateRef). Its
// id, and so its mark, must not change while its flows exist: established flows keep
// their ct mark, and the `moved`, `dead` and conntrack flush of a candidate act on that
// mark, so a renumbering (a service removed in the middle of the configuration) would
// make them act on another candidate's flows. assign_ids gives the ids:
//   * a candidate that had an id keeps it (the previous ids are read back from the live
//     table's c_<id> sets: one source of truth across configuration changes and restarts);
//   * a new candidate takes the lowest id that no candidate of the new State keeps, that
//     no candidate of the previous State held (its flows may be drawn until the table is
//     replaced), and that no conntrack entry carries (ct mark & 0xff000000): a removed
//     candidate's id stays in quarantine until its last flow is gone (closed, or timed
//     out by conntrack), then it is free again;
//   * no id left: an error naming the candidate, and the change is refused.
// With no previous ids and no flows the ids are positional (1.. in service order, then
// candidate order), as they were before ids were kept; so is a Candidate whose id is 0.
//
// Dynamic part (rewritten in place, see programmer.hpp): the elements of w_<id>, moved and
// dead. Everything else is structure, fingerprinted into the table comment "cats:<hex>".
#pragma once

#include "base/ip.hpp"
#include "base/result.hpp"
#include "rtnl/rtnl.hpp"
#include "base/slice.hpp"
#include "nft/table.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace cats::steer {

// The mark bits, tables, priorities and limits are the slice's (base/slice.hpp).
using slice::candidate_id_of;
using slice::candidate_mark;
using slice::kCandidateMask;
using slice::kCandidateShift;
using slice::kMaxCandidates;
using slice::kMaxCandidatesPerService;
using slice::kMaxWans;
using slice::kNftFamily;
using slice::kNftTable;
using nft::table_fingerprint;
using slice::kOurMarkBits;
using slice::kPathMask;
using slice::overlay_table;
using slice::path_mark;
using slice::path_of;
using slice::steer_rule_prio;

inline constexpr uint32_t kWeightTotal = 1000;  // numgen random mod 1000

enum class Protocol { tcp, udp };

// What the data plane must do with a candidate's existing flows (programmer.hpp).
enum class Health : uint8_t {
  ok,           // flows stay
  path_down,    // its WAN path is down, the instance is reachable over another: move flows
  unreachable,  // the instance is down or unreachable: delete its conntrack entries
};

struct Candidate {
  IpAddress address;   // instance address (same family as the VIP)
  uint16_t port = 0;   // instance port (DNAT target)
  int wan = 0;         // WAN / path index 1..15
  uint32_t weight = 0; // 0..1000; a service's weights sum to 1000, or all are 0 (reject)
  Health health = Health::ok;
  int id = 0;          // candidate id 1..255 (the mark's top byte); 0: positional ("Candidate ids")
  bool operator==(const Candidate&) const = default;
};

struct Service {
  std::string id;  // [a-z][a-z0-9_]*, at most 24 chars (becomes part of nft map names)
  IpAddress vip;
  Protocol protocol = Protocol::tcp;
  std::vector<uint16_t> ports;
  std::vector<Candidate> candidates;
  uint32_t sticky_timeout_s = 0;  // 0 = per-flow choice; else per-client, this long (R16)
  bool operator==(const Service&) const = default;
};

struct State {
  std::vector<Service> services;
  bool operator==(const State&) const = default;
};

// Errors name the service and candidate ("service web: weights sum to 900, must be 1000 or all 0").
Status validate(const State& s);

struct Plan {
  std::string fingerprint;  // structure fingerprint (hex), also in the table's comment "cats:<hex>"
  std::string nft_body;     // table contents only (comment, maps, chains), to merge into a table
  std::string nft_script;   // full idempotent transaction: create, delete, define table inet cats
  std::vector<rtnl::Rule> rules;  // fwmark path bits -> overlay table, per WAN and family used
};

// Validates, then renders. Empty State -> empty body/script/fingerprint and no rules.
Result<Plan> plan(const State& s);

// The structure fingerprint of a valid State: a hash of the table it renders without the
// dynamic map elements, so weights and health never change it (and a change to the
// rendering itself does). Empty State -> "".
std::string structure_fingerprint(const State& s);

// Whether two States have the same structure (everything but weights and health).
bool same_structure(const State& a, const State& b);

// The dynamic part of table inet cats: what apply rewrites in place.
struct WeightElement {
  uint32_t lo = 0, hi = 0;  // numgen range lo..hi (inclusive)
  uint32_t mark = 0;        // candidate mark
  bool operator==(const WeightElement&) const = default;
};
struct Dynamic {
  std::map<std::string, std::vector<WeightElement>> weights;  // "w_<id>" -> elements, ascending lo
  std::map<uint32_t, uint32_t> moved;                         // path_down mark -> sibling mark
  std::set<uint32_t> dead;                                    // marks of unreachable candidates
  bool operator==(const Dynamic&) const = default;
};

// The id of every candidate, per service in candidate order: Candidate::id, or for 0
// the positional id (1 + the number of candidates before it in the State).
std::vector<std::vector<int>> candidate_ids(const State& s);
// The candidate mark of every candidate, per service in candidate order (the ids of
// candidate_ids). For counting flows by ct mark.
std::vector<std::vector<uint32_t>> candidate_marks(const State& s);

// A candidate by what it is, not by its position: service id, instance address and port, WAN.
using CandidateRef = std::tuple<std::string, IpAddress, uint16_t, int>;
inline CandidateRef candidate_ref(const std::string& service, const Candidate& c) {
  return {service, c.address, c.port, c.wan};
}
using Assignment = std::map<CandidateRef, int>;  // candidate -> id
Assignment assignment_of(const State& s);       // the ids of candidate_ids

// Whether some conntrack entry's mark carries candidate id `id` (mark & kCandidateMask).
using Carried = std::function<Result<bool>(int id)>;
// `s` with every candidate's id set by the rule of "Candidate ids": kept from `previous`,
// else the lowest id neither kept, nor in `previous`, nor carried (asked only for ids that
// are otherwise free, lowest first; null = nothing carried). An error names the first
// candidate left without an id and why, or what `carried` failed with.
Result<State> assign_ids(State s, const Assignment& previous, const Carried& carried);

// Desired dynamic contents of a valid State.
Dynamic dynamic_of(const State& s);

// The transaction that turns the `live` dynamic contents into those of `desired` (whose
// structure must be the live table's): per map whose elements differ, in service order
// then `moved`, "flush map" + "add element" (no add for an empty map); then, if the dead
// set differs, "flush set inet cats dead" + "add element". Maps of `live` that `desired`
// does not have are ignored (they cannot exist under the same fingerprint). Sticky client
// maps are never touched. Empty string when nothing differs.
std::string render_dynamic_update(const Dynamic& live, const State& desired);

// "update map w_web" / "update set dead" lines naming what render_dynamic_update rewrites
// (report lines).
std::vector<std::string> changed_maps(const Dynamic& live, const State& desired);

// Reads the dynamic contents back from libnftables JSON (libnftables-json(5)): one or more
// whitespace-separated documents, as libnftables prints for the command buffer
// "list maps inet; list sets inet" (kDynamicListing). Keeps the w_* and moved maps and
// the dead set of table "cats" (other tables and other maps/sets are skipped). Map
// elements are [key, value] pairs whose key is a number or {"range": [lo, hi]}; set
// elements are numbers. Anything else malformed is an error.
Result<Dynamic> parse_dynamic_json(std::string_view json);

// The candidate ids of the live table (its c_<id> sets, each mark's instance from the
// targets/targets6 maps, the WAN from the mark's path bits), from the same listing as
// parse_dynamic_json. Empty when table cats has no c_ set (absent, or written before ids
// were kept). A c_ mark that no targets map names is an error.
Result<Assignment> parse_assignment_json(std::string_view json);

// The libnftables command buffer whose JSON output parse_dynamic_json reads. Chains are
// not listed: libnftables 1.0.6 prints "stmt ops map have no json callback" on stderr for
// our map statements.
inline constexpr const char* kDynamicListing = "list maps inet; list sets inet";

// Reading table inet cats back as text (`list table inet cats`; the JSON listing cannot
// show our chains, see kDynamicListing):
//  * table_fingerprint (nft/table.hpp): the "cats:<hex>" comment's hex; "" when none.
//  * table_content: the listing without the elements of its maps and sets (weights,
//    health, sticky clients: the dynamic part, compared by the Programmer apart), so two
//    listings are equal exactly when the chains, rules and map/set declarations are. A
//    hand edit of a rule that keeps the comment changes it (programmer.hpp "Reconcile").
std::string table_content(std::string_view listing);

// The State with `structure`'s structure and the weights/health that `live` encodes
// (weights from w_* ranges by candidate mark, path_down from moved keys, unreachable from
// dead, else ok). nullopt when `live` does not fit (unknown mark, overlapping ranges, sums
// not 1000 or 0, a mark both moved and dead).
std::optional<State> state_from_dynamic(const State& structure, const Dynamic& live);

// "ipv4 prio 10801 fwmark 0x00010000/0x00ff0000 table 10101 proto 201" (golden tests, logs)
std::string rule_to_string(const rtnl::Rule& r);

}  // namespace cats::steer
