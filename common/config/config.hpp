// Daemon configuration (TOML). Loading validates everything that can be checked without
// touching the system: unknown keys, types, ranges, addresses, keys, names, duplicates.
// Errors name the file, line:column, the field path and the reason.
#pragma once

#include "base/ip.hpp"
#include "base/result.hpp"
#include "sampler/prom_map.hpp"
#include "select/select.hpp"
#include "wg/keys.hpp"
#include "wg/wg.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cats::config {

struct Daemon {
  std::string name;
  std::string state_dir;
  std::string control_socket;
  wg::Options::Mode wireguard = wg::Options::Mode::automatic;
  std::string wireguard_go = "wireguard-go";
  std::string log_level = "info";
};

// STAMP path probing (RFC 8762). The CPE sends, the vCPE reflects.
struct Probing {
  uint16_t port = 862;
  // 50 ms x 2 losses + the adaptive deadline (srtt + 4 x jitter + 50 ms): a blackhole is
  // seen within 100..150 ms on a short path, before a TCP sender's first retransmission
  // (~200 ms, Linux's minimum RTO), at 0.448 % of 10 Mbit/s per path (stamp/probe_cost.hpp).
  // Without an explicit interval_ms, authenticated probes (auth_key) go every 70 ms:
  // 0.466 % of 10 Mbit/s (they are 204 octets on the wire, not 140).
  static constexpr uint32_t kAuthDefaultIntervalMs = 70;
  uint32_t interval_ms = 50;
  uint32_t timeout_ms = 300;        // a probe's loss deadline adapts to the path within
  uint32_t min_timeout_ms = 50;     // [min_timeout_ms, timeout_ms] (see stamp/path_stats.hpp)
  uint32_t down_after = 2;          // consecutive lost probes before a path is down
  uint32_t hold_down = 5;           // good probes before a down path is up again
  // Flap damping (RFC 2439 §4.2, stamp/flap_damping.hpp): 1000 penalty per flap, halved
  // every flap_half_life_ms (0 = no damping); held down from flap_suppress until it decays
  // below flap_reuse; never held longer than flap_max_hold_ms after the last flap.
  uint32_t flap_half_life_ms = 10000;
  uint32_t flap_suppress = 1500;
  uint32_t flap_reuse = 750;
  uint32_t flap_max_hold_ms = 60000;
  std::vector<uint8_t> auth_key;    // empty = unauthenticated mode; else HMAC key (16..128 bytes)
};

// Metric reports (vCPE -> CPE, UDP inside the tunnel to the CPE's inner address).
struct Reporting {
  uint16_t port = 8620;
  uint32_t min_interval_ms = 100;   // never more often
  uint32_t max_interval_ms = 1000;  // at least this often; unavailable after 3x without one
  double utilization_threshold = 0.05;  // vCPE: absolute change that is significant
  double delay_threshold_pct = 10;      // vCPE: relative processing-delay change that is significant
};

struct Lan {
  std::string interface;
  std::optional<IpAddress> address;  // CPE: required (probe source, report target)
  std::vector<Prefix> subnets;
};

struct Wan {
  std::string name;
  std::string interface;
  IpAddress gateway;
  uint32_t weight = 1;
  uint32_t cost = 0;
  std::string tunnel_interface;
  uint16_t listen_port = 0;
};

struct VcpePeer {
  std::string name;
  wg::Key public_key{};
  IpAddress endpoint;  // public (underlay) address
  IpAddress address;   // inner address of the vCPE
  std::vector<Prefix> subnets;
  uint16_t keepalive = 0;
  std::map<std::string, uint16_t> ports;  // our WAN name -> vCPE listen port
  std::vector<uint8_t> report_key;  // Ed25519 public key (32 bytes) its reports are signed with
};

// The management plane (docs/API.md). [management]
struct Management {
  std::vector<UdpEndpoint> listen;  // HTTPS "ip:port" (IPv6: "[::]:8443"); empty = not served
  // Default <state_dir>/tls/cert.pem and key.pem: a self-signed ECDSA P-256 pair is made on
  // first start when neither exists (both or neither must exist).
  std::string cert_file;
  std::string key_file;
  // Host header values (host or host:port) a browser may send changes with (DNS
  // rebinding); empty = any. The HTTPS listen addresses are always accepted.
  std::vector<std::string> allowed_hosts;
  // Sources that may GET /metrics without a token (Prometheus scrapers).
  std::vector<Prefix> metrics_allow;
  uint32_t session_idle_s = 1800;    // a session unused this long ends
  uint32_t session_max_s = 43200;    // and any session after this long
  // HTTPS connections served at once (beyond: 503), and per client address (IPv4, or
  // IPv6 /64; beyond: 429). api::ServerLimits has the other bounds.
  uint32_t max_connections = 64;
  uint32_t max_connections_per_client = 16;
  // CPE only: the web UI's built files (webui/, served by api::StaticFiles). An absolute
  // path; a missing directory just means no UI (the API works without it).
  std::string webui_dir = "/usr/share/cats/webui";
};

