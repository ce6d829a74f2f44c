#include "stamp/path_stats.hpp"

#include <algorithm>
#include <cmath>

namespace cats::stamp {

std::string_view to_string(PathState s) {
  switch (s) {
    case PathState::unknown: return "unknown";
    case PathState::up: return "up";
    case PathState::down: return "down";
  }
  return "?";
}

const char* validate(const StatsConfig& c) {
  if (c.window_probes < 1 || c.window_probes > 10'000) return "window_probes must be 1..10000";
  if (c.timeout.count() <= 0) return "timeout must be positive";
  if (c.min_timeout.count() <= 0 || c.min_timeout > c.timeout) return "min_timeout must be in (0, timeout]";
  if (c.window_age <= c.timeout) return "window_age must exceed timeout";
  if (!(c.rtt_alpha > 0 && c.rtt_alpha <= 1)) return "rtt_alpha must be in (0, 1]";
  if (!(c.jitter_gain > 0 && c.jitter_gain <= 1)) return "jitter_gain must be in (0, 1]";
  if (c.down_after < 1) return "down_after must be >= 1";
  if (c.up_after < 1) return "up_after must be >= 1";
  return nullptr;
}

PathStats::PathStats(StatsConfig cfg) : cfg_(cfg) {}

std::optional<StateChange> PathStats::transition(PathState to, uint32_t seq, SteadyTime now) {
  if (state_ == to) return std::nullopt;
  StateChange c{state_, to, seq, now};
  state_ = to;
  return c;
}

std::optional<StateChange> PathStats::record_loss(Probe& p, SteadyTime now) {
  p.outcome = Outcome::lost;
  ++lost_;
  consecutive_good_ = 0;
  ++consecutive_losses_;
  if (state_ != PathState::down && consecutive_losses_ >= cfg_.down_after)
    return transition(PathState::down, p.seq, now);
  return std::nullopt;
}

void PathStats::trim(SteadyTime now) {
  // Pending probes are resolved by expire() before they can age out (window_age >
  // timeout); a pending probe pushed out by count is resolved in on_sent() instead.
  while (!window_.empty() && window_.front().outcome != Outcome::pending &&
         (window_.size() > cfg_.window_probes || now - window_.front().sent_at > cfg_.window_age))
    window_.pop_front();
}

std::chrono::nanoseconds PathStats::current_timeout() const {
  using namespace std::chrono;
  if (!srtt_ms_) return cfg_.timeout;
  auto rto = duration<double, std::milli>(*srtt_ms_ + 4 * deadline_jitter_ms_ + 50.0);
  auto t = duration_cast<nanoseconds>(rto);
  return std::clamp<nanoseconds>(t, cfg_.min_timeout, cfg_.timeout);
}

std::optional<StateChange> PathStats::on_sent(uint32_t seq, SteadyTime now) {
  std::optional<StateChange> change;
  auto keep = [&](std::optional<StateChange> c) {
    if (c) change = c;
  };
  // A reused seq would make replies ambiguous; the older probe is given up as lost.
  for (auto& p : window_)
    if (p.seq == seq && p.outcome == Outcome::pending) keep(record_loss(p, now));
  // Making room: a pending probe pushed out of a full window will never be matched.
  while (window_.size() >= cfg_.window_probes) {
    if (window_.front().outcome == Outcome::pending) keep(record_loss(window_.front(), now));
    window_.pop_front();
  }
  window_.push_back(Probe{seq, now, now + current_timeout(), Outcome::pending, 0});
  ++sent_;
  trim(now);
  return change;
}

std::optional<StateChange> PathStats::on_send_error(uint32_t seq, SteadyTime now) {
  auto change = on_sent(seq, now);
  auto c = record_loss(window_.back(), now);
  return c ? c : change;
}

double PathStats::rtt_of(const Probe& p, SteadyTime now, std::chrono::nanoseconds reflector_dwell) {
  // The reflector cannot have held the packet longer than the whole round trip; a dwell
  // outside [0, round trip] means its clock stepped between T2 and T3, so it is ignored.
  const auto round_trip = now - p.sent_at;
  auto dwell = std::chrono::duration_cast<std::chrono::steady_clock::duration>(reflector_dwell);
  if (dwell.count() < 0 || dwell > round_trip) dwell = {};
  return std::chrono::duration<double, std::milli>(round_trip - dwell).count();
}

void PathStats::note_rtt(double rtt) {
  srtt_ms_ = srtt_ms_ ? *srtt_ms_ + cfg_.rtt_alpha * (rtt - *srtt_ms_) : rtt;
  if (last_rtt_ms_)
    deadline_jitter_ms_ += (std::fabs(rtt - *last_rtt_ms_) - deadline_jitter_ms_) * cfg_.jitter_gain;
  last_rtt_ms_ = rtt;
  // The pending sample now has both neighbours. The first one has only this one, and is
  // judged by it alone: a path's first reply carries its tunnel's start (WireGuard's
  // handshake on the first packet, first-packet work in the hops), 5-20 ms over the next
  // ones in the lab, and a first sample the EWMA starts from takes a second to forget.
  if (pending_rtt_ms_) {
    double judged = *pending_rtt_ms_;
    const double higher = std::max(rtt, fed_rtt_ms_.value_or(rtt));
    if (judged - higher > spike_threshold()) {
      judged = higher;
      ++spikes_;
    }
    feed(judged);
  }
  pending_rtt_ms_ = rtt;
}

double PathStats::spike_threshold() const { return std::max(1.0, 4 * jitter_ms_); }

void PathStats::feed(double rtt) {
  rtt_ms_ = rtt_ms_ ? *rtt_ms_ + cfg_.rtt_alpha * (rtt - *rtt_ms_) : rtt;
  if (fed_rtt_ms_) jitter_ms_ += (std::fabs(rtt - *fed_rtt_ms_) - jitter_ms_) * cfg_.jitter_gain;
  fed_rtt_ms_ = rtt;
}

ReplyResult PathStats::on_reply(uint32_t seq, SteadyTime now,
                                std::chrono::nanoseconds reflector_dwell) {
  ReplyResult r;
  // Newest first: the matching probe is almost always among the last few.
  auto it = std::find_if(window_.rbegin(), window_.rend(), [&](const Probe& p) { return p.seq == seq; });
  if (it == window_.rend() || now < it->sent_at) {
    ++unknown_;
    r.kind = ReplyKind::unknown;
    return r;
  }
  if (it->outcome == Outcome::lost) {
    ++late_;
    r.kind = ReplyKind::late;
    // The loss stands, but the RTT sample is real: feeding it to srtt and jitter lets the
    // deadline grow to a path whose RTT stepped above it, which would otherwise lose every
    // probe (and stay down) for as long as the step lasts.
    note_rtt(rtt_of(*it, now, reflector_dwell));
    return r;
  }
  if (it->outcome == Outcome::received) {
    ++duplicate_;
    r.kind = ReplyKind::duplicate;
    return r;
  }
  const double rtt = rtt_of(*it, now, reflector_dwell);
  it->outcome = Outcome::received;
  it->rtt_ms = rtt;
  ++received_;
  r.kind = ReplyKind::ok;
  note_rtt(rtt);

  consecutive_losses_ = 0;
  ++consecutive_good_;
  if (state_ == PathState::unknown ||
      (state_ == PathState::down && consecutive_good_ >= cfg_.up_after))
    r.change = transition(PathState::up, seq, now);
  return r;
}

std::optional<StateChange> PathStats::expire(SteadyTime now) {
  std::optional<StateChange> change;
  for (auto& p : window_) {
    if (p.outcome != Outcome::pending || now < p.deadline) continue;
    if (auto c = record_loss(p, now)) change = c;
  }
  trim(now);
  return change;
}

std::optional<SteadyTime> PathStats::next_deadline() const {
  std::optional<SteadyTime> first;  // deadlines adapt, so not necessarily in send order
  for (const auto& p : window_)
    if (p.outcome == Outcome::pending && (!first || p.deadline < *first)) first = p.deadline;
  return first;
}

PathSnapshot PathStats::snapshot() const {
  PathSnapshot s;
  s.state = state_;
  s.rtt_ms = rtt_ms_ ? rtt_ms_ : pending_rtt_ms_;  // the first sample as is until judged
  s.spikes = spikes_;
  s.jitter_ms = jitter_ms_;
  s.sent = sent_;
  s.received = received_;
  s.lost = lost_;
  s.late = late_;
  s.duplicate = duplicate_;
  s.unknown = unknown_;
  std::size_t ok = 0, bad = 0;
  double sum = 0, mn = 0, mx = 0;
  for (const auto& p : window_) {
    if (p.outcome == Outcome::lost) ++bad;
    if (p.outcome != Outcome::received) continue;
    mn = ok ? std::min(mn, p.rtt_ms) : p.rtt_ms;
    mx = ok ? std::max(mx, p.rtt_ms) : p.rtt_ms;
    sum += p.rtt_ms;
    ++ok;
  }
  if (ok) {
    s.rtt_min_ms = mn;
    s.rtt_max_ms = mx;
    s.rtt_avg_ms = sum / static_cast<double>(ok);
  }
  if (ok + bad) s.loss_pct = 100.0 * static_cast<double>(bad) / static_cast<double>(ok + bad);
  return s;
}

}  // namespace cats::stamp
