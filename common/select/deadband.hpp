// Measured noise of the selector's inputs (a path's RTT, jitter and loss; an instance's
// utilisation and processing delay) and of its target: the selector steps only when
// decide()'s target is further from the weights in force than its noise explains, so
// with steady inputs the weights converge and stop instead of chasing sampling noise;
// an input beyond its band since the last step names the step and, when our own
// steering cannot explain it, takes the weights to the target at once
// (docs/SELECTION.md "Deadband").
#pragma once

#include "select/select.hpp"

#include <map>
#include <span>
#include <string>
#include <vector>

namespace cats::select {

struct BandConfig {
  // Deadband = z·σ. Four standard deviations: a Gaussian sample leaves it with p ≈ 6e-5,
  // so a steady input sampled 10×/s leaves it about once in half an hour.
  double z = 4.0;
  // EWMA gain of the mean and of the mean absolute deviation (RFC 6298 keeps 1/4 for
  // rttvar; 1/16 averages over more samples: the band is not a fast signal).
  double gain = 1.0 / 16.0;
  // Assumed utilisation window of a report, for the initial σ of a utilisation before it
  // has been measured (sampling error of a busy fraction, docs/SELECTION.md).
  double util_window_s = 1.0;
};

// One input's noise: EWMA mean and mean absolute deviation of its samples.
class NoiseBand {
 public:
  // Feeds a sample. `init_sigma` is the model's σ until samples have been seen,
  // `floor_sigma` the smallest σ ever assumed (the input's resolution). A sample equal to
  // the previous one is not a new observation (the caller recomputes more often than
  // inputs are sampled) and changes nothing. A sample beyond z·σ of the mean is a level
  // change, not noise: the mean restarts there and the deviation is left alone.
  void feed(double x, double init_sigma, double floor_sigma, const BandConfig& c);
  double sigma(double floor_sigma) const;
  bool empty() const { return !init_; }

 private:
  static constexpr int kLearn = 0;  // samples averaged plainly before the EWMA takes over (none: see SELECTION.md)
  bool init_ = false;
  int learned_ = 0;
  double mean_ = 0.0, dev_ = 0.0, last_ = 0.0;
};

// An input that moved beyond its band since the last step, for the event log and for
// the selector's "explained by our own steering?" test.
struct InputMove {
  enum class Kind : uint8_t { utilization, delay, network, other };
  Kind kind = Kind::other;
  std::string subject;  // "cloud2/app1" (instance) or "cloud1/wan1" (path)
  std::string what;     // "utilisation 20.0 -> 95.0 % (band ±3.1 %)"
  double from = 0.0, to = 0.0, band = 0.0;
};

// Every input of one service's candidates: its noise, and its value at the last step.
class InputNoise {
 public:
  explicit InputNoise(BandConfig cfg = {}) : cfg_(cfg) {}

  // Feeds this update's samples.
  void feed(std::span<const Instance> instances, std::span<const Path> paths);
  // Inputs now beyond z·σ of their value at the last snap().
  std::vector<InputMove> moves(std::span<const Instance> instances, std::span<const Path> paths) const;
  // At a step: the values later moves are measured from.
  void snap(std::span<const Instance> instances, std::span<const Path> paths);

 private:
  struct Input {
    std::string key, subject, name, unit;
    InputMove::Kind kind;
    double value, init, floor, scale;
  };
  std::vector<Input> inputs(std::span<const Instance> instances, std::span<const Path> paths) const;
  BandConfig cfg_;
  std::map<std::string, NoiseBand, std::less<>> bands_;
  std::map<std::string, double, std::less<>> snap_;
};

}  // namespace cats::select
