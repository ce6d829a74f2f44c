// Metric report wire format, vCPE -> CPE inside the WireGuard tunnel (DESIGN §3,
// draft-ietf-cats-usecases-requirements R8-R11, R23). Full layout in docs/METRICS.md.
//
// Every message: header | body | Ed25519 signature (64 bytes) over header + body.
//   header (8 bytes): magic "CATR" | version u8 (=1) | type u8 | reserved u16 (=0)
// All integers are big-endian; doubles are IEEE 754 binary64, big-endian.
//
// The signature is kept although WireGuard already authenticates the peer, so that a
// report stays verifiable when it is relayed or aggregated (R9, DESIGN §7).
#pragma once

#include "base/ip.hpp"
#include "base/result.hpp"
#include "metrics/metric.hpp"
#include "report/ed25519.hpp"

#include <algorithm>
#include <array>
#include <compare>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace cats::report {

inline constexpr std::array<uint8_t, 4> kMagic{'C', 'A', 'T', 'R'};
inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kHeaderSize = 8;
// Bounds enforced by both encoder and decoder. 8 KiB fits one datagram through the
// tunnel with fragmentation at worst; 64 instances x 6 metrics needs ~6 KiB.
inline constexpr size_t kMaxDatagram = 8192;
inline constexpr size_t kMaxIdLength = 64;
inline constexpr size_t kMaxInstances = 64;
inline constexpr size_t kMaxMetricsPerInstance = 32;

enum class MessageType : uint8_t { report = 1, desired_interval = 2, sampling_plan = 3, plan_ack = 4 };

struct InstanceReport {
  std::string service_id;
  std::string instance_id;
  UdpEndpoint address;  // where the instance serves; IPv4 or IPv6
  bool available = true;
  std::vector<metrics::L0Metric> metrics;

  friend bool operator==(const InstanceReport&, const InstanceReport&) = default;
};

// A report is a full snapshot of the vCPE's instances: an instance missing from a newer
// report has been withdrawn.
struct Report {
  std::string vcpe_id;
  uint64_t seq = 0;           // strictly increasing per vCPE (see initial_sequence)
  uint64_t timestamp_ns = 0;  // unix time of sampling
  std::vector<InstanceReport> instances;

  friend bool operator==(const Report&, const Report&) = default;
};

// CPE -> vCPE: "report at most every min_ms, at least every max_ms". Signed with the
// CPE's own Ed25519 key (see docs/METRICS.md for why); the receiver clamps the values.
struct DesiredInterval {
  std::string cpe_id;
  std::string vcpe_id;  // addressee, so a message cannot be replayed towards another vCPE
  uint64_t seq = 0;
  uint64_t timestamp_ns = 0;
  uint32_t min_interval_ms = 0;
  uint32_t max_interval_ms = 0;

  friend bool operator==(const DesiredInterval&, const DesiredInterval&) = default;
};

// CPE -> vCPE: the instances this CPE expects the vCPE to sample (issue 9, "a service or
// instance added at the CPE reaches the vCPE that fronts it"). Signed with the CPE's
// report key, addressed, and replay-checked exactly like DesiredInterval. A plan is the
// whole set for that vCPE from that CPE (an instance missing from a newer plan is
// withdrawn); the vCPE applies it within its own limits and answers with a PlanAck.
// Layout in docs/METRICS.md "Sampling plan".
//
// A plan travels in 1..kMaxPlanParts parts (one datagram each, its own seq), each naming
// the whole plan's digest; the vCPE applies a plan only once it holds every part (all or
// nothing, vcpe/plan.hpp PlanAssembler).
//
// kMaxPlanInstances bounds a whole plan. A vCPE's report carries at most kMaxInstances
// (64) instances, so no plan above that could ever be reported in full; the binding bound
// is the ack, one datagram that may have to refuse every entry: its fixed part is
// 8 + 2 x 65 (ids) + 3 x 8 + 32 (digest) + 2 = 196 bytes, a refusal at most 65 + 65 + 1 =
// 131 bytes, the signature 64: 196 + 60 x 131 + 64 = 8120 <= kMaxDatagram (8192), and 61
// would not fit (kAckWorstCase below is checked by a static_assert).
inline constexpr size_t kMaxPlanInstances = 60;
inline constexpr size_t kMaxPlanParts = 16;     // 60 entries of the largest size fill 12 parts
inline constexpr size_t kMaxPlanUrlLength = 255;  // as the vCPE's own load_url / prometheus url
inline constexpr size_t kMaxPlanPresetLength = 32;
inline constexpr size_t kMaxPlanPromSources = 4;  // config::kMaxPromSources

// A Prometheus exposition the instance publishes, read with one of the vCPE's presets
// (sampler/prom_map.hpp). Custom [[map]] rules stay in the vCPE's own file.
struct PlanPromSource {
  std::string url;     // "http://ip:port/path"; the vCPE checks the host against its allow-list
  std::string preset;  // node_exporter | dcgm | vllm | triton (the vCPE refuses others)

  friend bool operator==(const PlanPromSource&, const PlanPromSource&) = default;
  friend auto operator<=>(const PlanPromSource&, const PlanPromSource&) = default;
};

struct PlanInstance {
  std::string service_id;
  std::string instance_id;
  UdpEndpoint address;
  // The instance's load source as configured at the CPE (none: health only). The vCPE
  // samples it only when its host is inside its sampling_plan.allow (Refusal below).
  std::string load_url{};                   // the cats load endpoint (JSON); "" = none
  std::vector<PlanPromSource> prometheus{};  // 0..kMaxPlanPromSources

