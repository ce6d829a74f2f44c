#include "base/process.hpp"

#include "base/fd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

extern char** environ;

namespace cats {

ChildProcess::ChildProcess(ChildProcess&& o) noexcept : pid_(std::exchange(o.pid_, -1)) {}
ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    terminate();
    pid_ = std::exchange(o.pid_, -1);
  }
  return *this;
}
ChildProcess::~ChildProcess() { terminate(); }

namespace {
std::vector<char*> to_argv(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

Result<pid_t> spawn_with(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
                         posix_spawn_file_actions_t* fa) {
  if (argv.empty()) return Error::msg("spawn: empty argv");
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
  for (auto& e : extra_env) env_store.push_back(e);
  auto args = to_argv(argv);
  auto envp = to_argv(env_store);
  // The child gets stdin, stdout and stderr and nothing else: whatever we hold (netlink,
  // UAPI and API sockets, SQLite files; Asio opens its sockets without O_CLOEXEC) must
  // not outlive us in wireguard-go or a command (issue 14: 4 sockets leaked per restart).
  posix_spawn_file_actions_t own;
  if (!fa) {
    posix_spawn_file_actions_init(&own);
    fa = &own;
  }
  posix_spawn_file_actions_addclosefrom_np(fa, 3);
  pid_t pid = -1;
  int rc = argv[0].find('/') == std::string::npos
               ? posix_spawnp(&pid, argv[0].c_str(), fa, nullptr, args.data(), envp.data())
               : posix_spawn(&pid, argv[0].c_str(), fa, nullptr, args.data(), envp.data());
  if (fa == &own) posix_spawn_file_actions_destroy(&own);
  if (rc != 0) return Error::sys(rc, "spawn " + argv[0]);
  return pid;
}
}  // namespace

Result<ChildProcess> ChildProcess::spawn(const std::vector<std::string>& argv,
                                         const std::vector<std::string>& extra_env) {
  auto pid = spawn_with(argv, extra_env, nullptr);
  if (!pid) return pid.error();
  return ChildProcess(*pid);
}

std::optional<int> ChildProcess::poll() {
  if (pid_ <= 0) return std::nullopt;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return st;
  }
  return std::nullopt;
}

std::optional<int> ChildProcess::wait_for(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (auto st = poll()) return st;
    if (pid_ <= 0) return std::nullopt;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void ChildProcess::terminate(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  if (wait_for(grace)) return;
  ::kill(pid_, SIGKILL);
  int st = 0;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
}

Result<RunOutput> run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                              size_t max_output) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Error::sys(errno, "pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), 2);
  auto pid = spawn_with(argv, {}, &fa);
  posix_spawn_file_actions_destroy(&fa);
  if (!pid) return pid.error();
  wr.reset();
  RunOutput out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  bool timed_out = false;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{rd.get(), POLLIN, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      timed_out = r == 0;
      break;
    }
    ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.output.size() < max_output)
      out.output.append(buf, std::min(static_cast<size_t>(n), max_output - out.output.size()));
  }
  if (timed_out) ::kill(*pid, SIGKILL);
  int st = 0;
  while (::waitpid(*pid, &st, 0) < 0 && errno == EINTR) {
  }
  out.exit_status = (!timed_out && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
  if (timed_out) return Error::msg(argv[0] + ": timed out");
  return out;
}

}  // namespace cats
