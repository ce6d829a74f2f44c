#include "base/process.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <sstream>

using namespace cats;

namespace {

// The fd numbers a child of ours has open, from its own /proc/self/fd (sh's own fds
// for the listing are below 10).
std::vector<int> child_fds() {
  auto r = run_command({"/bin/sh", "-c", "ls /proc/self/fd"});
  REQUIRE(r.has_value());
  std::vector<int> fds;
  std::istringstream in(r->output);
  for (int fd; in >> fd;) fds.push_back(fd);
  return fds;
}

}  // namespace

TEST_CASE("children inherit none of our fds, close-on-exec or not (issue 14)") {
  // A descriptor opened the way Asio opens its sockets: no O_CLOEXEC.
  int leaky = ::open("/dev/null", O_RDONLY);
  REQUIRE(leaky >= 0);
  int high = ::fcntl(leaky, F_DUPFD, 50);  // F_DUPFD: the copy is not close-on-exec either
  REQUIRE(high >= 50);
  const auto fds = child_fds();
  CHECK_FALSE(fds.empty());
  for (int fd : fds) CHECK(fd < 10);
  CHECK(std::find(fds.begin(), fds.end(), high) == fds.end());

  // ChildProcess (wireguard-go) the same: it writes what it has to a file.
  char path[] = "/tmp/cats-fds-XXXXXX";
  int out = ::mkstemp(path);
  REQUIRE(out >= 0);
  ::close(out);
  auto child = ChildProcess::spawn({"/bin/sh", "-c", std::string("ls /proc/self/fd > ") + path});
  REQUIRE(child.has_value());
  REQUIRE(child->wait_for(std::chrono::seconds(5)).has_value());
  auto listed = run_command({"/bin/cat", path});
  REQUIRE(listed.has_value());
  CHECK(listed->output.find("\n50\n") == std::string::npos);
  CHECK(listed->output.find(std::to_string(high)) == std::string::npos);
  ::unlink(path);
  ::close(high);
  ::close(leaky);
}
