// Deadband of the selector (docs/SELECTION.md "Deadband"): the measured noise of every
// input (a path's RTT, jitter and loss; an instance's utilisation, processing delay and,
// for an LLM server, queue depth),
// propagated through decide() to the noise of each candidate's target share. The selector
// steps only when the target is further from the weights in force than that noise
// explains: with steady inputs the weights converge and stop instead of chasing sampling
// noise, while every step still re-solves from fresh inputs (the loop stays closed).
// An input beyond its band since the last step names the step and, when our own steering
// cannot explain it, takes the weights straight to the target.
#pragma once

#include "select/select.hpp"

#include <chrono>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace cats::select {

struct BandConfig {
  // Deadband = z·σ. Four standard deviations: a Gaussian sample leaves it with p ≈ 6e-5.
  double z = 4.0;
  // EWMA gain of the mean and of the mean absolute deviation (RFC 6298 keeps 1/4 for
  // rttvar; 1/16 averages over more samples: the band is not a fast signal).
  double gain = 1.0 / 16.0;
  // Assumed utilisation window of a report, for the initial σ of a utilisation before it
  // has been measured (sampling error of a busy fraction, docs/SELECTION.md).
  double util_window_s = 1.0;
  // A rise is judged from the lowest value in force (from one step to the next) within
  // this window, not only from the last step's value: a report's utilisation is a window
  // mean, so a load that jumps reaches the CPE as a ramp, sent in parts one sampling
  // interval (0.1–0.2 s) apart. A part judged alone stays below the "not ours" jump and
  // takes a damped step; the rest then waited for the overload edge (bench_steering:
  // 1.25 s p95). Short on purpose: it joins the parts of one ramp, not the queueing wander
  // of a loaded pool over successive steps (simulation: 0.5 s already tripled the herd's
  // p99 at 90 % load in one seed; 0.3 s left 102 of 105 cells unchanged and 3 worse by at
  // most 3 %; docs/BENCHMARKS.md "A rise in parts is one rise").
  double rise_window_s = 0.3;
  // This many samples in a row beyond one σ on the same side of the mean are a trend, not
  // noise: the mean follows it and the deviation is left as measured. A ramp (a window
  // mean climbing over several reports) whose parts each stay within z·σ of the lagging
  // mean otherwise counted as noise and widened the band as it climbed; repeated load
  // changes then kept it wide for good (lab.steering: cloud2's utilisation σ 0.35 after a
  // few load shifts, so no utilisation change was ever a move, and cloud2 left in damped
  // steps over 2–3 s). Not a level change: restarting the band at the model's σ on every
  // trend made every trend a move and the simulation far worse (docs/BENCHMARKS.md
  // "Trends are not noise"). Gaussian noise makes such a run with p ≈ 0.16³ per sample and
  // side. 0: off. Utilisation only, and a trend starts only while the pool is at most
  // trend_load busy (then lasts as long as its run): at higher load the simulation was
  // mixed with it (some cells better, others up to 2× worse, the herd's publications
  // +10–30 %), as with the other low-load-only rules.
  int trend_run = 3;
  double trend_load = 0.5;
  // Trends of a path's smoothed RTT too, at any load (SELECTION.md rule 11): an EWMA of
  // gain 1/4 turns every step of the path's delay into a ramp of ~8 samples.
  bool trend_rtt = true;
  // A utilisation's measured σ is at most this many times its sampling error (the model
  // σ, docs/SELECTION.md "Deadband"). Samples swinging within a band they widen widen it
  // further: after a burst of load changes the band of an instance reached 10× its
  // sampling error (σ 0.33), so a 20 → 95 % jump was inside z·σ, never a move, and no
  // trend could start in the then busy pool (lab.steering's load shift, 1 run in ~19).
  // The band decays only per new sample (gain), ~1 a second from a steady instance: it
  // stayed that wide for tens of seconds. 0: no cap.
  double util_sigma_cap = 4.0;
};

