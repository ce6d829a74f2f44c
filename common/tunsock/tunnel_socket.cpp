#include "tunsock/tunnel_socket.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>

namespace cats::tunsock {

namespace asio = boost::asio;
using udp = asio::ip::udp;

bool device_gone(int err) { return err == ENODEV || err == ENXIO || err == EADDRNOTAVAIL || err == EBADF; }

TunnelUdpSocket::TunnelUdpSocket(asio::io_context& io, Options o) : opt_(std::move(o)), socket_(io) {}

void TunnelUdpSocket::close() {
  boost::system::error_code ec;
  if (socket_.is_open()) socket_.close(ec);
  ++generation_;
}

Status TunnelUdpSocket::open() {
  close();
  boost::system::error_code ec;
  const bool v6 = opt_.peer ? opt_.peer->address().is_v6() : opt_.local.is_v6();
  socket_.open(v6 ? udp::v6() : udp::v4(), ec);
  if (ec) return Error::sys(ec.value(), "socket");
  const int fd = socket_.native_handle();
  if (const int fl = ::fcntl(fd, F_GETFD); fl < 0 || (!(fl & FD_CLOEXEC) && ::fcntl(fd, F_SETFD, fl | FD_CLOEXEC) != 0)) {
    const int err = errno;
    close();
    return Error::sys(err, "FD_CLOEXEC");
  }
  if (!opt_.device.empty() && ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, opt_.device.c_str(),
                                           static_cast<socklen_t>(opt_.device.size())) != 0) {
    const int err = errno;
    close();
    return Error::sys(err, "SO_BINDTODEVICE " + opt_.device);
  }
  if (!opt_.local.is_unspecified()) {
    socket_.bind(udp::endpoint(opt_.local, 0), ec);
    if (ec) {
      close();
      return Error::sys(ec.value(), "bind " + opt_.local.to_string());
    }
  }
  if (opt_.peer) {
    socket_.connect(*opt_.peer, ec);
    if (ec) {
      close();
      return Error::sys(ec.value(), "connect " + endpoint_to_string(*opt_.peer));
    }
  }
  socket_.non_blocking(true, ec);
  if (ec) {
    close();
    return Error::sys(ec.value(), "non-blocking");
  }
  if (opens_++ > 0) ++reopens_;
  return ok();
}

Status TunnelUdpSocket::send_once(std::span<const uint8_t> bytes, const std::optional<UdpEndpoint>& dst) {
  boost::system::error_code ec;
  if (dst)
    socket_.send_to(asio::buffer(bytes.data(), bytes.size()), *dst, 0, ec);
  else
    socket_.send(asio::buffer(bytes.data(), bytes.size()), 0, ec);
  if (ec) return Error::sys(ec.value(), "send");
  return ok();
}

Status TunnelUdpSocket::send(std::span<const uint8_t> bytes, const std::optional<UdpEndpoint>& dst) {
  const bool was_open = socket_.is_open();
  if (!was_open) CATS_TRY(open());
  auto st = send_once(bytes, dst);
  if (st || !device_gone(st.error().sys_errno)) return st;
  // The interface this socket was bound to is gone. A socket just opened has already
  // bound to the current one: the error is real (no address yet, interface down).
  if (!was_open) {
    close();
    return st;
  }
  CATS_TRY(open());
  st = send_once(bytes, dst);
  if (!st && device_gone(st.error().sys_errno)) close();
  return st;
}

}  // namespace cats::tunsock
