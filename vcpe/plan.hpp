// vCPE side of the sampling plans (issue 9): which entries of a CPE's plan this vCPE
// samples, within the limits of its own file. Pure logic (tests/unit/vcpe/test_plan.cpp).
//
// A plan entry is
//   covered        when the file already samples it: same service and instance id at the
//                  same address, or the same service at the same address (the CPE
//                  matches reports by vCPE, service and address:port);
//   local_conflict when the file has that service/instance id at another address (the
//                  file wins: a CPE never moves an instance the operator placed);
//   not_allowed    when its address is outside sampling_plan.allow;
//   source_invalid when a load source is not an http://IP URL or names an unknown preset;
//   source_not_allowed when a load source's host is outside sampling_plan.allow (a CPE
//                  cannot make the vCPE fetch from elsewhere);
//   over_limit     beyond `room` new instances;
//   sampled        otherwise: a new sampler with a TCP health check of the address and
//                  the entry's load sources.
// A covered entry keeps the file's sources (the file wins; the plan's are not checked).
#pragma once

#include "config/config.hpp"
#include "report/report.hpp"

#include <optional>
#include <vector>

namespace cats::vcpe {

// Collects the parts of one CPE's plan (report::SamplingPlan, verified and replay-checked
// by the caller) and yields the whole plan once every part of it has arrived and the
// entries hash to the digest the parts name: all or nothing. A part of another plan
// (other digest, revision or part count) starts over; a lost part leaves the plan
// incomplete until the CPE sends it again (it resends until the ack confirms).
class PlanAssembler {
 public:
  struct Plan {
    uint64_t revision = 0;
    report::PlanDigest digest{};
    std::vector<report::PlanInstance> instances;
  };
  struct Fed {
    std::optional<Plan> plan;  // set when this part completed a plan
    std::string error;         // set when the parts were complete but did not match the digest
  };
  Fed feed(const report::SamplingPlan& part);

 private:
  uint64_t revision_ = 0;
  report::PlanDigest digest_{};
  std::vector<std::optional<std::vector<report::PlanInstance>>> parts_;
};

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

// The Instance a plan entry is sampled as: a TCP health check of its address, and its
// load sources (decide_plan checked them); without one the CPE weighs it by its health
// and paths only.
config::Instance plan_instance_config(const report::PlanInstance& p);

}  // namespace cats::vcpe
