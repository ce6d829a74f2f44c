// Decision time of the C-PS (common/select): 1,000 services × 10 instances × 4 paths,
// one full recompute of every service. Baseline in the same run: copying and iterating
// the same inputs, so the figure can be judged against plain memory traffic. Goal < 5 ms.
#include "select/select.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

using namespace cats::select;

namespace {

struct Input {
  Service svc;
  std::vector<Instance> instances;
  std::vector<Path> paths;
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main() {
  constexpr int kServices = 1000, kInstances = 10, kPaths = 4, kRounds = 50;
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<Input> inputs(kServices);
  for (int s = 0; s < kServices; ++s) {
    Input& in = inputs[s];
    in.svc.id = "svc" + std::to_string(s);
    in.svc.sla.max_rtt_ms = 80;
    for (int i = 0; i < kInstances; ++i) {
      Instance x;
      x.vcpe = "vcpe" + std::to_string(i);
      x.id = "app";
      x.vcpus = 1 + (i % 8);
      x.utilization = u(rng);
      if (i % 2) x.processing_delay_ms = 1 + 20 * u(rng);
      x.available = u(rng) > 0.05;
      in.instances.push_back(x);
      for (int p = 0; p < kPaths; ++p)
        in.paths.push_back(Path{x.vcpe, "wan" + std::to_string(p), 5 + 90 * u(rng), 5 * u(rng), u(rng) < 0.2 ? 2 * u(rng) : 0,
                                u(rng) > 0.05});
    }
  }

  std::vector<double> base, full;
  std::size_t sink = 0;
  for (int r = 0; r < kRounds; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<Input> copy = inputs;  // what a caller snapshotting the inputs pays
    double acc = 0;
    for (const auto& in : copy)
      for (const auto& p : in.paths) acc += p.rtt_ms + p.jitter_ms;
    base.push_back(ms_since(t0));
    sink += static_cast<std::size_t>(acc);

    t0 = std::chrono::steady_clock::now();
    for (const auto& in : inputs) {
      auto d = decide(in.svc, in.instances, in.paths);
      sink += d.eligible + (d.best ? *d.best : 0);
    }
    full.push_back(ms_since(t0));
  }
  auto med = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("bench_select: %d services x %d instances x %d paths (%d candidates), %d rounds\n", kServices,
              kInstances, kPaths, kServices * kInstances * kPaths, kRounds);
  std::printf("  baseline copy+iterate inputs: median %.3f ms, min %.3f ms\n", med(base),
              *std::min_element(base.begin(), base.end()));
  std::printf("  full recompute (decide x %d): median %.3f ms, min %.3f ms  (goal < 5 ms: %s)\n", kServices, med(full),
              *std::min_element(full.begin(), full.end()), med(full) < 5.0 ? "met" : "MISSED");
  std::printf("  (sink %zu)\n", sink);
  return 0;
}