  friend bool operator==(const PlanInstance&, const PlanInstance&) = default;
  friend std::weak_ordering operator<=>(const PlanInstance& a, const PlanInstance& b) {
    if (std::weak_ordering c = std::tie(a.service_id, a.instance_id, a.address, a.load_url) <=>
                 std::tie(b.service_id, b.instance_id, b.address, b.load_url);
        c != 0)
      return c;
    return std::lexicographical_compare_three_way(a.prometheus.begin(), a.prometheus.end(), b.prometheus.begin(),
                                                  b.prometheus.end());
  }
};

// SHA-256 of a whole plan's instance section as encoded (count, then every entry): what
// the vCPE applied, whatever the revision number (a revision that changes nothing for
// this vCPE keeps its digest).
using PlanDigest = std::array<uint8_t, 32>;

// One part of a plan (one datagram).
struct SamplingPlan {
  std::string cpe_id;
  std::string vcpe_id;  // addressee
  uint64_t seq = 0;     // the CPE's, shared with its DesiredInterval messages
  uint64_t timestamp_ns = 0;
  uint64_t revision = 0;  // the CPE's configuration revision the plan was made from (0: a file)
  uint8_t part = 0;       // 0-based, < parts
  uint8_t parts = 1;      // 1..kMaxPlanParts
  PlanDigest digest{};    // of the whole plan (plan_digest of all parts' entries in order)
  std::vector<PlanInstance> instances;  // this part's entries

  friend bool operator==(const SamplingPlan&, const SamplingPlan&) = default;
};

Result<PlanDigest> plan_digest(const std::vector<PlanInstance>& instances);

// Why a vCPE did not take a plan entry (carried in PlanAck; the names are the API's).
enum class Refusal : uint8_t {
  not_allowed = 1,     // address outside the vCPE's sampling_plan.allow prefixes
  over_limit = 2,      // beyond sampling_plan.max_instances (or the report's room)
  local_conflict = 3,  // its file has this service/instance id at another address
  source_not_allowed = 4,  // a load source's host outside sampling_plan.allow
  source_invalid = 5,      // a load source the vCPE cannot use (not http://IP, unknown preset)
};
inline constexpr uint8_t kMaxRefusal = 5;
std::string_view to_string(Refusal r);

struct PlanRefusal {
  std::string service_id;
  std::string instance_id;
  Refusal reason = Refusal::not_allowed;

  friend bool operator==(const PlanRefusal&, const PlanRefusal&) = default;
};

// vCPE -> CPE (to the collector's port): "I apply the plan with this digest, from this
// revision, sampling `applied` of its instances and refusing these". Signed with the
// vCPE's report key; its own sequence (initial_sequence, +1 per ack).
struct PlanAck {
  std::string vcpe_id;
  std::string cpe_id;  // addressee
  uint64_t seq = 0;
  uint64_t timestamp_ns = 0;
  uint64_t revision = 0;
  PlanDigest digest{};
  uint8_t applied = 0;
  std::vector<PlanRefusal> refused;  // at most kMaxPlanInstances

  friend bool operator==(const PlanAck&, const PlanAck&) = default;
};

// A decoded message plus the exact bytes its signature covers. The spans point into the
// datagram passed to decode_*, which must outlive them.
template <class T>
struct Decoded {
  T message;
  std::span<const uint8_t> signed_bytes;
  std::span<const uint8_t> signature;

  bool verify(const PublicKey& key) const { return key.verify(signed_bytes, signature); }
};

// Identifier rule (vCPE, CPE, service, instance ids): 1..64 printable ASCII characters
// without spaces, so ids are safe in logs and UI.
bool valid_id(std::string_view id);

// First sequence number after a (re)start: the unix time in microseconds. A restarted
// vCPE thus continues above everything it sent before (unless the clock went back by
// more than its uptime) without persisting state; +1 per report after that.
uint64_t initial_sequence(uint64_t unix_ns);

Result<std::vector<uint8_t>> encode_report(const Report& r, const SigningKey& key);
Result<std::vector<uint8_t>> encode_desired_interval(const DesiredInterval& d, const SigningKey& key);
Result<std::vector<uint8_t>> encode_sampling_plan(const SamplingPlan& p, const SigningKey& key);
// A whole plan's entries cut into parts that each fit one datagram (in order, greedily;
// one empty part for an empty plan). Fails beyond kMaxPlanInstances or an invalid entry.
Result<std::vector<std::vector<PlanInstance>>> split_plan(const std::vector<PlanInstance>& instances,
                                                          std::string_view cpe_id, std::string_view vcpe_id);
Result<std::vector<uint8_t>> encode_plan_ack(const PlanAck& a, const SigningKey& key);
// Without signature (header + body), for tests and for signing elsewhere.
Result<std::vector<uint8_t>> encode_report_unsigned(const Report& r);

// Strict decoders: bounded, no trailing bytes, reserved fields zero, ids valid, known
// metric types valid (metrics::is_valid). They do not verify the signature.
Result<MessageType> peek_type(std::span<const uint8_t> datagram);
Result<Decoded<Report>> decode_report(std::span<const uint8_t> datagram);
Result<Decoded<DesiredInterval>> decode_desired_interval(std::span<const uint8_t> datagram);
Result<Decoded<SamplingPlan>> decode_sampling_plan(std::span<const uint8_t> datagram);
Result<Decoded<PlanAck>> decode_plan_ack(std::span<const uint8_t> datagram);

}  // namespace cats::report
