// The app's "vCPUs": N worker threads taking requests from one bounded FIFO queue, plus
// synthetic background jobs occupying a set fraction of each worker's time.
//
// Service time is a sleep, not a busy-spin: what the lab needs from a worker is that it
// is occupied (requests queue behind it), and spinning would burn the real CPU that this
// small host's namespaces, impairment tool and daemons need, distorting everything else.
// The sleeps wait on a condition variable so shutdown does not wait for them.
#pragma once

#include "accounting.hpp"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace cats::app {

struct PoolSnapshot {
  unsigned vcpus = 0;
  unsigned busy_workers = 0;
  double utilization = 0;
  DelayStats delay;
  size_t queue_depth = 0;
  uint64_t requests_total = 0;
  uint64_t rejected_total = 0;  // refused because the queue was full
  double background = 0;
};

class WorkerPool {
 public:
  struct Options {
    unsigned workers = 1;
    Duration service = std::chrono::milliseconds(10);
    size_t queue_limit = 4096;
    double background = 0;  // fraction of each worker's time, 0 .. kMaxBackground
    // Background is paid in slices between requests: a worker waits until it owes at least
    // min_slice and then stays busy for at most max_slice before it looks at the queue
    // again, so real requests see background as queueing delay of a few ms per slice.
    Duration min_slice = std::chrono::milliseconds(5);
    Duration max_slice = std::chrono::milliseconds(10);
    LoadAccounting::Options accounting{};
  };
  static constexpr double kMaxBackground = 0.99;

  // Called on the worker thread once the request's service time has passed. It must not
  // block (the server posts the reply to its I/O thread).
  using Done = std::function<void()>;

  explicit WorkerPool(Options opt);
  ~WorkerPool();  // stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // false when the queue is full or the pool is stopping; done is then never called.
  bool submit(Done done);
  // Clamped to 0 .. kMaxBackground.
  void set_background(double fraction);
  PoolSnapshot snapshot() const;
  // Idempotent. Queued requests are dropped without calling done; the service sleep of a
  // request in progress is cut short and its done is not called either.
  void stop();

 private:
  struct Job {
    TimePoint enqueued;
    Done done;
  };
  void run(unsigned index);
  // Sleeps until `until` or stop; false when stopping. Called with the lock held.
  bool occupy(std::unique_lock<std::mutex>& lk, TimePoint until);

  const Options opt_;
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable work_cv_;  // idle workers: a job, a new background rate, stop
  // Busy workers wait only for stop here, so a job's notify_one never lands on a worker
  // that cannot take it.
  std::condition_variable stop_cv_;
  std::deque<Job> queue_;
  LoadAccounting acc_;
  double background_;
  uint64_t rejected_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace cats::app
