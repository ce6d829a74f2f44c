// vCPE side of the sampling plans (issue 9): which entries of a CPE's plan this vCPE
// samples, within the limits of its own file. Pure logic (tests/unit/vcpe).
//
// A plan entry is
//   covered        when the file already samples it: same service and instance id at the
//                  same address, or the same service at the same address (the CPE
//                  matches reports by vCPE, service and address:port);
//   local_conflict when the file has that service/instance id at another address (the
//                  file wins: a CPE never moves an instance the operator placed);
//   not_allowed    when its address is outside sampling_plan.allow;
//   over_limit     beyond `room` new instances;
//   sampled        otherwise: a new sampler with a TCP health check of the address.
#pragma once

#include "config/config.hpp"
#include "report/report.hpp"

#include <vector>

namespace cats::vcpe {

struct PlanDecision {
  std::vector<report::PlanInstance> sample;  // new instances to sample for this CPE
  size_t covered = 0;                        // entries the file already samples
  std::vector<report::PlanRefusal> refused;
  uint8_t applied() const { return static_cast<uint8_t>(sample.size() + covered); }
};

// `room`: how many new instances this CPE's plan may add (sampling_plan.max_instances
// and the report's kMaxInstances, less what other CPEs' plans and the file use).
PlanDecision decide_plan(const std::vector<report::PlanInstance>& plan, const std::vector<config::Instance>& local,
                         const config::SamplingPlanLimits& limits, size_t room);

// The Instance a plan entry is sampled as: a TCP health check of its address, nothing
// else (a plan names no load source; the CPE then weighs it by its health and paths).
config::Instance plan_instance_config(const report::PlanInstance& p);

}  // namespace cats::vcpe
