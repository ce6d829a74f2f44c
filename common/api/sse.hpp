// Server-Sent Events (WHATWG HTML §9.2 "Server-sent events") for GET /api/v1/stream: one
// Hub per daemon, fed from the services thread (publish, tick), read by the API server
// threads through Subscriptions, each the api::StreamBody of one streamed answer.
//
// * Every message gets a global, increasing id when it is emitted; the last `ring` of them
//   are kept so a client reconnecting with Last-Event-ID gets what it missed, exactly once.
//   An id older than the ring (or from an earlier run: ids start at Options::first_id,
//   which the daemon takes from the wall clock) gets `event: reset` first: the client
//   reloads through the REST routes, then follows live.
// * Per topic at most `per_second` messages in any window of one second. A topic over its
//   budget keeps only the latest message per subject (a path, an instance...) and sends it
//   in the next free slot: what waits is bounded by the number of subjects (and by
//   max_pending), never a queue that grows with time. Subjects take turns in the order they
//   started waiting, so none starves however many there are.
// * At most max_streams Subscriptions at once (the route answers 503 beyond it). A
//   Subscription that falls max_lag messages behind ends (the session closes the
//   connection; the client resumes with Last-Event-ID).
//
// Thread-safe: one mutex around the hub's state; a Subscription's own cursor is touched by
// its session's thread only. The clock is injected so the rate limit and the keepalive are
// deterministic in tests.
#pragma once

#include "api/api.hpp"
#include "base/result.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cats::api::sse {

using Clock = std::function<std::chrono::steady_clock::time_point()>;

struct Options {
  size_t ring = 4096;            // messages kept for Last-Event-ID replay
  size_t per_second = 10;        // messages per topic in any one-second window
  // Subjects waiting per topic. Beyond it a new subject's value is dropped (and counted):
  // the oldest are next in line, and a sampled subject comes again in a second anyway.
  size_t max_pending = 4096;
  size_t max_streams = 32;       // Subscriptions at once
  size_t max_lag = 1024;         // messages a Subscription may be behind before it is ended
  size_t max_chunk = 64 * 1024;  // bytes one pull() returns at most
  std::chrono::milliseconds keepalive{15000};  // ": keepalive" after this long without a write
  uint64_t first_id = 1;         // id of the first message
};

// The topics of the stream, in the order of the route's default "paths,instances,decisions,events".
inline const std::vector<std::string>& topics() {
  static const std::vector<std::string> t{"paths", "instances", "decisions", "events"};
  return t;
}

// "paths,events" -> {"paths", "events"}; empty -> every topic. An unknown or empty name is
// an error (a typo must not silently subscribe to nothing).
Result<std::vector<std::string>> parse_topics(std::string_view s);
// A Last-Event-ID value (WHATWG: the id the client last saw): decimal uint64, nothing else.
Result<uint64_t> parse_last_event_id(std::string_view s);

// One SSE message as sent: "id: N\nevent: topic\ndata: json\n\n". `data` must be one line
// (serialised JSON is: its strings escape line breaks).
std::string frame(uint64_t id, std::string_view topic, std::string_view data);

class Subscription;

class Hub : public std::enable_shared_from_this<Hub> {
 public:
  static std::shared_ptr<Hub> make(Options o, Clock clock);

  // A new value for (topic, subject): emitted now if the topic has budget, else it replaces
  // that subject's waiting value. Any thread.
  void publish(std::string_view topic, std::string_view subject, std::string data);
  // Emits waiting values whose slot has come. Call often (the services' fast tick).
  void tick();

  // Ends every stream (their next pull() says end) and refuses new ones: the services
  // feeding this hub are going (a reload starts new ones, with a new hub). Clients
  // reconnect, and their ids, older than the new hub's first, get a reset.
  void close();

  // nullptr when max_streams are open or the hub is closed. last_event_id: the client's,
  // if it sent one.
  std::shared_ptr<Subscription> subscribe(std::vector<std::string> topics, std::optional<uint64_t> last_event_id);

  uint64_t last_id() const;
  size_t streams() const;
  uint64_t dropped() const;  // values refused because max_pending subjects were waiting
  const Options& options() const { return opt_; }

 private:
  friend class Subscription;
  Hub(Options o, Clock clock) : opt_(std::move(o)), clock_(std::move(clock)) {}

  struct Message {
    uint64_t id;
    std::string topic;
    std::string frame;
  };
  struct Topic {
    std::deque<std::chrono::steady_clock::time_point> sent;  // emission times in the last second
    std::map<std::string, std::string, std::less<>> pending;  // subject -> data
    std::deque<std::string> order;                           // pending subjects, oldest first
  };

  // Under mu_.
  bool has_budget(Topic& t, std::chrono::steady_clock::time_point now);
  void emit(std::string_view topic, Topic& t, std::string_view data, std::chrono::steady_clock::time_point now);
  void flush(std::string_view topic, Topic& t, std::chrono::steady_clock::time_point now);

  const Options opt_;
  const Clock clock_;
  mutable std::mutex mu_;
  std::map<std::string, Topic, std::less<>> topics_;
  std::deque<Message> ring_;  // consecutive ids
  uint64_t next_id_ = 0;      // set from opt_.first_id in make()
  size_t streams_ = 0;
  uint64_t dropped_ = 0;
  bool closed_ = false;
};

// One client's view of the hub, the body of its streamed answer. Not thread-safe: one
// session pulls it.
class Subscription final : public StreamBody {
 public:
  ~Subscription() override;
  Chunk pull() override;

 private:
  friend class Hub;
  Subscription(std::shared_ptr<Hub> hub, std::vector<std::string> topics, uint64_t cursor, bool reset)
      : hub_(std::move(hub)), topics_(std::move(topics)), cursor_(cursor), reset_(reset) {}
  bool wants(std::string_view topic) const;

  std::shared_ptr<Hub> hub_;
  std::vector<std::string> topics_;
  uint64_t cursor_;  // the last id this client has been given (or skipped)
  bool reset_;
  bool started_ = false;
  std::chrono::steady_clock::time_point last_write_{};
};

}  // namespace cats::api::sse
