// Flap damping for a path's up/down state, after BGP route-flap damping (RFC 2439 §4.2):
// every flap (up -> down) adds a fixed penalty; the penalty decays exponentially with a
// half-life; a path whose penalty reaches the suppress threshold is held down, even while
// its probes say up, until the penalty has decayed below the (lower) reuse threshold. The
// penalty is capped at the ceiling that decays to the reuse threshold in `max_hold`
// (RFC 2439's maximum suppress time), so no path is held out for longer than that after
// its last flap.
//
// With the defaults (1000 per flap, suppress 1500, reuse 750, half-life 10 s, max hold
// 60 s): one isolated outage (penalty 1000 < 1500) is readmitted as soon as the probes
// say up, exactly as without damping; a second flap within one half-life (penalty
// >= 1500) holds the path down for 10 s x log2(penalty / 750): about 10-14 s after two
// flaps, growing with every further flap up to 60 s, and shrinking as the penalty decays
// between flaps (the "stable period that grows with each flap and decays with time").
// Outages more than a half-life apart are never held. mwan3 counts consecutive up/down
// probes only; this adds memory across outages.
//
// Pure: every instant is a parameter (no hidden clock); single-threaded.
#pragma once

#include "stamp/path_stats.hpp"

#include <chrono>
#include <optional>

namespace cats::stamp {

struct DampingConfig {
  double penalty_per_flap = 1000;                 // RFC 2439's figure of merit per withdrawal
  double suppress = 1500;                         // held down once a flap brings it to this
  double reuse = 750;                             // readmitted below this
  std::chrono::milliseconds half_life{10'000};
  std::chrono::milliseconds max_hold{60'000};     // longest hold after the last flap
  bool enabled = true;                            // false: the probes' state is used as is
};

// Valid: penalty_per_flap > 0, 0 < reuse < suppress, half_life and max_hold > 0, and the
// ceiling reuse x 2^(max_hold / half_life) at least the suppress threshold (else nothing
// could ever be suppressed). Returns nullptr or what is wrong.
const char* validate(const DampingConfig& c);

class FlapDamping {
 public:
  explicit FlapDamping(DampingConfig cfg = {});

  const DampingConfig& config() const { return cfg_; }

  // A flap at `now` (the path was up and went down). Returns true when this flap started
  // (or extended) a hold.
  bool on_flap(SteadyTime now);
  // The penalty decayed to `now` (0 before any flap).
  double penalty(SteadyTime now) const;
  // While held (suppressed), when the hold ends if no further flap comes: the instant the
  // penalty decays below the reuse threshold. Empty when not held at `now`.
  std::optional<SteadyTime> held_until(SteadyTime now) const;
  bool held(SteadyTime now) const { return held_until(now).has_value(); }
  uint64_t flaps() const { return flaps_; }
  double ceiling() const;

  // What a restarted daemon keeps (the store's flap_damping table): without it a restart
  // readmitted a path held down for flapping at once (lab.steering's restart check saw
  // the weighted set change across a restart).
  struct Kept {
    double penalty = 0;  // at `stamp`
    SteadyTime stamp{};
    std::optional<SteadyTime> hold_end;
    uint64_t flaps = 0;
  };
  Kept kept() const { return {penalty_, stamp_, hold_end_, flaps_}; }
  // Restores a kept state. A penalty that is not finite or negative restores nothing; one
  // above the ceiling is capped (the configuration may have changed since).
  void restore(const Kept& k);

 private:
  DampingConfig cfg_;
  double penalty_ = 0;         // at `stamp_`
  SteadyTime stamp_{};
  std::optional<SteadyTime> hold_end_;
  uint64_t flaps_ = 0;
};

// The state a path is shown and steered with: the probes' state (PathStats), except that
// a damped path is kept down while held. Up -> down is never delayed (a failover must
// be fast); only the way back up is.
class DampedState {
 public:
  explicit DampedState(DampingConfig cfg = {}) : damping_(cfg) {}

  struct Result {
    std::optional<StateChange> change;  // of the effective state
    bool held = false;                  // the probes said up, but the path stays down (held)
  };
  // A state change of the probes at `now`.
  Result on_probe_change(const StateChange& c, SteadyTime now);
  // Ends a hold whose time has come while the probes say up (call periodically).
  std::optional<StateChange> tick(SteadyTime now);

  // A restarted daemon's kept damping (FlapDamping::restore); the state stays unknown
  // until the probes report, and a path still held then stays down.
  void restore(const FlapDamping::Kept& k) { damping_.restore(k); }

  PathState state() const { return state_; }            // effective
  PathState probe_state() const { return probe_state_; }
  const FlapDamping& damping() const { return damping_; }

 private:
  FlapDamping damping_;
  PathState state_ = PathState::unknown;
  PathState probe_state_ = PathState::unknown;
  uint32_t last_seq_ = 0;
};

}  // namespace cats::stamp
