// STAMP (RFC 8762) test packet codec: pure functions over bytes, no I/O, no clocks.
//
// Wire layouts (all fields network byte order; offsets in octets):
//
// §4.2.1 Session-Sender, unauthenticated (44 octets)
//   0 Sequence Number (4) | 4 Timestamp (8) | 12 Error Estimate (2) | 14 MBZ (30)
// §4.2.2 Session-Sender, authenticated (112 octets)
//   0 Sequence Number (4) | 4 MBZ (12) | 16 Timestamp (8) | 24 Error Estimate (2)
//   26 MBZ (70) | 96 HMAC (16)
// §4.3.1 Session-Reflector, unauthenticated (44 octets)
//   0 Sequence Number (4) | 4 Timestamp (8) | 12 Error Estimate (2) | 14 MBZ (2)
//   16 Receive Timestamp (8) | 24 Session-Sender Sequence Number (4)
//   28 Session-Sender Timestamp (8) | 36 Session-Sender Error Estimate (2) | 38 MBZ (2)
//   40 Session-Sender TTL (1) | 41 MBZ (3)
// §4.3.2 Session-Reflector, authenticated (112 octets)
//   0 Sequence Number (4) | 4 MBZ (12) | 16 Timestamp (8) | 24 Error Estimate (2)
//   26 MBZ (6) | 32 Receive Timestamp (8) | 40 MBZ (8)
//   48 Session-Sender Sequence Number (4) | 52 MBZ (12) | 64 Session-Sender Timestamp (8)
//   72 Session-Sender Error Estimate (2) | 74 MBZ (6) | 80 Session-Sender TTL (1)
//   81 MBZ (15) | 96 HMAC (16)
//
// §4.4: the HMAC is HMAC-SHA-256 truncated to 128 bits and covers the first 96 octets
// (every field before it, MBZ included). It is checked before any other field is trusted.
// MBZ octets are zeroed on transmission and ignored on receipt (§4.2.1, §4.3.1).
// A packet longer than the base layout is accepted and the excess ignored: RFC 8972
// extensions (TLVs) follow the base packet and are outside the HMAC of §4.4.
#pragma once

#include "base/result.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace cats::stamp {

inline constexpr std::size_t kUnauthLen = 44;    // §4.2.1 / §4.3.1
inline constexpr std::size_t kAuthLen = 112;     // §4.2.2 / §4.3.2
inline constexpr std::size_t kHmacLen = 16;      // §4.4: SHA-256 truncated to 128 bits
inline constexpr std::size_t kHmacCovered = 96;  // §4.4: first six 16-octet blocks
// Largest test packet we accept or reflect: an unfragmented UDP payload over a 1500-octet
// IPv4 MTU. Bounds every buffer and the reflector's symmetric reply (§4.3).
inline constexpr std::size_t kMaxPacketLen = 1472;
inline constexpr uint16_t kDefaultPort = 862;  // RFC 8762 §4.1 (IANA "stamp")

enum class Mode { unauthenticated, authenticated };

inline constexpr std::size_t base_length(Mode m) {
  return m == Mode::authenticated ? kAuthLen : kUnauthLen;
}

// RFC 4656 §4.1.2 Error Estimate: |S|Z| Scale (6) | Multiplier (8) |.
// S: clock synchronised to UTC by an external source. Z (RFC 8186 §2.3): timestamp is
// PTPv2 truncated format instead of NTP 64-bit format.
struct ErrorEstimate {
  bool synchronized = false;
  bool ptp = false;
  uint8_t scale = 0;       // 6 bits
  uint8_t multiplier = 1;  // RFC 4656: MUST NOT be zero

  uint16_t to_wire() const;
  static ErrorEstimate from_wire(uint16_t v);
  // Error in seconds = Multiplier * 2^-32 * 2^Scale (RFC 4656 §4.1.2).
  double seconds() const;
  friend bool operator==(const ErrorEstimate&, const ErrorEstimate&) = default;
};

