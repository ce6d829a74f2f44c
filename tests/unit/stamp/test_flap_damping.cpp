// Flap damping (RFC 2439 §4.2) with the clock passed in: penalty growth and decay,
// suppress / reuse, the first outage not delayed, readmission after the stable period.
#include "stamp/flap_damping.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace cats::stamp;
using namespace std::chrono_literals;

namespace {
const SteadyTime t0{};
SteadyTime at(std::chrono::milliseconds ms) { return t0 + ms; }
StateChange change(PathState from, PathState to, std::chrono::milliseconds t) { return {from, to, 0, at(t)}; }
// Explicit figures, so the arithmetic below does not follow changes of the defaults.
DampingConfig cfg15() {
  DampingConfig c;
  c.penalty_per_flap = 1000;
  c.suppress = 1500;
  c.reuse = 750;
  c.half_life = std::chrono::milliseconds(15'000);
  c.max_hold = std::chrono::milliseconds(60'000);
  return c;
}
}  // namespace

TEST_CASE("damping: penalty grows per flap and halves every half-life") {
  FlapDamping d(cfg15());  // 1000 per flap, half-life 15 s
  CHECK(d.penalty(at(0ms)) == 0);
  CHECK_FALSE(d.on_flap(at(0ms)));  // 1000 < suppress 1500: no hold
  CHECK(d.penalty(at(0ms)) == Approx(1000));
  CHECK(d.penalty(at(15'000ms)) == Approx(500));
  CHECK(d.penalty(at(30'000ms)) == Approx(250));
  // A second flap 15 s later: 500 + 1000 = 1500 = suppress -> held.
  CHECK(d.on_flap(at(15'000ms)));
  CHECK(d.penalty(at(15'000ms)) == Approx(1500));
  CHECK(d.flaps() == 2);
}

TEST_CASE("damping: suppressed at the threshold, reused below the lower one") {
  FlapDamping d(cfg15());
  d.on_flap(at(0ms));
  REQUIRE(d.on_flap(at(1'000ms)));  // 1000 x 2^(-1/15) + 1000 = 1954.8
  const double p = 1000 * std::exp2(-1.0 / 15) + 1000;
  CHECK(d.penalty(at(1'000ms)) == Approx(p));
  // Held until p x 2^(-t/15 s) = 750: t = 15 s x log2(p / 750) = 20.72 s after the flap.
  const double hold_s = 15 * std::log2(p / 750);
  REQUIRE(d.held_until(at(1'000ms)).has_value());
  const auto end = *d.held_until(at(1'000ms));
  CHECK(std::chrono::duration<double>(end - at(1'000ms)).count() == Approx(hold_s).epsilon(1e-6));
  CHECK(d.held(end - 1ms));
  CHECK(d.penalty(end - 1ms) > 750);
  CHECK_FALSE(d.held(end));
  CHECK(d.penalty(end) == Approx(750));
}

TEST_CASE("damping: each further flap holds longer, up to the ceiling (max hold)") {
  FlapDamping d(cfg15());
  std::chrono::nanoseconds last_hold{0};
  for (int i = 0; i < 30; ++i) {
    const auto t = at(std::chrono::milliseconds(i * 1000));
    d.on_flap(t);
    if (auto end = d.held_until(t)) {
      const auto hold = *end - t;
      CHECK(hold >= last_hold);  // grows (or stays at the cap)
      CHECK(hold <= 60s + 1ms);  // never beyond max_hold after the last flap
      last_hold = hold;
    }
  }
  CHECK(d.penalty(at(29'000ms)) == Approx(d.ceiling()));
  CHECK(d.ceiling() == Approx(750 * 16));  // 2^(60 s / 15 s)
  CHECK(last_hold >= 60s - 1ms);
}

TEST_CASE("damping: penalty decays between flaps, so spaced-out outages are never held") {
  FlapDamping d(cfg15());
  for (int i = 0; i < 10; ++i) CHECK_FALSE(d.on_flap(at(std::chrono::milliseconds(i * 60'000))));
  // 1000 x 2^-4 at each flap one minute apart: the penalty settles near 1067, under 1500.
  CHECK(d.penalty(at(540'000ms)) < 1100);
}

TEST_CASE("damping: invalid configs are refused") {
  CHECK(validate(DampingConfig{}) == nullptr);
  DampingConfig c;
  c.reuse = c.suppress;
  CHECK(validate(c) != nullptr);
  c = {};
  c.penalty_per_flap = 0;
  CHECK(validate(c) != nullptr);
  c = {};
  c.half_life = 0ms;
  CHECK(validate(c) != nullptr);
  c = {};
  c.max_hold = 1000ms;  // ceiling 750 x 2^(1/15) < suppress
  CHECK(validate(c) != nullptr);
}

TEST_CASE("damped state: the first outage comes back as fast as the probes") {
  DampedState s;
  CHECK_FALSE(s.on_probe_change(change(PathState::unknown, PathState::up, 0ms), at(0ms)).held);
  CHECK(s.state() == PathState::up);
  auto down = s.on_probe_change(change(PathState::up, PathState::down, 1'000ms), at(1'000ms));
  REQUIRE(down.change.has_value());
  CHECK(down.change->to == PathState::down);
  CHECK(down.change->at == at(1'000ms));  // down is never delayed
  auto up = s.on_probe_change(change(PathState::down, PathState::up, 1'300ms), at(1'300ms));
  CHECK_FALSE(up.held);
  REQUIRE(up.change.has_value());
  CHECK(up.change->to == PathState::up);
  CHECK(up.change->at == at(1'300ms));  // not delayed at all
}

TEST_CASE("damped state: a repeated flap is held down and readmitted after the stable period") {
  DampedState s;
  s.on_probe_change(change(PathState::unknown, PathState::up, 0ms), at(0ms));
  s.on_probe_change(change(PathState::up, PathState::down, 1'000ms), at(1'000ms));
  s.on_probe_change(change(PathState::down, PathState::up, 1'300ms), at(1'300ms));
  auto d2 = s.on_probe_change(change(PathState::up, PathState::down, 2'000ms), at(2'000ms));
  REQUIRE(d2.change.has_value());
  CHECK(s.damping().held(at(2'000ms)));
  auto up2 = s.on_probe_change(change(PathState::down, PathState::up, 2'300ms), at(2'300ms));
  CHECK(up2.held);
  CHECK_FALSE(up2.change.has_value());
  CHECK(s.state() == PathState::down);
  CHECK(s.probe_state() == PathState::up);
  const auto end = *s.damping().held_until(at(2'300ms));
  CHECK_FALSE(s.tick(end - 1ms).has_value());
  CHECK(s.state() == PathState::down);
  auto back = s.tick(end);
  REQUIRE(back.has_value());
  CHECK(back->from == PathState::down);
  CHECK(back->to == PathState::up);
  CHECK(s.state() == PathState::up);
  CHECK_FALSE(s.tick(end + 1s).has_value());  // once
}

TEST_CASE("damped state: a hold ending while the probes say down readmits nothing") {
  DampedState s;
  s.on_probe_change(change(PathState::unknown, PathState::up, 0ms), at(0ms));
  s.on_probe_change(change(PathState::up, PathState::down, 100ms), at(100ms));
  s.on_probe_change(change(PathState::down, PathState::up, 200ms), at(200ms));
  s.on_probe_change(change(PathState::up, PathState::down, 300ms), at(300ms));
  const auto end = *s.damping().held_until(at(300ms));
  CHECK_FALSE(s.tick(end + 1s).has_value());
  CHECK(s.state() == PathState::down);
  // Probes up after the hold: up at once.
  auto up = s.on_probe_change(change(PathState::down, PathState::up, 0ms), end + 2s);
  REQUIRE(up.change.has_value());
  CHECK(up.change->to == PathState::up);
}

TEST_CASE("damped state: flaps while held extend the hold; start-up unknown -> down is no flap") {
  DampedState s;
  s.on_probe_change(change(PathState::unknown, PathState::down, 0ms), at(0ms));
  CHECK(s.damping().flaps() == 0);
  s.on_probe_change(change(PathState::down, PathState::up, 100ms), at(100ms));
  CHECK(s.state() == PathState::up);
  s.on_probe_change(change(PathState::up, PathState::down, 200ms), at(200ms));
  s.on_probe_change(change(PathState::down, PathState::up, 300ms), at(300ms));
  s.on_probe_change(change(PathState::up, PathState::down, 400ms), at(400ms));
  const auto first_end = *s.damping().held_until(at(400ms));
  s.on_probe_change(change(PathState::down, PathState::up, 500ms), at(500ms));  // held
  s.on_probe_change(change(PathState::up, PathState::down, 900ms), at(900ms));  // flap while held
  CHECK(s.damping().flaps() == 3);
  CHECK(*s.damping().held_until(at(900ms)) > first_end);
}

TEST_CASE("damped state: disabled damping passes the probes' state through") {
  DampingConfig c;
  c.enabled = false;
  DampedState s(c);
  for (int i = 0; i < 5; ++i) {
    auto t = std::chrono::milliseconds(i * 200);
    s.on_probe_change(change(i == 0 ? PathState::unknown : PathState::down, PathState::up, t), at(t));
    CHECK(s.state() == PathState::up);
    s.on_probe_change(change(PathState::up, PathState::down, t + 100ms), at(t + 100ms));
  }
  CHECK_FALSE(s.damping().held(at(1000ms)));
}

TEST_CASE("damping: a kept state restored after a restart keeps the path held, to the same instant") {
  // Issue 8 / lab.steering's restart check: a path held down for flapping was readmitted
  // at once by the restarted CPE (its damping started from nothing).
  DampedState before(cfg15());
  before.on_probe_change(change(PathState::unknown, PathState::up, 0ms), at(0ms));
  before.on_probe_change(change(PathState::up, PathState::down, 1'000ms), at(1'000ms));
  before.on_probe_change(change(PathState::down, PathState::up, 1'500ms), at(1'500ms));
  before.on_probe_change(change(PathState::up, PathState::down, 2'000ms), at(2'000ms));
  const auto end = before.damping().held_until(at(2'000ms));
  REQUIRE(end.has_value());

  DampedState fresh(cfg15());  // what a restart had: probes up at once means up
  CHECK(fresh.on_probe_change(change(PathState::unknown, PathState::up, 3'000ms), at(3'000ms)).change->to ==
        PathState::up);

  DampedState after(cfg15());
  after.restore(before.damping().kept());
  const auto r = after.on_probe_change(change(PathState::unknown, PathState::up, 3'000ms), at(3'000ms));
  CHECK(r.held);
  CHECK(after.state() == PathState::down);
  CHECK(after.damping().flaps() == 2);
  CHECK(after.damping().penalty(at(3'000ms)) == Approx(before.damping().penalty(at(3'000ms))));
  CHECK_FALSE(after.tick(*end - 1ms).has_value());
  const auto back = after.tick(*end);
  REQUIRE(back.has_value());
  CHECK(back->to == PathState::up);

  // A penalty the store could not have written restores nothing.
  DampedState bad(cfg15());
  bad.restore({std::nan(""), at(0ms), at(50'000ms), 3});
  CHECK(bad.damping().flaps() == 0);
  CHECK_FALSE(bad.damping().held(at(1'000ms)));
  bad.restore({-5, at(0ms), at(50'000ms), 3});
  CHECK(bad.damping().flaps() == 0);
}
