#include "config/config.hpp"

#include "base/base64.hpp"
#include "base/slice.hpp"
#include "sampler/parse.hpp"

#include <toml++/toml.h>

#include <fstream>
#include <cmath>
#include <initializer_list>
#include <tuple>
#include <set>
#include <sstream>

namespace cats::config {

bool valid_ifname(std::string_view s) {
  if (s.empty() || s.size() > 15 || s == "." || s == "..") return false;
  for (char c : s)
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\0') return false;
  return true;
}

namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;
constexpr size_t kMaxListEntries = 256;

// Collects every problem in one pass so an operator fixes a file in one go.
struct Errors {
  std::string file;
  std::vector<Problem> items;

  void add(const toml::source_region& where, const std::string& field, const std::string& why) {
    items.push_back({field, why, where.begin.line, where.begin.column});
  }
};

// A view of one TOML table under a field path ("wan[1]"); records which keys were read
// so that leftovers are reported as unknown.
class Table {
 public:
  Table(const toml::table& t, std::string path, Errors& errs) : t_(t), path_(std::move(path)), errs_(errs) {}
  ~Table() = default;

  std::string field(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  Errors& errors() { return errs_; }
  const toml::source_region& where() const { return t_.source(); }

  const toml::node* get(std::string_view key) {
    seen_.insert(std::string(key));
    return t_.get(key);
  }

  void error(std::string_view key, const std::string& why) {
    auto* n = t_.get(key);
    errs_.add(n ? n->source() : t_.source(), field(key), why);
  }

  std::optional<std::string> str(std::string_view key, bool required, size_t max_len = 255) {
    auto* n = get(key);
    if (!n) {
      if (required) errs_.add(t_.source(), field(key), "missing required field");
      return std::nullopt;
    }
    auto v = n->value<std::string>();
    if (!n->is_string() || !v) {
      errs_.add(n->source(), field(key), "must be a string");
      return std::nullopt;
    }
    if (v->empty() || v->size() > max_len) {
      errs_.add(n->source(), field(key), "must be 1.." + std::to_string(max_len) + " characters");
      return std::nullopt;
    }
    return v;
  }

  std::optional<int64_t> integer(std::string_view key, int64_t lo, int64_t hi) {
    auto* n = get(key);
    if (!n) return std::nullopt;
    if (!n->is_integer()) {
      errs_.add(n->source(), field(key), "must be an integer");
      return std::nullopt;
    }
    int64_t v = n->as_integer()->get();
    if (v < lo || v > hi) {
      errs_.add(n->source(), field(key), "must be in " + std::to_string(lo) + ".." + std::to_string(hi));
      return std::nullopt;
    }
    return v;
  }

  std::optional<IpAddress> address(std::string_view key, bool required) {
    auto s = str(key, required, 64);
    if (!s) return std::nullopt;
    auto a = parse_address(*s);
    if (!a) {
      error(key, a.error().message);
      return std::nullopt;
    }
    return *a;
  }

  std::optional<std::string> ifname(std::string_view key, bool required) {
    auto s = str(key, required, 64);
    if (s && !valid_ifname(*s)) {
      error(key, "invalid interface name '" + *s + "' (1-15 characters, no '/', ':' or spaces)");
      return std::nullopt;
    }
    return s;
  }

  std::optional<wg::Key> key(std::string_view k) {
    auto s = str(k, true, 64);
    if (!s) return std::nullopt;
    auto key = wg::from_base64(*s);
    if (!key) {
      error(k, "invalid WireGuard key (want 44 characters of base64 for 32 bytes)");
      return std::nullopt;
    }
    return *key;
  }

  std::vector<Prefix> prefixes(std::string_view key, bool required) {
    std::vector<Prefix> out;
    auto* n = get(key);
    if (!n) {
      if (required) errs_.add(t_.source(), field(key), "missing required field");
      return out;
    }
    auto* arr = n->as_array();
    if (!arr || arr->size() > kMaxListEntries) {
      errs_.add(n->source(), field(key), "must be a list of at most 256 prefixes");
      return out;
    }
    for (size_t i = 0; i < arr->size(); ++i) {
      auto& e = (*arr)[i];
      auto s = e.value<std::string>();
      std::string f = field(key) + "[" + std::to_string(i) + "]";
      if (!e.is_string() || !s) {
        errs_.add(e.source(), f, "must be a string");
        continue;
      }
      auto p = parse_prefix(*s);
      if (!p) {
        errs_.add(e.source(), f, p.error().message);
        continue;
      }
      if (p->network().address != p->address) {
        errs_.add(e.source(), f, "host bits set in '" + *s + "' (did you mean " + p->network().to_string() + "?)");
        continue;
      }
      out.push_back(*p);
    }
    return out;
  }

  // Sub-table (optional); nullptr when absent or of the wrong type (the latter reported).
  const toml::table* table(std::string_view key, bool required) {
    auto* n = get(key);
    if (!n) {
      if (required) errs_.add(t_.source(), field(key), "missing required section [" + field(key) + "]");
      return nullptr;
    }
    if (!n->is_table()) {
      errs_.add(n->source(), field(key), "must be a table");
      return nullptr;
    }
    return n->as_table();
  }

  // Array of tables ([[key]]).
  std::vector<const toml::table*> tables(std::string_view key, bool required) {
    std::vector<const toml::table*> out;
    auto* n = get(key);
    if (!n) {
      if (required) errs_.add(t_.source(), field(key), "at least one [[" + field(key) + "]] is required");
      return out;
    }
    auto* arr = n->as_array();
    // An empty array ("service = []", or [] in the JSON document) is zero tables.
    if (!arr || (!arr->empty() && !arr->is_array_of_tables()) || arr->size() > kMaxListEntries) {
      errs_.add(n->source(), field(key), "must be an array of tables ([[" + field(key) + "]]), at most 256");
      return out;
    }
    if (arr->empty() && required)
      errs_.add(n->source(), field(key), "at least one [[" + field(key) + "]] is required");
    for (auto& e : *arr) out.push_back(e.as_table());
    return out;
  }

  void reject_unknown() {
    for (auto& [k, v] : t_) {
      if (!seen_.count(std::string(k.str()))) errs_.add(v.source(), field(k.str()), "unknown key");
    }
  }

 private:
  const toml::table& t_;
  std::string path_;
  Errors& errs_;
  std::set<std::string> seen_;
};

// `extra` reads role-specific keys of the same section before unknown keys are rejected.
template <class Extra>
void read_daemon(Table& root, const char* section, Daemon& d, const std::string& default_dir, Extra extra) {
  auto* t = root.table(section, true);
  if (!t) return;
  Table s(*t, section, root.errors());
  if (auto v = s.str("name", true, 63)) d.name = *v;
  d.state_dir = s.str("state_dir", false, 4095).value_or(default_dir);
  d.control_socket = s.str("control_socket", false, 107).value_or(d.state_dir + "/control.sock");
  if (auto v = s.str("wireguard", false)) {
    if (*v == "auto") d.wireguard = wg::Options::Mode::automatic;
    else if (*v == "kernel") d.wireguard = wg::Options::Mode::kernel;
    else if (*v == "userspace") d.wireguard = wg::Options::Mode::userspace;
    else s.error("wireguard", "must be one of auto, kernel, userspace");
  }
  if (auto v = s.str("wireguard_go", false, 4095)) d.wireguard_go = *v;
  if (auto v = s.str("log_level", false)) {
    if (*v != "debug" && *v != "info" && *v != "warn" && *v != "error")
      s.error("log_level", "must be one of debug, info, warn, error");
    else
      d.log_level = *v;
  }
  extra(s);
  s.reject_unknown();
}

std::vector<uint8_t> read_b64(Table& s, std::string_view key, size_t min_len, size_t max_len, const char* what) {
  auto v = s.str(key, false, 512);
  if (!v) return {};
  auto bytes = base64_decode(*v);
  if (!bytes || bytes->size() < min_len || bytes->size() > max_len) {
    s.error(key, std::string("must be base64 of ") + what);
    return {};
  }
  return *bytes;
}

void read_probing(Table& root, Probing& p) {
  auto* t = root.table("probing", false);
  if (!t) return;
  Table s(*t, "probing", root.errors());
  p.port = static_cast<uint16_t>(s.integer("port", 1, 65535).value_or(p.port));
  const auto interval = s.integer("interval_ms", 10, 60000);
  p.interval_ms = static_cast<uint32_t>(interval.value_or(p.interval_ms));
  p.timeout_ms = static_cast<uint32_t>(s.integer("timeout_ms", 10, 60000).value_or(p.timeout_ms));
  p.min_timeout_ms = static_cast<uint32_t>(s.integer("min_timeout_ms", 10, 60000).value_or(p.min_timeout_ms));
  if (p.min_timeout_ms > p.timeout_ms) s.error("min_timeout_ms", "must not exceed timeout_ms");
  p.down_after = static_cast<uint32_t>(s.integer("down_after", 1, 100).value_or(p.down_after));
  p.hold_down = static_cast<uint32_t>(s.integer("hold_down", 1, 1000).value_or(p.hold_down));
  p.flap_half_life_ms =
      static_cast<uint32_t>(s.integer("flap_half_life_ms", 0, 3'600'000).value_or(p.flap_half_life_ms));
  p.flap_suppress = static_cast<uint32_t>(s.integer("flap_suppress", 1, 1'000'000).value_or(p.flap_suppress));
  p.flap_reuse = static_cast<uint32_t>(s.integer("flap_reuse", 1, 1'000'000).value_or(p.flap_reuse));
  p.flap_max_hold_ms =
      static_cast<uint32_t>(s.integer("flap_max_hold_ms", 1, 86'400'000).value_or(p.flap_max_hold_ms));
  if (p.flap_reuse >= p.flap_suppress) s.error("flap_reuse", "must be below flap_suppress");
  // RFC 2439 §4.2: the ceiling reuse x 2^(max_hold / half_life) must reach suppress, else
  // no path could ever be held.
  else if (p.flap_half_life_ms > 0 &&
           p.flap_reuse * std::exp2(static_cast<double>(p.flap_max_hold_ms) / p.flap_half_life_ms) < p.flap_suppress)
    s.error("flap_max_hold_ms", "too short for flap_suppress to be reached (reuse x 2^(max_hold / half_life) < suppress)");
  p.auth_key = read_b64(s, "auth_key", 16, 128, "a 16..128-byte HMAC key");
  // An authenticated probe is 204 octets on the wire instead of 140 (stamp/probe_cost.hpp):
  // at the default 50 ms that is 0.653 % of 10 Mbit/s; 70 ms keeps it at 0.466 % (< 0.5 %).
  if (!interval && !p.auth_key.empty()) p.interval_ms = Probing::kAuthDefaultIntervalMs;
  s.reject_unknown();
}

// Shortest form ("0.001", "100"), so range messages read like the documentation.
std::string fmt_num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// An integer or float in [lo, hi], or in (lo, hi] when lo_open (a zero there would divide or
// exclude everything). NaN and infinities fail the range test.
std::optional<double> number(Table& s, std::string_view key, double lo, double hi, bool lo_open = false) {
  auto* n = s.get(key);
  if (!n) return std::nullopt;
  auto v = n->value<double>();
  if (!(n->is_floating_point() || n->is_integer()) || !v || !((lo_open ? *v > lo : *v >= lo) && *v <= hi)) {
    s.error(key, lo_open ? "must be a number > " + fmt_num(lo) + " and <= " + fmt_num(hi)
                         : "must be a number in " + fmt_num(lo) + ".." + fmt_num(hi));
    return std::nullopt;
  }
  return v;
}

void read_reporting(Table& root, Reporting& r, bool vcpe) {
  auto* t = root.table("reporting", false);
  if (!t) return;
  Table s(*t, "reporting", root.errors());
  r.port = static_cast<uint16_t>(s.integer("port", 1, 65535).value_or(r.port));
  r.min_interval_ms = static_cast<uint32_t>(s.integer("min_interval_ms", 100, 60000).value_or(r.min_interval_ms));
  r.max_interval_ms = static_cast<uint32_t>(s.integer("max_interval_ms", 1000, 300000).value_or(r.max_interval_ms));
  if (r.min_interval_ms > r.max_interval_ms) s.error("min_interval_ms", "must not exceed max_interval_ms");
  if (vcpe) {
    r.utilization_threshold = number(s, "utilization_threshold", 0.001, 1).value_or(r.utilization_threshold);
    r.delay_threshold_pct = number(s, "delay_threshold_pct", 0.1, 1000).value_or(r.delay_threshold_pct);
  }
  s.reject_unknown();
}

// The fields every remote site has, whichever side describes it (a CPE's [[vcpe]] or a
// vCPE's [[cpe]]): name, WireGuard key, inner address, subnets, keepalive.
template <class Peer>
void read_site_peer(Table& s, Peer& p) {
  p.name = s.str("name", true, 63).value_or("");
  if (auto k = s.key("public_key")) p.public_key = *k;
  if (auto a = s.address("address", true)) p.address = *a;
  p.subnets = s.prefixes("subnets", true);
  p.keepalive = static_cast<uint16_t>(s.integer("keepalive", 0, 3600).value_or(0));
}

void read_lan(Table& root, Lan& lan, bool with_address) {
  auto* t = root.table("lan", true);
  if (!t) return;
  Table s(*t, "lan", root.errors());
  if (auto v = s.ifname("interface", true)) lan.interface = *v;
  if (with_address) lan.address = s.address("address", true);
  lan.subnets = s.prefixes("subnets", true);
  if (lan.subnets.empty() && s.get("subnets")) s.error("subnets", "must list at least one prefix");
  if (with_address && lan.address) {
    bool inside = false;
    for (auto& p : lan.subnets) inside = inside || p.contains(*lan.address);
    if (!lan.subnets.empty() && !inside) s.error("address", "is not inside any of lan.subnets");
  }
  s.reject_unknown();
}

template <class T, class Name>
void check_unique(Errors& errs, const std::vector<T>& v, const std::vector<const toml::table*>& src,
                  const std::string& list, const std::string& what, Name name) {
  std::set<std::string> seen;
  for (size_t i = 0; i < v.size() && i < src.size(); ++i) {
    auto n = name(v[i]);
    if (n.empty()) continue;
    if (!seen.insert(n).second)
      errs.add(src[i]->source(), list + "[" + std::to_string(i) + "]." + what, "duplicate " + what + " '" + n + "'");
  }
}

// A list of at most 256 strings of 1..max_len characters (absent: empty).
std::vector<std::string> strings(Table& t, std::string_view key, size_t max_len) {
  std::vector<std::string> out;
  auto* n = t.get(key);
  if (!n) return out;
  auto* arr = n->as_array();
  if (!arr || arr->size() > kMaxListEntries) {
    t.error(key, "must be a list of at most 256 strings");
    return out;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    auto v = (*arr)[i].value<std::string>();
    if (!(*arr)[i].is_string() || !v || v->empty() || v->size() > max_len) {
      t.error(key, "entry " + std::to_string(i) + " must be a string of 1.." + std::to_string(max_len) + " characters");
      return {};
    }
    out.push_back(*v);
  }
  return out;
}

void read_management(Table& root, const Daemon& d, Management& m, bool cpe) {
  m.cert_file = d.state_dir + "/tls/cert.pem";
  m.key_file = d.state_dir + "/tls/key.pem";
  auto* t = root.table("management", false);
  if (!t) return;
  Table s(*t, "management", root.errors());
  for (const auto& a : strings(s, "listen", 64)) {
    auto ep = parse_endpoint(a);
    if (!ep) s.error("listen", "'" + a + "': " + ep.error().message);
    else m.listen.push_back(*ep);
  }
  if (auto v = s.str("cert_file", false, 4095)) m.cert_file = *v;
  if (auto v = s.str("key_file", false, 4095)) m.key_file = *v;
  for (auto& h : strings(s, "allowed_hosts", 255)) {
    if (h.find_first_of(" /\\@") != std::string::npos) s.error("allowed_hosts", "'" + h + "' is not a host or host:port");
    else m.allowed_hosts.push_back(std::move(h));
  }
  m.metrics_allow = s.prefixes("metrics_allow", false);
  m.session_idle_s = static_cast<uint32_t>(s.integer("session_idle_s", 60, 86400).value_or(m.session_idle_s));
  m.session_max_s = static_cast<uint32_t>(s.integer("session_max_s", 300, 30 * 86400).value_or(m.session_max_s));
  if (m.session_idle_s > m.session_max_s) s.error("session_idle_s", "must not exceed session_max_s");
  m.max_connections = static_cast<uint32_t>(s.integer("max_connections", 1, 4096).value_or(m.max_connections));
  m.max_connections_per_client = static_cast<uint32_t>(
      s.integer("max_connections_per_client", 1, 4096).value_or(m.max_connections_per_client));
  // Only the CPE serves the UI; on a vCPE the key stays unknown (and is refused below).
  if (auto v = cpe ? s.str("webui_dir", false, 4095) : std::nullopt) {
    const bool dotdot = ("/" + *v + "/").find("/../") != std::string::npos;
    if (v->empty() || v->front() != '/' || dotdot || v->find('\0') != std::string::npos) s.error("webui_dir", "must be an absolute path without '..'");
    else m.webui_dir = *v;
  }
  s.reject_unknown();
}

void read_selection(Table& root, Selection& sel) {
  auto* t = root.table("selection", false);
  if (!t) return;
  Table s(*t, "selection", root.errors());
  if (auto v = number(s, "hysteresis_pct", 0, 100)) sel.hysteresis = *v / 100.0;
  sel.hold_down_ms = static_cast<uint32_t>(s.integer("hold_down_ms", 0, 600000).value_or(sel.hold_down_ms));
  if (auto v = number(s, "deadband_sigmas", 0, 10)) sel.deadband_sigmas = *v;
  sel.settle_mean_ms = static_cast<uint32_t>(s.integer("settle_mean_ms", 0, 60000).value_or(sel.settle_mean_ms));
  if (auto v = number(s, "low_priority_reserve_pct", 0, 90)) sel.low_priority_reserve = *v / 100.0;
  s.reject_unknown();
}

// Limits of the steering data plane (base/slice.hpp): a candidate is one
// (instance x WAN) pair and its id is the top 8 bits of the packet mark (1..255); a
// service's weight map holds at most 64 candidates. Checked here so a config the data
// plane cannot express is refused at load, not at apply.
constexpr size_t kMaxCandidates = slice::kMaxCandidates;
constexpr size_t kMaxCandidatesPerService = slice::kMaxCandidatesPerService;
constexpr size_t kMaxServicePorts = 64;
constexpr size_t kMaxServiceInstances = 64;
// The id becomes part of nft object names (map w_<id>, s_<id>); nft caps names, and
// lower-case identifiers keep them unambiguous in scripts.
constexpr size_t kMaxServiceId = 24;

bool valid_service_id(std::string_view s) {
  if (s.empty() || s.size() > kMaxServiceId || s[0] < 'a' || s[0] > 'z') return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

// Capabilities are compared with what vCPEs report; a restricted alphabet avoids near-miss
// spellings (case, spaces) that would silently exclude every instance.
bool valid_capability(std::string_view s) {
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  return !s.empty();
}

// An enumerated string; the index of the match in `names`. Absent or invalid -> nullopt
// (invalid is reported), so callers tell them apart with s.get(key) when it matters.
std::optional<size_t> choice(Table& s, std::string_view key, std::initializer_list<const char*> names) {
  auto v = s.str(key, false, 32);
  if (!v) return std::nullopt;
  size_t i = 0;
  for (auto* n : names) {
    if (*v == n) return i;
    ++i;
  }
  std::string all;
  for (auto* n : names) all += (all.empty() ? "" : ", ") + std::string(n);
  s.error(key, "must be one of " + all);
  return std::nullopt;
}

void read_firewall(Table& root, Firewall& f) {
  auto* t = root.table("firewall", false);
  if (!t) return;
  Table s(*t, "firewall", root.errors());
  if (auto v = choice(s, "wan_input", {"deny", "off"}))
    f.wan_input = *v == 0 ? Firewall::WanInput::deny : Firewall::WanInput::off;
  s.reject_unknown();
}

std::string family_name(const IpAddress& a) { return a.is_v4() ? "IPv4" : "IPv6"; }

// Why `vip` cannot be a service VIP, or "" when it can. A VIP is an address no host owns:
// the CPE DNATs it, so LAN clients must route it to the CPE (not resolve it on-link), and it
// must not shadow anything reachable through the tunnels.
std::string vip_problem(const IpAddress& vip, const CpeConfig& c) {
  if (vip.is_unspecified()) return "must not be the unspecified address";
  if (vip.is_multicast()) return "must not be a multicast address";
  if (vip.is_loopback()) return "must not be a loopback address";
  if (vip.is_v4() && vip.to_v4() == boost::asio::ip::address_v4::broadcast())
    return "must not be the broadcast address";
  if (vip.is_v6() && vip.to_v6().is_v4_mapped())
    return "must not be an IPv4-mapped IPv6 address (write the IPv4 address)";
  if (c.lan.address && *c.lan.address == vip) return "must not be the LAN address (lan.address)";
  for (auto& p : c.lan.subnets)
    if (p.contains(vip))
      return "must not be inside lan.subnets (" + p.to_string() + "): LAN clients would look for it on-link "
             "instead of sending it to the CPE";
  for (auto& v : c.vcpes) {
    if (v.address == vip) return "must not be the address of vcpe '" + v.name + "'";
    for (auto& p : v.subnets)
      if (p.contains(vip)) return "must not be inside the subnets of vcpe '" + v.name + "' (" + p.to_string() + ")";
  }
  return "";
}

void read_sla(Table& s, const std::string& path, select::Sla& sla) {
  auto* t = s.table("sla", false);
  if (!t) return;
  Table st(*t, path + ".sla", s.errors());
  if (auto v = number(st, "max_rtt_ms", 0, 60000, true)) sla.max_rtt_ms = *v;
  if (auto v = number(st, "max_jitter_ms", 0, 60000)) sla.max_jitter_ms = *v;
  if (auto v = number(st, "max_loss_pct", 0, 100)) sla.max_loss_pct = *v;
  if (auto v = number(st, "max_e2e_ms", 0, 60000, true)) sla.max_e2e_ms = *v;
  if (auto v = st.str("capability", false, 32)) {
    if (valid_capability(*v)) sla.required_capability = *v;
    else st.error("capability", "must use only a-z, 0-9, '_' and '-'");
  }
  if (auto v = number(st, "min_free_capacity_pct", 0, 100)) sla.min_free_capacity = *v / 100.0;
  if (auto v = number(st, "min_gpu_memory_free_pct", 0, 100)) sla.min_gpu_memory_free = *v / 100.0;
  st.reject_unknown();
}

void read_weights(Table& s, const std::string& path, select::CostWeights& w) {
  auto* t = s.table("weights", false);
  if (!t) return;
  Table wt(*t, path + ".weights", s.errors());
  size_t before = s.errors().items.size();
  if (auto v = number(wt, "network", 0, 100)) w.network = *v;
  if (auto v = number(wt, "compute", 0, 100)) w.compute = *v;
  if (auto v = number(wt, "jitter", 0, 100)) w.jitter_k = *v;
  if (auto v = number(wt, "loss", 0, 100)) w.loss_k = *v;
  // Only judged on valid values: a rejected one would leave its default in the sum.
  if (s.errors().items.size() == before && !(w.network + w.compute > 0))
    s.errors().add(t->source(), path + ".weights", "network + compute must be > 0 (else every candidate costs the same)");
  wt.reject_unknown();
}

// The load source of a [[service.instance]], sent to its vCPE in the sampling plan:
// load_url and [[service.instance.prometheus]] (url + preset; custom [[map]] rules are
// the vCPE file's). Every URL is http://IP (the vCPE's sampler never waits on DNS) with
// its host behind the vCPE, as the instance's address is: the vCPE refuses others
// (source_not_allowed), so the file and the API say so first.
bool read_instance_sources(Table& is, const VcpePeer* peer, ServiceInstance& in) {
  bool ok = true;
  auto check_url = [&](Table& t, const char* key, const std::string& url) {
    auto u = sampler::parse_http_url(url);
    if (!u) {
      t.error(key, u.error().message);
      return false;
    }
    if (!peer) return true;
    bool inside = peer->address == u->address;
    for (auto& p : peer->subnets) inside = inside || p.contains(u->address);
    if (!inside) t.error(key, "its host is not behind vcpe '" + peer->name + "' (the vCPE would refuse it)");
    return inside;
  };
  if (auto u = is.str("load_url", false, 255)) {
    if (check_url(is, "load_url", *u)) in.load_url = *u;
    else ok = false;
  }
  auto srcs = is.tables("prometheus", false);
  if (srcs.size() > kMaxPromSources) {
    is.error("prometheus", "at most " + std::to_string(kMaxPromSources) + " [[prometheus]] per instance");
    return false;
  }
  for (size_t i = 0; i < srcs.size(); ++i) {
    Table t(*srcs[i], is.field("prometheus") + "[" + std::to_string(i) + "]", is.errors());
    PromSource p;
    if (auto u = t.str("url", true, 255)) {
      if (check_url(t, "url", *u)) p.url = *u;
      else ok = false;
    } else {
      ok = false;
    }
    if (auto name = t.str("preset", true, 32)) {
      if (auto r = sampler::prom::preset(*name)) {
        p.preset = *name;
        p.rules = std::move(*r);
      } else {
        std::string names;
        for (auto n : sampler::prom::preset_names()) names += (names.empty() ? "" : ", ") + std::string(n);
        t.error("preset", "unknown preset \"" + *name + "\"; one of " + names);
        ok = false;
      }
    } else {
      ok = false;
    }
    t.reject_unknown();
    in.prometheus.push_back(std::move(p));
  }
  return ok;
}

void read_instances(Table& s, const std::string& path, const CpeConfig& c, Service& svc, bool vip_ok,
                    const std::vector<const toml::table*>& insts) {
  auto& errs = s.errors();
  std::map<std::string, size_t> seen;  // "vcpe/address" -> index
  for (size_t j = 0; j < insts.size(); ++j) {
    std::string ipath = path + ".instance[" + std::to_string(j) + "]";
    Table is(*insts[j], ipath, errs);
    ServiceInstance in;
    bool ok = true;
    in.vcpe = is.str("vcpe", true, 63).value_or("");
    const VcpePeer* peer = nullptr;
    for (auto& v : c.vcpes)
      if (v.name == in.vcpe) peer = &v;
    if (in.vcpe.empty()) ok = false;
    else if (!peer) {
      is.error("vcpe", "no [[vcpe]] is named '" + in.vcpe + "'");
      ok = false;
    }
    if (auto a = is.str("address", true, 64)) {
      auto ep = parse_endpoint(*a);
      if (!ep) {
        is.error("address", ep.error().message);
        ok = false;
      } else {
        in.address = *ep;
        auto ip = ep->address();
        if (vip_ok && ip.is_v4() != svc.vip.is_v4()) {
          is.error("address", "is " + family_name(ip) + " but vip is " + family_name(svc.vip) +
                                  " (DNAT cannot change the address family)");
          ok = false;
        } else if (peer) {
          bool inside = peer->address == ip;
          for (auto& p : peer->subnets) inside = inside || p.contains(ip);
          if (!inside) {
            std::string where = peer->address.to_string();
            for (auto& p : peer->subnets) where += ", " + p.to_string();
            is.error("address", "is not behind vcpe '" + peer->name + "' (its address or subnets: " + where + ")");
            ok = false;
          }
        }
      }
    } else {
      ok = false;
    }
    // Judged apart from the address: a bad source does not hide a duplicate address.
    const bool sources_ok = read_instance_sources(is, peer, in);
    is.reject_unknown();
    if (!ok) continue;
    auto key = in.vcpe + "/" + endpoint_to_string(in.address);
    auto [it, fresh] = seen.emplace(key, j);
    if (!fresh) {
      is.error("address", "duplicate instance: vcpe '" + in.vcpe + "' address " + endpoint_to_string(in.address) +
                              " is already " + path + ".instance[" + std::to_string(it->second) + "]");
      continue;
    }
    if (!sources_ok) continue;
    svc.instances.push_back(std::move(in));
  }
}

std::vector<uint16_t> read_ports(Table& s) {
  std::vector<uint16_t> out;
  auto* n = s.get("ports");
  if (!n) {
    s.errors().add(s.where(), s.field("ports"), "missing required field");
    return out;
  }
  auto* arr = n->as_array();
  if (!arr || arr->empty() || arr->size() > kMaxServicePorts) {
    s.error("ports", "must be a list of 1.." + std::to_string(kMaxServicePorts) + " ports");
    return out;
  }
  std::set<int64_t> seen;
  for (size_t i = 0; i < arr->size(); ++i) {
    auto& e = (*arr)[i];
    std::string f = s.field("ports") + "[" + std::to_string(i) + "]";
    if (!e.is_integer()) {
      s.errors().add(e.source(), f, "must be an integer");
      continue;
    }
    int64_t p = e.as_integer()->get();
    if (p < 1 || p > 65535) {
      s.errors().add(e.source(), f, "must be in 1..65535");
      continue;
    }
    if (!seen.insert(p).second) {
      s.errors().add(e.source(), f, "duplicate port " + std::to_string(p));
      continue;
    }
    out.push_back(static_cast<uint16_t>(p));
  }
  return out;
}

// [[service]]: after [lan], [[wan]] and [[vcpe]], whose contents the checks refer to.
void read_services(Table& root, const toml::table& doc, CpeConfig& c) {
  auto& errs = root.errors();
  auto tables = root.tables("service", false);
  size_t candidates = 0;
  // (vip, protocol, port) -> service index: two services on one VIP must not share a port,
  // the data plane could not tell their new flows apart.
  std::map<std::tuple<IpAddress, Protocol, uint16_t>, size_t> taken;
  for (size_t i = 0; i < tables.size(); ++i) {
    std::string path = "service[" + std::to_string(i) + "]";
    Table s(*tables[i], path, errs);
    Service svc;
    if (auto id = s.str("id", true, kMaxServiceId)) {
      if (valid_service_id(*id)) svc.select.id = *id;
      else s.error("id", "must be a lower-case letter followed by a-z, 0-9 or '_' (it names nft maps)");
    }
    bool vip_ok = false;
    if (auto vip = s.address("vip", true)) {
      auto why = vip_problem(*vip, c);
      if (why.empty()) {
        svc.vip = *vip;
        vip_ok = true;
      } else {
        s.error("vip", why);
      }
    }
    if (auto p = choice(s, "protocol", {"tcp", "udp"})) svc.protocol = *p == 0 ? Protocol::tcp : Protocol::udp;
    svc.ports = read_ports(s);

    auto affinity = choice(s, "affinity", {"flow", "sticky"});
    bool affinity_known = affinity || !s.get("affinity");
    bool sticky = affinity && *affinity == 1;
    auto timeout = s.integer("sticky_timeout_s", 1, 86400);
    if (sticky) {
      svc.select.affinity = select::Affinity::source;
      svc.sticky_timeout_s = static_cast<uint32_t>(timeout.value_or(300));
    } else {
      svc.select.affinity = select::Affinity::flow;
      if (affinity_known && s.get("sticky_timeout_s"))
        s.error("sticky_timeout_s", "only allowed with affinity = \"sticky\"");
    }
    if (auto o = choice(s, "on_no_candidate", {"reject", "best_effort"}))
      svc.select.on_no_candidate = *o == 0 ? select::OnNoCandidate::reject : select::OnNoCandidate::best_effort;
    if (auto v = number(s, "service_time_ms", 0, 60000, true)) svc.select.service_time_ms = *v;
    if (auto v = number(s, "access_delay_ms", 0, 10000)) svc.select.access_delay_ms = *v;
    if (auto v = number(s, "spread_pct", 0, 100)) svc.select.epsilon = *v / 100.0;
    if (auto v = number(s, "spread_power", 0, 8)) svc.select.power = *v;
    // Draft §4.2: a low-priority service leaves [selection] low_priority_reserve_pct of
    // every instance to the others (select::Service::reserve).
    if (auto p = choice(s, "priority", {"normal", "low"})) svc.select.reserve = *p == 1 ? c.selection.low_priority_reserve : 0.0;
    read_sla(s, path, svc.select.sla);
    read_weights(s, path, svc.select.weights);

    auto insts = s.tables("instance", false);
    auto* given = s.get("instance");
    if (insts.empty() && (!given || (given->as_array() && given->as_array()->empty())))
      errs.add(s.where(), path + ".instance", "at least one [[service.instance]] is required");
    if (insts.size() > kMaxServiceInstances)
      s.error("instance", "at most " + std::to_string(kMaxServiceInstances) + " instances per service");
    size_t mine = insts.size() * c.wans.size();
    candidates += mine;
    if (mine > kMaxCandidatesPerService)
      s.error("instance", std::to_string(insts.size()) + " instances x " + std::to_string(c.wans.size()) +
                              " WANs = " + std::to_string(mine) + " candidates; the data plane's weight map holds at most " +
                              std::to_string(kMaxCandidatesPerService) + " per service");
    read_instances(s, path, c, svc, vip_ok, insts);
    s.reject_unknown();

    if (vip_ok)
      for (auto port : svc.ports) {
        auto [it, fresh] = taken.emplace(std::tuple{svc.vip, svc.protocol, port}, i);
        if (!fresh) {
          auto& other = c.services[it->second].select.id;
          s.error("ports", std::to_string(port) + (svc.protocol == Protocol::tcp ? "/tcp" : "/udp") + " on " +
                               svc.vip.to_string() + " is already service '" + other + "'");
        }
      }
    c.services.push_back(std::move(svc));
  }
  check_unique(errs, c.services, tables, "service", "id", [](const Service& s) { return s.select.id; });
  if (candidates > kMaxCandidates)
    errs.add(doc.source(), "service",
             std::to_string(candidates) + " candidates (instances x WANs) in all services; at most " +
                 std::to_string(kMaxCandidates) + ": the data plane's candidate id is 8 bits of the packet mark");
}

// The syntax or size problem, if any, is the only one reported (field "").
std::optional<toml::table> parse_toml(std::string_view text, const std::string& name, Errors& errs) {
  if (text.size() > kMaxConfigBytes) {
    errs.items.push_back({"", "file larger than 1 MiB", 0, 0});
    return std::nullopt;
  }
  try {
    return toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    errs.items.push_back({"", std::string(e.description()), e.source().begin.line, e.source().begin.column});
    return std::nullopt;
  }
}

Error to_error(const std::string& file, const std::vector<Problem>& problems) {
  std::string m;
  for (auto& p : problems) m += (m.empty() ? "" : "\n") + format_problem(file, p);
  return Error::msg(m);
}

}  // namespace

std::string format_problem(const std::string& file, const Problem& p) {
  std::ostringstream os;
  os << file;
  if (p.line) os << ":" << p.line << ":" << p.column;
  if (!p.field.empty()) os << ": " << p.field;
  os << ": " << p.reason;
  return os.str();
}

Result<CpeConfig> parse_cpe(std::string_view text, const std::string& name) {
  auto r = check_cpe(text, name);
  if (!r.config) return to_error(name, r.problems);
  return std::move(*r.config);
}

CpeCheck check_cpe(std::string_view text, const std::string& name) {
  Errors errs{name, {}};
  auto parsed = parse_toml(text, name, errs);
  if (!parsed) return {std::nullopt, std::move(errs.items)};
  const toml::table& doc = *parsed;
  CpeConfig c;
  c.file = name;
  Table root(doc, "", errs);
  read_daemon(root, "cpe", c.daemon, "/var/lib/cats-cpe", [](Table&) {});
  read_lan(root, c.lan, true);
  read_probing(root, c.probing);
  read_reporting(root, c.reporting, false);
  c.store_path = c.daemon.state_dir + "/cats.db";
  if (auto* st = root.table("store", false)) {
    Table s(*st, "store", errs);
    if (auto p = s.str("path", false, 4095)) c.store_path = *p;
    s.reject_unknown();
  }

  auto wans = root.tables("wan", true);
  for (size_t i = 0; i < wans.size(); ++i) {
    Table s(*wans[i], "wan[" + std::to_string(i) + "]", errs);
    Wan w;
    w.name = s.str("name", true, 32).value_or("");
    w.interface = s.ifname("interface", true).value_or("");
    if (auto g = s.address("gateway", true)) w.gateway = *g;
    w.weight = static_cast<uint32_t>(s.integer("weight", 1, 100).value_or(1));
    w.cost = static_cast<uint32_t>(s.integer("cost", 0, 1000).value_or(0));
    w.tunnel_interface = s.ifname("tunnel_interface", false).value_or("");
    if (w.tunnel_interface.empty() && !w.name.empty()) {
      w.tunnel_interface = "cats-" + w.name;
      if (!valid_ifname(w.tunnel_interface))
        s.error("name", "default tunnel_interface 'cats-" + w.name + "' is too long; set tunnel_interface");
    }
    w.listen_port = static_cast<uint16_t>(s.integer("listen_port", 0, 65535).value_or(0));
    s.reject_unknown();
    c.wans.push_back(std::move(w));
  }
  if (wans.size() > static_cast<size_t>(slice::kMaxWans))
    errs.add(doc.source(), "wan", "at most " + std::to_string(slice::kMaxWans) + " WAN links are supported");
  check_unique(errs, c.wans, wans, "wan", "name", [](const Wan& w) { return w.name; });
  check_unique(errs, c.wans, wans, "wan", "interface", [](const Wan& w) { return w.interface; });
  check_unique(errs, c.wans, wans, "wan", "tunnel_interface", [](const Wan& w) { return w.tunnel_interface; });
  check_unique(errs, c.wans, wans, "wan", "listen_port",
               [](const Wan& w) { return w.listen_port ? std::to_string(w.listen_port) : std::string(); });

  auto vcpes = root.tables("vcpe", true);
  for (size_t i = 0; i < vcpes.size(); ++i) {
    std::string path = "vcpe[" + std::to_string(i) + "]";
    Table s(*vcpes[i], path, errs);
    VcpePeer v;
    read_site_peer(s, v);
    if (auto a = s.address("endpoint", true)) v.endpoint = *a;
    v.report_key = read_b64(s, "report_key", 32, 32, "a 32-byte Ed25519 public key");
    if (v.report_key.empty() && !s.get("report_key")) s.error("report_key", "missing required field");
    if (auto* ports = s.table("ports", true)) {
      Table pt(*ports, path + ".ports", errs);
      for (auto& w : c.wans) {
        if (w.name.empty()) continue;
        auto p = pt.integer(w.name, 1, 65535);
        if (p)
          v.ports[w.name] = static_cast<uint16_t>(*p);
        else if (!pt.get(w.name))
          errs.add(ports->source(), path + ".ports." + w.name, "missing: the vCPE's listen port for WAN '" + w.name + "'");
      }
      pt.reject_unknown();
    }
    s.reject_unknown();
    c.vcpes.push_back(std::move(v));
  }
  check_unique(errs, c.vcpes, vcpes, "vcpe", "name", [](const VcpePeer& v) { return v.name; });
  check_unique(errs, c.vcpes, vcpes, "vcpe", "public_key",
               [](const VcpePeer& v) { return v.public_key == wg::Key{} ? std::string() : wg::to_base64(v.public_key); });
  read_selection(root, c.selection);
  read_services(root, doc, c);
  read_management(root, c.daemon, c.management, true);
  read_firewall(root, c.firewall);
  root.reject_unknown();
  if (!errs.items.empty()) return {std::nullopt, std::move(errs.items)};
  return {std::move(c), {}};
}

Result<Daemon> parse_daemon_section(std::string_view text, const std::string& name, const std::string& role) {
  if (role != "cpe" && role != "vcpe") return Error::msg("unknown role '" + role + "'");
  Errors errs{name, {}};
  auto doc = parse_toml(text, name, errs);
  if (!doc) return to_error(name, errs.items);
  Daemon d;
  Table root(*doc, "", errs);
  // Only [cpe] / [vcpe]: the daemon's own identity must be readable before its peers are
  // configured (first deployment: each side needs the other's public key). Other
  // sections, and the role's own keys beyond the daemon's, are not looked at.
  read_daemon(root, role.c_str(), d, "/var/lib/cats-" + role, [](Table& s) { s.get("address"); });
  if (!errs.items.empty()) return to_error(name, errs.items);
  return d;
}

namespace {

// `series` / `over` of a [[instance.prometheus.map]]: one selector or a list of 1..4.
std::vector<sampler::prom::Selector> selectors(Table& s, std::string_view key, bool required) {
  namespace prom = sampler::prom;
  std::vector<prom::Selector> out;
  auto* n = s.get(key);
  if (!n) {
    if (required) s.errors().add(s.where(), s.field(key), "missing required field");
    return out;
  }
  std::vector<const toml::node*> items;
  if (n->is_string()) items.push_back(n);
  else if (auto* arr = n->as_array(); arr && !arr->empty() && arr->size() <= prom::kMaxSelectorsPerRule)
    for (auto& e : *arr) items.push_back(&e);
  else {
    s.error(key, "must be a series selector or a list of 1.." + std::to_string(prom::kMaxSelectorsPerRule));
    return out;
  }
  for (auto* e : items) {
    auto text = e->value<std::string>();
    if (!e->is_string() || !text || text->size() > 512) {
      s.error(key, "each selector must be a string of at most 512 characters");
      continue;
    }
    auto sel = prom::parse_selector(*text);
    if (!sel) s.error(key, "\"" + *text + "\": " + sel.error().message);
    else out.push_back(std::move(*sel));
  }
  return out;
}

std::optional<sampler::prom::Rule> read_prom_rule(Table& m) {
  namespace prom = sampler::prom;
  prom::Rule r;
  bool good = true;
  if (auto name = m.str("metric", true, 64)) {
    if (auto* t = metrics::find_type(*name)) r.target = t->type;
    else {
      std::string known;
      for (const auto& k : metrics::known_types()) known += (known.empty() ? "" : ", ") + std::string(k.name);
      m.error("metric", "unknown metric \"" + *name + "\"; one of " + known);
      good = false;
    }
  } else {
    good = false;
  }
  if (auto f = m.str("fn", false, 16)) {
    if (auto v = prom::parse_fn(*f)) r.fn = *v;
    else m.error("fn", "must be value, rate or quantile"), good = false;
  }
  bool agg_given = false;
  if (auto a = m.str("agg", false, 16)) {
    agg_given = true;
    if (auto v = prom::parse_agg(*a)) r.agg = *v;
    else m.error("agg", "must be sum, avg, max, min or count"), good = false;
  }
  r.series = selectors(m, "series", true);
  r.over = selectors(m, "over", false);
  if (r.series.empty()) good = false;
  if (m.get("quantile")) {
    if (r.fn != prom::Fn::quantile) m.error("quantile", "only with fn = \"quantile\""), good = false;
    else if (auto q = number(m, "quantile", 0, 1, true); q && *q < 1) r.quantile = *q;
    else {
      if (q) m.error("quantile", "must be a number > 0 and < 1");
      good = false;
    }
  }
  if (r.fn == prom::Fn::quantile && (agg_given || !r.over.empty())) {
    // The buckets of every matched series are summed by bound (PromQL sum by (le)).
    m.error(agg_given ? "agg" : "over", "does not apply to fn = \"quantile\"");
    good = false;
  }
  if (auto v = number(m, "scale", 0, 1e12, true)) r.scale = *v;
  else if (m.get("scale")) good = false;
  if (auto* n = m.get("complement")) {
    if (!n->is_boolean()) m.error("complement", "must be true or false"), good = false;
    else r.complement = n->as_boolean()->get();
  }
  m.reject_unknown();
  if (!good) return std::nullopt;
  return r;
}

// [[instance.prometheus]]: url + preset, or url + [[instance.prometheus.map]] rules.
void read_prometheus(Table& is, Instance& in) {
  namespace prom = sampler::prom;
  auto srcs = is.tables("prometheus", false);
  if (srcs.size() > kMaxPromSources) {
    is.error("prometheus", "at most " + std::to_string(kMaxPromSources) + " [[instance.prometheus]] per instance");
    return;
  }
  for (size_t i = 0; i < srcs.size(); ++i) {
    Table s(*srcs[i], is.field("prometheus") + "[" + std::to_string(i) + "]", is.errors());
    PromSource p;
    if (auto u = s.str("url", true, 255)) {
      if (auto h = sampler::parse_http_url(*u); !h) s.error("url", h.error().message);
      else p.url = *u;
    }
    auto preset = s.str("preset", false, 32);
    auto maps = s.tables("map", false);
    std::string names;
    for (auto n : prom::preset_names()) names += (names.empty() ? "" : ", ") + std::string(n);
    if (preset && !maps.empty()) {
      s.error("map", "give either a preset or [[map]] rules, not both");
    } else if (!preset && maps.empty()) {
      s.errors().add(s.where(), s.field("preset"), "a preset (" + names + ") or at least one [[map]] rule is required");
    } else if (preset) {
      if (auto r = prom::preset(*preset)) {
        p.preset = *preset;
        p.rules = std::move(*r);
      } else {
        s.error("preset", "unknown preset \"" + *preset + "\"; one of " + names);
      }
    } else if (maps.size() > prom::kMaxRules) {
      s.error("map", "at most " + std::to_string(prom::kMaxRules) + " [[map]] rules");
    } else {
      for (size_t j = 0; j < maps.size(); ++j) {
        Table m(*maps[j], s.field("map") + "[" + std::to_string(j) + "]", is.errors());
        if (auto r = read_prom_rule(m)) p.rules.push_back(std::move(*r));
      }
    }
    s.reject_unknown();
    in.prometheus.push_back(std::move(p));
  }
}

}  // namespace

VcpeCheck check_vcpe(std::string_view text, const std::string& name) {
  Errors errs{name, {}};
  auto parsed = parse_toml(text, name, errs);
  if (!parsed) return {std::nullopt, std::move(errs.items)};
  const toml::table& doc = *parsed;
  VcpeConfig c;
  c.file = name;
  Table root(doc, "", errs);
  // [vcpe] also carries the vCPE's own inner address.
  std::optional<IpAddress> own;
  read_daemon(root, "vcpe", c.daemon, "/var/lib/cats-vcpe", [&](Table& s) { own = s.address("address", true); });
  read_lan(root, c.lan, false);
  c.lan.address = own;
  read_probing(root, c.probing);
  read_reporting(root, c.reporting, true);
  auto insts = root.tables("instance", false);
  for (size_t i = 0; i < insts.size(); ++i) {
    Table s(*insts[i], "instance[" + std::to_string(i) + "]", errs);
    Instance in;
    in.service = s.str("service", true, 63).value_or("");
    in.id = s.str("id", true, 63).value_or("");
    if (auto a = s.str("address", true, 64)) {
      auto ep = parse_endpoint(*a);
      if (ep) in.address = *ep;
      else s.error("address", ep.error().message);
    }
    if (auto u = s.str("load_url", false, 255)) {
      if (u->rfind("http://", 0) != 0) s.error("load_url", "must be an http:// URL");
      else in.load_url = *u;
    }
    read_prometheus(s, in);
    in.cgroup = s.str("cgroup", false, 4095).value_or("");
    if (auto* n = s.get("proc")) {
      if (!n->is_boolean()) s.error("proc", "must be true or false");
      else in.proc = n->as_boolean()->get();
    }
    in.health = s.str("health", false, 255).value_or("tcp");
    if (in.health != "tcp" && in.health.rfind("http://", 0) != 0)
      s.error("health", "must be \"tcp\" or an http:// URL");
    in.health_timeout_ms = static_cast<uint32_t>(s.integer("health_timeout_ms", 10, 60000).value_or(500));
    if (auto v = s.integer("vcpus", 1, 4096)) in.vcpus = static_cast<uint32_t>(*v);
    // Same range as a service's service_time_ms at the CPE (the figure it replaces there).
    if (auto v = number(s, "service_time_ms", 0, 60000, true)) in.service_time_ms = *v;
    s.reject_unknown();
    c.instances.push_back(std::move(in));
  }
  check_unique(errs, c.instances, insts, "instance", "id", [](const Instance& x) { return x.service + "/" + x.id; });
  c.sampling_plan.allow = c.lan.subnets;
  if (auto* sp = root.table("sampling_plan", false)) {
    Table s(*sp, "sampling_plan", errs);
    if (s.get("allow")) c.sampling_plan.allow = s.prefixes("allow", false);
    c.sampling_plan.max_instances =
        static_cast<uint32_t>(s.integer("max_instances", 0, 32).value_or(c.sampling_plan.max_instances));
    s.reject_unknown();
  }
  if (auto* up = root.table("uplink", true)) {
    Table s(*up, "uplink", errs);
    c.uplink_interface = s.ifname("interface", true).value_or("");
    s.reject_unknown();
  }
  auto cpes = root.tables("cpe", true);
  std::vector<const toml::table*> all_paths;
  std::vector<CpePath> flat_paths;
  for (size_t i = 0; i < cpes.size(); ++i) {
    std::string path = "cpe[" + std::to_string(i) + "]";
    Table s(*cpes[i], path, errs);
    CpePeer p;
    read_site_peer(s, p);
    p.report_key = read_b64(s, "report_key", 32, 32, "a 32-byte Ed25519 public key");
    auto paths = s.tables("path", true);
    for (size_t j = 0; j < paths.size(); ++j) {
      Table ps(*paths[j], path + ".path[" + std::to_string(j) + "]", errs);
      CpePath cp;
      cp.wan = ps.str("wan", true, 32).value_or("");
      cp.listen_port = static_cast<uint16_t>(ps.integer("listen_port", 1, 65535).value_or(0));
      if (!ps.get("listen_port")) ps.error("listen_port", "missing required field");
      cp.tunnel_interface = ps.ifname("tunnel_interface", true).value_or("");
      if (auto e = ps.str("endpoint", false, 64)) {
        auto ep = parse_endpoint(*e);
        if (ep) cp.endpoint = *ep;
        else ps.error("endpoint", ep.error().message);
      }
      ps.reject_unknown();
      all_paths.push_back(paths[j]);
      flat_paths.push_back(cp);
      p.paths.push_back(std::move(cp));
    }
    check_unique(errs, p.paths, paths, path + ".path", "wan", [](const CpePath& x) { return x.wan; });
    s.reject_unknown();
    c.cpes.push_back(std::move(p));
  }
  if (flat_paths.size() > 200) errs.add(doc.source(), "cpe", "at most 200 (CPE x WAN) paths are supported");
  check_unique(errs, c.cpes, cpes, "cpe", "name", [](const CpePeer& p) { return p.name; });
  check_unique(errs, flat_paths, all_paths, "cpe.path", "tunnel_interface",
               [](const CpePath& x) { return x.tunnel_interface; });
  check_unique(errs, flat_paths, all_paths, "cpe.path", "listen_port",
               [](const CpePath& x) { return x.listen_port ? std::to_string(x.listen_port) : std::string(); });
  read_management(root, c.daemon, c.management, false);
  root.reject_unknown();
  if (!errs.items.empty()) return {std::nullopt, std::move(errs.items)};
  return {std::move(c), {}};
}

Result<VcpeConfig> parse_vcpe(std::string_view text, const std::string& name) {
  auto r = check_vcpe(text, name);
  if (!r.config) return to_error(name, r.problems);
  return std::move(*r.config);
}

Result<std::string> read_config_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Error::sys(errno, path);
  std::string s;
  char buf[65536];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    s.append(buf, static_cast<size_t>(f.gcount()));
    if (s.size() > kMaxConfigBytes) return Error::msg(path + ": file larger than 1 MiB");
  }
  return s;
}

Result<CpeConfig> load_cpe(const std::string& path) {
  CATS_TRY_ASSIGN(text, read_config_file(path));
  return parse_cpe(text, path);
}

Result<VcpeConfig> load_vcpe(const std::string& path) {
  CATS_TRY_ASSIGN(text, read_config_file(path));
  return parse_vcpe(text, path);
}

Result<Daemon> load_daemon_section(const std::string& path, const std::string& role) {
  CATS_TRY_ASSIGN(text, read_config_file(path));
  return parse_daemon_section(text, path, role);
}

}  // namespace cats::config
