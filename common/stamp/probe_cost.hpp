// What one STAMP session costs on the WAN, computed rather than asserted.
//
// One probe, one direction, as it crosses the WAN link inside WireGuard:
//   STAMP test packet                       44   (RFC 8762 §4.2.1; 112 authenticated)
//   + inner IPv4 (20) + UDP (8)              28   -> inner packet 72
//   WireGuard pads the inner packet to a multiple of 16 (WireGuard paper §5.4.6)
//                                                 -> 80
//   + WireGuard data message header 16 (type 4, receiver index 4, counter 8)
//     + Poly1305 tag 16                      32   -> 112
//   + outer IPv4 (20) + UDP (8)              28   -> 140 octets on the wire (L3)
// At the default 100 ms interval (10 probes/s): 1400 B/s = 11 200 bit/s per direction;
// the reply is the same size (§4.3 symmetric), so both directions together are
// 22 400 bit/s = 0.224 % of 10 Mbit/s, well under 1 %. Authenticated (112-octet
// payload): 112 + 28 = 140 -> padded 144 -> +32 +28 = 204 octets, 32 640 bit/s for both
// directions = 0.33 %. The cost scales with the number of vCPEs per WAN link (one
// session each); link-layer framing (e.g. Ethernet's 18 + 20) is left out because it
// belongs to the WAN medium, not to us.
#pragma once

#include <cstdint>

namespace cats::stamp {

inline constexpr uint64_t kIpUdpOverhead = 20 + 8;     // IPv4 + UDP headers
inline constexpr uint64_t kWgDataOverhead = 16 + 16;   // data header + Poly1305 tag
inline constexpr uint64_t kWgPadding = 16;             // inner packet padded to 16

// Octets of one probe on the WAN for a given STAMP payload size.
constexpr uint64_t wire_bytes_per_probe(uint64_t stamp_payload) {
  const uint64_t inner = stamp_payload + kIpUdpOverhead;
  const uint64_t padded = (inner + kWgPadding - 1) / kWgPadding * kWgPadding;
  return padded + kWgDataOverhead + kIpUdpOverhead;
}

// Bits per second for one session, both directions (test packet + reflected packet).
constexpr uint64_t session_bits_per_second(uint64_t stamp_payload, uint64_t interval_ms) {
  return 2 * wire_bytes_per_probe(stamp_payload) * 8 * 1000 / interval_ms;
}

}  // namespace cats::stamp
