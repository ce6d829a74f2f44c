// Test helper: move the calling thread into a fresh, private network namespace and move it
// back when the guard goes out of scope (also when a REQUIRE throws). The namespace dies
// with its last reference (our sockets, closed before the guard). Catch2 runs tests on one
// thread, and network namespaces are per thread (setns(2)), so assertions keep working and
// nothing ever touches the host's interfaces, routes or rules.
#pragma once

#include "base/fd.hpp"

#include <fcntl.h>
#include <sched.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace cats::test {

class PrivateNetns {
 public:
  PrivateNetns() {
    saved_.reset(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!saved_) {
      error_ = std::string("open /proc/self/ns/net: ") + std::strerror(errno);
      return;
    }
    if (::unshare(CLONE_NEWNET) != 0) {
      error_ = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno) + " (lab tests need root)";
      saved_.reset();
    }
  }
  PrivateNetns(const PrivateNetns&) = delete;
  PrivateNetns& operator=(const PrivateNetns&) = delete;
  ~PrivateNetns() {
    if (saved_) ::setns(saved_.get(), CLONE_NEWNET);
  }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  // The namespace we came from (e.g. as a target for moving links).
  int saved_fd() const { return saved_.get(); }

 private:
  UniqueFd saved_;
  std::string error_;
};

}  // namespace cats::test
