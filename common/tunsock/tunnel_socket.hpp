// A UDP socket bound to one tunnel interface (SO_BINDTODEVICE) and to our inner address,
// that follows the interface when it is deleted and created again.
//
// Why it is needed: SO_BINDTODEVICE stores the interface index, not the name. When the
// overlay re-creates a tunnel (a new WireGuard interface of the same name, as the
// reconcile loop does after a crash of wireguard-go or a hand `ip link del`), every send
// on the old socket fails with ENODEV (or ENXIO / EADDRNOTAVAIL while the new interface
// has no address yet) for good. Only a new socket binds to the new index. Issue 14
// found one sender that cached its socket and never reopened it; every tunnel-bound
// sender uses this class instead.
//
// The socket is non-blocking (a full queue is a counted send error, never a stall) and
// close-on-exec (Asio does not ask for it; issue 14: no fd of ours leaks into a child).
#pragma once

#include "base/ip.hpp"
#include "base/result.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace cats::tunsock {

struct Options {
  std::string device;                 // tunnel interface; empty: not bound to one
  IpAddress local;                    // source address; unspecified: the kernel's choice
  std::optional<UdpEndpoint> peer;    // connect() to it (the kernel then filters and reports ICMP)
};

// Errors after which only a new socket can reach the (re-created) interface.
bool device_gone(int err);

class TunnelUdpSocket {
 public:
  TunnelUdpSocket(boost::asio::io_context& io, Options o);

  // (Re)opens: a fresh socket, bound, connected when a peer is set. Closes the old one
  // first, so generation() changes even when this fails.
  Status open();
  void close();
  bool is_open() const { return socket_.is_open(); }

  // One datagram to `dst` (or the connected peer when `dst` is empty). Opens the socket
  // when it is closed; when the interface is gone (device_gone), opens a new socket and
  // sends once more, so the first datagram after a re-creation already goes out.
  Status send(std::span<const uint8_t> bytes, const std::optional<UdpEndpoint>& dst = std::nullopt);

  // For asynchronous receives on a connected socket. Handlers armed on one generation
  // must ignore their completion once generation() has moved on.
  boost::asio::ip::udp::socket& socket() { return socket_; }
  uint64_t generation() const { return generation_; }
  uint64_t reopens() const { return reopens_; }  // opens after the first (for tests and logs)
  const Options& options() const { return opt_; }

 private:
  Status send_once(std::span<const uint8_t> bytes, const std::optional<UdpEndpoint>& dst);

  Options opt_;
  boost::asio::ip::udp::socket socket_;
  uint64_t generation_ = 0;
  uint64_t opens_ = 0;
  uint64_t reopens_ = 0;
};

}  // namespace cats::tunsock
