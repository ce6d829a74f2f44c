#include "cpe/steering.hpp"
#include "cpe/views.hpp"

#include "base/log.hpp"
#include "metrics/metric.hpp"
#include "steer/programmer.hpp"

#include <boost/json/object.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace cats::cpe {

namespace json = boost::json;
using metrics::MetricType;
using namespace std::chrono_literals;

namespace {

constexpr const char* kLog = "steer";
constexpr auto kReconcile = 2s;      // re-apply (cheap when nothing drifted) to repair drift
constexpr auto kErrorLogEvery = 5s;  // a failing apply is retried every tick, logged this often

json::value num(double v) {
  if (std::isfinite(v)) return v;
  return nullptr;
}

// The config sets what an operator tunes; the damping knobs keep select's defaults.
select::SelectorConfig selector_config(const config::Selection& s) {
  select::SelectorConfig c;
  c.rel_threshold = s.hysteresis;
  c.hold_down = std::chrono::milliseconds(s.hold_down_ms);
  c.band.z = s.deadband_sigmas;
  c.goal_time = std::chrono::milliseconds(s.settle_mean_ms);
  return c;
}

std::string_view health_name(steer::Health h) {
  switch (h) {
    case steer::Health::ok: return "ok";
    case steer::Health::path_down: return "path_down";
    case steer::Health::unreachable: return "unreachable";
  }
  return "?";
}

std::string_view protocol_name(config::Protocol p) { return p == config::Protocol::udp ? "udp" : "tcp"; }

const report::InstanceState* find_reported(const report::InstanceTable::Map& table, const std::string& vcpe,
                                           const std::string& service, const UdpEndpoint& address,
                                           std::string* id) {
  // Reports key instances by id; the CPE's config names them by address (the DNAT target),
  // so the match is (vCPE, service, address:port).
  for (const auto& [k, st] : table) {
    if (k.vcpe_id != vcpe || k.service_id != service || st.address != address) continue;
    if (id) *id = k.instance_id;
    return &st;
  }
  return nullptr;
}

}  // namespace

ServiceInputs service_inputs(const config::CpeConfig& cfg, const config::Service& svc,
                             const std::vector<PathView>& paths, const report::InstanceTable::Map& table) {
  ServiceInputs in;
  for (const auto& si : svc.instances) {
    select::Instance x;
    x.vcpe = si.vcpe;
    x.id = endpoint_to_string(si.address);
    std::string name = x.id;
    const auto* st = find_reported(table, si.vcpe, svc.select.id, si.address, &name);
    if (!st) {
      x.available = false;  // never reported (or forgotten): nothing says it can serve
      x.measured = false;
    } else {
      auto cur = [&](MetricType t) { return metrics::current_value(st->metrics, t); };
      x.available = st->available();
      x.vcpus = cur(MetricType::vcpus).value_or(1.0);
      x.utilization = cur(MetricType::cpu_utilization).value_or(0.0);
      x.processing_delay_ms = cur(MetricType::processing_delay_ms);
      x.free_capacity = cur(MetricType::capacity_free).value_or(1.0 - x.utilization);
      if (cur(MetricType::gpu_count).value_or(0.0) > 0) x.capabilities.push_back("gpu");
      // LLM servers (draft §4.5): the queue ahead of a new request, the GPUs that serve
      // it, and their memory headroom (SLA min_gpu_memory_free_pct).
      x.queue_depth = cur(MetricType::queue_depth);
      x.gpus = cur(MetricType::gpu_count).value_or(0.0);
      x.gpu_memory_utilization = cur(MetricType::gpu_memory_utilization);
      // The instance's own figures (docs/METRICS.md "Instance figures", issue 8 item 5):
      // its reported service time (configured at its vCPE or learned there) replaces the
      // service's constant in the M/M/c estimate. Failing that, a measured delay of any
      // age bounds it from above (a sojourn is never shorter than the service time), so
      // a constant above what the instance was ever measured at is not used. Only an
      // instance that never gave a delay or a service time is unmeasured (explored).
      const auto& f = st->figures;
      x.measured = f.measured;
      if (f.service_time_ms) x.service_time_ms = *f.service_time_ms;
      else if (f.last_delay_ms) x.service_time_ms = std::min(*f.last_delay_ms, svc.select.service_time_ms);
    }
    in.instances.push_back(std::move(x));
    in.names.push_back(std::move(name));
  }
  for (const auto& w : cfg.wans)
    for (const auto& v : cfg.vcpes) {
      if (std::none_of(svc.instances.begin(), svc.instances.end(), [&](auto& i) { return i.vcpe == v.name; }))
        continue;
      select::Path p;
      p.vcpe = v.name;
      p.wan = w.name;
      p.up = false;  // unprobed: never steer into a path we know nothing about
      p.cost_ms = static_cast<double>(w.cost);
      p.weight = static_cast<double>(w.weight);
      for (const auto& pv : paths) {
        if (pv.wan != w.name || pv.vcpe != v.name) continue;
        p.up = pv.snap.state == stamp::PathState::up;
        p.rtt_ms = pv.snap.rtt_ms.value_or(0.0);
        p.jitter_ms = pv.snap.jitter_ms;
        p.loss_pct = pv.snap.loss_pct;
      }
      in.paths.push_back(std::move(p));
    }
  return in;
}

