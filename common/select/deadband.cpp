#include "select/deadband.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace cats::select {

// Mean absolute deviation → standard deviation for Gaussian noise: σ = √(π/2)·MAD ≈ 1.25·MAD.
constexpr double kMadToSigma = 1.25;

double NoiseBand::sigma(double floor_sigma) const { return std::max(kMadToSigma * dev_, floor_sigma); }

void NoiseBand::feed(double x, double init_sigma, double floor_sigma, const BandConfig& c, bool trend_may_start,
                     double max_sigma) {
  if (!std::isfinite(x)) return;  // decide() excludes it (invalid metrics)
  if (!init_) {
    init_ = true;
    mean_ = last_ = x;
    dev_ = std::max(init_sigma, floor_sigma) / kMadToSigma;
    return;
  }
  if (x == last_) return;
  last_ = x;
  const double s = sigma(floor_sigma);
  const double d = x - mean_;
  run_ = d > s ? std::max(run_, 0) + 1 : d < -s ? std::min(run_, 0) - 1 : 0;
  if (std::abs(d) > c.z * s) {
    // A level change, not noise: a new regime. The mean restarts there and so does the
    // deviation, from the model's σ at the new level: the step must not inflate the band,
    // and an old regime's noise (a delay at 95 % load) must not keep it wide for minutes.
    mean_ = x;
    dev_ = std::max(init_sigma, floor_sigma) / kMadToSigma;
    run_ = 0;
    trending_ = false;
    return;
  }
  // A trend starts (where allowed) when the run reaches trend_run, and lasts as long as it.
  trending_ = c.trend_run > 0 && std::abs(run_) >= c.trend_run && (trending_ || trend_may_start);
  if (trending_) {
    // A trend, not noise (BandConfig::trend_run): the mean follows it, the deviation is
    // what it was. Moves are measured from the last step, so the trend becomes one as
    // soon as it leaves the band of the noise measured before it.
    mean_ = x;
    return;
  }
  // Winsorised at 3σ: one outlier moves the noise estimate by at most 3σ·gain.
  dev_ += c.gain * (std::min(std::abs(x - mean_), 3.0 * s) - dev_);
  if (max_sigma > 0.0) dev_ = std::min(dev_, max_sigma / kMadToSigma);
  mean_ += c.gain * (x - mean_);
}

std::vector<InputNoise::Input> InputNoise::inputs(std::span<const Instance> instances,
                                                  std::span<const Path> paths) const {
  using Kind = InputMove::Kind;
  std::vector<Input> out;
  for (std::size_t pi = 0; pi < paths.size(); ++pi) {
    const Path& p = paths[pi];
    if (!p.up) continue;  // excluded anyway; its noise resumes when it is back
    const std::string subj = p.vcpe + "/" + p.wan;
    const double j = std::isfinite(p.jitter_ms) ? std::max(p.jitter_ms, 0.0) : 0.0;
    // The smoothed RTT (gain 1/4) of samples whose mean deviation is the jitter J has
    // σ ≈ 1.25·J·√(1/4 / (2 − 1/4)) ≈ 0.47·J.
    out.push_back({subj + ":rtt", subj, "rtt", "ms", Kind::network, Field::rtt, pi, p.rtt_ms, 0.47 * j, 0.02, 1.0});
    out.push_back(
        {subj + ":jitter", subj, "jitter", "ms", Kind::network, Field::jitter, pi, p.jitter_ms, 0.25 * j, 0.02, 1.0});
    // Loss over a window of probes: one lost probe in 100 is 1 point.
    out.push_back({subj + ":loss", subj, "loss", "%", Kind::network, Field::loss, pi, p.loss_pct, 1.0, 0.5, 1.0});
  }
  for (std::size_t ii = 0; ii < instances.size(); ++ii) {
    const Instance& in = instances[ii];
    if (!in.available) continue;
    const std::string subj = in.vcpe + "/" + in.id;
    const double c = effective_vcpus(in), u = effective_utilization(in);
    const double s_ms = in.service_time_ms && *in.service_time_ms > 0.0 ? *in.service_time_ms : 10.0;
    // Sampling error of a busy fraction over a window W: the number of busy servers
    // varies with variance ≈ c·u(1−u) and decorrelates in about one service time s, so
    // the window mean of busy/c has variance ≈ 2·u(1−u)·s / (c·W). Until measured.
    const double util_sigma = std::sqrt(2.0 * u * (1.0 - u) * s_ms / 1000.0 / (c * std::max(cfg_.util_window_s, 1e-3)));
    out.push_back({subj + ":utilisation", subj, "utilisation", "%", Kind::utilization, Field::utilization, ii,
                   in.utilization, util_sigma, 0.005, 100.0});
    if (in.service_time_ms && std::isfinite(*in.service_time_ms)) {
      // The instance's own figure (reported, configured or learned at its vCPE): it moves
      // the M/M/c estimate like a delay. Learned figures are medians: 2 % until measured.
      const double st = *in.service_time_ms;
      out.push_back({subj + ":service time", subj, "service time", "ms", Kind::delay, Field::service_time, ii, st,
                     0.02 * std::abs(st), std::max(0.005 * std::abs(st), 0.02), 1.0});
    }
    if (in.processing_delay_ms) {
      const double d = *in.processing_delay_ms;
      // A mean over a window's requests, often only a few: 10 % until measured, never
      // below 0.5 % (resolution).
      out.push_back({subj + ":processing delay", subj, "processing delay", "ms", Kind::delay, Field::delay, ii, d,
                     0.1 * std::abs(d), std::max(0.005 * std::abs(d), 0.02), 1.0});
    }
    if (in.queue_depth && std::isfinite(*in.queue_depth)) {
      // A count of waiting requests, sampled: Poisson-like, σ ≈ √q until measured, and one
      // request is its resolution.
      const double q = std::max(*in.queue_depth, 0.0);
      out.push_back({subj + ":queue", subj, "queue", "", Kind::queue, Field::queue, ii, q, std::sqrt(q), 0.5, 1.0});
    }
  }
  return out;
}

