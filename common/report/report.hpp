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

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
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

enum class MessageType : uint8_t { report = 1, desired_interval = 2 };

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
// Without signature (header + body), for tests and for signing elsewhere.
Result<std::vector<uint8_t>> encode_report_unsigned(const Report& r);

// Strict decoders: bounded, no trailing bytes, reserved fields zero, ids valid, known
// metric types valid (metrics::is_valid). They do not verify the signature.
Result<MessageType> peek_type(std::span<const uint8_t> datagram);
Result<Decoded<Report>> decode_report(std::span<const uint8_t> datagram);
Result<Decoded<DesiredInterval>> decode_desired_interval(std::span<const uint8_t> datagram);

}  // namespace cats::report