std::vector<steer::Health> candidate_health(const config::CpeConfig& cfg, const config::Service& svc,
                                            const ServiceInputs& in) {
  std::vector<steer::Health> out;
  auto path_of = [&](const std::string& wan, const std::string& vcpe) -> const select::Path* {
    for (const auto& p : in.paths)
      if (p.wan == wan && p.vcpe == vcpe) return &p;
    return nullptr;
  };
  for (size_t i = 0; i < svc.instances.size(); ++i) {
    const auto& inst = in.instances[i];
    // Reachable = some path to its vCPE is up. A flow only moves to a path known up.
    bool reachable = std::any_of(cfg.wans.begin(), cfg.wans.end(), [&](auto& w) {
      auto* p = path_of(w.name, inst.vcpe);
      return p && p->up;
    });
    for (const auto& w : cfg.wans) {
      auto* p = path_of(w.name, inst.vcpe);
      if (!inst.available || !reachable) {
        out.push_back(steer::Health::unreachable);
      } else if (p && !p->up) {
        out.push_back(steer::Health::path_down);
      } else {
        out.push_back(steer::Health::ok);
      }
    }
  }
  return out;
}

std::string describe_steering(const config::CpeConfig& cfg) {
  if (cfg.services.empty()) return "steering: no services (table inet cats absent)\n";
  auto p = steer::plan(steer_state(cfg, {}, {}));
  if (!p) return "steering: " + p.error().message + "\n";
  std::string out = "steering (weights 0 until the first decision):\n";
  for (const auto& r : p->rules) out += "rule " + steer::rule_to_string(r) + "\n";
  return out + "nft table inet cats {\n" + p->nft_body + "}\n";
}

std::string candidate_key(const config::CpeConfig& cfg, const config::Service& svc, size_t k) {
  const auto& si = svc.instances[k / cfg.wans.size()];
  select::Instance i;
  i.vcpe = si.vcpe;
  i.id = endpoint_to_string(si.address);
  select::Path p;
  p.vcpe = si.vcpe;
  p.wan = cfg.wans[k % cfg.wans.size()].name;
  return select::candidate_key(i, p);
}

steer::State steer_state(const config::CpeConfig& cfg, const std::vector<std::vector<uint32_t>>& weights,
                         const std::vector<std::vector<steer::Health>>& health, const steer::Assignment& ids) {
  steer::State s;
  for (size_t n = 0; n < cfg.services.size(); ++n) {
    const auto& svc = cfg.services[n];
    steer::Service out;
    out.id = svc.select.id;
    out.vip = svc.vip;
    out.protocol = svc.protocol == config::Protocol::udp ? steer::Protocol::udp : steer::Protocol::tcp;
    out.ports = svc.ports;
    out.sticky_timeout_s = svc.sticky_timeout_s;
    size_t k = 0;
    for (const auto& si : svc.instances)
      for (size_t w = 0; w < cfg.wans.size(); ++w, ++k) {
        steer::Candidate c;
        c.address = si.address.address();
        c.port = si.address.port();
        c.wan = static_cast<int>(w + 1);
        if (n < weights.size() && k < weights[n].size()) c.weight = weights[n][k];
        if (n < health.size() && k < health[n].size()) c.health = health[n][k];
        if (auto id = ids.find(steer::candidate_ref(out.id, c)); id != ids.end()) c.id = id->second;
        out.candidates.push_back(c);
      }
    s.services.push_back(std::move(out));
  }
  return s;
}

