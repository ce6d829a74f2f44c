// Codec tests against byte layouts written by hand from RFC 8762 §4.2/§4.3 figures.
// The expected HMACs were computed outside this code base:
//   openssl dgst -sha256 -mac HMAC -macopt hexkey:000102...1f <first 96 octets>
#include "stamp/packet.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace cats::stamp;

namespace {

std::vector<uint8_t> hex(std::string s) {
  std::erase_if(s, [](char c) { return c == ' ' || c == '\n'; });
  std::vector<uint8_t> out;
  for (std::size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
  return out;
}

AuthKey test_key() {
  std::vector<uint8_t> k(32);
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i);
  return *AuthKey::make(k);
}

// The sample values used in every layout below.
constexpr Timestamp kT1{0xE6A1B2C3, 0x80000000};  // sender timestamp, x.5 s
constexpr Timestamp kT2{0xE6A1B2C4, 0x20000000};  // reflector receive, +0.625 s
constexpr Timestamp kT3{0xE6A1B2C4, 0x40000000};  // reflector transmit, +0.75 s
// S=1, Z=0, Scale=5, Multiplier=10 -> 0x85 0x0A
constexpr ErrorEstimate kSenderErr{true, false, 5, 10};
// S=0, Z=0, Scale=0, Multiplier=1 -> 0x00 0x01
constexpr ErrorEstimate kReflErr{false, false, 0, 1};

SenderPacket sample_sender() { return SenderPacket{0x01020304, kT1, kSenderErr}; }

ReflectorPacket sample_reflector() {
  ReflectorPacket p;
  p.seq = 7;
  p.timestamp = kT3;
  p.error = kReflErr;
  p.receive_timestamp = kT2;
  p.sender_seq = 7;
  p.sender_timestamp = kT1;
  p.sender_error = kSenderErr;
  p.sender_ttl = 64;
  return p;
}

// §4.2.1, 44 octets
const auto kSenderUnauthHex = hex(
    "01020304"                       // Sequence Number
    "E6A1B2C3 80000000"              // Timestamp (NTP: seconds, fraction)
    "850A"                           // Error Estimate |S=1|Z=0|Scale=5|Mult=10|
    "0000 00000000 00000000 00000000 00000000 00000000 00000000 00000000");  // MBZ (30)

// §4.2.2, 112 octets
const auto kSenderAuthHex = hex(
    "01020304"                       // 0  Sequence Number
    "00000000 00000000 00000000"     // 4  MBZ (12)
    "E6A1B2C3 80000000"              // 16 Timestamp
    "850A"                           // 24 Error Estimate
    "0000 00000000 00000000 00000000 00000000 00000000 00000000 00000000"  // 26 MBZ (70) ...
    "00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000"
    "5260ec3a 8774eff6 904b04c5 422d0eb5");  // 96 HMAC (16)

// §4.3.1, 44 octets
const auto kReflUnauthHex = hex(
    "00000007"                       // 0  Sequence Number (stateless: copy)
    "E6A1B2C4 40000000"              // 4  Timestamp (T3)
    "0001"                           // 12 Error Estimate |S=0|Z=0|Scale=0|Mult=1|
    "0000"                           // 14 MBZ (2)
    "E6A1B2C4 20000000"              // 16 Receive Timestamp (T2)
    "00000007"                       // 24 Session-Sender Sequence Number
    "E6A1B2C3 80000000"              // 28 Session-Sender Timestamp
    "850A"                           // 36 Session-Sender Error Estimate
    "0000"                           // 38 MBZ (2)
    "40"                             // 40 Session-Sender TTL = 64
    "000000");                       // 41 MBZ (3)

// §4.3.2, 112 octets
const auto kReflAuthHex = hex(
    "00000007"                       // 0  Sequence Number
    "00000000 00000000 00000000"     // 4  MBZ (12)
    "E6A1B2C4 40000000"              // 16 Timestamp
    "0001"                           // 24 Error Estimate
    "0000 00000000"                  // 26 MBZ (6)
    "E6A1B2C4 20000000"              // 32 Receive Timestamp
    "00000000 00000000"              // 40 MBZ (8)
    "00000007"                       // 48 Session-Sender Sequence Number
    "00000000 00000000 00000000"     // 52 MBZ (12)
    "E6A1B2C3 80000000"              // 64 Session-Sender Timestamp
    "850A"                           // 72 Session-Sender Error Estimate
    "0000 00000000"                  // 74 MBZ (6)
    "40"                             // 80 Session-Sender TTL
    "000000 00000000 00000000 00000000"  // 81 MBZ (15)
    "4a04a2c9 13822d6f bfb3af00 184939a8");  // 96 HMAC (16)

}  // namespace

TEST_CASE("hand-written layouts have the RFC sizes") {
  CHECK(kSenderUnauthHex.size() == 44);
  CHECK(kSenderAuthHex.size() == 112);
  CHECK(kReflUnauthHex.size() == 44);
  CHECK(kReflAuthHex.size() == 112);
}

TEST_CASE("error estimate wire format (RFC 4656 §4.1.2)") {
  CHECK(kSenderErr.to_wire() == 0x850A);
  CHECK(ErrorEstimate::from_wire(0x850A) == kSenderErr);
  CHECK(ErrorEstimate::from_wire(0x4001).ptp);
  CHECK(ErrorEstimate::from_wire(0xFFFF).scale == 63);
  CHECK(ErrorEstimate{false, false, 32, 1}.seconds() == 1.0);
  CHECK(ErrorEstimate{false, false, 0, 1}.seconds() == Approx(2.3283064365386963e-10));
}

