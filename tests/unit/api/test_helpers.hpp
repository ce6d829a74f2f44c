// Test helpers: a temp dir (temp_dir.hpp) and a raw Unix-socket client that can send malformed bytes.
#pragma once

#include "base/fd.hpp"
#include "temp_dir.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace cats::test {

inline sockaddr_un unix_addr(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  return a;
}

// Connected socket with a 3 s receive timeout, or an empty fd.
inline UniqueFd raw_connect(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval tv{3, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto a = unix_addr(path);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fd.reset();
  return fd;
}

inline bool raw_send(const UniqueFd& fd, const std::string& bytes) {
  return ::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

// Everything until EOF (or the receive timeout).
inline std::string raw_read_all(const UniqueFd& fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

inline std::string raw_exchange(const std::string& path, const std::string& bytes) {
  UniqueFd fd = raw_connect(path);
  if (!fd) return {};
  // A server that answers early (503, 413) may close before the send; its reply still waits.
  raw_send(fd, bytes);
  return raw_read_all(fd);
}

}  // namespace cats::test
