#include "worker_pool.hpp"

#include <algorithm>

namespace cats::app {

WorkerPool::WorkerPool(Options opt)
    : opt_(opt),
      acc_(std::max(1u, opt.workers), Clock::now(), opt.accounting),
      background_(std::clamp(opt.background, 0.0, kMaxBackground)) {
  unsigned n = std::max(1u, opt_.workers);
  threads_.reserve(n);
  for (unsigned i = 0; i < n; ++i) threads_.emplace_back([this, i] { run(i); });
}

WorkerPool::~WorkerPool() { stop(); }

void WorkerPool::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    queue_.clear();
  }
  work_cv_.notify_all();
  stop_cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

bool WorkerPool::submit(Done done) {
  {
    std::lock_guard lk(mu_);
    if (stopping_ || queue_.size() >= opt_.queue_limit) {
      ++rejected_;
      return false;
    }
    queue_.push_back(Job{Clock::now(), std::move(done)});
  }
  work_cv_.notify_one();
  return true;
}

void WorkerPool::set_background(double fraction) {
  {
    std::lock_guard lk(mu_);
    background_ = std::clamp(fraction, 0.0, kMaxBackground);
  }
  // Idle workers wait for a deadline computed from the old rate; let them recompute.
  work_cv_.notify_all();
}

PoolSnapshot WorkerPool::snapshot() const {
  std::lock_guard lk(mu_);
  TimePoint now = Clock::now();
  PoolSnapshot s;
  s.vcpus = acc_.workers();
  s.busy_workers = acc_.busy_workers();
  s.utilization = acc_.utilization(now);
  s.delay = acc_.processing_delay(now);
  s.queue_depth = queue_.size();
  s.requests_total = acc_.requests_total();
  s.rejected_total = rejected_;
  s.background = background_;
  return s;
}

bool WorkerPool::occupy(std::unique_lock<std::mutex>& lk, TimePoint until) {
  // Only stop wakes this early; other notifications (new jobs) are for idle workers.
  return !stop_cv_.wait_until(lk, until, [this] { return stopping_; });
}

void WorkerPool::run(unsigned index) {
  std::unique_lock lk(mu_);
  // Background owed to this worker: accrues at `background_` per unit of wall time, busy
  // or not, and is paid back in slices, so over time exactly that fraction of the worker
  // is synthetic work and requests get the rest. Paid by measured time, so sleep overshoot
  // does not inflate it. Capped so a stall does not turn into a long burst afterwards.
  double owed_ns = 0;
  TimePoint last = Clock::now();
  const double min_slice = static_cast<double>(opt_.min_slice.count());
  const double max_owed = 10 * static_cast<double>(opt_.max_slice.count());
  // The rate that applied since `last`: set_background wakes idle workers, so a change
  // from 0 to 0.5 does not bill the idle time before it as owed background (a burst).
  double rate = background_;
  auto accrue = [&](TimePoint now) {
    owed_ns = std::min(max_owed, owed_ns + rate * static_cast<double>((now - last).count()));
    last = now;
    rate = background_;
  };
  while (!stopping_) {
    TimePoint now = Clock::now();
    accrue(now);
    if (owed_ns >= min_slice) {
      auto slice = std::min<Duration>(Duration(static_cast<int64_t>(owed_ns)), opt_.max_slice);
      // Woken for a job but due for background: pass the job on to another idle worker
      // (only idle workers wait on work_cv_) instead of letting it wait for this slice.
      if (!queue_.empty()) work_cv_.notify_one();
      acc_.busy_begin(index, now);
      bool alive = occupy(lk, now + slice);
      TimePoint end = Clock::now();
      acc_.busy_end(index, end);
      if (!alive) break;
      accrue(end);
      // May go negative: a sleep that overran is credited against the next slice, or the
      // overrun (~0.1 ms per 5 ms slice) would show as a few percent too much load.
      owed_ns = std::max(-max_owed, owed_ns - static_cast<double>((end - now).count()));
      continue;
    }
    if (!queue_.empty()) {
      Job job = std::move(queue_.front());
      queue_.pop_front();
      acc_.busy_begin(index, now);
      bool alive = occupy(lk, now + opt_.service);
      TimePoint end = Clock::now();
      acc_.busy_end(index, end);
      if (!alive) break;
      acc_.request_done(job.enqueued, end);
      lk.unlock();
      job.done();  // outside the lock: it may take the server's locks
      lk.lock();
      continue;
    }
    // Idle: until a request arrives, the background rate changes, or the next slice is due.
    if (background_ > 0) {
      auto wait = Duration(static_cast<int64_t>((min_slice - owed_ns) / background_) + 1);
      work_cv_.wait_until(lk, now + wait);
    } else {
      work_cv_.wait(lk);
    }
  }
}

}  // namespace cats::app
