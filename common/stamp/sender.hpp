// STAMP Session-Sender (RFC 8762 §4.2) for one path (WAN x vCPE) on the CPE.
//
// The socket is bound to the path's tunnel interface (SO_BINDTODEVICE) and source address
// so probes for wan1 never take wan2's tunnel even though both route to the same vCPE.
// It sends one test packet per interval, matches replies by the copied Session-Sender
// Sequence Number, and feeds a PathStats. Socket errors (ENETUNREACH, interface gone)
// are losses, never exceptions; an interface that disappears is re-bound on later ticks.
// Runs on the caller's io_context; owns no threads.
#pragma once

#include "base/ip.hpp"
#include "base/result.hpp"
#include "tunsock/tunnel_socket.hpp"
#include "stamp/packet.hpp"
#include "stamp/path_stats.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace cats::stamp {

struct SenderConfig {
  std::string name;            // path id for logs and events, e.g. "wan1/vcpe1"
  std::string device;          // tunnel interface (SO_BINDTODEVICE); empty = unbound
  IpAddress local_address;     // source address; unspecified = chosen by the kernel
  UdpEndpoint reflector;       // vCPE tunnel address, port 862
  std::chrono::milliseconds interval{100};
  // stats.timeout: see path_stats.hpp (300 ms = 3 intervals at the default interval).
  StatsConfig stats{};
  std::optional<AuthKey> key;  // set: authenticated mode (§4.2.2)
  ErrorEstimate error{};       // our clock: S=0, NTP format
};

// The steady-clock instant a datagram reached our socket, from the kernel's wall-clock
// arrival stamp (`kernel`, SIOCGSTAMPNS) and a pair of readings of both clocks taken
// together now. Why: a reply that waited in the socket while this process was not
// running (a busy host, a slow handler on the same io_context) is not a slower path;
// RFC 8762 §4.2 wants the receive timestamp taken as close to the wire as possible. A
// stamp from the future or older than `max_age` means the wall clock stepped in
// between: then `steady_now`, the old reading.
SteadyTime arrival_time(SteadyTime steady_now, std::chrono::system_clock::time_point system_now,
                        std::optional<std::chrono::system_clock::time_point> kernel,
                        std::chrono::milliseconds max_age = std::chrono::seconds(1));

// Valid: interval 1 ms .. 60 s, stats valid (see validate(StatsConfig)), reflector port
// non-zero, local_address (if set) of the reflector's family.
const char* validate(const SenderConfig& c);

struct SenderSnapshot : PathSnapshot {
  uint64_t malformed = 0;    // replies that failed to decode (size, HMAC, estimate)
  uint64_t send_errors = 0;  // probes that could not be sent (also counted in lost)
};

class StampSender : public std::enable_shared_from_this<StampSender> {
 public:
  // Source of randomness for the start offset, so many sessions started together do
  // not send in bursts. Returns any 32-bit value; injected for reproducible tests.
  using Rng = std::function<uint32_t()>;
  // Called on the io_context for every state change of this path (explicit, not a
  // global hook; may be empty).
  using OnChange = std::function<void(const std::string& path, const StateChange&)>;

  // Validates the config and starts. Failing to open/bind the socket is not an error:
  // the path is then simply losing probes until the interface appears.
  static Result<std::shared_ptr<StampSender>> start(boost::asio::io_context& io, SenderConfig cfg,
                                                    Rng rng = {}, OnChange on_change = {});
  ~StampSender();
  StampSender(const StampSender&) = delete;
  StampSender& operator=(const StampSender&) = delete;

  void stop();  // idempotent; stats stay readable
  SenderSnapshot snapshot() const;
  const SenderConfig& config() const { return cfg_; }

 private:
  StampSender(boost::asio::io_context& io, SenderConfig cfg, OnChange on_change);
  Status open_socket();
  void close_socket();
  void schedule_tick();
  void tick();
  void send_probe(SteadyTime now);
  void arm_receive();
  void drain();  // read every reply already queued, before declaring losses
  void on_datagram(std::size_t n, SteadyTime now);
  SteadyTime arrival_of_last_read();  // arrival_time() of the datagram just read
  void arm_deadline();
  void emit(const std::optional<StateChange>& c);

  SenderConfig cfg_;
  OnChange on_change_;
  tunsock::TunnelUdpSocket socket_;  // follows a re-created tunnel (tunsock/tunnel_socket.hpp)
  boost::asio::steady_timer send_timer_;
  boost::asio::steady_timer deadline_timer_;
  std::optional<SteadyTime> armed_deadline_;
  SteadyTime next_send_{};
  PathStats stats_;
  uint32_t next_seq_ = 0;  // RFC 8762 §4.2.1: starts at zero, +1 per packet
  bool stopped_ = false;
  bool logged_open_error_ = false;
  uint64_t malformed_ = 0, send_errors_ = 0;
  std::array<uint8_t, kMaxPacketLen + 1> rx_{};  // +1 detects oversize datagrams
};

}  // namespace cats::stamp
