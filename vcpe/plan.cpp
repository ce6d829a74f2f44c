#include "vcpe/plan.hpp"

#include <algorithm>

namespace cats::vcpe {

PlanDecision decide_plan(const std::vector<report::PlanInstance>& plan, const std::vector<config::Instance>& local,
                         const config::SamplingPlanLimits& limits, size_t room) {
  PlanDecision d;
  auto refuse = [&](const report::PlanInstance& p, report::Refusal why) {
    d.refused.push_back({p.service_id, p.instance_id, why});
  };
  for (const auto& p : plan) {
    bool covered = false, conflict = false;
    for (const auto& l : local) {
      if (l.service != p.service_id) continue;
      if (l.address == p.address) covered = true;
      else if (l.id == p.instance_id) conflict = true;
    }
    if (covered) {
      ++d.covered;
      continue;
    }
    if (conflict) {
      refuse(p, report::Refusal::local_conflict);
      continue;
    }
    const bool allowed = std::any_of(limits.allow.begin(), limits.allow.end(),
                                     [&](const Prefix& x) { return x.contains(p.address.address()); });
    if (!allowed) {
      refuse(p, report::Refusal::not_allowed);
      continue;
    }
    if (d.sample.size() >= room) {
      refuse(p, report::Refusal::over_limit);
      continue;
    }
    d.sample.push_back(p);
  }
  return d;
}

config::Instance plan_instance_config(const report::PlanInstance& p) {
  config::Instance in;
  in.service = p.service_id;
  in.id = p.instance_id;
  in.address = p.address;
  in.health = "tcp";
  return in;
}

}  // namespace cats::vcpe
