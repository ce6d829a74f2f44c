#include "llm_engine.hpp"

#include <algorithm>

namespace cats::app {

namespace {
LoadAccounting::Options gpu_accounting(const LlmOptions& o) {
  LoadAccounting::Options a;
  a.window = o.window;
  return a;
}
}  // namespace

LlmEngine::LlmEngine(LlmOptions opt, TimePoint origin)
    : opt_(opt), gpu_(1, origin, gpu_accounting(opt)), busy_changed_(origin) {
  opt_.batch = std::max(1u, opt_.batch);
  running_.reserve(opt_.batch);
}

void LlmEngine::set_busy(TimePoint at) {
  bool busy = !running_.empty();
  if (busy == busy_) return;
  busy_ = busy;
  // A cancel runs at the caller's now, which may be later than tokens not yet advanced:
  // the busy intervals stay in order.
  busy_changed_ = std::max(busy_changed_, at);
  if (busy) gpu_.busy_begin(0, busy_changed_);
  else gpu_.busy_end(0, busy_changed_);
}

void LlmEngine::admit(uint64_t id, TimePoint at) {
  running_.push_back(Running{id, 1, at + opt_.prefill});
  set_busy(at);
}

void LlmEngine::admit_next(TimePoint slot_free) {
  if (waiting_.empty()) return;
  Waiting w = waiting_.front();
  waiting_.pop_front();
  // A request submitted after the slot freed (its caller had not advanced yet) waited
  // for nothing: admitted when it arrived, never before.
  admit(w.id, std::max(slot_free, w.arrived));
}

std::optional<uint64_t> LlmEngine::submit(TimePoint now) {
  if (running_.size() < opt_.batch && waiting_.empty()) {
    uint64_t id = next_id_++;
    admit(id, now);
    return id;
  }
  if (waiting_.size() >= opt_.queue_limit) {
    ++rejected_;
    return std::nullopt;
  }
  uint64_t id = next_id_++;
  waiting_.push_back(Waiting{id, now});
  return id;
}

void LlmEngine::cancel(uint64_t id, TimePoint now) {
  if (auto w = std::find_if(waiting_.begin(), waiting_.end(), [&](const Waiting& x) { return x.id == id; });
      w != waiting_.end()) {
    waiting_.erase(w);
    return;
  }
  auto r = std::find_if(running_.begin(), running_.end(), [&](const Running& x) { return x.id == id; });
  if (r == running_.end()) return;
  running_.erase(r);
  admit_next(now);
  set_busy(now);
}

std::vector<LlmEvent> LlmEngine::advance(TimePoint now) {
  std::vector<LlmEvent> out;
  for (;;) {
    auto it = std::min_element(running_.begin(), running_.end(),
                               [](const Running& a, const Running& b) { return a.next_at < b.next_at; });
    if (it == running_.end() || it->next_at > now) break;
    LlmEvent ev{it->id, it->next_token, it->next_token > opt_.tokens, it->next_at};
    out.push_back(ev);
    if (!ev.last) {
      ++it->next_token;
      it->next_at += opt_.per_token;
      continue;
    }
    running_.erase(it);
    gpu_.request_done(ev.at, ev.at);  // counts completions (the delay figure is unused)
    // The slot is free at the last token's model time, not when advance() runs.
    admit_next(ev.at);
    set_busy(ev.at);
  }
  return out;
}

std::optional<TimePoint> LlmEngine::next_due() const {
  auto it = std::min_element(running_.begin(), running_.end(),
                             [](const Running& a, const Running& b) { return a.next_at < b.next_at; });
  if (it == running_.end()) return std::nullopt;
  return it->next_at;
}

LlmSnapshot LlmEngine::snapshot(TimePoint now) const {
  LlmSnapshot s;
  s.batch = opt_.batch;
  s.running = running_.size();
  s.waiting = waiting_.size();
  s.gpu_busy = gpu_.utilization(now);
  s.requests_total = gpu_.requests_total();
  s.rejected_total = rejected_;
  return s;
}

// ---- runner -------------------------------------------------------------------------

LlmRunner::LlmRunner(LlmOptions opt) : opt_(opt), engine_(opt, Clock::now()) {
  thread_ = std::thread([this] { run(); });
}

LlmRunner::~LlmRunner() { stop(); }

void LlmRunner::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    sinks_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<uint64_t> LlmRunner::submit(Sink sink) {
  std::optional<uint64_t> id;
  {
    std::lock_guard lk(mu_);
    if (stopping_) return std::nullopt;
    id = engine_.submit(Clock::now());
    if (id) sinks_.emplace(*id, std::move(sink));
  }
  if (id) cv_.notify_one();  // a new first-token deadline, perhaps the earliest
  return id;
}

void LlmRunner::cancel(uint64_t id) {
  {
    std::lock_guard lk(mu_);
    engine_.cancel(id, Clock::now());
    sinks_.erase(id);
  }
  cv_.notify_one();
}

LlmSnapshot LlmRunner::snapshot() const {
  std::lock_guard lk(mu_);
  return engine_.snapshot(Clock::now());
}

void LlmRunner::run() {
  std::unique_lock lk(mu_);
  std::vector<std::pair<Sink, LlmEvent>> calls;
  while (!stopping_) {
    auto next = engine_.next_due();
    if (!next) {
      cv_.wait(lk);
      continue;
    }
    if (Clock::now() < *next) {
      cv_.wait_until(lk, *next);
      continue;  // woken early (a submit, a cancel, stop): recompute
    }
    for (const auto& ev : engine_.advance(Clock::now())) {
      auto it = sinks_.find(ev.id);
      if (it == sinks_.end()) continue;
      // Copied (a lambda holding a session pointer): a cancel may erase the entry once
      // the lock is released.
      calls.emplace_back(it->second, ev);
      if (ev.last) sinks_.erase(it);
    }
    lk.unlock();
    for (auto& [sink, ev] : calls) sink(ev);
    calls.clear();  // outside the lock: a sink's captures may take the server's locks
    lk.lock();
  }
}

}  // namespace cats::app