void InputNoise::feed(std::span<const Instance> instances, std::span<const Path> paths) {
  // Trends (BandConfig::trend_run): utilisation only (a window mean ramps), in a pool at
  // most trend_load busy.
  const double cap = pool_vcpus(instances);
  const bool quiet = cap > 0.0 && pool_busy(instances) / cap <= cfg_.trend_load;
  for (const Input& x : inputs(instances, paths)) {
    const bool util = x.field == Field::utilization;
    const double max_sigma =
        util && quiet && cfg_.util_sigma_cap > 0.0 ? cfg_.util_sigma_cap * std::max(x.init, x.floor) : 0.0;
    const bool trend = (quiet && util) || (cfg_.trend_rtt && x.field == Field::rtt);
    bands_[x.key].feed(x.value, x.init, x.floor, cfg_, trend, max_sigma);
  }
}

double InputNoise::sigma(const Input& x) const {
  auto it = bands_.find(x.key);
  return it == bands_.end() ? std::max(x.init, x.floor) : it->second.sigma(x.floor);
}

InputNoise::TargetNoise InputNoise::target_sigma(const Service& svc, std::span<const Instance> instances,
                                                std::span<const Path> paths, const Decision& base) const {
  TargetNoise out;
  std::vector<double>& var = out.sigma;
  var.assign(base.candidates.size(), 0.0);
  out.edge.assign(base.candidates.size(), 0);
  std::vector<Instance> in(instances.begin(), instances.end());
  std::vector<Path> pa(paths.begin(), paths.end());
  for (const Input& x : inputs(instances, paths)) {
    if (!std::isfinite(x.value)) continue;
    // Move the input by one σ, away from its bound (utilisation ≤ 1, loss ≤ 100, all ≥ 0).
    // One σ, not z·σ: near saturation the M/M/c estimate is so convex that a z·σ response
    // linearised back would make the band wider than any real move.
    const double s = sigma(x);
    auto bump = [&](double v, double hi) { return v + s <= hi ? v + s : std::max(v - s, 0.0); };
    switch (x.field) {
      case Field::rtt: pa[x.index].rtt_ms = bump(x.value, 1e12); break;
      case Field::jitter: pa[x.index].jitter_ms = bump(x.value, 1e12); break;
      case Field::loss: pa[x.index].loss_pct = bump(x.value, 100.0); break;
      case Field::utilization: in[x.index].utilization = bump(x.value, 1.0); break;
      case Field::delay: in[x.index].processing_delay_ms = bump(x.value, 1e12); break;
      case Field::service_time: in[x.index].service_time_ms = bump(x.value, 1e12); break;
      case Field::queue: in[x.index].queue_depth = bump(x.value, 1e12); break;
    }
    const Decision d = decide(svc, in, pa);
    // A candidate entering or leaving the ε window within one σ sits on its edge: its target
    // is bimodal there, which no σ describes: flag it.
    // The others' response to the flip is noise they may see, and counts.
    for (std::size_t k = 0; k < var.size() && k < d.candidates.size(); ++k) {
      if ((d.candidates[k].weight > 0) != (base.candidates[k].weight > 0)) {
        out.edge[k] = 1;
        continue;
      }
      const double dw = (static_cast<double>(d.candidates[k].weight) - base.candidates[k].weight) / kWeightTotal;
      var[k] += dw * dw;
    }
    if (x.field >= Field::utilization) {
      in[x.index] = instances[x.index];
    } else {
      pa[x.index] = paths[x.index];
    }
  }
  for (double& v : var) v = std::sqrt(v);
  return out;
}

