// RAII child process: the destructor kills (SIGTERM, then SIGKILL) and reaps a child that
// is still running, unless it was detached.
#pragma once

#include "base/result.hpp"

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace cats {

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(ChildProcess&& o) noexcept;
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  // argv[0] is the program path (no PATH search unless it has no '/').
  static Result<ChildProcess> spawn(const std::vector<std::string>& argv,
                                    const std::vector<std::string>& extra_env = {});

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // Non-blocking check; returns the exit status (as from waitpid) once it has exited.
  std::optional<int> poll();
  // Blocking wait with a deadline; nullopt on timeout.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  // SIGTERM, wait up to grace, then SIGKILL; reaps.
  void terminate(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));
  // Forget the child without killing it (it keeps running on its own).
  void detach() { pid_ = -1; }

 private:
  explicit ChildProcess(pid_t p) : pid_(p) {}
  pid_t pid_ = -1;
};

// Run to completion, capturing stdout+stderr (bounded to max_output bytes).
struct RunOutput {
  int exit_status = -1;  // WEXITSTATUS, or -1 when killed by a signal / timed out
  std::string output;
};
Result<RunOutput> run_command(const std::vector<std::string>& argv,
                              std::chrono::milliseconds timeout = std::chrono::seconds(10),
                              size_t max_output = 1 << 20);

}  // namespace cats
