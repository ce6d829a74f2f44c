// Test helper: real conntrack entries with chosen ct marks, in the current (private)
// network namespace. A table "inet cats_cttest" marks, in the output hook, UDP to port
// P with mark M; each datagram sent from a fresh socket (new ephemeral source port) over
// loopback then creates one conntrack entry carrying M. Used by the ct and steer lab tests.
#pragma once

#include "nft/nft.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace cats::test {

// `ip link set lo up` in the current namespace (also gives ::1).
inline bool loopback_up() { return std::system("ip link set lo up") == 0; }

// Marks UDP to each port with its mark (output hook, both families).
inline Status install_ct_marker(nft::Nft& nft, const std::vector<std::pair<uint16_t, uint32_t>>& port_marks) {
  std::string s = "table inet cats_cttest\ndelete table inet cats_cttest\ntable inet cats_cttest {\n"
                  "\tchain out {\n\t\ttype filter hook output priority mangle; policy accept;\n";
  char buf[96];
  for (auto [port, mark] : port_marks) {
    std::snprintf(buf, sizeof buf, "\t\tudp dport %u ct mark set 0x%08x\n", port, mark);
    s += buf;
  }
  return nft.run(s + "\t}\n}\n");
}

// Sends `n` UDP datagrams to loopback:port, each from a fresh socket. Returns how many were sent.
inline int send_udp_flows(int family, uint16_t port, int n) {
  int sent = 0;
  for (int i = 0; i < n; ++i) {
    int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    bool ok = false;
    if (family == AF_INET) {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ok = ::sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&a), sizeof a) == 1;
    } else {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(port);
      a.sin6_addr = in6addr_loopback;
      ok = ::sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&a), sizeof a) == 1;
    }
    ::close(fd);
    sent += ok ? 1 : 0;
  }
  return sent;
}

}  // namespace cats::test
