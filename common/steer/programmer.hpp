// C-TC: converges the kernel to a steering State (steer.hpp) and keeps it there.
//
// Owns, on the CPE, `table inet cats` (the overlay Applier leaves it alone there, see
// overlay::Plan::nft_script), the ip rules at priorities 10801..10815 (steer_rule_prio)
// and nothing else. Idempotent: the same State twice changes nothing the second time.
//
//  * Structure (services, VIPs, ports, candidates' address/port/WAN, stickiness) is
//    fingerprinted into the table's comment. A different structure replaces the table in
//    one transaction (create + delete + define); established flows keep their conntrack
//    entries and marks, so a restart or reconfiguration breaks no connection (R16, R17).
//  * Weights and health are the dynamic part: when the structure matches, only the maps
//    whose live elements differ from the desired ones are rewritten (flush map + add
//    element, one transaction). Sticky client maps are never flushed.
//  * Path failover (moved map): a candidate whose path is down but whose instance is still
//    reachable over another WAN gets an element mark -> sibling mark in `moved`; every
//    packet of its flows is re-marked there and conntrack keeps the new mark, so the flow
//    stays on its instance and continues over the sibling's WAN.
//  * Instance failure: a candidate marked `unreachable` (instance down, or every path to
//    it down) has its conntrack entries deleted once, on the transition (ctnetlink, by ct
//    mark under 0xffff0000), if its service has another drawn, reachable candidate;
//    otherwise the flush waits until one exists, and is dropped if the candidate recovers
//    first (a flow with nowhere else to go is never cut). Flows on healthy candidates are never touched. Its mark is
//    in the `dead` set, so sticky clients whose entry names it are drawn anew (steer.hpp
//    "Sticky services"); adopt reads it back as unreachable, so a restarted daemon does
//    not flush it again.
//  * A service with all weights 0 (no candidate, reject mode) gets no new-flow DNAT; its
//    new connections are rejected (TCP reset / ICMP port unreachable) in steer_forward.
//  * Reconcile by content (issue 14): the comment alone does not prove the table is ours
//    as we wrote it; a hand edit of a rule keeps the comment. The Programmer keeps the
//    table's content (table_content: the listing without map/set elements) as it read it
//    back after its own replace, or at adopt, and the nftables ruleset generation
//    (Nft::generation) at which it last saw the table as it left it. An apply whose
//    generation has not moved and whose State equals the applied one reads nothing from
//    nft (no commit happened since, by anyone); once the generation moved, it re-reads the
//    table and replaces it when the content differs. Its own commits move the generation
//    by one each; any other move means someone else committed something (any table), and
//    only then is the content compared. The weights/health path is unchanged: with the
//    content intact, only the maps whose elements differ are rewritten. A hand edit made
//    while the daemon was down is not seen: adopt (or the first apply of a Programmer
//    that did not adopt) takes the live content as the baseline.
#pragma once

#include "ct/conntrack.hpp"
#include "nft/nft.hpp"
#include "rtnl/rtnl.hpp"
#include "steer/steer.hpp"

#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace cats::steer {

struct ApplyReport {
  std::vector<std::string> actions;  // one line per kernel change ("replace table inet cats",
                                     // "update map w_app1", "update set dead", "add rule ...",
                                     // "flush ct mark ...")
  bool changed() const { return !actions.empty(); }
};

class Programmer {
 public:
  // The handles must outlive the Programmer. They are used from one thread only.
  Programmer(nft::Tables& nft, rtnl::Routing& rt, ct::Conntrack& ct) : nft_(nft), rt_(rt), ct_(ct) {}

  // What the kernel holds now, when its structure equals `structure` (weights/health in
  // `structure` are ignored): the live weights and health read back from the maps and the
  // dead set (ok / path_down / unreachable). nullopt when the table is absent or its
  // structure differs. A restarted daemon seeds its
  // Selector from this so that the ruleset stays identical (issue 4 "restart adopts").
  Result<std::optional<State>> adopt(const State& structure);

  // Converge to `desired`. On error the kernel is left in a consistent older or newer
  // state (every nft change is one transaction) and the next apply retries: the
  // Programmer never assumes a change it could not confirm.
  Result<ApplyReport> apply(const State& desired);

  // The candidate ids the live table holds (parse_assignment_json; empty without a table):
  // assign_ids' `previous` (steer.hpp "Candidate ids").
  Result<Assignment> live_assignment();
  // assign_ids' `carried`: whether a conntrack entry (IPv4 or IPv6) carries candidate id `id`.
  Result<bool> carried(int id);

 private:
  nft::Tables& nft_;
  rtnl::Routing& rt_;
  ct::Conntrack& ct_;
  struct LiveTable {
    std::string fingerprint;  // "" when it carries no "cats:" comment (someone else's table)
    std::string content;      // table_content of the listing
  };
  // nullopt when the table is absent.
  Result<std::optional<LiveTable>> live_table();
  Result<Dynamic> live_dynamic();
  Result<std::vector<rtnl::Rule>> live_rules();  // both families, priorities 10801..10815
  // The ruleset generation, nullopt when it cannot be read (then every apply reads and
  // compares, as if the generation had moved).
  std::optional<uint32_t> generation();
  // After our own nft commits: `before` and `commits` (ours, 0 or 1) tell whether anyone
  // else committed in between; only if not is the table known to be as we left it.
  void note_generation(std::optional<uint32_t> before, uint32_t commits);
  Status replace(const Plan& p, const std::string& why, ApplyReport& rep, std::optional<uint32_t> gen);

  std::optional<State> applied_;      // last State confirmed in the kernel
  std::optional<std::string> content_;  // table_content as we left it (after replace / at adopt)
  std::optional<uint32_t> seen_gen_;  // the generation at which the table was as we left it
  bool gen_error_logged_ = false;
  // Unreachable candidates whose flows were flushed (or were already unreachable when
  // adopted); a candidate leaves the set when it is no longer unreachable.
  std::set<CandidateRef> flushed_;
};

}  // namespace cats::steer
