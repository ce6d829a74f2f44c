// Per-path probe statistics and up/down state: pure, single-threaded, every instant is a
// parameter (no hidden clock), every result is a return value (no callbacks).
//
// Feed it: on_sent() for each probe, on_reply() for each decoded reply, on_send_error()
// when a probe could not leave, and expire() at (or after) next_deadline().
//
// Definitions (DESIGN.md §3 "Path probes"):
//  * RTT sample = (T4 - T1) - (T3 - T2): local round trip on the steady clock minus the
//    reflector's dwell time reported in its own timestamps (RFC 8762 §4.3, as TWAMP's
//    RFC 5357 §4.2.1 uses them). Only differences of one clock's readings are used, so no
//    clock synchronisation is needed. T4 is the kernel's arrival stamp of the reply
//    (SIOCGSTAMPNS) moved onto the steady clock (sender.hpp arrival_time), so time a
//    reply spent queued while the prober did not run is not counted; T2 is the
//    reflector's kernel stamp likewise (SO_TIMESTAMPNS).
//  * Smoothed RTT: EWMA, rtt += alpha * (sample - rtt), first sample taken as is.
//  * Jitter: RFC 3550 §6.4.1 estimator applied to consecutive RTT samples (in arrival
//    order): D = sample_i - sample_{i-1}; J += (|D| - J) * gain; gain defaults to 1/16.
//  * Isolated spikes: the reported RTT and jitter (what steering prices and SLAs check)
//    take each sample one sample late: a sample above *both* its neighbours by more than
//    max(1 ms, 4 x J) is an isolated spike and counts as the higher neighbour. Why: one
//    probe held up by a scheduler (the prober's, the reflector's, a user-space hop: tens
//    of ms on a busy box) moved the RTT by alpha x that delay and the jitter by twice
//    gain x that delay, and the selector re-steered on it as a path getting slower
//    (lab.steering, issue 8: a ~24 ms hiccup on a 0.8 ms path, "rtt 0.8 -> 6.6 ms",
//    weights to a distorted target, nine settling steps back). A single delayed probe is
//    not a slower path; two in a row are (a real step is seen one probe later, 50 ms at
//    the CPE's rate). For i.i.d. jitter the rule is all but inert (an excess of 4 J ≈
//    4.5 sigma over both neighbours), so J keeps its RFC 3550 meaning. Only upward: a
//    round trip cannot be faster than the path. `spikes` counts them. The first sample
//    has one neighbour and is judged by it alone (a tunnel's first packet waits for its
//    handshake: 5-20 ms over the path in the lab).
//  * The loss deadline uses its own srtt and jitter over every raw sample, at once: a
//    late reply must grow the deadline right away (RFC 6298 §2 uses every sample).
//  * Window: the last `window_probes` probes sent, and none older than `window_age`.
//    Loss % = lost / (received + lost) over the window's resolved probes; pending probes
//    count for neither. min/avg/max RTT are over the window's received probes.
//  * Loss: a probe unanswered by its deadline, fixed when it is sent: the RFC 6298 §2
//    shape srtt + 4 x jitter + 50 ms, clamped to [min_timeout, timeout] (100..300 ms by
//    default here; the CPE configures 50..300, config::Probing; before the first reply,
//    `timeout`). Why adaptive: worst case from a path failing to the down_after-th loss
//    being declared is down_after intervals + the deadline (the failure lands just after
//    a reply, so the first lost probe leaves up to one interval later). The CPE's 50 ms x
//    2 + ~51 ms on a short path is ~150 ms, under a TCP sender's first retransmission
//    (~200 ms, Linux's minimum RTO), which is what a moved flow waits for
//    (docs/BENCHMARKS.md "Failover"); a long path still gets up to 300 ms before a
//    slow-but-working probe is called lost, and the 50 ms margin keeps a sudden RTT
//    step of tens of ms from looking like a loss.
//  * A reply for a probe already counted lost is `late`: the loss stands (undoing it
//    would let the state machine flap backwards in time), but its RTT sample feeds srtt
//    and jitter, so the deadline follows a path whose RTT stepped above it instead of
//    losing every probe for as long as the step lasts. A second reply for the same probe
//    is a `duplicate`; a reply for a seq not in the window is `unknown`; these two change
//    no statistics.
//  * State: unknown until the first reply or the first run of `down_after` consecutive
//    losses; up -> down after `down_after` consecutive losses; down -> up after `up_after`
//    consecutive good replies (hold-down against flapping). "Consecutive" is in the order
//    probes are resolved (reply received or timeout declared).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string_view>

