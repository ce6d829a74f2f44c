// Handler work that must not run on a server's thread: the servers run every connection on
// one thread each (api/session.hpp), so a 75 ms Argon2id hash there stalls every other
// request by as much. One worker thread and a bounded queue: submit() returns at once, with
// a deferred answer (api::Deferred) or, when max_queued jobs wait already, a 503, so a burst
// of logins costs a bounded queue, never unbounded memory or a stalled server.
#pragma once

#include "api/api.hpp"

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace cats::api {

class Offload {
 public:
  // `name` names the thread (ps -L, gdb) and the log lines; at most 15 characters are kept.
  explicit Offload(std::string name, size_t max_queued = kDefaultQueue);
  // Refuses new work; queued jobs answer 503 without running; the running one finishes.
  ~Offload();
  Offload(const Offload&) = delete;
  Offload& operator=(const Offload&) = delete;

  // `work` runs on the worker thread; its answer (or a 500 when it throws) is the request's.
  // It must copy what it needs from the request and from thread-locals (the guard's
  // principal) before: it runs after the handler has returned. When the queue is full:
  // 503 with Retry-After: 1, and `work` never runs.
  Response submit(std::function<Response()> work);
  // Jobs waiting, not counting the one running.
  size_t queued() const;

  // Eight waiting logins are about 0.6 s of Argon2id at 74 ms each (docs/ARCHITECTURE.md
  // "Passwords"): beyond that a client is better told to retry than kept waiting.
  static constexpr size_t kDefaultQueue = 8;

 private:
  struct Job {
    std::function<Response()> work;
    std::shared_ptr<Deferred> answer;
  };
  void loop();

  const std::string name_;
  const size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cats::api