// 64-bit timestamp as carried on the wire. Its format (NTP or PTPv2 truncated) is named
// by the Z bit of the error estimate that accompanies it.
// NTP (RFC 5905 §6): 32-bit seconds since 1900-01-01 + 32-bit binary fraction.
// PTPv2 truncated (RFC 8186 §2.3 / RFC 8762 §4.2.1): 32-bit seconds since 1970-01-01 +
// 32-bit nanoseconds.
struct Timestamp {
  uint32_t seconds = 0;
  uint32_t fraction = 0;  // NTP: 2^-32 s units; PTP: nanoseconds
  friend bool operator==(const Timestamp&, const Timestamp&) = default;
};

// Wall clock to NTP format. Era 0 only (until 2036); after that the 32-bit seconds
// wrap, which is harmless because only differences of nearby timestamps are used.
Timestamp to_ntp(std::chrono::system_clock::time_point t);
// Signed difference a - b of two timestamps in the given format. Seconds are compared
// modulo 2^32 so an era wrap between a and b still yields the small difference.
std::chrono::nanoseconds timestamp_diff(const Timestamp& a, const Timestamp& b, bool ptp);

// §4.2.1 / §4.2.2
struct SenderPacket {
  uint32_t seq = 0;
  Timestamp timestamp;
  ErrorEstimate error;
  friend bool operator==(const SenderPacket&, const SenderPacket&) = default;
};

// §4.3.1 / §4.3.2
struct ReflectorPacket {
  uint32_t seq = 0;  // stateless mode (§4.3): a copy of sender_seq
  Timestamp timestamp;          // T3: when the reply left the reflector
  ErrorEstimate error;
  Timestamp receive_timestamp;  // T2: when the test packet arrived
  uint32_t sender_seq = 0;
  Timestamp sender_timestamp;   // T1, copied
  ErrorEstimate sender_error;
  uint8_t sender_ttl = 0;       // TTL / Hop Limit of the received test packet
  friend bool operator==(const ReflectorPacket&, const ReflectorPacket&) = default;
};

// HMAC key for authenticated mode (§4.4; key distribution is out of the RFC's scope, it
// comes from our configuration). Length is bounded so a misconfiguration cannot pass an
// empty or absurd key; 16 octets matches the truncated tag's strength.
class AuthKey {
 public:
  static constexpr std::size_t kMinLen = 16;
  static constexpr std::size_t kMaxLen = 128;
  static Result<AuthKey> make(std::span<const uint8_t> key);
  std::span<const uint8_t> bytes() const { return key_; }

 private:
  std::vector<uint8_t> key_;
};

// HMAC-SHA-256 of data, truncated to 16 octets (§4.4).
std::array<uint8_t, kHmacLen> compute_hmac(const AuthKey& key, std::span<const uint8_t> data);

// Encoders write exactly base_length(mode) octets, MBZ zeroed. `key` is required for
// authenticated mode (nullptr means unauthenticated).
std::vector<uint8_t> encode_sender(const SenderPacket& p, const AuthKey* key);
std::vector<uint8_t> encode_reflector(const ReflectorPacket& p, const AuthKey* key);

enum class DecodeError { too_short, too_long, bad_hmac, bad_error_estimate };
const char* to_string(DecodeError e);

template <class T>
struct Decoded {
  std::optional<T> packet;
  DecodeError error = DecodeError::too_short;  // meaningful only when !packet
  explicit operator bool() const { return packet.has_value(); }
};

// Decoders: bounded (kMaxPacketLen), never read past `bytes`, HMAC verified first in
// constant time. A zero Multiplier is rejected (RFC 4656 §4.1.2: the packet "SHOULD be
// considered corrupt and discarded").
Decoded<SenderPacket> decode_sender(std::span<const uint8_t> bytes, const AuthKey* key);
Decoded<ReflectorPacket> decode_reflector(std::span<const uint8_t> bytes, const AuthKey* key);

}  // namespace cats::stamp
