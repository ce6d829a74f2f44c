// Seeded random inputs for the property tests (deterministic across runs).
#pragma once

#include "select/select.hpp"

#include <random>
#include <string>
#include <vector>

namespace cats::select::testgen {

struct World {
  Service svc;
  std::vector<Instance> instances;
  std::vector<Path> paths;
};

// llm: also LLM-server fields (queue depth, GPUs, GPU memory; SLA min_gpu_memory_free).
// Off by default, so the worlds the other property tests were measured on stay the same.
inline World random_world(std::mt19937& rng, bool with_sla = true, bool llm = false) {
  auto u = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  auto chance = [&](double p) { return std::bernoulli_distribution(p)(rng); };
  World w;
  w.svc.id = "svc";
  w.svc.service_time_ms = u(1, 30);
  w.svc.access_delay_ms = u(0, 10);
  w.svc.epsilon = u(0.0, 0.5);
  w.svc.power = u(0.5, 4);
  w.svc.on_no_candidate = chance(0.5) ? OnNoCandidate::reject : OnNoCandidate::best_effort;
  if (with_sla) {
    if (chance(0.5)) w.svc.sla.max_rtt_ms = u(10, 80);
    if (chance(0.5)) w.svc.sla.max_jitter_ms = u(1, 10);
    if (chance(0.5)) w.svc.sla.max_loss_pct = u(0.5, 5);
    if (chance(0.3)) w.svc.sla.max_e2e_ms = u(30, 120);
    if (chance(0.3)) w.svc.sla.required_capability = "gpu";
    if (chance(0.3)) w.svc.sla.min_free_capacity = u(0.1, 0.5);
    if (llm && chance(0.3)) w.svc.sla.min_gpu_memory_free = u(0.1, 0.5);
  }
  const int nv = std::uniform_int_distribution<int>(1, 5)(rng);
  const int nw = std::uniform_int_distribution<int>(1, 4)(rng);
  for (int v = 0; v < nv; ++v) {
    const std::string vcpe = "vcpe" + std::to_string(v);
    for (int k = 0; k < nw; ++k)
      w.paths.push_back(Path{vcpe, "wan" + std::to_string(k), u(1, 100), u(0, 15), chance(0.3) ? u(0, 8) : 0.0,
                             with_sla ? !chance(0.15) : true});
    const int ni = std::uniform_int_distribution<int>(1, 3)(rng);
    for (int i = 0; i < ni; ++i) {
      Instance in;
      in.vcpe = vcpe;
      in.id = "app" + std::to_string(i);
      in.available = with_sla ? !chance(0.15) : true;
      in.vcpus = std::uniform_int_distribution<int>(1, 16)(rng);
      in.utilization = u(0, 1.05);
      if (chance(0.5)) in.processing_delay_ms = u(0.5, 40);
      if (chance(0.5)) in.capabilities.push_back("gpu");
      in.free_capacity = u(0, 1);
      if (llm && chance(0.5)) {  // an LLM server: a queue, GPUs, their memory
        in.queue_depth = chance(0.5) ? 0.0 : u(0, 20);
        in.gpus = std::uniform_int_distribution<int>(0, 8)(rng);
        if (chance(0.7)) in.gpu_memory_utilization = u(0, 1.05);
      }
      w.instances.push_back(in);
    }
  }
  return w;
}

}  // namespace cats::select::testgen