// One input's noise: EWMA mean and mean absolute deviation of its samples.
class NoiseBand {
 public:
  // Feeds a sample. `init_sigma` is the model's σ until samples have been seen,
  // `floor_sigma` the smallest σ ever assumed (the input's resolution). A sample equal to
  // the previous one is not a new observation (the caller recomputes more often than
  // inputs are sampled) and changes nothing. A sample beyond z·σ of the mean is a level
  // change, not noise: mean and deviation restart there (the deviation from init_sigma).
  // BandConfig::trend_run samples in a row beyond σ on one side are a trend: the mean
  // follows, the deviation stays.
  // `trend_may_start`: a run reaching trend_run may start a trend now (a trend under way
  // goes on regardless).
  // `max_sigma` (> 0): σ never measured above it (BandConfig::util_sigma_cap).
  void feed(double x, double init_sigma, double floor_sigma, const BandConfig& c, bool trend_may_start = true,
            double max_sigma = 0.0);
  double sigma(double floor_sigma) const;

 private:
  bool init_ = false;
  double mean_ = 0.0, dev_ = 0.0, last_ = 0.0;
  int run_ = 0;  // samples in a row beyond σ: > 0 above the mean, < 0 below
  bool trending_ = false;
};

// An input that moved beyond its band since the last step, for the event log and for
// the selector's "explained by our own steering?" test.
struct InputMove {
  // queue: an LLM server's waiting requests (Instance::queue_depth).
  enum class Kind : uint8_t { utilization, delay, network, queue };
  Kind kind = Kind::utilization;
  std::string subject;  // "cloud2/app1" (instance) or "cloud1/wan1" (path)
  std::string what;     // "utilisation 20.0 -> 95.0 % (band ±3.1 %)"
  double from = 0.0, to = 0.0, band = 0.0;  // loss: as delay (rtt·p), as RTT and jitter are
  // The lowest value in force at a step within BandConfig::rise_window_s (≤ from): where a
  // rise shown over several reports started.
  double low = 0.0;
};

// Every input of one service's candidates: its noise, and its value at the last step.
class InputNoise {
 public:
  explicit InputNoise(BandConfig cfg = {}) : cfg_(cfg) {}
  // New parameters from the next feed on; the noise measured so far stays.
  void set_config(const BandConfig& cfg) { cfg_ = cfg; }

  // Feeds this update's samples.
  void feed(std::span<const Instance> instances, std::span<const Path> paths);
  // σ of each candidate's target share (decide()'s weight / kWeightTotal, same order):
  // each input moved by its σ through decide(), the effects added in quadrature
  // (independent inputs); an input that moves a candidate across the ε window's edge
  // marks it and adds nothing (a flip is not a σ). One decide() per input.
  struct TargetNoise {
    std::vector<double> sigma;  // σ of the target share
    std::vector<char> edge;     // 1: enters or leaves the ε window within one σ of some input
  };
  TargetNoise target_sigma(const Service& svc, std::span<const Instance> instances, std::span<const Path> paths,
                           const Decision& base) const;
  using TimePoint = std::chrono::steady_clock::time_point;
  // Inputs now beyond z·σ of their value at the last snap().
  std::vector<InputMove> moves(std::span<const Instance> instances, std::span<const Path> paths,
                               TimePoint now) const;
  // At a step: the values later moves are measured from.
  void snap(std::span<const Instance> instances, std::span<const Path> paths, TimePoint now);

 private:
  enum class Field : uint8_t { rtt, jitter, loss, utilization, delay, service_time, queue };
  struct Input {
    std::string key, subject, name, unit;
    InputMove::Kind kind;
    Field field;
    std::size_t index;  // into instances or paths
    double value, init, floor, scale;
  };
  std::vector<Input> inputs(std::span<const Instance> instances, std::span<const Path> paths) const;
  double sigma(const Input& x) const;
  double low_within(const std::vector<std::pair<TimePoint, double>>& h, TimePoint at) const;
  BandConfig cfg_;
  std::map<std::string, NoiseBand, std::less<>> bands_;
  // Per input: its value at each step within rise_window_s, oldest first; the last is
  // what moves are measured from.
  std::map<std::string, std::vector<std::pair<TimePoint, double>>, std::less<>> snap_;
};

}  // namespace cats::select
