// steer::Programmer: converge table inet cats, the steering ip rules and conntrack to a
// State (contract in programmer.hpp).
#include "steer/programmer.hpp"

#include "base/hex.hpp"
#include "base/log.hpp"

#include <sys/socket.h>

#include <algorithm>

namespace cats::steer {
namespace {

bool is_steer_rule(const rtnl::Rule& r) { return slice::is_steer_rule_prio(r.priority); }

// Mask for flushing a candidate's flows: candidate and path bits, whatever else shares ct mark.
constexpr uint32_t kFlushMask = kCandidateMask | kPathMask;

// True when `sv` has somewhere else to draw a flow: a candidate other than `k` that is
// drawn (weight > 0) and not unreachable.
bool has_alternative(const Service& sv, size_t k) {
  for (size_t j = 0; j < sv.candidates.size(); ++j)
    if (j != k && sv.candidates[j].weight > 0 && sv.candidates[j].health != Health::unreachable) return true;
  return false;
}

// The structure part of a State: weights 0, health ok (what adopt's argument stands for).
State structure_only(State s) {
  for (auto& sv : s.services)
    for (auto& c : sv.candidates) {
      c.weight = 0;
      c.health = Health::ok;
    }
  return s;
}

}  // namespace

Result<std::optional<Programmer::LiveTable>> Programmer::live_table() {
  // Text: libnftables 1.0.6 leaves the table comment out of its JSON output, and cannot
  // print our chains' map statements as JSON (steer.hpp kDynamicListing).
  CATS_TRY_ASSIGN(text, nft_.list_table(kNftFamily, kNftTable));
  if (!text) return std::optional<LiveTable>{};
  return std::optional<LiveTable>{LiveTable{nft::table_fingerprint(*text), table_content(*text)}};
}

std::optional<uint32_t> Programmer::generation() {
  auto g = nft_.generation();
  if (g) return *g;
  if (!gen_error_logged_) log::warn("steer", g.error().message + "; comparing table inet cats on every apply");
  gen_error_logged_ = true;
  return std::nullopt;
}

void Programmer::note_generation(std::optional<uint32_t> before, uint32_t commits) {
  auto after = generation();
  // uint32 arithmetic: the kernel's counter wraps the same way.
  if (before && after && *after == *before + commits) seen_gen_ = after;
  else seen_gen_.reset();  // someone else committed too: compare the content next time
}

Status Programmer::replace(const Plan& p, const std::string& why, ApplyReport& rep, std::optional<uint32_t> gen) {
  // One transaction (create, delete, define): established flows keep their ct marks.
  CATS_TRY(nft_.run(p.nft_script));
  rep.actions.push_back(std::string("replace table inet ") + kNftTable + " (cats:" + p.fingerprint + ")" + why);
  // The baseline is what the kernel lists for our script, read right after it: valid only
  // if no other commit came between (else none: the next apply takes the live content).
  CATS_TRY_ASSIGN(live, live_table());
  note_generation(gen, 1);
  if (live && seen_gen_) content_ = live->content;
  else content_.reset();
  return ok();
}

Result<Dynamic> Programmer::live_dynamic() {
  // Maps and sets only (kDynamicListing, one JSON document each): they cover every inet
  // table; the parser keeps ours.
  CATS_TRY_ASSIGN(json, nft_.query_json(kDynamicListing));
  return parse_dynamic_json(json);
}

Result<std::vector<rtnl::Rule>> Programmer::live_rules() {
  std::vector<rtnl::Rule> out;
  for (int family : {AF_INET, AF_INET6}) {
    CATS_TRY_ASSIGN(rs, rt_.rules(family));
    for (auto& r : rs)
      if (is_steer_rule(r)) out.push_back(r);
  }
  return out;
}

Result<Assignment> Programmer::live_assignment() {
  CATS_TRY_ASSIGN(exists, nft_.table_exists(kNftFamily, kNftTable));
  if (!exists) return Assignment{};
  CATS_TRY_ASSIGN(json, nft_.query_json(kDynamicListing));
  return parse_assignment_json(json);
}

Result<bool> Programmer::carried(int id) {
  for (int family : {AF_INET, AF_INET6}) {
    CATS_TRY_ASSIGN(n, ct_.count_by_mark(family, candidate_mark(id, 0), kCandidateMask));
    if (n > 0) return true;
  }
  return false;
}

Result<std::optional<State>> Programmer::adopt(const State& structure) {
  const State s = structure_only(structure);
  CATS_TRY(validate(s));
  if (s.services.empty()) return std::optional<State>{};
  const auto gen = generation();
  CATS_TRY_ASSIGN(live, live_table());
  if (!live || live->fingerprint != structure_fingerprint(s)) return std::optional<State>{};
  CATS_TRY_ASSIGN(dyn, live_dynamic());
  auto st = state_from_dynamic(s, dyn);
  // What the kernel holds is now the baseline for health transitions: a candidate already
  // unreachable before the restart (read back from the dead set) is taken as flushed, so
  // applying it as unreachable again flushes nothing. Its content is the baseline for
  // reconcile (programmer.hpp: an edit made while we were down is not seen).
  flushed_.clear();
  if (st) {
    applied_ = *st;
    content_ = live->content;
    note_generation(gen, 0);
    for (auto& sv : st->services)
      for (auto& c : sv.candidates)
        if (c.health == Health::unreachable) flushed_.insert(candidate_ref(sv.id, c));
  }
  return st;
}

Result<ApplyReport> Programmer::apply(const State& desired) {
  CATS_TRY_ASSIGN(p, plan(desired));
  ApplyReport rep;

  // Rules the new marks need exist before any packet can carry them.
  CATS_TRY_ASSIGN(have_rules, live_rules());
  for (auto& want : p.rules) {
    if (std::find(have_rules.begin(), have_rules.end(), want) != have_rules.end()) continue;
    CATS_TRY(rt_.add_rule(want));
    rep.actions.push_back("add rule " + rule_to_string(want));
  }

  const auto gen = generation();
  // No commit by anyone since the table was last seen as we left it, and nothing new to
  // write: the kernel holds `desired` (programmer.hpp "Reconcile by content").
  const bool untouched = gen && seen_gen_ && *gen == *seen_gen_ && content_;
  if (!(untouched && applied_ && *applied_ == desired)) {
    CATS_TRY_ASSIGN(live, live_table());
    if (p.nft_script.empty()) {
      if (live) {
        CATS_TRY(nft_.delete_table(kNftFamily, kNftTable));
        rep.actions.push_back(std::string("delete table inet ") + kNftTable);
      }
      content_.reset();
      seen_gen_.reset();
    } else if (!live || live->fingerprint != p.fingerprint) {
      CATS_TRY(replace(p, "", rep, gen));
    } else if (content_ && !untouched && live->content != *content_) {
      CATS_TRY(replace(p, ": its rules differ from what we applied", rep, gen));
    } else {
      // Without a baseline (a Programmer that did not adopt, or a replace whose read-back
      // raced another commit) the live content becomes it, as at adopt.
      if (!content_) content_ = live->content;
      CATS_TRY_ASSIGN(dyn, live_dynamic());
      const std::string update = render_dynamic_update(dyn, desired);
      if (!update.empty()) {
        CATS_TRY(nft_.run(update));  // one transaction for all changed maps
        for (auto& line : changed_maps(dyn, desired)) rep.actions.push_back(line);
      }
      note_generation(gen, update.empty() ? 0 : 1);
    }
  }

  // Old rules go only after the table stopped producing their marks.
  for (auto& have : have_rules) {
    if (std::find(p.rules.begin(), p.rules.end(), have) != p.rules.end()) continue;
    CATS_TRY(rt_.del_rule(have));
    rep.actions.push_back("delete rule " + rule_to_string(have));
  }

  // Flush flows of newly unreachable candidates after the maps no longer draw them, so a
  // retransmission that becomes a new connection is drawn elsewhere (R16: affinity holds
  // "unless the original service instance is unreachable"). Only when the service has an
  // elsewhere: with no other drawn, reachable candidate, deleting the entries can only
  // break flows (their next packet would be rejected or drawn back to the same instance),
  // while an outage that ends (a late health check, a vCPE's in-place restart) lets them
  // go on. Such a candidate stays pending: it is flushed by the first apply that finds an
  // alternative, and forgotten if it recovers first.
  std::set<CandidateRef> flushed;
  const auto marks = candidate_marks(desired);
  for (size_t n = 0; n < desired.services.size(); ++n) {
    const auto& sv = desired.services[n];
    for (size_t k = 0; k < sv.candidates.size(); ++k) {
      auto& c = sv.candidates[k];
      if (c.health != Health::unreachable) continue;
      auto id = candidate_ref(sv.id, c);
      if (flushed_.count(id)) {
        flushed.insert(std::move(id));
        continue;
      }
      if (!has_alternative(sv, k)) continue;
      const uint32_t mark = marks[n][k];
      const int family = sv.vip.is_v4() ? AF_INET : AF_INET6;
      auto st = ct_.delete_by_mark(family, mark, kFlushMask);
      if (!st) return st.error().context("service " + sv.id + " candidate " + std::to_string(k + 1));
      rep.actions.push_back("flush ct mark " + hex32(mark) + "/" + hex32(kFlushMask) +
                            (family == AF_INET ? " ipv4" : " ipv6") + " (service " + sv.id + " candidate " +
                            std::to_string(k + 1) + ")");
      flushed.insert(std::move(id));
    }
  }
  flushed_ = std::move(flushed);
  applied_ = desired;
  return rep;
}

}  // namespace cats::steer