Steering::Steering(config::CpeConfig cfg, Apply apply, Adopt adopt, Event event, Clock clock, Ids ids)
    : cfg_(std::move(cfg)),
      apply_(std::move(apply)),
      adopt_(std::move(adopt)),
      event_(std::move(event)),
      clock_(std::move(clock)),
      ids_source_(std::move(ids)),
      selector_(selector_config(cfg_.selection), clock_) {
  views_.resize(cfg_.services.size());
}

void Steering::seed(size_t n, const steer::Service& live) {
  const auto& svc = cfg_.services[n];
  std::vector<select::PublishedWeight> ws;
  uint32_t sum = 0;
  for (size_t k = 0; k < live.candidates.size(); ++k) {
    const auto& c = live.candidates[k];
    select::PublishedWeight pw;
    pw.key = candidate_key(cfg_, svc, k);
    pw.vcpe = svc.instances[k / cfg_.wans.size()].vcpe;
    pw.instance = endpoint_to_string(svc.instances[k / cfg_.wans.size()].address);
    pw.wan = cfg_.wans[k % cfg_.wans.size()].name;
    pw.weight = c.weight;
    sum += c.weight;
    ws.push_back(std::move(pw));
  }
  selector_.adopt(svc.select.id, sum > 0 ? select::Outcome::ok : select::Outcome::rejected, std::move(ws));
}

namespace {

// The same service in both states: id, VIP, ports and candidates (weights and health aside).
bool same_service(steer::Service a, steer::Service b) {
  for (auto* s : {&a, &b})
    for (auto& c : s->candidates) {
      c.weight = 0;
      c.health = steer::Health::ok;
    }
  return a == b;
}

}  // namespace

Status Steering::start(const std::optional<steer::State>& previous) {
  started_ = clock_();
  // Ids first: the live table's are kept (steer.hpp "Candidate ids"), so an unchanged
  // candidate's mark, and with it its flows, survive this change or restart.
  steer::Assignment held;
  if (ids_source_.live) {
    if (auto r = ids_source_.live()) held = std::move(*r);
    else log::warn(kLog, "reading the candidate ids from the kernel: " + r.error().message + " (assigning anew)");
  }
  auto assigned = steer::assign_ids(steer_state(cfg_, {}, {}), held, ids_source_.carried);
  if (!assigned) {
    // A configuration change is refused (the caller returns to the previous one). At
    // daemon start there is nothing to return to: steer, even if a new candidate may share
    // an id with flows of one removed while the daemon was down.
    if (previous) return assigned.error().context("candidate ids");
    log::error(kLog, "candidate ids: " + assigned.error().message + "; ignoring flows of removed candidates");
    assigned = steer::assign_ids(steer_state(cfg_, {}, {}), held, nullptr);
    if (!assigned) return assigned.error().context("candidate ids");
  }
  ids_ = steer::assignment_of(*assigned);
  // Marks follow from the structure and the ids alone: once here, not per metrics scrape.
  marks_ = steer::candidate_marks(steer_state(cfg_, {}, {}, ids_));
  const steer::State structure = *assigned;
  auto live = adopt_(structure);
  if (!live) log::warn(kLog, "reading the live steering state: " + live.error().message);
  if (live && *live) {
    // A restart: the kernel's weights stay until the Selector has a reason to change them.
    const steer::State& st = **live;
    for (size_t n = 0; n < cfg_.services.size() && n < st.services.size(); ++n) seed(n, st.services[n]);
    std::lock_guard lk(mu_);
    applied_ = st;
    for (size_t n = 0; n < views_.size(); ++n) {
      views_[n].last_change = "adopted from the kernel at start";
      if (auto* p = selector_.published(cfg_.services[n].select.id)) views_[n].pub = *p;
    }
    last_apply_ = started_;
    log::info(kLog, "adopted the live steering state (" + std::to_string(st.services.size()) + " services)");
    return ok();
  }
  // Fresh (or changed) structure: every weight 0 refuses new VIP connections until the
  // first decision, rather than leaking them to the default route. A service that a
  // configuration change left as it was keeps the weights and health it had, so its new
  // flows are not refused while the changed ones warm up.
  steer::State init = structure;
  size_t kept = 0;
  if (previous) {
    for (size_t n = 0; n < init.services.size(); ++n) {
      auto& svc = init.services[n];
      auto was = std::find_if(previous->services.begin(), previous->services.end(),
                              [&](const steer::Service& p) { return p.id == svc.id; });
      if (was == previous->services.end() || !same_service(*was, svc)) continue;
      svc = *was;
      seed(n, svc);
      ++kept;
      std::lock_guard lk(mu_);
      views_[n].last_change = "kept across a configuration change";
      if (auto* p = selector_.published(cfg_.services[n].select.id)) views_[n].pub = *p;
    }
    if (kept) log::info(kLog, "kept the weights of " + std::to_string(kept) + " unchanged services");
  }
  return apply_state(init, true);
}