// The lowest value in force (from its step until the next) within rise_window_s of `at`.
double InputNoise::low_within(const std::vector<std::pair<TimePoint, double>>& h, TimePoint at) const {
  const auto window = std::chrono::duration<double>(cfg_.rise_window_s);
  double low = h.back().second;
  for (std::size_t i = 0; i + 1 < h.size(); ++i)
    if (at - h[i + 1].first <= window) low = std::min(low, h[i].second);
  return low;
}

std::vector<InputMove> InputNoise::moves(std::span<const Instance> instances, std::span<const Path> paths,
                                         TimePoint at) const {
  std::vector<InputMove> out;
  auto fmt = [](const char* f, double a, double b) {
    char buf[96];
    std::snprintf(buf, sizeof buf, f, a, b);
    return std::string(buf);
  };
  const auto now = inputs(instances, paths);
  for (const Input& x : now) {
    auto hist = snap_.find(x.key);
    if (hist == snap_.end() || hist->second.empty() || !std::isfinite(x.value)) continue;
    const double was = hist->second.back().second;
    // Both the value and the snapshot are samples: their difference has σ·√2.
    const double b = cfg_.z * std::sqrt(2.0) * sigma(x);
    if (std::abs(x.value - was) <= b) continue;
    const double low = low_within(hist->second, at);
    // Loss as the delay it adds to the path: rtt·p/(1−p) ≈ rtt·p for small p.
    const double scale = x.field == Field::loss ? std::max(paths[x.index].rtt_ms, 0.0) : 1.0;
    auto as_delay = [&](double v) { return x.field == Field::loss ? v / 100.0 * scale : v; };
    out.push_back({x.kind, x.subject,
                   x.name + fmt(" %.1f -> %.1f ", was * x.scale, x.value * x.scale) + x.unit +
                       fmt(" (band ±%.1f", b * x.scale, 0) + " " + x.unit + ")",
                   as_delay(was), as_delay(x.value), x.field == Field::loss ? b / 100.0 * scale : b, as_delay(low)});
  }
  // A service time appearing is a move: the instance's own figure replaces the
  // service-wide guess (from 0: it is never ours, see Selector::unexplained()).
  for (const Instance& in : instances) {
    const std::string subj = in.vcpe + "/" + in.id;
    if (!in.available || !in.service_time_ms || !std::isfinite(*in.service_time_ms)) continue;
    if (!snap_.count(subj + ":utilisation") || snap_.count(subj + ":service time")) continue;
    out.push_back({InputMove::Kind::delay, subj, fmt("service time reported (%.1f ms)", *in.service_time_ms, 0), 0.0,
                   *in.service_time_ms, 0.0, 0.0});
  }
  // A processing delay appearing or going is not a move: one is measured only while
  // requests arrive, so at a few requests per window it comes and goes under steady
  // traffic. The cost's source changes (measured or M/M/c with the instance's figures);
  // that moves the target, which steps only beyond its noise like any other change.
  return out;
}

void InputNoise::snap(std::span<const Instance> instances, std::span<const Path> paths, TimePoint at) {
  std::map<std::string, std::vector<std::pair<TimePoint, double>>, std::less<>> next;
  for (const Input& x : inputs(instances, paths)) {
    if (!std::isfinite(x.value)) continue;
    auto& h = next[x.key];
    if (auto old = snap_.find(x.key); old != snap_.end()) h = std::move(old->second);
    h.emplace_back(at, x.value);
    // A value is in force from its step until the next: keep those in force within the window.
    const auto window = std::chrono::duration<double>(cfg_.rise_window_s);
    std::size_t drop = 0;
    while (drop + 1 < h.size() && at - h[drop + 1].first > window) ++drop;
    h.erase(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(drop));
  }
  snap_ = std::move(next);  // an input gone (path down, instance unavailable) starts afresh
}

}  // namespace cats::select
