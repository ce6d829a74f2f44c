#include "steer/steer.hpp"

#include "base/hash.hpp"
#include "base/hex.hpp"

#include <sys/socket.h>

#include <map>
#include <optional>
#include <set>

namespace cats::steer {

namespace {

bool valid_id(const std::string& id) {
  if (id.empty() || id.size() > 24 || id[0] < 'a' || id[0] > 'z') return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

Status validate_service(const Service& sv) {
  auto err = [&](const std::string& m) { return fail(Error::msg("service " + sv.id + ": " + m)); };
  if (!valid_id(sv.id))
    return fail(Error::msg("service \"" + sv.id + "\": id must be [a-z][a-z0-9_]*, at most 24 characters"));
  if (sv.vip.is_unspecified()) return err("VIP is unset");
  if (sv.ports.empty()) return err("no ports");
  for (auto p : sv.ports)
    if (p == 0) return err("port 0");
  if (sv.candidates.empty()) return err("no candidates");
  if (sv.candidates.size() > static_cast<size_t>(kMaxCandidatesPerService))
    return err(std::to_string(sv.candidates.size()) + " candidates, at most " +
               std::to_string(kMaxCandidatesPerService));
  uint32_t sum = 0;
  std::set<std::pair<std::string, int>> seen;
  for (size_t k = 0; k < sv.candidates.size(); ++k) {
    auto& c = sv.candidates[k];
    std::string where = "candidate " + std::to_string(k + 1) + " (" + c.address.to_string() + "): ";
    if (c.wan < 1 || c.wan > kMaxWans)
      return err(where + "WAN index " + std::to_string(c.wan) + " outside 1.." + std::to_string(kMaxWans));
    if (c.weight > kWeightTotal) return err(where + "weight " + std::to_string(c.weight) + " above 1000");
    if (c.port == 0) return err(where + "port 0");
    if (c.address.is_v4() != sv.vip.is_v4()) return err(where + "address family differs from the VIP's");
    if (!seen.insert({c.address.to_string() + ":" + std::to_string(c.port), c.wan}).second)
      return err(where + "duplicate (instance, WAN) pair");
    sum += c.weight;
  }
  // All 0 is reject mode: no candidate is acceptable, new connections are refused.
  if (sum != kWeightTotal && sum != 0)
    return err("weights sum to " + std::to_string(sum) + ", must be 1000 or all 0");
  return ok();
}

std::string match(const Service& sv) {
  std::string m = "ct state new ";
  m += sv.vip.is_v4() ? "ip daddr " : "ip6 daddr ";
  m += sv.vip.to_string();
  m += sv.protocol == Protocol::tcp ? " tcp dport " : " udp dport ";
  if (sv.ports.size() == 1) return m + std::to_string(sv.ports[0]);
  m += "{ ";
  for (size_t k = 0; k < sv.ports.size(); ++k) m += (k ? ", " : "") + std::to_string(sv.ports[k]);
  return m + " }";
}

}  // namespace

Status validate(const State& s) {
  std::set<std::string> ids;
  size_t total = 0;
  for (auto& sv : s.services) {
    CATS_TRY(validate_service(sv));
    if (!ids.insert(sv.id).second) return fail(Error::msg("service " + sv.id + ": duplicate id"));
    total += sv.candidates.size();
  }
  if (total > static_cast<size_t>(kMaxCandidates))
    return fail(Error::msg(std::to_string(total) + " candidates in all services, at most " +
                           std::to_string(kMaxCandidates) + " (candidate id bits 0xff000000)"));
  const auto cids = candidate_ids(s);
  std::map<int, std::string> owner;
  for (size_t n = 0; n < s.services.size(); ++n)
    for (size_t k = 0; k < cids[n].size(); ++k) {
      const int id = cids[n][k];
      const std::string who = "service " + s.services[n].id + " candidate " + std::to_string(k + 1);
      if (id < 1 || id > kMaxCandidates)
        return fail(Error::msg(who + ": id " + std::to_string(id) + " outside 1.." + std::to_string(kMaxCandidates)));
      auto [it, fresh] = owner.emplace(id, who);
      if (!fresh) return fail(Error::msg(who + ": id " + std::to_string(id) + " is also " + it->second + "'s"));
    }
  return ok();
}

namespace {

// Path failover target of a path_down candidate: another WAN's candidate of the same
// instance (address, port) that is ok; the highest weight, ties to the lowest WAN.
std::optional<size_t> sibling_of(const Service& sv, size_t k) {
  auto& c = sv.candidates[k];
  std::optional<size_t> best;
  for (size_t j = 0; j < sv.candidates.size(); ++j) {
    auto& o = sv.candidates[j];
    if (j == k || o.health != Health::ok || o.wan == c.wan || o.address != c.address || o.port != c.port) continue;
    auto& b = sv.candidates[best.value_or(j)];
    if (!best || o.weight > b.weight || (o.weight == b.weight && o.wan < b.wan)) best = j;
  }
  return best;
}

std::string join_weights(const std::vector<WeightElement>& els) {
  std::string out;
  for (auto& e : els) {
    if (!out.empty()) out += ", ";
    out += std::to_string(e.lo);
    if (e.hi != e.lo) out += "-" + std::to_string(e.hi);
    out += " : " + hex32(e.mark);
  }
  return out;
}

std::string join_moved(const std::map<uint32_t, uint32_t>& m) {
  std::string out;
  for (auto [from, to] : m) out += (out.empty() ? "" : ", ") + hex32(from) + " : " + hex32(to);
  return out;
}

std::string join_dead(const std::set<uint32_t>& d) {
  std::string out;
  for (auto mark : d) out += (out.empty() ? "" : ", ") + hex32(mark);
  return out;
}

// Weight ranges over numgen random mod 1000: candidate k gets [lo, lo+weight-1].
// Weight-0 candidates get no element (they stay in @targets for sticky clients).
std::vector<WeightElement> weight_ranges(const Service& sv, const std::vector<int>& ids) {
  std::vector<WeightElement> out;
  uint32_t lo = 0;
  for (size_t k = 0; k < sv.candidates.size(); ++k) {
    auto& c = sv.candidates[k];
    if (c.weight == 0) continue;
    out.push_back({lo, lo + c.weight - 1, candidate_mark(ids[k], c.wan)});
    lo += c.weight;
  }
  return out;
}

std::string elements_line(const std::string& els) {
  return els.empty() ? std::string() : "\t\telements = { " + els + " }\n";
}

// The table body. Without `dynamic` the w_* and moved maps and the dead set are rendered
// empty: that text is what the structure fingerprint hashes.
std::string render_body(const State& s, bool dynamic) {
  const std::string ours = hex32(kCandidateMask);
  const Dynamic dyn = dynamic ? dynamic_of(s) : Dynamic{};
  std::string maps, targets4, targets6, pre, nat, fwd;
  const auto ids = candidate_ids(s);
  for (size_t n = 0; n < s.services.size(); ++n) {
    const auto& sv = s.services[n];
    maps += "\tmap w_" + sv.id + " {\n\t\ttypeof numgen random mod 1000 : meta mark\n\t\tflags interval\n";
    auto w = dyn.weights.find("w_" + sv.id);
    maps += elements_line(w == dyn.weights.end() ? std::string() : join_weights(w->second)) + "\t}\n";
    const std::string m = match(sv);
    const std::string saddr = sv.vip.is_v4() ? "ip saddr" : "ip6 saddr";
    if (sv.sticky_timeout_s > 0) {
      // Per-client stickiness (R16, mwan3-style sticky): a known client reuses its last
      // candidate unless it is dead (unreachable: forget the entry); otherwise draw; then
      // remember (update adds, or refreshes the timeout of an existing entry without
      // changing its value). Order and reasons: steer.hpp "Sticky services".
      maps += "\tmap s_" + sv.id + " {\n\t\ttype " + (sv.vip.is_v4() ? "ipv4_addr" : "ipv6_addr") +
              " : mark\n\t\tflags dynamic,timeout\n\t\ttimeout " + std::to_string(sv.sticky_timeout_s) + "s\n\t}\n";
      pre += "\t\t" + m + " ct mark set " + saddr + " map @s_" + sv.id + "\n";
      pre += "\t\t" + m + " ct mark @dead delete @s_" + sv.id + " { " + saddr + " : ct mark } ct mark set 0\n";
      pre += "\t\t" + m + " ct mark and " + ours + " == 0 ct mark set numgen random mod 1000 map @w_" + sv.id + "\n";
      pre += "\t\t" + m + " ct mark and " + ours + " != 0 update @s_" + sv.id + " { " + saddr + " : ct mark }\n";
    } else {
      // One draw per new connection; conntrack keeps the flow there (R16 affinity). An
      // empty map (reject mode) has no element for the draw: the mark stays 0.
      pre += "\t\t" + m + " ct mark set numgen random mod 1000 map @w_" + sv.id + "\n";
    }
    // No candidate drawn: refuse at once (TCP RST, RFC 9293 3.5.2; UDP: ICMP port
    // unreachable, RFC 1122 3.2.2.1) rather than let the VIP leak to the default route.
    fwd += "\t\t" + m + " ct mark and " + ours + " == 0 reject" +
           (sv.protocol == Protocol::tcp ? " with tcp reset" : "") + "\n";
    std::string mine;
    for (size_t k = 0; k < sv.candidates.size(); ++k) {
      auto& c = sv.candidates[k];
      const std::string mark = hex32(candidate_mark(ids[n][k], c.wan));
      std::string& t = sv.vip.is_v4() ? targets4 : targets6;
      if (!t.empty()) t += ", ";
      t += mark + " : " + c.address.to_string() + " . " + std::to_string(c.port);
      mine += (mine.empty() ? "" : ", ") + mark;
    }
    // Where the ids live (steer.hpp "Candidate ids"): read back at start, never matched.
    maps += "\tset c_" + sv.id + " {\n\t\ttype mark\n" + elements_line(mine) + "\t}\n";
  }
  if (!targets4.empty())
    maps += "\tmap targets {\n\t\ttype mark : ipv4_addr . inet_service\n\t\telements = { " + targets4 + " }\n\t}\n";
  if (!targets6.empty())
    maps += "\tmap targets6 {\n\t\ttype mark : ipv6_addr . inet_service\n\t\telements = { " + targets6 + " }\n\t}\n";
  maps += "\tmap moved {\n\t\ttype mark : mark\n" + elements_line(join_moved(dyn.moved)) + "\t}\n";
  maps += "\tset dead {\n\t\ttype mark\n" + elements_line(join_dead(dyn.dead)) + "\t}\n";
  // Path failover on every packet, before the restore: the new ct mark is stored in
  // conntrack, so the flow keeps its instance (@targets is only consulted for new flows)
  // and continues over the sibling's WAN. A missing key breaks the map lookup: no change.
  // After the sticky rules on purpose: a sticky entry holding a path_down candidate is
  // reused and kept as it is, and the new flow is moved here like any other (steer.hpp).
  pre += "\t\tct mark and " + ours + " != 0 ct mark set ct mark map @moved\n";
  // nft cannot OR two non-constant values (see overlay/vcpe_plan.cpp), so the restore sets
  // the whole packet mark from our bits: LAN packets entering the CPE carry no other mark.
  pre += "\t\tct mark and " + ours + " != 0 meta mark set ct mark and " + hex32(kOurMarkBits) + "\n";
  // Only connections our draw marked are DNATed; a missing key simply does not match.
  if (!targets4.empty())
    nat += "\t\tct mark and " + ours + " != 0 meta nfproto ipv4 meta l4proto { tcp, udp } dnat ip to ct mark map @targets\n";
  if (!targets6.empty())
    nat += "\t\tct mark and " + ours + " != 0 meta nfproto ipv6 meta l4proto { tcp, udp } dnat ip6 to ct mark map @targets6\n";
  return maps + "\tchain steer_prerouting {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n" + pre +
         "\t}\n\tchain steer_dstnat {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n" + nat +
         "\t}\n\tchain steer_forward {\n\t\ttype filter hook forward priority filter; policy accept;\n" + fwd + "\t}\n";
}

}  // namespace

std::string structure_fingerprint(const State& s) {
  if (s.services.empty()) return {};
  return fnv1a_hex(render_body(s, false));
}

bool same_structure(const State& a, const State& b) {
  if (a.services.size() != b.services.size()) return false;
  for (size_t i = 0; i < a.services.size(); ++i) {
    auto x = a.services[i], y = b.services[i];
    if (x.candidates.size() != y.candidates.size()) return false;
    for (size_t k = 0; k < x.candidates.size(); ++k) {
      x.candidates[k].weight = y.candidates[k].weight = 0;
      x.candidates[k].health = y.candidates[k].health = Health::ok;
    }
    if (!(x == y)) return false;
  }
  return true;
}

std::vector<std::vector<int>> candidate_ids(const State& s) {
  std::vector<std::vector<int>> out;
  int position = 0;
  for (const auto& sv : s.services) {
    auto& ids = out.emplace_back();
    for (const auto& c : sv.candidates) {
      ++position;
      ids.push_back(c.id ? c.id : position);
    }
  }
  return out;
}

std::vector<std::vector<uint32_t>> candidate_marks(const State& s) {
  std::vector<std::vector<uint32_t>> out;
  const auto ids = candidate_ids(s);
  for (size_t n = 0; n < s.services.size(); ++n) {
    auto& ms = out.emplace_back();
    for (size_t k = 0; k < ids[n].size(); ++k) ms.push_back(candidate_mark(ids[n][k], s.services[n].candidates[k].wan));
  }
  return out;
}

Assignment assignment_of(const State& s) {
  Assignment out;
  const auto ids = candidate_ids(s);
  for (size_t n = 0; n < s.services.size(); ++n)
    for (size_t k = 0; k < ids[n].size(); ++k) out[candidate_ref(s.services[n].id, s.services[n].candidates[k])] = ids[n][k];
  return out;
}

Result<State> assign_ids(State s, const Assignment& previous, const Carried& carried) {
  std::set<int> taken;  // kept by a candidate of `s`, or held by one of `previous`
  for (const auto& [ref, id] : previous) taken.insert(id);
  std::vector<Candidate*> fresh;
  std::vector<std::string> fresh_service;
  std::set<int> kept;
  for (auto& sv : s.services)
    for (auto& c : sv.candidates) {
      auto it = previous.find(candidate_ref(sv.id, c));
      if (it != previous.end() && it->second >= 1 && it->second <= kMaxCandidates && kept.insert(it->second).second) {
        c.id = it->second;
      } else {
        c.id = 0;
        fresh.push_back(&c);
        fresh_service.push_back(sv.id);
      }
    }
  int next = 1;
  size_t quarantined = 0;
  for (size_t f = 0; f < fresh.size(); ++f) {
    for (; next <= kMaxCandidates; ++next) {
      if (taken.count(next)) continue;
      if (!carried) break;
      CATS_TRY_ASSIGN(busy, carried(next));
      if (!busy) break;
      ++quarantined;
    }
    if (next > kMaxCandidates)
      return Error::msg("service " + fresh_service[f] + ": no candidate id left for " + fresh[f]->address.to_string() +
                        ":" + std::to_string(fresh[f]->port) + " over WAN " + std::to_string(fresh[f]->wan) + " (" +
                        std::to_string(kMaxCandidates) + " ids: " + std::to_string(taken.size()) +
                        " held by current or just removed candidates, " + std::to_string(quarantined) +
                        " by the flows of removed candidates until those end)");
    fresh[f]->id = next;
    taken.insert(next++);
  }
  return s;
}

Dynamic dynamic_of(const State& s) {
  Dynamic d;
  const auto ids = candidate_ids(s);
  for (size_t n = 0; n < s.services.size(); ++n) {
    const auto& sv = s.services[n];
    d.weights["w_" + sv.id] = weight_ranges(sv, ids[n]);
    for (size_t k = 0; k < sv.candidates.size(); ++k) {
      if (sv.candidates[k].health == Health::unreachable) d.dead.insert(candidate_mark(ids[n][k], sv.candidates[k].wan));
      if (sv.candidates[k].health != Health::path_down) continue;
      if (auto j = sibling_of(sv, k))
        d.moved[candidate_mark(ids[n][k], sv.candidates[k].wan)] = candidate_mark(ids[n][*j], sv.candidates[*j].wan);
    }
  }
  return d;
}

namespace {

// Calls fn(kind, name, elements) per map ("map") or set ("set") whose elements differ.
template <class Fn>
void for_each_change(const Dynamic& live, const State& desired, Fn fn) {
  const Dynamic want = dynamic_of(desired);
  const std::string map = "map", set = "set";
  for (auto& sv : desired.services) {
    const std::string name = "w_" + sv.id;
    auto& w = want.weights.at(name);
    auto l = live.weights.find(name);
    if (l == live.weights.end() || l->second != w) fn(map, name, join_weights(w));
  }
  if (live.moved != want.moved) fn(map, std::string("moved"), join_moved(want.moved));
  if (live.dead != want.dead) fn(set, std::string("dead"), join_dead(want.dead));
}

}  // namespace

std::string render_dynamic_update(const Dynamic& live, const State& desired) {
  std::string out;
  for_each_change(live, desired, [&](const std::string& kind, const std::string& name, const std::string& els) {
    out += "flush " + kind + " inet " + kNftTable + " " + name + "\n";
    if (!els.empty()) out += std::string("add element inet ") + kNftTable + " " + name + " { " + els + " }\n";
  });
  return out;
}

std::vector<std::string> changed_maps(const Dynamic& live, const State& desired) {
  std::vector<std::string> out;
  for_each_change(live, desired, [&](const std::string& kind, const std::string& name, const std::string&) {
    out.push_back("update " + kind + " " + name);
  });
  return out;
}

Result<Plan> plan(const State& s) {
  CATS_TRY(validate(s));
  Plan p;
  if (s.services.empty()) return p;
  p.fingerprint = structure_fingerprint(s);
  const std::string body = render_body(s, true);
  p.nft_body = nft::fingerprint_comment(p.fingerprint) + body;
  // The one "replace our table, fingerprinted" script (nft/table.hpp), as the overlay's.
  p.nft_script = nft::replace_table_script(kNftFamily, kNftTable, p.fingerprint, body);
  std::set<std::pair<int, int>> wans;  // (family, wan)
  for (auto& sv : s.services)
    for (auto& c : sv.candidates) wans.insert({sv.vip.is_v4() ? AF_INET : AF_INET6, c.wan});
  for (auto [family, wan] : wans) {
    rtnl::Rule r;
    r.family = family;
    r.priority = steer_rule_prio(wan);
    r.table = overlay_table(wan);
    r.fwmark = path_mark(wan);
    r.fwmask = kPathMask;
    p.rules.push_back(r);
  }
  return p;
}

std::string rule_to_string(const rtnl::Rule& r) {
  std::string s = r.family == AF_INET6 ? "ipv6" : "ipv4";
  s += " prio " + std::to_string(r.priority);
  if (r.fwmark) s += " fwmark " + hex32(*r.fwmark) + (r.fwmask ? "/" + hex32(*r.fwmask) : "");
  s += " table " + std::to_string(r.table) + " proto " + std::to_string(r.protocol);
  return s;
}

}  // namespace cats::steer
