#include "api/sse.hpp"

#include <algorithm>
#include <charconv>

namespace cats::api::sse {

using std::chrono::steady_clock;

Result<std::vector<std::string>> parse_topics(std::string_view s) {
  std::vector<std::string> out;
  if (s.empty()) return topics();
  while (true) {
    auto comma = s.find(',');
    auto name = s.substr(0, comma);
    const auto& all = topics();
    if (std::find(all.begin(), all.end(), name) == all.end())
      return Error::msg("topics: unknown topic '" + std::string(name.substr(0, 32)) +
                        "' (expected paths, instances, decisions, events)");
    if (std::find(out.begin(), out.end(), name) == out.end()) out.emplace_back(name);
    if (comma == std::string_view::npos) break;
    s = s.substr(comma + 1);
  }
  return out;
}

Result<uint64_t> parse_last_event_id(std::string_view s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size())
    return Error::msg("Last-Event-ID: expected an unsigned decimal integer");
  return v;
}

std::string frame(uint64_t id, std::string_view topic, std::string_view data) {
  std::string out;
  out.reserve(data.size() + topic.size() + 40);
  out += "id: ";
  out += std::to_string(id);
  out += "\nevent: ";
  out += topic;
  out += "\ndata: ";
  out += data;
  out += "\n\n";
  return out;
}

std::shared_ptr<Hub> Hub::make(Options o, Clock clock) {
  if (o.ring == 0) o.ring = 1;
  if (o.per_second == 0) o.per_second = 1;
  if (o.first_id == 0) o.first_id = 1;  // 0 is "nothing seen yet" for the cursor arithmetic
  std::shared_ptr<Hub> h(new Hub(std::move(o), std::move(clock)));
  h->next_id_ = h->opt_.first_id;
  return h;
}

bool Hub::has_budget(Topic& t, steady_clock::time_point now) {
  // A sliding window, not a token bucket: a bucket of 10 refilled at 10/s lets 20 through
  // in the second after a quiet one; "at most 10 per second" must hold for any second.
  while (!t.sent.empty() && now - t.sent.front() >= std::chrono::seconds(1)) t.sent.pop_front();
  return t.sent.size() < opt_.per_second;
}

void Hub::emit(std::string_view topic, Topic& t, std::string_view data, steady_clock::time_point now) {
  t.sent.push_back(now);
  const uint64_t id = next_id_++;
  ring_.push_back({id, std::string(topic), frame(id, topic, data)});
  while (ring_.size() > opt_.ring) ring_.pop_front();
}

void Hub::flush(std::string_view topic, Topic& t, steady_clock::time_point now) {
  while (!t.order.empty() && has_budget(t, now)) {
    auto it = t.pending.find(t.order.front());
    emit(topic, t, it->second, now);
    t.pending.erase(it);
    t.order.pop_front();
  }
}

void Hub::publish(std::string_view topic, std::string_view subject, std::string data) {
  const auto now = clock_();
  std::lock_guard lk(mu_);
  auto& t = topics_.try_emplace(std::string(topic)).first->second;
  flush(topic, t, now);  // older waiting values go first
  if (t.order.empty() && has_budget(t, now)) return emit(topic, t, data, now);
  if (auto it = t.pending.find(subject); it != t.pending.end()) {
    it->second = std::move(data);  // coalesced: only the latest value of a subject waits
    return;
  }
  if (t.order.size() >= opt_.max_pending) {
    ++dropped_;
    return;
  }
  t.pending.emplace(std::string(subject), std::move(data));
  t.order.emplace_back(subject);
}

void Hub::tick() {
  const auto now = clock_();
  std::lock_guard lk(mu_);
  for (auto& [name, t] : topics_) flush(name, t, now);
}

void Hub::close() {
  std::lock_guard lk(mu_);
  closed_ = true;
}

std::shared_ptr<Subscription> Hub::subscribe(std::vector<std::string> topics, std::optional<uint64_t> last_event_id) {
  std::lock_guard lk(mu_);
  if (closed_ || streams_ >= opt_.max_streams) return nullptr;
  const uint64_t last = next_id_ - 1;
  const uint64_t oldest = ring_.empty() ? next_id_ : ring_.front().id;
  uint64_t cursor = last;
  bool reset = false;
  if (last_event_id) {
    // Replayable: every id after it is still in the ring. Newer than anything emitted: an
    // id of an earlier run (ids restart from the wall clock), so it is as good as unknown.
    if (*last_event_id + 1 >= oldest && *last_event_id <= last)
      cursor = *last_event_id;
    else
      reset = true;
  }
  ++streams_;
  return std::shared_ptr<Subscription>(new Subscription(shared_from_this(), std::move(topics), cursor, reset));
}

uint64_t Hub::last_id() const {
  std::lock_guard lk(mu_);
  return next_id_ - 1;
}

uint64_t Hub::dropped() const {
  std::lock_guard lk(mu_);
  return dropped_;
}

size_t Hub::streams() const {
  std::lock_guard lk(mu_);
  return streams_;
}

Subscription::~Subscription() {
  std::lock_guard lk(hub_->mu_);
  --hub_->streams_;
}

bool Subscription::wants(std::string_view topic) const {
  return std::find(topics_.begin(), topics_.end(), topic) != topics_.end();
}

StreamBody::Chunk Subscription::pull() {
  Chunk out;
  const auto now = hub_->clock_();
  if (!started_) {
    // The reconnection delay a browser's EventSource waits after a drop (WHATWG 9.2.6).
    out.bytes = "retry: 2000\n\n";
    started_ = true;
  }
  {
    std::lock_guard lk(hub_->mu_);
    const auto& ring = hub_->ring_;
    if (reset_) {
      // The id is the newest message's: a client that drops again resumes after it.
      out.bytes += "id: " + std::to_string(cursor_) + "\nevent: reset\ndata: {\"last_event_id\":" +
                   std::to_string(cursor_) + "}\n\n";
      reset_ = false;
    }
    const uint64_t last = hub_->next_id_ - 1;
    const uint64_t oldest = ring.empty() ? hub_->next_id_ : ring.front().id;
    if (hub_->closed_ || cursor_ + 1 < oldest || last - cursor_ > hub_->opt_.max_lag) {
      // Too slow: what it missed is gone (or soon will be). Ending lets it resume with
      // Last-Event-ID, which replays or resets, instead of silently skipping messages.
      out.end = true;
      return out;
    }
    for (size_t i = static_cast<size_t>(cursor_ + 1 - oldest); i < ring.size(); ++i) {
      const auto& m = ring[i];
      if (out.bytes.size() + m.frame.size() > hub_->opt_.max_chunk && !out.bytes.empty()) break;
      cursor_ = m.id;
      if (wants(m.topic)) out.bytes += m.frame;
    }
  }
  if (out.bytes.empty() && now - last_write_ >= hub_->opt_.keepalive) out.bytes = ": keepalive\n\n";
  if (!out.bytes.empty()) last_write_ = now;
  return out;
}

}  // namespace cats::api::sse