void Steering::retune(const config::CpeConfig& next) {
  selector_.set_config(selector_config(next.selection));
  std::lock_guard lk(mu_);  // the API reads cfg_ under mu_
  cfg_.selection = next.selection;
  for (size_t n = 0; n < cfg_.services.size() && n < next.services.size(); ++n)
    cfg_.services[n].select = next.services[n].select;
  // A WAN's cost and weight are selection inputs (service_inputs), nothing else uses them.
  std::string changed;
  for (size_t w = 0; w < cfg_.wans.size() && w < next.wans.size(); ++w) {
    auto& was = cfg_.wans[w];
    const auto& now = next.wans[w];
    if (was.cost != now.cost)
      changed += (changed.empty() ? "" : ", ") + was.name + " cost " + std::to_string(was.cost) + " -> " +
                 std::to_string(now.cost) + " ms";
    if (was.weight != now.weight)
      changed += (changed.empty() ? "" : ", ") + was.name + " weight " + std::to_string(was.weight) + " -> " +
                 std::to_string(now.weight);
    was.cost = now.cost;
    was.weight = now.weight;
  }
  if (!changed.empty()) selector_.reconfigured("configured: " + changed);
}

bool Steering::deciding() const { return deciding_.load(); }

uint32_t Steering::applied_weight(size_t n, size_t k) const {
  if (!applied_ || n >= applied_->services.size() || k >= applied_->services[n].candidates.size()) return 0;
  return applied_->services[n].candidates[k].weight;
}

std::string Steering::instance_name(size_t n, size_t i) const {
  const auto& names = views_[n].names;
  return i < names.size() ? names[i] : endpoint_to_string(cfg_.services[n].instances[i].address);
}

std::optional<steer::State> Steering::applied() const {
  std::lock_guard lk(mu_);
  return applied_;
}

bool Steering::ready(const std::vector<PathView>& paths, const report::InstanceTable::Map& table) const {
  const auto expiry = std::chrono::milliseconds(cfg_.reporting.max_interval_ms) * report::kExpiryIntervals;
  if (clock_() - started_ >= expiry) return true;
  for (const auto& p : paths)
    if (p.snap.state == stamp::PathState::unknown) return false;
  for (const auto& svc : cfg_.services)
    for (const auto& si : svc.instances)
      if (!find_reported(table, si.vcpe, svc.select.id, si.address, nullptr)) return false;
  return true;
}

void Steering::tick(const std::vector<PathView>& paths, const report::InstanceTable::Map& table) {
  if (!deciding_) {
    if (!ready(paths, table)) return;
    deciding_ = true;
    log::info(kLog, "inputs known; deciding");
  }
  std::vector<std::vector<uint32_t>> weights(cfg_.services.size());
  std::vector<std::vector<steer::Health>> health(cfg_.services.size());
  std::vector<View> views(cfg_.services.size());
  {
    std::lock_guard lk(mu_);
    views = views_;
  }
  for (size_t n = 0; n < cfg_.services.size(); ++n) {
    const auto& svc = cfg_.services[n];
    ServiceInputs in = service_inputs(cfg_, svc, paths, table);
    health[n] = candidate_health(cfg_, svc, in);
    if (auto ch = selector_.update(svc.select, in.instances, in.paths)) {
      std::string detail = std::string(select::to_string(ch->now.outcome)) + ": " + ch->reason + "; weights";
      for (const auto& c : ch->now.candidates)
        if (c.weight > 0) detail += " " + c.key + "=" + std::to_string(c.weight);
      event_("weights", svc.select.id, detail);
      views[n].last_change = ch->reason;
      ++views[n].publications;
    }
    const auto* pub = selector_.published(svc.select.id);
    std::map<std::string, uint32_t> by_key;
    if (pub) {
      for (const auto& c : pub->candidates) by_key[c.key] = c.weight;
      views[n].pub = *pub;
    }
    const size_t count = svc.instances.size() * cfg_.wans.size();
    for (size_t k = 0; k < count; ++k) {
      auto it = by_key.find(candidate_key(cfg_, svc, k));
      weights[n].push_back(it == by_key.end() ? 0 : it->second);
    }
    views[n].names = in.names;
    views[n].measured.clear();
    for (const auto& x : in.instances) views[n].measured.push_back(x.measured);
    views[n].health = health[n];
  }
  {
    std::lock_guard lk(mu_);
    views_ = std::move(views);
  }
  (void)apply_state(steer_state(cfg_, weights, health, ids_), false);  // logged; retried every tick
}