namespace cats::stamp {

using SteadyTime = std::chrono::steady_clock::time_point;

enum class PathState { unknown, up, down };
std::string_view to_string(PathState s);

struct StatsConfig {
  std::size_t window_probes = 100;
  std::chrono::milliseconds window_age{10'000};
  std::chrono::milliseconds timeout{300};      // upper bound of a probe's deadline ("Loss")
  std::chrono::milliseconds min_timeout{100};  // lower bound; = timeout for a fixed deadline
  // Twice RFC 6298's 1/8: at 10 probes/s a step in RTT is 90% visible after 8 probes
  // (0.8 s) instead of 17 (1.7 s), which a failover decision needs; jitter is smoothed apart.
  double rtt_alpha = 0.25;
  double jitter_gain = 1.0 / 16.0;         // RFC 3550 §6.4.1
  unsigned down_after = 3;                 // consecutive losses
  unsigned up_after = 5;                   // consecutive good replies while down
};

// Valid configs: window_probes in 1..10000, window_age > timeout > 0, alpha and gain in
// (0, 1], down_after >= 1, up_after >= 1. Returns nullptr or what is wrong.
const char* validate(const StatsConfig& c);

struct StateChange {
  PathState from = PathState::unknown;
  PathState to = PathState::unknown;
  uint32_t seq = 0;  // the probe whose outcome caused the change
  SteadyTime at{};
  friend bool operator==(const StateChange&, const StateChange&) = default;
};

enum class ReplyKind { ok, late, duplicate, unknown };

struct ReplyResult {
  ReplyKind kind = ReplyKind::unknown;
  std::optional<StateChange> change;
};

struct PathSnapshot {
  PathState state = PathState::unknown;
  std::optional<double> rtt_ms;  // smoothed; empty until the first reply
  std::optional<double> rtt_min_ms, rtt_avg_ms, rtt_max_ms;  // window; empty if no reply in it
  double jitter_ms = 0;
  double loss_pct = 0;  // over the window's resolved probes; 0 when none resolved
  uint64_t sent = 0, received = 0, lost = 0, late = 0, duplicate = 0, unknown = 0;
  uint64_t spikes = 0;  // isolated spikes left out of rtt_ms and jitter_ms
};

class PathStats {
 public:
  explicit PathStats(StatsConfig cfg = {});

  const StatsConfig& config() const { return cfg_; }

  // A probe with this seq left at `now`. Seqs are expected to increase; a reused seq
  // still in the window resolves the older probe as lost first.
  std::optional<StateChange> on_sent(uint32_t seq, SteadyTime now);
  // The probe could not be sent (ENETUNREACH, interface gone...): a loss right away.
  std::optional<StateChange> on_send_error(uint32_t seq, SteadyTime now);
  // A valid reply for `seq` arrived at `now`; `reflector_dwell` = T3 - T2 (clamped).
  ReplyResult on_reply(uint32_t seq, SteadyTime now, std::chrono::nanoseconds reflector_dwell);
  // Declare every pending probe older than timeout lost and age the window. Returns the
  // state change if one happened (at most one per call: a run of losses can only move
  // towards down).
  std::optional<StateChange> expire(SteadyTime now);
  // Earliest instant at which expire() has work, if any probe is pending.
  std::optional<SteadyTime> next_deadline() const;

  PathSnapshot snapshot() const;
  PathState state() const { return state_; }

 private:
  enum class Outcome : uint8_t { pending, received, lost };
  struct Probe {
    uint32_t seq;
    SteadyTime sent_at;
    SteadyTime deadline;  // lost if unanswered by then
    Outcome outcome;
    double rtt_ms;  // valid when received
  };

  std::optional<StateChange> record_loss(Probe& p, SteadyTime now);
  static double rtt_of(const Probe& p, SteadyTime now, std::chrono::nanoseconds reflector_dwell);
  void note_rtt(double rtt_ms);  // a raw sample: the deadline's figures, then the reported ones
  void feed(double rtt_ms);      // a judged sample: the reported RTT and jitter
  double spike_threshold() const;
  std::chrono::nanoseconds current_timeout() const;
  std::optional<StateChange> transition(PathState to, uint32_t seq, SteadyTime now);
  void trim(SteadyTime now);

  StatsConfig cfg_;
  std::deque<Probe> window_;  // ordered by send time; at most window_probes entries
  PathState state_ = PathState::unknown;
  unsigned consecutive_losses_ = 0;
  unsigned consecutive_good_ = 0;
  // The loss deadline's: every raw sample, at once.
  std::optional<double> srtt_ms_;
  std::optional<double> last_rtt_ms_;
  double deadline_jitter_ms_ = 0;
  // Reported: judged samples, one sample late (isolated spikes replaced).
  std::optional<double> pending_rtt_ms_;  // the newest sample, not judged yet
  std::optional<double> rtt_ms_;
  std::optional<double> fed_rtt_ms_;      // the last judged sample
  double jitter_ms_ = 0;
  uint64_t spikes_ = 0;
  uint64_t sent_ = 0, received_ = 0, lost_ = 0, late_ = 0, duplicate_ = 0, unknown_ = 0;
};

}  // namespace cats::stamp
