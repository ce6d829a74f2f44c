#include "vcpe/plan.hpp"

#include "sampler/parse.hpp"
#include "sampler/prom_map.hpp"

#include <algorithm>

namespace cats::vcpe {

namespace {

std::optional<report::Refusal> check_url(const std::string& url, const config::SamplingPlanLimits& limits) {
  auto u = sampler::parse_http_url(url);
  if (!u) return report::Refusal::source_invalid;
  if (!std::any_of(limits.allow.begin(), limits.allow.end(), [&](const Prefix& x) { return x.contains(u->address); }))
    return report::Refusal::source_not_allowed;
  return std::nullopt;
}

// The first reason not to use the entry's load sources, if any.
std::optional<report::Refusal> check_sources(const report::PlanInstance& p, const config::SamplingPlanLimits& limits) {
  std::optional<report::Refusal> why;
  auto worse = [&](std::optional<report::Refusal> r) {
    if (r && (!why || *r == report::Refusal::source_invalid)) why = r;
  };
  if (!p.load_url.empty()) worse(check_url(p.load_url, limits));
  for (const auto& s : p.prometheus) {
    if (!sampler::prom::preset(s.preset)) worse(report::Refusal::source_invalid);
    worse(check_url(s.url, limits));
  }
  return why;
}

}  // namespace

PlanAssembler::Fed PlanAssembler::feed(const report::SamplingPlan& part) {
  Fed out;
  if (part.parts == 0 || part.part >= part.parts) return out;  // the decoder refuses these
  if (part.digest != digest_ || part.revision != revision_ || part.parts != parts_.size()) {
    digest_ = part.digest;
    revision_ = part.revision;
    parts_.assign(part.parts, std::nullopt);
  }
  parts_[part.part] = part.instances;
  if (std::any_of(parts_.begin(), parts_.end(), [](const auto& x) { return !x.has_value(); })) return out;
  Plan plan{revision_, digest_, {}};
  for (const auto& x : parts_) plan.instances.insert(plan.instances.end(), x->begin(), x->end());
  parts_.clear();  // a complete plan is consumed; the same plan again is assembled again
  auto d = report::plan_digest(plan.instances);
  if (!d) out.error = d.error().message;
  else if (*d != plan.digest) out.error = "its parts do not match the digest they name";
  else out.plan = std::move(plan);
  if (!out.plan) digest_ = {};
  return out;
}

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
    if (auto why = check_sources(p, limits)) {
      refuse(p, *why);
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
  in.load_url = p.load_url;
  for (const auto& s : p.prometheus) {
    config::PromSource src;
    src.url = s.url;
    src.preset = s.preset;
    src.rules = sampler::prom::preset(s.preset).value_or(std::vector<sampler::prom::Rule>{});
    in.prometheus.push_back(std::move(src));
  }
  return in;
}

}  // namespace cats::vcpe
