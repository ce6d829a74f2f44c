// Disk faults, each in a forked child: the child changes process-wide state (a private
// mount namespace with a tiny tmpfs, or a file size limit), and "the process keeps
// running" is checked by the child reaching its normal exit.
#include "store_test_util.hpp"

#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <functional>

using namespace cats::store;
using namespace cats::store::test;

namespace {

constexpr int kSkip = 77;

// Runs `body` in a child; returns its exit status (or -1 if it did not exit normally).
// Catch's macros are not used in the child: it reports through stderr and its exit code.
int in_child(const std::function<int()>& body) {
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int rc = 98;
    try {
      rc = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: exception: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "child: unknown exception\n");
    }
    std::fflush(nullptr);
    ::_exit(rc);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Collects failed checks in the child; the exit code is their count (capped).
struct ChildChecks {
  int failed = 0;
  void check(bool ok, const char* what) {
    if (!ok) {
      ++failed;
      std::fprintf(stderr, "child check failed: %s\n", what);
    }
  }
  int exit_code() const { return failed > 50 ? 50 : failed; }
};
#define CHILD_CHECK(c, expr) (c).check((expr), #expr)

std::vector<PathSample> big_batch(int64_t ts0, int n) {
  std::vector<PathSample> v;
  for (int k = 0; k < n; ++k) {
    auto p = path_sample("wan1", "cloud1", ts0 + k, 1);
    p.state = std::string(200, 'x');  // bulk, so the batch cannot fit in already allocated space
    v.push_back(std::move(p));
  }
  return v;
}

size_t history_size(Store& s) {
  auto h = s.path_history("wan1", "cloud1", 0, 1'000'000'000);
  return h.has_value() ? h->size() : static_cast<size_t>(-1);
}

}  // namespace

TEST_CASE("store: a full disk (tiny tmpfs) makes writes fail softly; reads work; recovery", "[store][fault]") {
  TempDir dir;
  const std::string mnt = dir.path().string();
  int rc = in_child([&]() -> int {
    if (::unshare(CLONE_NEWNS) != 0) return kSkip;
    // Private propagation: the tmpfs must not leak into the parent's namespace.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return kSkip;
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") != 0) return kSkip;

    ChildChecks c;
    Options o;
    o.path = mnt + "/cats.db";
    auto r = Store::open(o);
    if (!r.has_value()) {
      std::fprintf(stderr, "child: open: %s\n", r.error().message.c_str());
      return 60;
    }
    auto& s = **r;
    s.add_path_samples(big_batch(0, 10));
    CHILD_CHECK(c, s.stats().writes == 1);

    // Fill what is left of the file system.
    const std::string filler = mnt + "/filler";
    {
      int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      CHILD_CHECK(c, fd >= 0);
      std::vector<char> buf(4096, 'f');
      while (::write(fd, buf.data(), buf.size()) > 0) {
      }
      CHILD_CHECK(c, errno == ENOSPC);
      ::close(fd);
    }

    s.add_path_samples(big_batch(1000, 2000));
    for (int k = 0; k < 5; ++k) s.add_path_samples(big_batch(5000 + k, 1));
    s.add_event({1, "k", "s", std::string(10000, 'd')});
    auto st = s.stats();
    CHILD_CHECK(c, st.write_failures == 7);
    CHILD_CHECK(c, st.writes == 1);
    CHILD_CHECK(c, history_size(s) == 10);  // reads still work, nothing half-written
    s.maintain(1'000'000);                  // may or may not need space; must not crash

    ::unlink(filler.c_str());
    const uint64_t failures = s.stats().write_failures;
    s.add_path_samples(big_batch(9000, 5));
    CHILD_CHECK(c, s.stats().write_failures == failures);
    CHILD_CHECK(c, history_size(s) == 15);
    return c.exit_code();
  });
  if (rc == kSkip) {
    WARN("no private mount namespace / tmpfs here (needs CAP_SYS_ADMIN): full-disk test skipped");
    return;
  }
  CHECK(rc == 0);
}

TEST_CASE("store: a file size limit (EFBIG) makes writes fail softly; reads work; recovery", "[store][fault]") {
  // Needs no privileges, so this fault is exercised everywhere.
  TempDir dir;
  const std::string path = dir.file("cats.db");
  int rc = in_child([&]() -> int {
    ChildChecks c;
    Options o;
    o.path = path;
    auto r = Store::open(o);
    if (!r.has_value()) return 60;
    auto& s = **r;
    s.add_path_samples(big_batch(0, 10));

    // Exceeding the limit raises SIGXFSZ, which would kill the process: ignored, the
    // write fails with EFBIG instead, as it does for a daemon under such a limit.
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit old{};
    ::getrlimit(RLIMIT_FSIZE, &old);
    struct stat db{}, wal{};
    ::stat(path.c_str(), &db);
    ::stat((path + "-wal").c_str(), &wal);
    rlimit lim = old;
    lim.rlim_cur = static_cast<rlim_t>(std::max(db.st_size, wal.st_size));
    CHILD_CHECK(c, ::setrlimit(RLIMIT_FSIZE, &lim) == 0);

    s.add_path_samples(big_batch(1000, 2000));
    s.add_path_samples(big_batch(4000, 2000));
    CHILD_CHECK(c, s.stats().write_failures == 2);
    CHILD_CHECK(c, history_size(s) == 10);

    CHILD_CHECK(c, ::setrlimit(RLIMIT_FSIZE, &old) == 0);
    s.add_path_samples(big_batch(9000, 5));
    CHILD_CHECK(c, s.stats().write_failures == 2);
    CHILD_CHECK(c, history_size(s) == 15);
    return c.exit_code();
  });
  CHECK(rc == 0);
}
