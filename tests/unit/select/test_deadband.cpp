// NoiseBand (select/deadband.hpp): the measured noise of one selector input.
#include "select/deadband.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <span>
#include <string>
#include <utility>

using namespace cats::select;

namespace {

// 200 samples alternating ±a around m (σ measured ≈ 1.25·a), model σ `init`.
void noisy(NoiseBand& b, double m, double a, double init, const BandConfig& c, bool may_start = true) {
  for (int k = 0; k < 200; ++k) b.feed(m + (k % 2 ? a : -a), init, 0.005, c, may_start);
}

// A ramp from `from` to `to` by `by` a sample, then 50 samples of the same noise there.
void ramp(NoiseBand& b, double from, double to, double by, double a, const BandConfig& c, bool may_start) {
  for (double x = from + by; x < to; x += by) b.feed(x, 0.04, 0.005, c, may_start);
  for (int k = 0; k < 50; ++k) b.feed(to + (k % 2 ? a : -a), 0.04, 0.005, c, may_start);
}

// How many of `n`'s moves at `at` are `subject`'s of kind `kind`.
int moves_of(const InputNoise& n, std::span<const Instance> in, std::span<const Path> pa, InputNoise::TimePoint at,
             const std::string& subject, InputMove::Kind kind) {
  int k = 0;
  for (const InputMove& m : n.moves(in, pa, at)) k += m.subject == subject && m.kind == kind;
  return k;
}

}  // namespace

TEST_CASE("NoiseBand: load swings in parts are trends, not noise: the band widens less") {
  // Issue 8 (lab.steering): cloud2's utilisation went up and down with the tests' own
  // traffic in parts of a few points, each within z·σ of the lagging mean. Counted as
  // noise, every swing widened the band (a sustained gap between 3 and 4 σ grows the
  // deviation each sample), until no utilisation change was ever a move (σ 0.35 in the
  // lab). As trends, the mean follows them and the deviation is left as it was.
  auto swings = [](const BandConfig& c) {
    NoiseBand b;
    for (int k = 0; k < 200; ++k) b.feed(0.2 + (k % 2 ? 0.02 : -0.02), 0.03, 0.005, c);
    const double s0 = b.sigma(0.005);
    for (int i = 0; i < 10; ++i) {  // 0.2 -> 0.45 -> 0.2 in parts of 3 points
      double u = 0.2;
      while (u < 0.45) b.feed(u = std::min(u + 0.03, 0.45), 0.04, 0.005, c);
      while (u > 0.2) b.feed(u = std::max(u - 0.03, 0.2), 0.04, 0.005, c);
    }
    return std::pair{s0, b.sigma(0.005)};
  };
  BandConfig off;
  off.trend_run = 0;
  const auto [s0, with] = swings(BandConfig{});
  const auto [s0_off, without] = swings(off);
  CHECK(s0 == s0_off);
  CHECK(without > 3.0 * s0);    // what the rule prevents: 0.026 -> 0.092
  CHECK(with < 0.7 * without);  // 0.059
}

TEST_CASE("NoiseBand: a trend starts only where allowed, and goes on once started") {
  BandConfig c;
  NoiseBand b;
  noisy(b, 0.2, 0.05, 0.04, c, false);
  const double s0 = b.sigma(0.005);
  ramp(b, 0.2, 0.95, 0.08, 0.05, c, false);  // a loaded pool: no trend, absorbed as before
  CHECK(b.sigma(0.005) > 1.5 * s0);

  NoiseBand t;
  noisy(t, 0.2, 0.05, 0.04, c);
  // Allowed for the first three parts only (the pool then crosses trend_load): it goes on.
  double x = 0.2;
  for (int k = 0; k < 10; ++k) t.feed(x += 0.08, 0.04, 0.005, c, k < 3);
  CHECK(t.sigma(0.005) < 1.3 * s0);
}

TEST_CASE("NoiseBand: Gaussian noise is measured the same with the trend rule") {
  // Runs of three beyond σ happen by chance (p ≈ 0.16³ per sample and side); the mean then
  // follows a sample or two, which must not bias the measured σ.
  std::mt19937 rng(7);
  std::normal_distribution<double> n(0.5, 0.02);
  BandConfig on, off;
  off.trend_run = 0;
  NoiseBand a, b;
  for (int k = 0; k < 20000; ++k) {
    const double x = n(rng);
    a.feed(x, 0.04, 0.001, on);
    b.feed(x, 0.04, 0.001, off);
  }
  CHECK(a.sigma(0.001) == Approx(0.02).epsilon(0.15));
  CHECK(a.sigma(0.001) == Approx(b.sigma(0.001)).epsilon(0.1));
}

