#include "stamp/flap_damping.hpp"

#include <algorithm>
#include <cmath>

namespace cats::stamp {

namespace {
double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

const char* validate(const DampingConfig& c) {
  if (!(c.penalty_per_flap > 0) || !std::isfinite(c.penalty_per_flap)) return "penalty per flap must be > 0";
  if (!(c.reuse > 0) || !(c.reuse < c.suppress) || !std::isfinite(c.suppress))
    return "thresholds must satisfy 0 < reuse < suppress";
  if (c.half_life.count() <= 0) return "half-life must be positive";
  if (c.max_hold.count() <= 0) return "max hold must be positive";
  // Ceiling (RFC 2439 §4.2): the penalty that decays to `reuse` in max_hold.
  const double ceiling = c.reuse * std::exp2(seconds(c.max_hold) / seconds(c.half_life));
  if (!(ceiling >= c.suppress)) return "max hold too short: the penalty could never reach the suppress threshold";
  return nullptr;
}

FlapDamping::FlapDamping(DampingConfig cfg) : cfg_(cfg) {}

double FlapDamping::ceiling() const {
  return cfg_.reuse * std::exp2(seconds(cfg_.max_hold) / seconds(cfg_.half_life));
}

double FlapDamping::penalty(SteadyTime now) const {
  if (penalty_ == 0 || now <= stamp_) return penalty_;
  // Exponential decay, p(t) = p0 x 2^(-t / half-life) (RFC 2439 §4.2).
  return penalty_ * std::exp2(-seconds(now - stamp_) / seconds(cfg_.half_life));
}

bool FlapDamping::on_flap(SteadyTime now) {
  const bool was_held = held(now);
  penalty_ = std::min(penalty(now) + cfg_.penalty_per_flap, ceiling());
  stamp_ = std::max(stamp_, now);
  ++flaps_;
  if (!was_held && penalty_ < cfg_.suppress) return false;
  // Held until the penalty decays to the reuse threshold: t = half-life x log2(p / reuse).
  const double hold_s = seconds(cfg_.half_life) * std::log2(penalty_ / cfg_.reuse);
  hold_end_ = stamp_ + std::chrono::duration_cast<SteadyTime::duration>(std::chrono::duration<double>(hold_s));
  return true;
}

void FlapDamping::restore(const Kept& k) {
  if (!std::isfinite(k.penalty) || k.penalty < 0) return;
  penalty_ = std::min(k.penalty, ceiling());
  stamp_ = k.stamp;
  hold_end_ = k.hold_end;
  flaps_ = k.flaps;
}

std::optional<SteadyTime> FlapDamping::held_until(SteadyTime now) const {
  if (hold_end_ && now < *hold_end_) return hold_end_;
  return std::nullopt;
}

DampedState::Result DampedState::on_probe_change(const StateChange& c, SteadyTime now) {
  Result r;
  probe_state_ = c.to;
  last_seq_ = c.seq;
  const bool on = damping_.config().enabled;
  // Only a path that was up can flap (unknown -> down at start-up is not one).
  if (on && c.from == PathState::up && c.to == PathState::down) damping_.on_flap(now);
  PathState target = c.to;
  if (on && c.to == PathState::up && damping_.held(now)) {
    target = PathState::down;
    r.held = true;
  }
  if (target != state_) {
    r.change = StateChange{state_, target, c.seq, now};
    state_ = target;
  }
  return r;
}

std::optional<StateChange> DampedState::tick(SteadyTime now) {
  if (probe_state_ != PathState::up || state_ == PathState::up || damping_.held(now)) return std::nullopt;
  StateChange c{state_, PathState::up, last_seq_, now};
  state_ = PathState::up;
  return c;
}

}  // namespace cats::stamp
