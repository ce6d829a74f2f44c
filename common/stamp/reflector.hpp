// STAMP Session-Reflector (RFC 8762 §4.3), stateless mode, on the vCPE.
//
// Every CPE WAN path arrives over its own WireGuard interface but from the same CPE
// tunnel address, so a reply routed by destination alone could leave over the wrong
// tunnel and measure a different path. Each reply therefore leaves through the interface
// its test packet arrived on, from the address that packet was sent to (IP_PKTINFO /
// IPV6_PKTINFO on receive and on send).
//
// Runs on the caller's io_context; owns no threads. Malformed, unauthenticated and
// rate-limited packets are counted and dropped, never answered.
#pragma once

#include "base/ip.hpp"
#include "base/result.hpp"
#include "stamp/packet.hpp"
#include "stamp/rate_limit.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include <memory>
#include <optional>

namespace cats::stamp {

struct ReflectorConfig {
  // One socket per family: 0.0.0.0 or :: (v6-only) for every local address.
  IpAddress address = boost::asio::ip::address_v4::any();
  uint16_t port = kDefaultPort;  // 0 = ephemeral (tests)
  // Set: authenticated mode only (§4.2.2/§4.3.2); 44-octet packets are then rejected,
  // because accepting both would let anyone bypass authentication.
  std::optional<AuthKey> key;
  ErrorEstimate error{};  // our clock: S=0 (not UTC-synchronised), NTP format
  RateLimitConfig rate_limit{};
};

struct ReflectorCounters {
  uint64_t received = 0;      // datagrams read
  uint64_t reflected = 0;     // replies sent
  uint64_t malformed = 0;     // wrong size, zero multiplier, truncated
  uint64_t auth_failed = 0;   // HMAC mismatch
  uint64_t rate_limited = 0;  // dropped by the per-source limit
  uint64_t send_errors = 0;   // sendmsg failed
};

class StampReflector : public std::enable_shared_from_this<StampReflector> {
 public:
  // Binds and starts reading. Errors (EADDRINUSE, EACCES...) are returned, never thrown.
  static Result<std::shared_ptr<StampReflector>> start(boost::asio::io_context& io,
                                                        ReflectorConfig cfg);
  ~StampReflector();
  StampReflector(const StampReflector&) = delete;
  StampReflector& operator=(const StampReflector&) = delete;

  // Close the socket; pending handlers finish as no-ops. Idempotent.
  void stop();
  // The bound endpoint (useful with port 0).
  UdpEndpoint local_endpoint() const { return local_; }
  const ReflectorCounters& counters() const { return counters_; }

  // Build the reply to one received datagram, or nullopt if it is not to be answered
  // (counters updated). Pure apart from the counters and limiter; exposed for tests.
  struct Arrival {
    std::span<const uint8_t> bytes;
    bool truncated = false;
    SourceRateLimiter::Key source;
    int ttl = 255;  // RFC 8762 §4.3.1: TTL/Hop Limit of the received packet
    std::chrono::system_clock::time_point received_at;  // T2
    std::chrono::steady_clock::time_point now;           // for the rate limiter
  };
  std::optional<std::vector<uint8_t>> make_reply(const Arrival& a,
                                                 std::chrono::system_clock::time_point send_time);

 private:
  StampReflector(boost::asio::io_context& io, ReflectorConfig cfg);
  void arm();
  void drain();

  ReflectorConfig cfg_;
  boost::asio::ip::udp::socket socket_;
  UdpEndpoint local_;
  SourceRateLimiter limiter_;
  ReflectorCounters counters_;
};

}  // namespace cats::stamp