TEST_CASE("InputNoise: a utilisation band widened in a busy pool is capped once the pool is quiet") {
  // lab.steering's load shift (1 run in ~19): cloud2's utilisation swung with the previous
  // test's bursts in a busy pool, each swing inside the band it widened, until σ was 10×
  // its sampling error (0.33). Back at 20 % in a quiet pool it decayed only per new sample
  // (about one a second), so a 20 -> 95 % jump stayed inside z·σ: never a move.
  // BandConfig::util_sigma_cap bounds it, in a quiet pool, at 4× the sampling error.
  auto jump_moves = [](double cap) {
    BandConfig c;
    c.util_sigma_cap = cap;
    InputNoise n(c);
    std::vector<Instance> in(2);
    for (int i = 0; i < 2; ++i) {
      in[i].vcpe = i ? "cloud2" : "cloud1";
      in[i].id = "app1";
      in[i].vcpus = 6;
      in[i].service_time_ms = 20.0;
    }
    const auto t0 = InputNoise::TimePoint{};
    // Busy pool (cloud1 at 90 %): cloud2 swings around 55 %, by a little more each time.
    in[0].utilization = 0.9;
    double a = 0.02;
    for (int k = 0; k < 400; ++k, a = std::min(a * 1.02, 0.4)) {
      in[1].utilization = 0.55 + (k % 2 ? a : -a);
      n.feed(in, {});
    }
    // Quiet pool: both at 20 % for 5 reports, then a step is taken there.
    in[0].utilization = 0.2;
    for (int k = 0; k < 5; ++k) {
      in[1].utilization = 0.2 + 0.001 * (k % 2);
      n.feed(in, {});
    }
    n.snap(in, {}, t0);
    in[1].utilization = 0.95;
    n.feed(in, {});
    return moves_of(n, in, {}, t0 + std::chrono::seconds(1), "cloud2/app1", InputMove::Kind::utilization);
  };
  CHECK(jump_moves(0.0) == 0);  // what the cap prevents: the jump is inside the band
  CHECK(jump_moves(BandConfig{}.util_sigma_cap) == 1);
}

TEST_CASE("InputNoise: a path's RTT excursion and its return are both moves (smoothed-RTT trends)") {
  // lab.steering's steady test: WAN1's RTT rose from 1.7 to ~7 ms for about a second on
  // an idle host. The rise was a move (the weights left WAN1 at once), but the smoothed
  // RTT (gain 1/4) climbed in parts, each within the band of the lagging mean, and
  // widened it (±12.8 ms seen): the way back was inside the band, not a move, and the
  // weights crept back in 6 damped steps, 6 publications in a steady phase (limit 2).
  auto run = [](bool trend_rtt) {
    BandConfig c;
    c.trend_rtt = trend_rtt;
    InputNoise n(c);
    std::vector<Path> pa(1);
    pa[0].vcpe = "cloud1";
    pa[0].wan = "wan1";
    std::mt19937 rng(3);
    std::normal_distribution<double> noise(0.0, 0.1);
    double srtt = 1.7, jitter = 0.1;
    auto probe = [&](double rtt) {  // one probe's reply, smoothed as PathStats does
      const double r = rtt + noise(rng);
      jitter += (std::abs(r - srtt) - jitter) / 16.0;
      srtt += 0.25 * (r - srtt);
      pa[0].rtt_ms = srtt;
      pa[0].jitter_ms = jitter;
      n.feed({}, pa);
    };
    // The path's network moves (its jitter stays within its band: only the RTT moves).
    auto moved = [&](InputNoise::TimePoint at) { return moves_of(n, {}, pa, at, "cloud1/wan1", InputMove::Kind::network); };
    const auto t0 = InputNoise::TimePoint{};
    for (int k = 0; k < 300; ++k) probe(1.7);  // 30 s steady
    n.snap({}, pa, t0);
    for (int k = 0; k < 10; ++k) probe(9.0);  // 1 s at +7.3 ms
    const int up = moved(t0 + std::chrono::seconds(1));
    n.snap({}, pa, t0 + std::chrono::seconds(1));
    for (int k = 0; k < 20; ++k) probe(1.7);  // back
    return std::pair{up, moved(t0 + std::chrono::seconds(3))};
  };
  const auto [up_off, down_off] = run(false);
  CHECK(up_off == 1);
  CHECK(down_off == 0);  // what the rule prevents: the return hidden in the widened band
  const auto [up, down] = run(true);
  CHECK(up == 1);
  CHECK(down == 1);
}