Status Steering::apply_state(const steer::State& desired, bool force) {
  const auto now = clock_();
  {
    std::lock_guard lk(mu_);
    if (!force && applied_ && *applied_ == desired && now - last_apply_ < kReconcile) return ok();
  }
  auto rep = apply_(desired);
  if (!rep) {
    // Memory and kernel may disagree now: forget what we think is applied, so every tick
    // retries until the kernel confirms (the Programmer re-reads the kernel each time).
    {
      std::lock_guard lk(mu_);
      applied_.reset();
    }
    if (now - last_error_log_ >= kErrorLogEvery || last_error_log_ == std::chrono::steady_clock::time_point{}) {
      log::error(kLog, "applying the steering state: " + rep.error().message + " (retrying)");
      last_error_log_ = now;
    }
    return rep.error();
  }
  for (const auto& a : rep->actions) log::info(kLog, a);
  std::lock_guard lk(mu_);
  applied_ = desired;
  last_apply_ = now;
  return ok();
}

std::vector<Steering::CandidateWeight> Steering::candidate_weights() const {
  // Before start() (no ids yet) the marks are computed from what there is.
  const auto computed = marks_.empty() ? steer::candidate_marks(steer_state(cfg_, {}, {}, ids_)) : decltype(marks_){};
  const auto& marks = marks_.empty() ? computed : marks_;
  std::lock_guard lk(mu_);
  std::vector<CandidateWeight> out;
  for (size_t n = 0; n < cfg_.services.size(); ++n) {
    const auto& svc = cfg_.services[n];
    const size_t count = svc.instances.size() * cfg_.wans.size();
    for (size_t k = 0; k < count; ++k)
      out.push_back({svc.select.id, instance_name(n, k / cfg_.wans.size()), cfg_.wans[k % cfg_.wans.size()].name,
                     applied_weight(n, k), marks[n][k], !svc.vip.is_v4()});
  }
  return out;
}

std::vector<std::pair<std::string, uint64_t>> Steering::publications() const {
  std::lock_guard lk(mu_);
  std::vector<std::pair<std::string, uint64_t>> out;
  for (size_t n = 0; n < cfg_.services.size(); ++n) out.emplace_back(cfg_.services[n].select.id, views_[n].publications);
  return out;
}

json::array Steering::services_json() const {
  std::lock_guard lk(mu_);
  json::array out;
  for (size_t n = 0; n < cfg_.services.size(); ++n) {
    const auto& svc = cfg_.services[n];
    const auto& v = views_[n];
    json::array ports, instances;
    for (auto p : svc.ports) ports.push_back(p);
    for (size_t i = 0; i < svc.instances.size(); ++i) {
      const auto& si = svc.instances[i];
      uint32_t weight = 0;
      for (size_t w = 0; w < cfg_.wans.size(); ++w) weight += applied_weight(n, i * cfg_.wans.size() + w);
      instances.push_back(json::object{{"vcpe", si.vcpe},
                                       {"address", endpoint_to_string(si.address)},
                                       {"instance", instance_name(n, i)},
                                       {"weight", weight}});
    }
    const bool sticky = svc.select.affinity == select::Affinity::source;
    out.push_back(json::object{
        {"id", svc.select.id},
        {"vip", svc.vip.to_string()},
        {"protocol", protocol_name(svc.protocol)},
        {"ports", std::move(ports)},
        {"affinity", sticky ? "sticky" : "flow"},
        {"sticky_timeout_s", svc.sticky_timeout_s},
        {"on_no_candidate", svc.select.on_no_candidate == select::OnNoCandidate::best_effort ? "best_effort" : "reject"},
        {"outcome", v.pub ? json::value(select::to_string(v.pub->outcome)) : json::value(nullptr)},
        {"last_change", v.last_change},
        {"instances", std::move(instances)}});
  }
  return out;
}

json::array Steering::decisions_json() const {
  std::lock_guard lk(mu_);
  json::array out;
  for (size_t n = 0; n < cfg_.services.size(); ++n)
    for (auto& v : service_decisions(n)) out.push_back(std::move(v));
  return out;
}

