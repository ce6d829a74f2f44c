#include "api/offload.hpp"

#include "base/log.hpp"

#include <pthread.h>

#include <exception>

namespace cats::api {

namespace {

Response unavailable(const std::string& why) {
  auto r = Response::error(503, "unavailable", why);
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

}  // namespace

Offload::Offload(std::string name, size_t max_queued)
    : name_(std::move(name)), max_queued_(max_queued), thread_([this] { loop(); }) {}

Offload::~Offload() {
  std::deque<Job> left;
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    left.swap(jobs_);
  }
  cv_.notify_all();
  for (auto& j : left) j.answer->fulfil(unavailable("shutting down"));
  thread_.join();
}

Response Offload::submit(std::function<Response()> work) {
  auto answer = std::make_shared<Deferred>();
  {
    std::lock_guard lk(mu_);
    if (stopping_) return unavailable("shutting down");
    if (jobs_.size() >= max_queued_) {
      log::warn("api", name_ + ": " + std::to_string(jobs_.size()) + " jobs waiting; refusing another (503)");
      return unavailable("busy: too many requests waiting for " + name_ + "; retry in a second");
    }
    jobs_.push_back({std::move(work), answer});
  }
  cv_.notify_one();
  return Response::later(std::move(answer));
}

size_t Offload::queued() const {
  std::lock_guard lk(mu_);
  return jobs_.size();
}

void Offload::loop() {
  ::pthread_setname_np(::pthread_self(), name_.substr(0, 15).c_str());
  for (;;) {
    Job job;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and the destructor took what was left
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    Response out;
    try {
      out = job.work();
    } catch (const std::exception& e) {
      log::error("api", name_ + ": job failed: " + e.what());
      out = Response::error(500, std::string("internal error: ") + e.what());
    } catch (...) {
      log::error("api", name_ + ": job failed");
      out = Response::error(500, "internal error");
    }
    job.answer->fulfil(std::move(out));
  }
}

}  // namespace cats::api
