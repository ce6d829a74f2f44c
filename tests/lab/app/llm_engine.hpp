// cats-app --llm: a synthetic LLM inference server with continuous batching, run on the
// CPU (draft-ietf-cats-usecases-requirements §4.5; issue 12: "a bounded batch, a queue,
// per-token time"). What a client of a vLLM-style server sees, and what it exports:
//
//   - at most `batch` requests run at once (the KV cache's sequence slots); the rest wait
//     in one FIFO queue (vllm:num_requests_waiting), beyond `queue_limit` refused;
//   - a request admitted to the batch gets its first token `prefill` after admission (the
//     prompt's prefill), then `tokens` more tokens, one every `per_token` (decode);
//     its slot frees with its last token and the queue's head is admitted at that instant.
//
// Time to first token = queue wait + prefill: with continuous batching the queue, not
// the utilisation, is what separates a good server from a bad one (a busy engine is at
// ~100 % GPU utilisation whatever its queue). The per-token time is constant: a real
// decode step grows with the batch, which here would only rescale a server's capacity
// (batch / (prefill + tokens · per_token) requests per second), so it is left out.
//
// LlmEngine is the model alone: no clock, no threads, no locks; every call takes the time
// and events carry their model time, so a late caller changes when an event is delivered,
// never when it happened (admissions chain from the exact time a slot freed). LlmRunner
// drives it on a thread against steady_clock and hands each event to its request's sink.
#pragma once

#include "accounting.hpp"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace cats::app {

struct LlmOptions {
  unsigned batch = 8;                                  // requests running at once, 1..1024
  Duration prefill = std::chrono::milliseconds(100);   // admission -> first token
  Duration per_token = std::chrono::milliseconds(10);  // each token after the first
  unsigned tokens = 16;                                // tokens after the first, 0..4096
  size_t queue_limit = 4096;                           // waiting requests; beyond: refused
  // GPU busy share (DCGM_FI_DEV_GPU_UTIL: time a kernel ran) over this window.
  Duration window = std::chrono::seconds(1);
};

struct LlmEvent {
  uint64_t id = 0;
  unsigned token = 0;  // 1 = the first token
  bool last = false;   // the request is complete (its slot is free)
  TimePoint at;        // model time of the token
};

struct LlmSnapshot {
  unsigned batch = 0;
  size_t running = 0;
  size_t waiting = 0;
  double gpu_busy = 0;  // share of the window with at least one request running, 0..1
  uint64_t requests_total = 0;  // completed
  uint64_t rejected_total = 0;  // queue full
};

class LlmEngine {
 public:
  LlmEngine(LlmOptions opt, TimePoint origin);

  const LlmOptions& options() const { return opt_; }
  // A new request at `now` (admitted at once if a slot is free): its id, or nullopt when
  // the queue is full.
  std::optional<uint64_t> submit(TimePoint now);
  // The client went away: a waiting request leaves the queue, a running one frees its
  // slot (as vLLM aborts a request whose client disconnected). Unknown ids are ignored.
  void cancel(uint64_t id, TimePoint now);
  // Every token due at or before `now`, in model-time order.
  std::vector<LlmEvent> advance(TimePoint now);
  // When the next token is due (nullopt: nothing running).
  std::optional<TimePoint> next_due() const;
  LlmSnapshot snapshot(TimePoint now) const;

 private:
  struct Running {
    uint64_t id;
    unsigned next_token;  // 1-based
    TimePoint next_at;
  };
  void admit(uint64_t id, TimePoint at);
  void admit_next(TimePoint slot_free);
  void set_busy(TimePoint at);

  LlmOptions opt_;
  uint64_t next_id_ = 1;
  struct Waiting {
    uint64_t id;
    TimePoint arrived;
  };
  std::vector<Running> running_;
  std::deque<Waiting> waiting_;
  LoadAccounting gpu_;  // one "worker": busy while anything runs
  bool busy_ = false;
  TimePoint busy_changed_;  // busy_'s last change: later changes never go back before it
  uint64_t rejected_ = 0;
};

// The engine on its own thread. A sink is called on that thread, outside the lock, for
// each of its request's tokens; it must not block (the server posts to its I/O thread).
class LlmRunner {
 public:
  using Sink = std::function<void(const LlmEvent&)>;
  explicit LlmRunner(LlmOptions opt);
  ~LlmRunner();  // stop()
  LlmRunner(const LlmRunner&) = delete;
  LlmRunner& operator=(const LlmRunner&) = delete;

  std::optional<uint64_t> submit(Sink sink);  // nullopt: queue full or stopping
  void cancel(uint64_t id);
  LlmSnapshot snapshot() const;
  const LlmOptions& options() const { return opt_; }
  void stop();  // idempotent; pending sinks are dropped uncalled

 private:
  void run();
  const LlmOptions opt_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  LlmEngine engine_;
  std::map<uint64_t, Sink> sinks_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cats::app
