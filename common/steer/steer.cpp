#include "steer/steer.hpp"

#include <sys/socket.h>

#include <cstdio>
#include <set>

namespace cats::steer {

namespace {

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

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
  if (sum != kWeightTotal) return err("weights sum to " + std::to_string(sum) + ", must be 1000");
  return ok();
}

// Weight ranges over numgen random mod 1000: candidate k gets [lo, lo+weight-1].
// Weight-0 candidates get no element (they stay in @targets for sticky clients).
std::string weight_elements(const Service& sv, int first_cid) {
  std::string out;
  uint32_t lo = 0;
  for (size_t k = 0; k < sv.candidates.size(); ++k) {
    auto& c = sv.candidates[k];
    if (c.weight == 0) continue;
    uint32_t hi = lo + c.weight - 1;
    if (!out.empty()) out += ", ";
    out += std::to_string(lo);
    if (hi != lo) out += "-" + std::to_string(hi);
    out += " : " + hex32(candidate_mark(first_cid + static_cast<int>(k), c.wan));
    lo = hi + 1;
  }
  return out;
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
  return ok();
}

Result<Plan> plan(const State& s) {
  CATS_TRY(validate(s));
  Plan p;
  if (s.services.empty()) return p;
  const std::string ours = hex32(kCandidateMask);
  std::string maps, targets4, targets6, pre, nat;
  std::set<std::pair<int, int>> wans;  // (family, wan)
  int cid = 1;
  for (auto& sv : s.services) {
    maps += "\tmap w_" + sv.id + " {\n\t\ttypeof numgen random mod 1000 : meta mark\n\t\tflags interval\n";
    maps += "\t\telements = { " + weight_elements(sv, cid) + " }\n\t}\n";
    const std::string m = match(sv);
    const std::string saddr = sv.vip.is_v4() ? "ip saddr" : "ip6 saddr";
    if (sv.sticky_timeout_s > 0) {
      // Per-client stickiness (R16, mwan3-style sticky): a known client reuses its last
      // candidate; otherwise draw; then remember (update also refreshes the timeout).
      maps += "\tmap s_" + sv.id + " {\n\t\ttype " + (sv.vip.is_v4() ? "ipv4_addr" : "ipv6_addr") +
              " : mark\n\t\tflags dynamic,timeout\n\t\ttimeout " + std::to_string(sv.sticky_timeout_s) + "s\n\t}\n";
      pre += "\t\t" + m + " ct mark set " + saddr + " map @s_" + sv.id + "\n";
      pre += "\t\t" + m + " ct mark and " + ours + " == 0 ct mark set numgen random mod 1000 map @w_" + sv.id + "\n";
      pre += "\t\t" + m + " ct mark and " + ours + " != 0 update @s_" + sv.id + " { " + saddr + " : ct mark }\n";
    } else {
      // One draw per new connection; conntrack keeps the flow there (R16 affinity).
      pre += "\t\t" + m + " ct mark set numgen random mod 1000 map @w_" + sv.id + "\n";
    }
    for (size_t k = 0; k < sv.candidates.size(); ++k) {
      auto& c = sv.candidates[k];
      std::string& t = sv.vip.is_v4() ? targets4 : targets6;
      if (!t.empty()) t += ", ";
      t += hex32(candidate_mark(cid + static_cast<int>(k), c.wan)) + " : " + c.address.to_string() + " . " +
           std::to_string(c.port);
      wans.insert({sv.vip.is_v4() ? AF_INET : AF_INET6, c.wan});
    }
    cid += static_cast<int>(sv.candidates.size());
  }
  if (!targets4.empty())
    maps += "\tmap targets {\n\t\ttype mark : ipv4_addr . inet_service\n\t\telements = { " + targets4 + " }\n\t}\n";
  if (!targets6.empty())
    maps += "\tmap targets6 {\n\t\ttype mark : ipv6_addr . inet_service\n\t\telements = { " + targets6 + " }\n\t}\n";
  // nft cannot OR two non-constant values (see overlay/vcpe_plan.cpp), so the restore sets
  // the whole packet mark from our bits: LAN packets entering the CPE carry no other mark.
  pre += "\t\tct mark and " + ours + " != 0 meta mark set ct mark and " + hex32(kOurMarkBits) + "\n";
  // Only connections our draw marked are DNATed; a missing key simply does not match.
  if (!targets4.empty())
    nat += "\t\tct mark and " + ours + " != 0 meta nfproto ipv4 meta l4proto { tcp, udp } dnat ip to ct mark map @targets\n";
  if (!targets6.empty())
    nat += "\t\tct mark and " + ours + " != 0 meta nfproto ipv6 meta l4proto { tcp, udp } dnat ip6 to ct mark map @targets6\n";
  p.nft_body = maps +
               "\tchain steer_prerouting {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n" + pre +
               "\t}\n\tchain steer_dstnat {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n" + nat +
               "\t}\n";
  // Create-then-delete-then-define in one transaction, as overlay's apply_nft does: atomic
  // replacement, idempotent, and conntrack marks (in conntrack, not the table) survive.
  p.nft_script = std::string("table inet ") + kNftTable + "\ndelete table inet " + kNftTable + "\ntable inet " +
                 kNftTable + " {\n" + p.nft_body + "}\n";
  for (auto [family, wan] : wans) {
    rtnl::Rule r;
    r.family = family;
    r.priority = steer_rule_prio(wan);
    r.table = overlay_table(wan);
    r.fwmark = static_cast<uint32_t>(wan) << 16;
    r.fwmask = kPathMask;
    p.rules.push_back(r);
  }
  return p;
}

Result<std::string> render_weight_update(const State& current, const State& next) {
  CATS_TRY(validate(current));
  CATS_TRY(validate(next));
  auto refuse = [](const std::string& why) {
    return Result<std::string>{boost::system::in_place_error,
                               Error::msg(why + ": not a weights-only change, apply the full script")};
  };
  if (current.services.size() != next.services.size()) return refuse("services added or removed");
  std::string out;
  int cid = 1;
  for (size_t i = 0; i < next.services.size(); ++i) {
    auto& a = current.services[i];
    auto& b = next.services[i];
    if (a.id != b.id || a.vip != b.vip || a.protocol != b.protocol || a.ports != b.ports ||
        a.sticky_timeout_s != b.sticky_timeout_s || a.candidates.size() != b.candidates.size())
      return refuse("service " + b.id + " changed");
    bool changed = false;
    for (size_t k = 0; k < b.candidates.size(); ++k) {
      auto& ca = a.candidates[k];
      auto& cb = b.candidates[k];
      if (ca.address != cb.address || ca.port != cb.port || ca.wan != cb.wan)
        return refuse("service " + b.id + " candidate " + std::to_string(k + 1) + " changed");
      changed |= ca.weight != cb.weight;
    }
    if (changed) {
      out += std::string("flush map inet ") + kNftTable + " w_" + b.id + "\n";
      out += std::string("add element inet ") + kNftTable + " w_" + b.id + " { " + weight_elements(b, cid) + " }\n";
    }
    cid += static_cast<int>(b.candidates.size());
  }
  return out;
}

std::string rule_to_string(const rtnl::Rule& r) {
  std::string s = r.family == AF_INET6 ? "ipv6" : "ipv4";
  s += " prio " + std::to_string(r.priority);
  if (r.fwmark) s += " fwmark " + hex32(*r.fwmark) + (r.fwmask ? "/" + hex32(*r.fwmask) : "");
  s += " table " + std::to_string(r.table) + " proto " + std::to_string(r.protocol);
  return s;
}

}  // namespace cats::steer