// The CPE's own host firewall (docs/CONFIG.md "[firewall]"). [firewall]
struct Firewall {
  // deny: table inet cats_input default-denies input arriving on the WAN interfaces but
  // for what the CPE serves there (overlay/input_filter.hpp); off: no such table (an
  // operator's own firewall does the job).
  enum class WanInput : uint8_t { deny, off };
  WanInput wan_input = WanInput::deny;
  bool operator==(const Firewall&) const = default;
};

// C-PS selection (docs/SELECTION.md). [selection]
struct Selection {
  double hysteresis = 0.10;          // hysteresis_pct / 100: relative move the urgent cuts need
  uint32_t hold_down_ms = 1000;      // min time between two damped steps (select::SelectorConfig)
  // Deadband width in standard deviations of the inputs' measured noise (select::BandConfig::z);
  // 0 = no deadband: a step whenever the target moves by settle_units (bench_steering's baseline).
  double deadband_sigmas = 4.0;
  // Settling goes to the target's mean over this time (select::SelectorConfig::goal_time,
  // docs/SELECTION.md "Deadband" rule 9); 0 = to the last target (bench_steering's baseline).
  uint32_t settle_mean_ms = 5000;
  // Trunk reservation for services with priority = "low" (draft §4.2, docs/SELECTION.md
  // "Priorities"): the share of every instance's capacity they leave to the others.
  double low_priority_reserve = 0.20;
};

// A Prometheus exposition the instance's server publishes (issue 12), mapped to L0 metrics
// by a preset or by explicit rules. [[instance.prometheus]]
struct PromSource {
  std::string url;     // "http://ip:port/path" (an IP literal: the sampler never waits on DNS)
  std::string preset;  // node_exporter | dcgm | vllm | triton; empty when `map` gives the rules
  std::vector<sampler::prom::Rule> rules;  // the preset's, or the [[instance.prometheus.map]] ones
};
inline constexpr size_t kMaxPromSources = 4;

// One instance of a service: behind which vCPE, and the address:port new flows are DNATed
// to. The CPE matches it with the vCPE's reports by (vCPE, service id, address:port); the
// target comes from here, never from a report, so a vCPE cannot redirect a VIP elsewhere.
struct ServiceInstance {
  std::string vcpe;       // a [[vcpe]] name
  UdpEndpoint address;    // inside that vCPE's address or subnets; same family as the VIP
  // Its load source, sent to the vCPE in the sampling plan (docs/METRICS.md "Sampling
  // plan"): the cats load endpoint and/or Prometheus expositions read with a preset
  // (prometheus[].rules are the preset's). Hosts inside the vCPE's address or subnets.
  std::string load_url{};
  std::vector<PromSource> prometheus{};  // 0..kMaxPromSources, presets only
};

enum class Protocol : uint8_t { tcp, udp };

// A service clients reach at its VIP (R1). [[service]]
struct Service {
  // id, sla, weights, affinity (flow | source = sticky), on_no_candidate, service_time_ms,
  // access_delay_ms, epsilon (spread), power. id: [a-z][a-z0-9_]*, at most 24 characters.
  select::Service select;
  IpAddress vip;
  Protocol protocol = Protocol::tcp;
  std::vector<uint16_t> ports;          // 1..64 distinct, non-zero
  uint32_t sticky_timeout_s = 0;        // > 0 exactly when select.affinity == source
  std::vector<ServiceInstance> instances;
};

struct CpeConfig {
  std::string file;
  std::string source_sha256;  // of the file's text, when the file is what runs (cpe/config_boot)
  // The configuration database's revision this is (set by whoever loads it from the
  // database: cpe/config_boot, cpe/config_api); 0 while the file runs. Not a TOML key:
  // the sampling plans carry it so that the CPE shows which revision each vCPE applies.
  int64_t revision = 0;
  Daemon daemon;
  Lan lan;
  Probing probing;
  Reporting reporting;
  std::string store_path;  // SQLite file; default <state_dir>/cats.db
  std::vector<Wan> wans;
  std::vector<VcpePeer> vcpes;
  Selection selection;
  std::vector<Service> services;
  Management management;
  Firewall firewall;
};