json::array Steering::decisions_by_service() const {
  std::lock_guard lk(mu_);
  json::array out;
  for (size_t n = 0; n < cfg_.services.size(); ++n)
    out.push_back(json::object{{"service", cfg_.services[n].select.id},
                               {"publication", views_[n].publications},
                               {"total", steer::kWeightTotal},
                               {"candidates", service_decisions(n)}});
  return out;
}

json::array Steering::service_decisions(size_t n) const {
  json::array out;
  {
    const auto& svc = cfg_.services[n];
    const auto& v = views_[n];
    std::map<std::string, const select::PublishedWeight*> by_key;
    if (v.pub)
      for (const auto& c : v.pub->candidates) by_key[c.key] = &c;
    const size_t count = svc.instances.size() * cfg_.wans.size();
    // An instance never measured is weighted by exploration, not by its cost (a guess
    // priced with the service's service_time_ms), so it neither is "best" nor sets the
    // window the others are judged against. select explores only while some measured
    // instance carries traffic; when none does, everyone is ranked by cost as before.
    auto measured = [&](size_t i) { return i >= v.measured.size() || v.measured[i]; };
    auto best_cost = [&](bool measured_only) {
      double b = INFINITY;
      for (size_t k = 0; k < count; ++k) {
        auto it = by_key.find(candidate_key(cfg_, svc, k));
        if (it != by_key.end() && it->second->weight > 0 && std::isfinite(it->second->cost) &&
            (!measured_only || measured(k / cfg_.wans.size())))
          b = std::min(b, it->second->cost);
      }
      return b;
    };
    double best = best_cost(true);
    const bool exploring = std::isfinite(best);
    if (!exploring) best = best_cost(false);
    for (size_t k = 0; k < count; ++k) {
      const size_t i = k / cfg_.wans.size();
      const auto& si = svc.instances[i];
      auto it = by_key.find(candidate_key(cfg_, svc, k));
      const select::PublishedWeight* c = it == by_key.end() ? nullptr : it->second;
      const uint32_t weight = applied_weight(n, k);
      std::string reason;
      if (!v.pub) {
        reason = deciding_ ? "no decision yet" : "warming up: waiting for probes and reports";
      } else if (!c) {
        reason = "not scored";
      } else if (c->excluded != select::Exclusion::none && weight == 0) {
        reason = "excluded: " + std::string(select::to_string(c->excluded));
      } else if (weight > 0 && exploring && !measured(i)) {
        reason = "exploring: never measured (priced with the service's service_time_ms), a bounded share";
      } else if (weight > 0 && std::isfinite(c->cost) && c->cost <= best) {
        reason = "best";
      } else if (weight > 0 && std::isfinite(c->cost) && std::isfinite(best) &&
                 c->cost > (1.0 + svc.select.epsilon) * best) {
        reason = "leaving: cost outside the spread window, weight decaying in steps";
      } else if (weight > 0) {
        reason = "near-best: cost within the spread window";
      } else if (!std::isfinite(c->cost)) {
        reason = "adopted at start";
      } else {
        reason = "cost outside the spread window";
      }
      json::object o{{"service", svc.select.id},
                     {"instance", instance_name(n, i)},
                     {"address", endpoint_to_string(si.address)},
                     {"vcpe", si.vcpe},
                     {"wan", cfg_.wans[k % cfg_.wans.size()].name},
                     {"weight", weight},
                     {"cost_ms", c ? num(c->cost) : json::value(nullptr)},
                     {"e2e_ms", c ? num(c->e2e_ms) : json::value(nullptr)},
                     {"network_ms", c ? num(c->network_ms) : json::value(nullptr)},
                     {"compute_ms", c ? num(c->compute_ms) : json::value(nullptr)},
                     {"wan_cost_ms", c ? num(c->wan_cost_ms) : json::value(nullptr)},
                     {"cost_parts", c ? json::value(cost_parts_json(c->parts)) : json::value(nullptr)},
                     {"excluded", c ? json::value(select::to_string(c->excluded)) : json::value(nullptr)},
                     {"health", health_name(k < v.health.size() ? v.health[k] : steer::Health::ok)},
                     {"measured", measured(i)},
                     {"outcome", v.pub ? json::value(select::to_string(v.pub->outcome)) : json::value(nullptr)},
                     {"reason", reason}};
      out.push_back(std::move(o));
    }
  }
  return out;
}

}  // namespace cats::cpe