TEST_CASE("NTP timestamps (RFC 5905 §6)") {
  using namespace std::chrono;
  const system_clock::time_point epoch{};
  CHECK(to_ntp(epoch) == Timestamp{2208988800u, 0});
  CHECK(to_ntp(epoch + milliseconds(1500)) == Timestamp{2208988801u, 0x80000000u});
  CHECK(to_ntp(epoch - milliseconds(500)) == Timestamp{2208988799u, 0x80000000u});
  CHECK(timestamp_diff(kT3, kT2, false) == nanoseconds(125'000'000));
  CHECK(timestamp_diff(kT2, kT3, false) == nanoseconds(-125'000'000));
  // Era wrap between the two readings still gives the short difference.
  CHECK(timestamp_diff(Timestamp{0, 0}, Timestamp{0xFFFFFFFF, 0x80000000}, false) ==
        nanoseconds(500'000'000));
  // PTPv2 truncated: fraction is nanoseconds.
  CHECK(timestamp_diff(Timestamp{10, 5}, Timestamp{9, 999'999'999}, true) == nanoseconds(6));
}

TEST_CASE("session-sender unauthenticated encode/decode (§4.2.1)") {
  CHECK(encode_sender(sample_sender(), nullptr) == kSenderUnauthHex);
  auto d = decode_sender(kSenderUnauthHex, nullptr);
  REQUIRE(d.packet.has_value());
  CHECK(*d.packet == sample_sender());

  SECTION("MBZ is ignored on receipt") {
    auto b = kSenderUnauthHex;
    for (std::size_t i = 14; i < 44; ++i) b[i] = 0xA5;
    auto d2 = decode_sender(b, nullptr);
    REQUIRE(d2.packet.has_value());
    CHECK(*d2.packet == sample_sender());
  }
  SECTION("length bounds") {
    auto b = kSenderUnauthHex;
    b.pop_back();
    CHECK(decode_sender(b, nullptr).error == DecodeError::too_short);
    CHECK_FALSE(decode_sender({}, nullptr).packet.has_value());
    b.resize(kMaxPacketLen + 1);
    CHECK(decode_sender(b, nullptr).error == DecodeError::too_long);
    b.resize(kMaxPacketLen);  // extension area (RFC 8972) is accepted and ignored
    CHECK(decode_sender(b, nullptr).packet.has_value());
  }
  SECTION("zero multiplier is corrupt (RFC 4656 §4.1.2)") {
    auto b = kSenderUnauthHex;
    b[13] = 0;
    CHECK(decode_sender(b, nullptr).error == DecodeError::bad_error_estimate);
  }
}

TEST_CASE("session-sender authenticated encode/decode (§4.2.2, §4.4)") {
  const auto key = test_key();
  CHECK(encode_sender(sample_sender(), &key) == kSenderAuthHex);
  auto d = decode_sender(kSenderAuthHex, &key);
  REQUIRE(d.packet.has_value());
  CHECK(*d.packet == sample_sender());
  // Unauthenticated packets are not accepted in authenticated mode.
  CHECK(decode_sender(kSenderUnauthHex, &key).error == DecodeError::too_short);

  SECTION("any single flipped bit in the covered 96 octets or the HMAC fails") {
    for (std::size_t bit = 0; bit < kAuthLen * 8; ++bit) {
      auto b = kSenderAuthHex;
      b[bit / 8] = static_cast<uint8_t>(b[bit / 8] ^ (1u << (bit % 8)));
      INFO("bit " << bit);
      REQUIRE(decode_sender(b, &key).error == DecodeError::bad_hmac);
    }
  }
  SECTION("another key fails") {
    std::vector<uint8_t> other(32, 0x42);
    auto k2 = *AuthKey::make(other);
    CHECK(decode_sender(kSenderAuthHex, &k2).error == DecodeError::bad_hmac);
  }
}

TEST_CASE("auth keys are bounded") {
  std::vector<uint8_t> k(15, 1);
  CHECK_FALSE(AuthKey::make(k).has_value());
  k.resize(16, 1);
  CHECK(AuthKey::make(k).has_value());
  k.resize(129, 1);
  CHECK_FALSE(AuthKey::make(k).has_value());
}

TEST_CASE("session-reflector unauthenticated encode/decode (§4.3.1)") {
  CHECK(encode_reflector(sample_reflector(), nullptr) == kReflUnauthHex);
  auto d = decode_reflector(kReflUnauthHex, nullptr);
  REQUIRE(d.packet.has_value());
  CHECK(*d.packet == sample_reflector());
  auto b = kReflUnauthHex;
  for (std::size_t i : {14, 15, 38, 39, 41, 42, 43}) b[i] = 0xFF;  // every MBZ octet
  auto d2 = decode_reflector(b, nullptr);
  REQUIRE(d2.packet.has_value());
  CHECK(*d2.packet == sample_reflector());
  b.resize(43);
  CHECK(decode_reflector(b, nullptr).error == DecodeError::too_short);
}

TEST_CASE("session-reflector authenticated encode/decode (§4.3.2)") {
  const auto key = test_key();
  CHECK(encode_reflector(sample_reflector(), &key) == kReflAuthHex);
  auto d = decode_reflector(kReflAuthHex, &key);
  REQUIRE(d.packet.has_value());
  CHECK(*d.packet == sample_reflector());
  auto b = kReflAuthHex;
  b[80] ^= 0x01;  // TTL
  CHECK(decode_reflector(b, &key).error == DecodeError::bad_hmac);
  b = kReflAuthHex;
  b[111] ^= 0x80;  // last HMAC bit
  CHECK(decode_reflector(b, &key).error == DecodeError::bad_hmac);
}