struct CpePath {
  std::string wan;
  uint16_t listen_port = 0;
  std::string tunnel_interface;
  std::optional<UdpEndpoint> endpoint;
};

struct CpePeer {
  std::string name;
  wg::Key public_key{};
  IpAddress address;
  std::vector<Prefix> subnets;
  uint16_t keepalive = 0;
  std::vector<CpePath> paths;
  // Optional Ed25519 public key (32 bytes) the CPE signs its desired-interval messages
  // with; empty = such messages from it are ignored (R11, R23).
  std::vector<uint8_t> report_key;
};

// An application instance the vCPE samples and reports (C-SMA).
struct Instance {
  std::string service;
  std::string id;
  UdpEndpoint address;         // address:port clients reach it at (TCP; the type is just ip+port)
  std::string load_url;        // "http://ip:port/path" answering the load JSON; empty = none
  std::vector<PromSource> prometheus;  // expositions scraped each round (0..kMaxPromSources)
  std::string cgroup;          // cgroup v2 directory; empty = none
  bool proc = false;           // whole-VM figures from /proc
  std::string health;          // "tcp" (connect to address) or an "http://..." URL
  uint32_t health_timeout_ms = 500;
  std::optional<uint32_t> vcpus;  // nominal vCPUs when no source reports them
  // Nominal per-request time on one vCPU (ms), reported as service_time_ms (nominal). Unset:
  // the vCPE learns it from the instance's measured processing delays (sampler/figures.hpp).
  std::optional<double> service_time_ms;
};

// What the CPEs may ask this vCPE to sample (their signed sampling plans, issue 9).
// [sampling_plan]
struct SamplingPlanLimits {
  // Instance addresses a plan may name. Not set in the file: the LAN subnets; an empty
  // list refuses every plan entry (only the file's instances are sampled).
  std::vector<Prefix> allow;
  // Plan instances sampled at most, over all CPEs (0..32; a plan may list up to
  // report::kMaxPlanInstances entries, the file's covered ones included).
  uint32_t max_instances = 32;
};

struct VcpeConfig {
  std::string file;
  Daemon daemon;
  Lan lan;
  Probing probing;
  Reporting reporting;
  std::vector<Instance> instances;
  std::string uplink_interface;
  std::vector<CpePeer> cpes;
  SamplingPlanLimits sampling_plan;
  Management management;  // read-only status and /metrics; no accounts on a vCPE
};

// One problem the loader found: the field path ("wan[1].name", "vcpe[0].ports.wan1"; ""
// for a syntax or size error), why, and where in the text (line 0: no position).
struct Problem {
  std::string field;
  std::string reason;
  uint32_t line = 0;
  uint32_t column = 0;
};
// "FILE:L:C: field: reason", the form parse_cpe's error lines have.
std::string format_problem(const std::string& file, const Problem& p);

// parse_cpe with every problem kept apart, for callers that map field paths (the JSON
// configuration document, configdb). Exactly one of the two is set / non-empty.
struct CpeCheck {
  std::optional<CpeConfig> config;
  std::vector<Problem> problems;
};
CpeCheck check_cpe(std::string_view text, const std::string& name);
struct VcpeCheck {
  std::optional<VcpeConfig> config;
  std::vector<Problem> problems;
};
VcpeCheck check_vcpe(std::string_view text, const std::string& name);

// The file's text, at most 1 MiB (what every loader reads).
Result<std::string> read_config_file(const std::string& path);
Result<CpeConfig> load_cpe(const std::string& path);
Result<VcpeConfig> load_vcpe(const std::string& path);
// Same, from text (for tests and fuzzing); `name` is used in messages.
Result<CpeConfig> parse_cpe(std::string_view text, const std::string& name);
Result<VcpeConfig> parse_vcpe(std::string_view text, const std::string& name);

// Only the daemon's own section ([cpe] or [vcpe], by role): name, state_dir, ... — what
// `pubkey` needs, so a daemon's keys can be printed before any peer is configured.
Result<Daemon> parse_daemon_section(std::string_view text, const std::string& name, const std::string& role);
Result<Daemon> load_daemon_section(const std::string& path, const std::string& role);

// Linux interface names: 1..15 bytes, no '/', ':', whitespace; not "." or "..".
bool valid_ifname(std::string_view s);

}  // namespace cats::config
