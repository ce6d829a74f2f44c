#include "stamp/udp_meta.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace cats::stamp {
namespace {

namespace ip = boost::asio::ip;

Status setopt(int fd, int level, int name, int value, const char* what) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) return fail(Error::sys(errno, what));
  return ok();
}

UdpEndpoint from_sockaddr(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET6) {
    const auto& s6 = reinterpret_cast<const sockaddr_in6&>(ss);
    ip::address_v6::bytes_type b;
    std::memcpy(b.data(), &s6.sin6_addr, b.size());
    return UdpEndpoint(ip::address_v6(b, s6.sin6_scope_id), ntohs(s6.sin6_port));
  }
  const auto& s4 = reinterpret_cast<const sockaddr_in&>(ss);
  return UdpEndpoint(ip::address_v4(ntohl(s4.sin_addr.s_addr)), ntohs(s4.sin_port));
}

}  // namespace

Status enable_recv_meta(int fd, bool ipv6) {
  if (ipv6) {
    CATS_TRY(setopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO"));
    CATS_TRY(setopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT"));
  } else {
    CATS_TRY(setopt(fd, IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO"));
    CATS_TRY(setopt(fd, IPPROTO_IP, IP_RECVTTL, 1, "IP_RECVTTL"));
  }
  // Kernel arrival time is a better T2 (RFC 8762 §4.3.1 Receive Timestamp) than the
  // moment our handler runs; it is optional, so a failure only loses accuracy.
  (void)setopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS");
  return ok();
}

bool recv_with_meta(int fd, std::span<uint8_t> buf, RecvMeta& meta) {
  sockaddr_storage from{};
  iovec iov{buf.data(), buf.size()};
  alignas(cmsghdr) char control[256];
  msghdr msg{};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof from;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT);
  if (n < 0) return false;
  meta = RecvMeta{};
  meta.source = from_sockaddr(from);
  meta.length = static_cast<std::size_t>(n);
  meta.truncated = (msg.msg_flags & MSG_TRUNC) != 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    const void* data = CMSG_DATA(c);
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo pi;
      std::memcpy(&pi, data, sizeof pi);
      meta.ifindex = pi.ipi_ifindex;
      meta.destination = ip::address_v4(ntohl(pi.ipi_addr.s_addr));
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
      int ttl;
      std::memcpy(&ttl, data, sizeof ttl);
      meta.ttl = ttl;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo pi;
      std::memcpy(&pi, data, sizeof pi);
      meta.ifindex = static_cast<int>(pi.ipi6_ifindex);
      ip::address_v6::bytes_type b;
      std::memcpy(b.data(), &pi.ipi6_addr, b.size());
      meta.destination = ip::address_v6(b);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
      int hl;
      std::memcpy(&hl, data, sizeof hl);
      meta.ttl = hl;
    } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts;
      std::memcpy(&ts, data, sizeof ts);
      meta.kernel_time = std::chrono::system_clock::time_point(
          std::chrono::duration_cast<std::chrono::system_clock::duration>(
              std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
    }
  }
  return true;
}

int send_via(int fd, std::span<const uint8_t> data, const UdpEndpoint& to, int ifindex,
             const std::optional<IpAddress>& source) {
  iovec iov{const_cast<uint8_t*>(data.data()), data.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr*>(to.data());
  msg.msg_namelen = static_cast<socklen_t>(to.size());
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  cmsghdr* c = reinterpret_cast<cmsghdr*>(control);
  if (to.address().is_v6()) {
    in6_pktinfo pi{};
    pi.ipi6_ifindex = static_cast<unsigned>(ifindex);
    if (source && source->is_v6()) {
      const auto b = source->to_v6().to_bytes();
      std::memcpy(&pi.ipi6_addr, b.data(), b.size());
    }
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
    msg.msg_controllen = CMSG_SPACE(sizeof pi);
  } else {
    // ipi_ifindex picks the output interface; ipi_spec_dst is the source address
    // (ip(7) IP_PKTINFO). ipi_addr is ignored on send.
    in_pktinfo pi{};
    pi.ipi_ifindex = ifindex;
    if (source && source->is_v4()) pi.ipi_spec_dst.s_addr = htonl(source->to_v4().to_uint());
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
    msg.msg_controllen = CMSG_SPACE(sizeof pi);
  }
  if (::sendmsg(fd, &msg, MSG_DONTWAIT) < 0) return errno;
  return 0;
}

}  // namespace cats::stamp
