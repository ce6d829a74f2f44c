#include "stamp/packet.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cmath>

namespace cats::stamp {
namespace {

// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (RFC 5905 §6, figure 4).
constexpr uint64_t kNtpUnixOffset = 2208988800ULL;

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
void put_ts(uint8_t* p, const Timestamp& t) {
  put32(p, t.seconds);
  put32(p + 4, t.fraction);
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
Timestamp get_ts(const uint8_t* p) { return Timestamp{get32(p), get32(p + 4)}; }

// Field offsets per layout (see packet.hpp for the figures they come from).
struct SenderLayout {
  std::size_t seq, ts, err;
};
constexpr SenderLayout kSenderUnauth{0, 4, 12};   // §4.2.1
constexpr SenderLayout kSenderAuth{0, 16, 24};    // §4.2.2

struct ReflectorLayout {
  std::size_t seq, ts, err, rx_ts, s_seq, s_ts, s_err, s_ttl;
};
constexpr ReflectorLayout kReflUnauth{0, 4, 12, 16, 24, 28, 36, 40};  // §4.3.1
constexpr ReflectorLayout kReflAuth{0, 16, 24, 32, 48, 64, 72, 80};   // §4.3.2

// Common front half of both decoders: length bounds, then HMAC before any field is used
// (§4.4 "the HMAC MUST be verified as early as possible").
std::optional<DecodeError> check_frame(std::span<const uint8_t> bytes, const AuthKey* key) {
  const Mode mode = key ? Mode::authenticated : Mode::unauthenticated;
  if (bytes.size() < base_length(mode)) return DecodeError::too_short;
  if (bytes.size() > kMaxPacketLen) return DecodeError::too_long;
  if (key) {
    const auto mac = compute_hmac(*key, bytes.first(kHmacCovered));
    if (CRYPTO_memcmp(mac.data(), bytes.data() + kHmacCovered, kHmacLen) != 0)
      return DecodeError::bad_hmac;
  }
  return std::nullopt;
}

void sign(std::vector<uint8_t>& out, const AuthKey* key) {
  if (!key) return;
  const auto mac = compute_hmac(*key, std::span<const uint8_t>(out).first(kHmacCovered));
  std::copy(mac.begin(), mac.end(), out.begin() + kHmacCovered);
}

}  // namespace

uint16_t ErrorEstimate::to_wire() const {
  return static_cast<uint16_t>((synchronized ? 0x8000 : 0) | (ptp ? 0x4000 : 0) |
                               ((scale & 0x3f) << 8) | multiplier);
}

ErrorEstimate ErrorEstimate::from_wire(uint16_t v) {
  return ErrorEstimate{(v & 0x8000) != 0, (v & 0x4000) != 0, static_cast<uint8_t>((v >> 8) & 0x3f),
                       static_cast<uint8_t>(v & 0xff)};
}

double ErrorEstimate::seconds() const {
  return std::ldexp(static_cast<double>(multiplier), static_cast<int>(scale) - 32);
}

Timestamp to_ntp(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  // floor, not truncation, so instants before 1970 still get a fraction in [0, 1 s).
  const auto secs = floor<seconds>(t.time_since_epoch());
  const auto unix_s = static_cast<uint64_t>(secs.count());
  const auto rem_ns = static_cast<uint64_t>(duration_cast<nanoseconds>(t.time_since_epoch() - secs).count());
  // fraction = rem_ns * 2^32 / 1e9; rem_ns < 1e9 so the product fits in 62 bits.
  return Timestamp{static_cast<uint32_t>(unix_s + kNtpUnixOffset),
                   static_cast<uint32_t>((rem_ns << 32) / 1'000'000'000ULL)};
}

std::chrono::nanoseconds timestamp_diff(const Timestamp& a, const Timestamp& b, bool ptp) {
  // Seconds difference modulo 2^32, read as signed: small differences survive a wrap.
  const auto ds = static_cast<int64_t>(static_cast<int32_t>(a.seconds - b.seconds));
  int64_t dfrac_ns = 0;
  if (ptp) {
    dfrac_ns = static_cast<int64_t>(a.fraction) - static_cast<int64_t>(b.fraction);
  } else {
    const auto to_ns = [](uint32_t f) {
      return static_cast<int64_t>((static_cast<uint64_t>(f) * 1'000'000'000ULL) >> 32);
    };
    dfrac_ns = to_ns(a.fraction) - to_ns(b.fraction);
  }
  return std::chrono::nanoseconds(ds * 1'000'000'000 + dfrac_ns);
}

Result<AuthKey> AuthKey::make(std::span<const uint8_t> key) {
  if (key.size() < kMinLen || key.size() > kMaxLen)
    return Error::msg("STAMP HMAC key must be 16..128 octets");
  AuthKey k;
  k.key_.assign(key.begin(), key.end());
  return k;
}

std::array<uint8_t, kHmacLen> compute_hmac(const AuthKey& key, std::span<const uint8_t> data) {
  std::array<uint8_t, 32> full{};
  std::size_t len = 0;
  // EVP_Q_mac: one-shot HMAC through the OpenSSL 3 provider API. The key is never empty
  // (AuthKey enforces a minimum), so a failure here is a broken crypto library.
  const auto key_bytes = key.bytes();
  if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key_bytes.data(), key_bytes.size(),
                 data.data(), data.size(), full.data(), full.size(), &len) ||
      len != full.size()) {
    std::abort();
  }
  std::array<uint8_t, kHmacLen> out{};
  std::copy_n(full.begin(), kHmacLen, out.begin());
  OPENSSL_cleanse(full.data(), full.size());
  return out;
}

std::vector<uint8_t> encode_sender(const SenderPacket& p, const AuthKey* key) {
  const auto& l = key ? kSenderAuth : kSenderUnauth;
  std::vector<uint8_t> out(key ? kAuthLen : kUnauthLen, 0);
  put32(&out[l.seq], p.seq);
  put_ts(&out[l.ts], p.timestamp);
  put16(&out[l.err], p.error.to_wire());
  sign(out, key);
  return out;
}

std::vector<uint8_t> encode_reflector(const ReflectorPacket& p, const AuthKey* key) {
  const auto& l = key ? kReflAuth : kReflUnauth;
  std::vector<uint8_t> out(key ? kAuthLen : kUnauthLen, 0);
  put32(&out[l.seq], p.seq);
  put_ts(&out[l.ts], p.timestamp);
  put16(&out[l.err], p.error.to_wire());
  put_ts(&out[l.rx_ts], p.receive_timestamp);
  put32(&out[l.s_seq], p.sender_seq);
  put_ts(&out[l.s_ts], p.sender_timestamp);
  put16(&out[l.s_err], p.sender_error.to_wire());
  out[l.s_ttl] = p.sender_ttl;
  sign(out, key);
  return out;
}

const char* to_string(DecodeError e) {
  switch (e) {
    case DecodeError::too_short: return "too short";
    case DecodeError::too_long: return "too long";
    case DecodeError::bad_hmac: return "HMAC mismatch";
    case DecodeError::bad_error_estimate: return "zero error-estimate multiplier";
  }
  return "unknown";
}

Decoded<SenderPacket> decode_sender(std::span<const uint8_t> bytes, const AuthKey* key) {
  Decoded<SenderPacket> r;
  if (auto e = check_frame(bytes, key)) {
    r.error = *e;
    return r;
  }
  const auto& l = key ? kSenderAuth : kSenderUnauth;
  const uint8_t* b = bytes.data();
  SenderPacket p{get32(b + l.seq), get_ts(b + l.ts), ErrorEstimate::from_wire(get16(b + l.err))};
  if (p.error.multiplier == 0) {
    r.error = DecodeError::bad_error_estimate;
    return r;
  }
  r.packet = p;
  return r;
}

Decoded<ReflectorPacket> decode_reflector(std::span<const uint8_t> bytes, const AuthKey* key) {
  Decoded<ReflectorPacket> r;
  if (auto e = check_frame(bytes, key)) {
    r.error = *e;
    return r;
  }
  const auto& l = key ? kReflAuth : kReflUnauth;
  const uint8_t* b = bytes.data();
  ReflectorPacket p;
  p.seq = get32(b + l.seq);
  p.timestamp = get_ts(b + l.ts);
  p.error = ErrorEstimate::from_wire(get16(b + l.err));
  p.receive_timestamp = get_ts(b + l.rx_ts);
  p.sender_seq = get32(b + l.s_seq);
  p.sender_timestamp = get_ts(b + l.s_ts);
  p.sender_error = ErrorEstimate::from_wire(get16(b + l.s_err));
  p.sender_ttl = b[l.s_ttl];
  // Only the reflector's own estimate describes timestamps we use (T2, T3); the copied
  // sender estimate is ours and was already validated when we sent it.
  if (p.error.multiplier == 0) {
    r.error = DecodeError::bad_error_estimate;
    return r;
  }
  r.packet = p;
  return r;
}

}  // namespace cats::stamp
