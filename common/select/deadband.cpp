#include "select/deadband.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cats::select {

// Mean absolute deviation → standard deviation for Gaussian noise: σ = √(π/2)·MAD ≈ 1.25·MAD.
constexpr double kMadToSigma = 1.25;

double NoiseBand::sigma(double floor_sigma) const { return std::max(kMadToSigma * dev_, floor_sigma); }

void NoiseBand::feed(double x, double init_sigma, double floor_sigma, const BandConfig& c) {
  if (!std::isfinite(x)) return;  // decide() excludes it (invalid metrics)
  if (!init_) {
    init_ = true;
    mean_ = last_ = x;
    dev_ = std::max(init_sigma, floor_sigma) / kMadToSigma;
    return;
  }
  if (x == last_) return;
  last_ = x;
  if (learned_ < kLearn) {
    // Learning: plain running averages of the first samples (the model's σ counts as one),
    // so a constant-looking input is not stuck with the model's guess and a noisy one is
    // not taken for a series of level changes.
    ++learned_;
    const double k = 1.0 / (learned_ + 1.0);
    dev_ += k * (std::abs(x - mean_) - dev_);
    mean_ += k * (x - mean_);
    return;
  }
  const double s = sigma(floor_sigma);
  if (std::abs(x - mean_) > c.z * s) {
    // A level change, not noise: the mean restarts there, so the step does not inflate
    // the deviation estimate (and with it the band) for the samples that follow.
    mean_ = x;
    return;
  }
  // Winsorised at 3σ: one outlier moves the noise estimate by at most 3σ·gain.
  dev_ += c.gain * (std::min(std::abs(x - mean_), 3.0 * s) - dev_);
  mean_ += c.gain * (x - mean_);
}

namespace {

double vcpus_of(const Instance& in) { return std::isfinite(in.vcpus) && in.vcpus > 0.0 ? in.vcpus : 1.0; }
double util_of(const Instance& in) {
  return std::isfinite(in.utilization) ? std::clamp(in.utilization, 0.0, 1.0) : 0.0;
}
}  // namespace

std::vector<InputNoise::Input> InputNoise::inputs(std::span<const Instance> instances,
                                                  std::span<const Path> paths) const {
  using Kind = InputMove::Kind;
  std::vector<Input> out;
  for (const Path& p : paths) {
    if (!p.up) continue;  // excluded anyway; its noise resumes when it is back
    const std::string subj = p.vcpe + "/" + p.wan;
    const double j = std::isfinite(p.jitter_ms) ? std::max(p.jitter_ms, 0.0) : 0.0;
    // The smoothed RTT (gain 1/4) of samples whose mean deviation is the jitter J has
    // σ ≈ 1.25·J·√(1/4 / (2 − 1/4)) ≈ 0.47·J.
    out.push_back({subj + ":rtt", subj, "rtt", "ms", Kind::network, p.rtt_ms, 0.47 * j, 0.02, 1.0});
    out.push_back({subj + ":jitter", subj, "jitter", "ms", Kind::network, p.jitter_ms, 0.25 * j, 0.02, 1.0});
    out.push_back({subj + ":loss", subj, "loss", "%", Kind::network, p.loss_pct, 1.0, 0.5, 1.0});
  }
  for (const Instance& in : instances) {
    if (!in.available) continue;
    const std::string subj = in.vcpe + "/" + in.id;
    const double c = vcpus_of(in), u = util_of(in);
    const double s_ms = in.service_time_ms && *in.service_time_ms > 0.0 ? *in.service_time_ms : 10.0;
    // Sampling error of a busy fraction over a window W: the number of busy servers
    // varies with variance ≈ c·u(1−u) and decorrelates in about one service time s, so
    // the window mean of busy/c has variance ≈ 2·u(1−u)·s / (c·W). Until measured.
    const double util_sigma = std::sqrt(2.0 * u * (1.0 - u) * s_ms / 1000.0 / (c * std::max(cfg_.util_window_s, 1e-3)));
    out.push_back({subj + ":utilisation", subj, "utilisation", "%", Kind::utilization, in.utilization, util_sigma,
                   0.005, 100.0});
    if (in.processing_delay_ms) {
      const double d = *in.processing_delay_ms;
      // A mean over a window's requests: 10 % until measured, never below 1 % (resolution).
      out.push_back({subj + ":processing delay", subj, "processing delay", "ms", Kind::delay, d, 0.1 * std::abs(d),
                     std::max(0.01 * std::abs(d), 0.05), 1.0});
    }
  }
  return out;
}

void InputNoise::feed(std::span<const Instance> instances, std::span<const Path> paths) {
  for (const Input& x : inputs(instances, paths)) bands_[x.key].feed(x.value, x.init, x.floor, cfg_);
}

std::vector<InputMove> InputNoise::moves(std::span<const Instance> instances, std::span<const Path> paths) const {
  std::vector<InputMove> out;
  auto fmt = [](const char* f, double a, double b) {
    char buf[96];
    std::snprintf(buf, sizeof buf, f, a, b);
    return std::string(buf);
  };
  const auto now = inputs(instances, paths);
  for (const Input& x : now) {
    auto was = snap_.find(x.key);
    auto band = bands_.find(x.key);
    if (was == snap_.end() || band == bands_.end() || !std::isfinite(x.value)) continue;
    // Both the value and the snapshot are samples: their difference has σ·√2.
    const double b = cfg_.z * std::sqrt(2.0) * band->second.sigma(x.floor);
    if (std::abs(x.value - was->second) <= b) continue;
    out.push_back({x.kind, x.subject,
                   x.name + fmt(" %.1f -> %.1f ", was->second * x.scale, x.value * x.scale) + x.unit +
                       fmt(" (band ±%.1f", b * x.scale, 0) + " " + x.unit + ")",
                   was->second, x.value, b});
  }
  // A processing delay appearing or going is traffic starting or stopping there (one is
  // measured only while requests arrive), not load: Kind::other.
  for (const Instance& in : instances) {
    if (!in.available) continue;
    const std::string subj = in.vcpe + "/" + in.id;
    if (!snap_.count(subj + ":utilisation")) continue;  // not available at the last step
    const bool had = snap_.count(subj + ":processing delay") > 0;
    if (had != in.processing_delay_ms.has_value())
      out.push_back({InputMove::Kind::other, subj,
                     in.processing_delay_ms ? fmt("processing delay reported (%.1f ms)", *in.processing_delay_ms, 0)
                                            : std::string("processing delay no longer reported"),
                     0.0, 0.0, 0.0});
  }
  return out;
}

void InputNoise::snap(std::span<const Instance> instances, std::span<const Path> paths) {
  snap_.clear();
  for (const Input& x : inputs(instances, paths))
    if (std::isfinite(x.value)) snap_[x.key] = x.value;
}

}  // namespace cats::select
