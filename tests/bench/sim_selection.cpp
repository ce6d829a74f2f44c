// Selection quality by discrete-event simulation: the CPE's joint selector
// (select::Selector over decide()) against single-metric baselines and a per-request
// oracle, on real queues with stale metrics. Results and how to reproduce them:
// docs/BENCHMARKS.md, "Selection quality (simulation)".
//
// Model (all times in seconds inside the simulation, milliseconds in tables):
//  * an instance is a c-server FCFS queue (c = vCPUs), service times exponential or
//    deterministic with the service's mean;
//  * requests arrive Poisson at each CPE; a request's round trip on a path is the path's
//    base RTT plus one exponential delay per direction (mean jitter/2 each), so
//    completion = network RTT + queueing + service;
//  * each instance samples its busy fraction over a window (as the vCPE's app metric) every
//    report period; each CPE receives that value metric_delay (+ the one-way base delay)
//    later. CPEs probe every path (STAMP-like) and smooth RTT and RFC 3550 jitter;
//  * policies see only that CPE view, except the oracle which sees the true queues.
//
// Determinism: every random draw of the workload (arrival gaps, service times, network
// noise) comes from one stream consumed in request-creation order, which does not depend
// on the policy, so all policies face the *same* requests (common random numbers: the
// differences between columns are the policies, not sampling noise). Routing and probing
// have their own streams. Same seed, same tables, whatever --threads.
#include "select/select.hpp"
#include "select/selector.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace sel = cats::select;

namespace {

// ---------------------------------------------------------------------------------------
// Random numbers: mt19937_64's output sequence is fixed by the standard, the library's
// distributions are not; converting by hand keeps the tables identical across libstdc++
// and libc++.
class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  double uniform() { return static_cast<double>(g_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double exp(double mean) { return -mean * std::log1p(-uniform()); }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(uniform() * static_cast<double>(n)); }

 private:
  std::mt19937_64 g_;
};

uint64_t mix(uint64_t a, uint64_t b) {  // splitmix64 of a combined seed: independent streams
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E5BBull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// ---------------------------------------------------------------------------------------
// Scenario description.

struct PathCfg {
  double base_rtt_s = 0.0;
  double jitter_s = 0.0;  // mean extra round trip above the base (sum of both directions)
};

struct SiteCfg {
  std::string name;
  int vcpus = 1;
  std::vector<std::string> wans;
};

struct Scenario {
  std::string name;
  double service_s = 0.010;
  bool deterministic = false;
  double access_s = 0.0;  // common client ↔ CPE delay (figure 3's client delay)
  std::vector<SiteCfg> sites;
  std::vector<double> cpe_share;                            // share of the steerable rate
  std::vector<std::vector<std::vector<PathCfg>>> paths;     // [cpe][site][wan]
  double pinned_share = 0.0;  // share of the offered load already pinned to pinned_site
  std::size_t pinned_site = 0;
  double metric_delay_s = 0.1;
  double report_period_s = 0.2;
  double window_s = 1.0;
  double probe_period_s = 0.1;
  double min_duration_s = 60.0, max_duration_s = 600.0;
  double target_requests = 200000;  // per run: long enough for a stable p99
  uint64_t seed = 1;
  sel::SelectorConfig selector;  // the product's defaults unless overridden on the command line
  // Ablation, off by default (0): route by an exponential average of the published weights,
  // eff ← (1 − damp)·eff + damp·published at each publication. Not what the CPE does; it
  // tests whether the oscillation is the re-solve's loop gain (BENCHMARKS.md).
  double damp = 0.0;

  double capacity() const {  // requests per second, all sites
    double c = 0;
    for (const auto& s : sites) c += s.vcpus / service_s;
    return c;
  }
  std::size_t cpes() const { return cpe_share.size(); }
};

enum class Policy : uint8_t { joint, nearest, least_loaded, round_robin, oracle };
constexpr Policy kPolicies[] = {Policy::joint, Policy::nearest, Policy::least_loaded, Policy::round_robin,
                                Policy::oracle};
const char* name(Policy p) {
  switch (p) {
    case Policy::joint: return "joint";
    case Policy::nearest: return "nearest";
    case Policy::least_loaded: return "least-loaded";
    case Policy::round_robin: return "round-robin";
    case Policy::oracle: return "oracle";
  }
  return "?";
}

struct Result {
  double mean_ms = 0, p99_ms = 0;
  std::size_t requests = 0;
  double max_offered = 0;  // highest per-instance offered utilisation (>1: unstable queue)
  double flaps_per_min = 0;  // per CPE: publications that changed weights (joint) or choice
  double publications_per_min = 0;
  // Herd/oscillation: true per-second instance utilisation after warm-up.
  double spread_mean = 0, spread_p95 = 0, util_sd = 0;
  std::vector<std::vector<double>> util_series;  // [second][instance], for printing
  std::size_t series_from = 0;                   // simulated second of util_series[0] (its end)
  double sim_s = 0;
};

// ---------------------------------------------------------------------------------------
// The simulation of one (scenario, load, policy).

class Sim {
 public:
  Sim(const Scenario& sc, double load, Policy pol, uint64_t seed)
      : sc_(sc), pol_(pol), work_(mix(seed, 1)), route_(mix(seed, 2)), probe_rng_(mix(seed, 3)) {
    const double total = load * sc.capacity();
    pinned_rate_ = total * sc.pinned_share;
    steer_rate_ = total - pinned_rate_;
    duration_ = std::clamp(sc.target_requests / std::max(steer_rate_, 1e-9), sc.min_duration_s, sc.max_duration_s);
    warmup_ = std::max(5.0, 0.1 * duration_);
    svc_.id = "app";
    svc_.service_time_ms = sc.service_s * 1e3;
    svc_.access_delay_ms = sc.access_s * 1e3;

    inst_.resize(sc.sites.size());
    for (std::size_t i = 0; i < inst_.size(); ++i) {
      inst_[i].c = sc.sites[i].vcpus;
      inst_[i].ring.assign(static_cast<std::size_t>(std::lround(sc.window_s / sc.report_period_s)) + 1, 0.0);
    }
    cpe_.resize(sc.cpes());
    for (std::size_t k = 0; k < cpe_.size(); ++k) init_cpe(k);
  }

  Result run() {
    for (std::size_t k = 0; k < cpe_.size(); ++k) {
      if (sc_.cpe_share[k] > 0) push(work_.exp(1.0 / rate(k)), Ev::arrive, static_cast<uint32_t>(k));
      for (std::size_t p = 0; p < cpe_[k].paths.size(); ++p)  // random phases: probes are not synchronised
        push(probe_rng_.uniform() * sc_.probe_period_s, Ev::probe, static_cast<uint32_t>(k), static_cast<uint32_t>(p));
    }
    if (pinned_rate_ > 0) push(work_.exp(1.0 / pinned_rate_), Ev::pinned);
    for (std::size_t i = 0; i < inst_.size(); ++i)
      push(sc_.report_period_s * (1.0 + probe_rng_.uniform()), Ev::report, static_cast<uint32_t>(i));
    push(1.0, Ev::second);

    while (!ev_.empty()) {
      const Event e = ev_.top();
      ev_.pop();
      now_ = e.t;
      switch (e.type) {
        case Ev::arrive: on_arrive(e.a); break;
        case Ev::pinned: on_pinned(); break;
        case Ev::at_instance: on_at_instance(e.a); break;
        case Ev::depart: on_depart(e.a); break;
        case Ev::report: on_report(e.a); break;
        case Ev::deliver: on_deliver(e.a, e.b, e.v); break;
        case Ev::probe: on_probe(e.a, e.b); break;
        case Ev::second: on_second(); break;
      }
      // Periodic events stop at the end of the run; requests already sent drain, so
      // every measured request completes (no survivor bias in saturated runs).
      if (now_ >= duration_ && live_ == 0) break;
    }
    return summarise();
  }

 private:
  // ----- events
  enum class Ev : uint8_t { arrive, pinned, at_instance, depart, report, deliver, probe, second };
  struct Event {
    double t;
    uint64_t seq;  // FIFO among equal times: deterministic order
    Ev type;
    uint32_t a, b;
    double v;
    bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
  };
  void push(double t, Ev type, uint32_t a = 0, uint32_t b = 0, double v = 0) {
    ev_.push(Event{t, seq_++, type, a, b, v});
  }

  // ----- state
  struct Request {
    double t0 = 0, svc = 0, back = 0;
    uint32_t inst = 0;
    bool measured = false;
  };
  struct Inst {
    int c = 1;
    int busy = 0;
    std::deque<uint32_t> queue;
    uint32_t inflight = 0;  // routed, not yet arrived (the oracle counts them as ahead)
    double area = 0, last = 0;  // ∫ busy dt
    std::vector<double> ring;   // area at the last window/period report instants
    std::size_t ring_pos = 0;
    double area_second = 0;
    double demand = 0;  // service seconds of requests that arrived in the measured interval
  };
  struct ProbeState {
    double rtt = 0, jitter = 0, last = -1;
  };
  struct Cpe {
    std::vector<sel::Instance> view;  // one per site
    std::vector<sel::Path> paths;     // site-major, wan-minor
    std::vector<uint32_t> path_site;
    std::vector<PathCfg> truth;  // per path
    std::vector<ProbeState> probe;
    std::unordered_map<std::string, uint32_t> key_to_path;
    std::unique_ptr<sel::Selector> selector;
    std::vector<std::pair<uint32_t, uint32_t>> cum;  // (cumulative weight, path)
    std::vector<double> eff;                         // damped weights per path (ablation)
    uint32_t choice = 0;  // nearest / least-loaded: current path
    uint32_t rr = 0;
    uint64_t flaps = 0, publications = 0;
  };

  double rate(std::size_t k) const { return steer_rate_ * sc_.cpe_share[k]; }

  void init_cpe(std::size_t k) {
    Cpe& c = cpe_[k];
    for (std::size_t i = 0; i < sc_.sites.size(); ++i) {
      sel::Instance x;
      x.vcpe = sc_.sites[i].name;
      x.id = "app";
      x.vcpus = sc_.sites[i].vcpus;
      c.view.push_back(x);
      for (std::size_t w = 0; w < sc_.sites[i].wans.size(); ++w) {
        const PathCfg& t = sc_.paths[k][i][w];
        sel::Path p{x.vcpe, sc_.sites[i].wans[w], (t.base_rtt_s + t.jitter_s) * 1e3, 0.0, 0.0, true};
        c.key_to_path.emplace(sel::candidate_key(x, p), static_cast<uint32_t>(c.paths.size()));
        c.paths.push_back(p);
        c.path_site.push_back(static_cast<uint32_t>(i));
        c.truth.push_back(t);
        c.probe.push_back(ProbeState{p.rtt_ms, 0.0, -1});
      }
    }
    // The selector runs on simulated time: hold-down is 5 simulated seconds.
    c.selector = std::make_unique<sel::Selector>(sc_.selector, [this] {
      return std::chrono::steady_clock::time_point(
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(now_)));
    });
    decide_again(k);  // start-up: every instance reported idle
  }

  // Re-run the policy's control-plane decision after the CPE's view changed.
  void decide_again(std::size_t k) {
    Cpe& c = cpe_[k];
    switch (pol_) {
      case Policy::joint: {
        auto ch = c.selector->update(svc_, c.view, c.paths);
        if (!ch) return;
        ++c.publications;
        bool changed = ch->previous.empty();
        std::unordered_map<std::string, uint32_t> before;
        for (const auto& w : ch->previous) before.emplace(w.key, w.weight);
        for (const auto& w : ch->now.candidates) {
          auto it = before.find(w.key);
          changed = changed || (it == before.end() ? w.weight != 0 : it->second != w.weight);
        }
        if (changed) ++c.flaps;
        std::vector<double> pub(c.paths.size(), 0.0);
        for (const auto& w : ch->now.candidates) pub[c.key_to_path.at(w.key)] = w.weight;
        if (sc_.damp > 0 && !c.eff.empty()) {
          for (std::size_t p = 0; p < pub.size(); ++p) c.eff[p] += sc_.damp * (pub[p] - c.eff[p]);
        } else {
          c.eff = pub;
        }
        c.cum.clear();
        uint32_t acc = 0;
        for (uint32_t p = 0; p < c.eff.size(); ++p) {
          const auto w = static_cast<uint32_t>(std::lround(c.eff[p]));
          if (w == 0) continue;
          acc += w;
          c.cum.emplace_back(acc, p);
        }
        return;
      }
      case Policy::nearest:
      case Policy::least_loaded: {
        uint32_t best = 0;
        double best_v = 0;
        for (uint32_t p = 0; p < c.paths.size(); ++p) {
          // nearest: probed network delay only; least-loaded: reported utilisation only
          // (ties, e.g. several WANs of one site, go to the lower index).
          const double v = pol_ == Policy::nearest ? sel::network_delay_ms(c.paths[p], svc_.weights)
                                                   : c.view[c.path_site[p]].utilization;
          if (p == 0 || v < best_v) best = p, best_v = v;
        }
        if (best != c.choice) ++c.flaps;
        c.choice = best;
        return;
      }
      case Policy::round_robin:
      case Policy::oracle: return;
    }
  }

  uint32_t route(std::size_t k) {
    Cpe& c = cpe_[k];
    switch (pol_) {
      case Policy::joint: {
        if (c.cum.empty()) return c.choice;  // rejected outcome: cannot happen without an SLA
        const auto draw = static_cast<uint32_t>(route_.below(c.cum.back().first));
        for (const auto& [cum, p] : c.cum)
          if (draw < cum) return p;
        return c.cum.back().second;
      }
      case Policy::nearest:
      case Policy::least_loaded: return c.choice;
      case Policy::round_robin: {  // over sites; a site's first WAN (network-blind)
        const uint32_t site = c.rr++ % static_cast<uint32_t>(inst_.size());
        return static_cast<uint32_t>(std::find(c.path_site.begin(), c.path_site.end(), site) - c.path_site.begin());
      }
      case Policy::oracle: {
        // Expected completion given the true queue now: mean RTT + expected wait behind the
        // n requests in (or on their way to) the instance + mean service. Exponential
        // service: wait = max(0, n − c + 1)·s/c (memoryless, c servers draining).
        uint32_t best = 0;
        double best_v = 0;
        for (uint32_t p = 0; p < c.paths.size(); ++p) {
          const Inst& in = inst_[c.path_site[p]];
          const double n = static_cast<double>(in.busy) + static_cast<double>(in.queue.size()) + in.inflight;
          const double wait = std::max(0.0, n - in.c + 1) * sc_.service_s / in.c;
          const double v = c.truth[p].base_rtt_s + c.truth[p].jitter_s + wait;
          if (p == 0 || v < best_v) best = p, best_v = v;
        }
        return best;
      }
    }
    return 0;
  }

  uint32_t alloc() {
    if (!free_.empty()) {
      const uint32_t id = free_.back();
      free_.pop_back();
      return id;
    }
    req_.emplace_back();
    return static_cast<uint32_t>(req_.size() - 1);
  }

  void advance(Inst& in) {
    in.area += in.busy * (now_ - in.last);
    in.last = now_;
  }

  void on_arrive(uint32_t k) {
    // Workload draws first, in a fixed order: identical requests for every policy.
    const double svc = sc_.deterministic ? sc_.service_s : work_.exp(sc_.service_s);
    const double fwd_u = work_.exp(1.0), back_u = work_.exp(1.0);
    const double gap = work_.exp(1.0 / rate(k));

    const uint32_t p = route(k);
    const PathCfg& t = cpe_[k].truth[p];
    const uint32_t id = alloc();
    Request& r = req_[id];
    r.t0 = now_;
    r.svc = svc;
    r.inst = cpe_[k].path_site[p];
    r.back = t.base_rtt_s / 2 + back_u * t.jitter_s / 2;
    r.measured = now_ >= warmup_;
    ++inst_[r.inst].inflight;
    ++live_;
    push(now_ + t.base_rtt_s / 2 + fwd_u * t.jitter_s / 2, Ev::at_instance, id);
    if (now_ + gap < duration_) push(now_ + gap, Ev::arrive, k);
  }

  void on_pinned() {  // existing clients' flows, fixed to one site (figure 4's clients 1, 2)
    const double svc = sc_.deterministic ? sc_.service_s : work_.exp(sc_.service_s);
    const double gap = work_.exp(1.0 / pinned_rate_);
    const uint32_t id = alloc();
    req_[id] = Request{now_, svc, 0.0, static_cast<uint32_t>(sc_.pinned_site), false};
    ++inst_[sc_.pinned_site].inflight;
    ++live_;
    push(now_, Ev::at_instance, id);
    if (now_ + gap < duration_) push(now_ + gap, Ev::pinned);
  }

  void on_at_instance(uint32_t id) {
    Request& r = req_[id];
    Inst& in = inst_[r.inst];
    --in.inflight;
    advance(in);
    if (now_ >= warmup_ && now_ < duration_) in.demand += r.svc;
    if (in.busy < in.c) {
      ++in.busy;
      push(now_ + r.svc, Ev::depart, id);
    } else {
      in.queue.push_back(id);
    }
  }

  void on_depart(uint32_t id) {
    Request& r = req_[id];
    Inst& in = inst_[r.inst];
    advance(in);
    if (r.measured) {
      const double total = now_ + r.back - r.t0;
      sum_ += total;
      done_.push_back(total);
    }
    --live_;
    free_.push_back(id);
    if (!in.queue.empty()) {
      const uint32_t next = in.queue.front();
      in.queue.pop_front();
      push(now_ + req_[next].svc, Ev::depart, next);
    } else {
      --in.busy;
    }
  }

  void on_report(uint32_t i) {
    Inst& in = inst_[i];
    advance(in);
    // Busy fraction over the last window: the ring holds the area one window ago.
    const std::size_t n = in.ring.size();
    const double old = in.ring[in.ring_pos];
    in.ring[in.ring_pos] = in.area;
    in.ring_pos = (in.ring_pos + 1) % n;
    const double span = std::min(sc_.window_s, now_);
    const double util = span > 0 ? std::clamp((in.area - old) / (in.c * span), 0.0, 1.0) : 0.0;
    for (std::size_t k = 0; k < cpe_.size(); ++k) {
      // Reports ride the overlay: the configured delay plus the one-way trip to this CPE.
      const double oneway = sc_.paths[k][i][0].base_rtt_s / 2;
      push(now_ + sc_.metric_delay_s + oneway, Ev::deliver, static_cast<uint32_t>(k), i, util);
    }
    if (now_ + sc_.report_period_s < duration_) push(now_ + sc_.report_period_s, Ev::report, i);
  }

  void on_deliver(uint32_t k, uint32_t i, double util) {
    cpe_[k].view[i].utilization = util;
    decide_again(k);
  }

  void on_probe(uint32_t k, uint32_t p) {
    Cpe& c = cpe_[k];
    const PathCfg& t = c.truth[p];
    const double rtt = (t.base_rtt_s + probe_rng_.exp(t.jitter_s / 2) + probe_rng_.exp(t.jitter_s / 2)) * 1e3;
    ProbeState& s = c.probe[p];
    // RFC 3550 §6.4.1 style smoothing (1/16) for jitter, 1/8 for RTT (as TCP's SRTT).
    if (s.last >= 0) s.jitter += (std::abs(rtt - s.last) - s.jitter) / 16.0;
    s.rtt += (rtt - s.rtt) / 8.0;
    s.last = rtt;
    c.paths[p].rtt_ms = s.rtt;
    c.paths[p].jitter_ms = s.jitter;
    // The view is used at the next metric update (the selector runs per metric update).
    if (now_ + sc_.probe_period_s < duration_) push(now_ + sc_.probe_period_s, Ev::probe, k, p);
  }

  void on_second() {
    std::vector<double> u(inst_.size());
    for (std::size_t i = 0; i < inst_.size(); ++i) {
      advance(inst_[i]);
      u[i] = (inst_[i].area - inst_[i].area_second) / inst_[i].c;
      inst_[i].area_second = inst_[i].area;
    }
    if (now_ > warmup_) {
      if (series_.empty()) series_from_ = static_cast<std::size_t>(std::lround(now_));
      series_.push_back(std::move(u));
    }
    if (now_ + 1.0 <= duration_) push(now_ + 1.0, Ev::second);
  }

  Result summarise() {
    Result r;
    r.requests = done_.size();
    r.sim_s = duration_;
    if (!done_.empty()) {
      r.mean_ms = sum_ / static_cast<double>(done_.size()) * 1e3;
      const auto k = static_cast<std::size_t>(std::ceil(0.99 * static_cast<double>(done_.size()))) - 1;  // nearest rank
      std::nth_element(done_.begin(), done_.begin() + static_cast<std::ptrdiff_t>(k), done_.end());
      r.p99_ms = done_[k] * 1e3;
    }
    const double span = duration_ - warmup_;
    for (const Inst& in : inst_) r.max_offered = std::max(r.max_offered, in.demand / (in.c * span));
    double flaps = 0, pubs = 0;
    for (const Cpe& c : cpe_) flaps += static_cast<double>(c.flaps), pubs += static_cast<double>(c.publications);
    r.flaps_per_min = flaps / static_cast<double>(cpe_.size()) / (duration_ / 60.0);
    r.publications_per_min = pubs / static_cast<double>(cpe_.size()) / (duration_ / 60.0);
    if (!series_.empty()) {
      std::vector<double> spread;
      std::vector<double> mean(inst_.size(), 0), sq(inst_.size(), 0);
      for (const auto& u : series_) {
        spread.push_back(*std::max_element(u.begin(), u.end()) - *std::min_element(u.begin(), u.end()));
        for (std::size_t i = 0; i < u.size(); ++i) mean[i] += u[i], sq[i] += u[i] * u[i];
      }
      const auto n = static_cast<double>(series_.size());
      for (double s : spread) r.spread_mean += s / n;
      std::sort(spread.begin(), spread.end());
      r.spread_p95 = spread[static_cast<std::size_t>(std::ceil(0.95 * n)) - 1];
      for (std::size_t i = 0; i < inst_.size(); ++i) {
        const double m = mean[i] / n;
        r.util_sd += std::sqrt(std::max(0.0, sq[i] / n - m * m)) / static_cast<double>(inst_.size());
      }
      r.util_series = std::move(series_);
      r.series_from = series_from_;
    }
    return r;
  }

  const Scenario& sc_;
  Policy pol_;
  sel::Service svc_;
  Rng work_, route_, probe_rng_;
  double pinned_rate_ = 0, steer_rate_ = 0, duration_ = 0, warmup_ = 0;
  double now_ = 0;
  uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> ev_;
  std::vector<Inst> inst_;
  std::vector<Cpe> cpe_;
  std::vector<Request> req_;
  std::vector<uint32_t> free_;
  std::size_t live_ = 0;
  std::vector<double> done_;
  double sum_ = 0;
  std::vector<std::vector<double>> series_;
  std::size_t series_from_ = 0;
};

// ---------------------------------------------------------------------------------------
// Scenarios.

// Draft §4.1 figure 3: network delays 9 / 4 / 5 ms, client delay 9.4 ms, computing delay
// 4 ms when lightly loaded (site 1). The draft's light / heavy / normal load is what
// different capacities do to one offered load: 8 / 2 / 4 vCPUs at 4 ms per request, so
// the nearest site (2) is also the smallest and saturates first.
Scenario fig3(uint64_t seed) {
  Scenario s;
  s.name = "figure 3 (AR/VR, 3 edge sites)";
  s.service_s = 0.004;
  s.access_s = 0.0094;
  const double net[] = {0.009, 0.004, 0.005};
  const int vcpus[] = {8, 2, 4};
  s.cpe_share = {1.0};
  s.paths.resize(1);
  for (int i = 0; i < 3; ++i) {
    s.sites.push_back(SiteCfg{"site" + std::to_string(i + 1), vcpus[i], {"wan1"}});
    s.paths[0].push_back({PathCfg{net[i], 0.0005}});
  }
  s.seed = seed;
  return s;
}

// Draft §4.4 figure 4: two clouds, APP1 on 6 vCPUs each, equal WAN1 / WAN2 (RTT 20 ms,
// jitter 1 ms). Clients 1 and 2 already use cloud1 (its 50 % vs 20 %): a third of the
// offered load is pinned there; the CPE steers the rest. Service time 20 ms (the unit test's).
Scenario fig4(uint64_t seed) {
  Scenario s;
  s.name = "figure 4 (SD-WAN, 2 clouds x 2 WANs)";
  s.service_s = 0.020;
  s.sites = {SiteCfg{"vcpe1", 6, {"wan1", "wan2"}}, SiteCfg{"vcpe2", 6, {"wan1", "wan2"}}};
  s.cpe_share = {1.0};
  s.paths = {{{PathCfg{0.020, 0.001}, PathCfg{0.020, 0.001}}, {PathCfg{0.020, 0.001}, PathCfg{0.020, 0.001}}}};
  s.pinned_share = 1.0 / 3.0;
  s.pinned_site = 0;
  s.seed = seed;
  return s;
}

// Randomised multi-site: 6 sites (2..16 vCPUs, 1–2 WANs), 4 CPEs with unequal demand,
// RTT 5–55 ms and jitter 0.2–3 ms per (CPE, site, WAN), 10 ms service time.
Scenario random_sites(uint64_t seed) {
  Scenario s;
  s.name = "randomised (6 sites, 4 CPEs)";
  s.service_s = 0.010;
  Rng g(mix(seed, 99));
  const int sizes[] = {2, 4, 8, 16};
  for (int i = 0; i < 6; ++i) {
    SiteCfg site{"site" + std::to_string(i + 1), sizes[g.below(4)], {"wan1"}};
    if (g.uniform() < 0.5) site.wans.push_back("wan2");
    s.sites.push_back(site);
  }
  double tot = 0;
  for (int k = 0; k < 4; ++k) {
    s.cpe_share.push_back(0.5 + g.uniform());
    tot += s.cpe_share.back();
    s.paths.emplace_back();
    for (const auto& site : s.sites) {
      s.paths.back().emplace_back();
      for (std::size_t w = 0; w < site.wans.size(); ++w)
        s.paths.back().back().push_back(PathCfg{0.005 + 0.050 * g.uniform(), 0.0002 + 0.0028 * g.uniform()});
    }
  }
  for (double& x : s.cpe_share) x /= tot;
  s.seed = seed;
  return s;
}

// Herd: 50 CPEs share 3 equal instances (8 vCPUs, 20 ms), RTT 10–30 ms per (CPE,
// instance), metrics 1 s late. Every CPE sees the same stale utilisation at about the same
// time; a policy that follows it herds.
Scenario herd(uint64_t seed) {
  Scenario s;
  s.name = "herd (50 CPEs, 3 instances, metrics 1 s late)";
  s.service_s = 0.020;
  Rng g(mix(seed, 77));
  for (int i = 0; i < 3; ++i) s.sites.push_back(SiteCfg{"vcpe" + std::to_string(i + 1), 8, {"wan1"}});
  for (int k = 0; k < 50; ++k) {
    s.cpe_share.push_back(1.0 / 50);
    s.paths.emplace_back();
    for (int i = 0; i < 3; ++i) s.paths.back().push_back({PathCfg{0.010 + 0.020 * g.uniform(), 0.001}});
  }
  s.metric_delay_s = 1.0;
  s.min_duration_s = 120.0;
  s.max_duration_s = 120.0;
  s.seed = seed;
  return s;
}

// ---------------------------------------------------------------------------------------

struct Job {
  const Scenario* sc;
  double load;
  std::size_t load_idx;
  Policy pol;
  Result res;
};

void run_jobs(std::vector<Job>& jobs, unsigned threads) {
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t j; (j = next.fetch_add(1)) < jobs.size();) {
      Job& jb = jobs[j];
      // Seed by scenario and load only: every policy gets the same workload.
      Sim sim(*jb.sc, jb.load, jb.pol, mix(jb.sc->seed, jb.load_idx));
      jb.res = sim.run();
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

void print_quality(const Scenario& sc, const std::vector<double>& loads, const std::vector<Job>& jobs) {
  std::printf("\n### %s — completion time, ms: mean / p99\n\n", sc.name.c_str());
  std::printf("capacity %.0f req/s, service %.0f ms %s, metrics every %.0f ms over %.1f s, %.0f ms late\n\n",
              sc.capacity(), sc.service_s * 1e3, sc.deterministic ? "deterministic" : "exponential",
              sc.report_period_s * 1e3, sc.window_s, sc.metric_delay_s * 1e3);
  std::printf("| load |");
  for (Policy p : kPolicies) std::printf(" %s |", name(p));
  std::printf(" joint p99 / oracle |\n|---:|");
  for (std::size_t i = 0; i <= std::size(kPolicies); ++i) std::printf("---:|");
  std::printf("\n");
  for (std::size_t l = 0; l < loads.size(); ++l) {
    std::printf("| %2.0f %% |", loads[l] * 100);
    double joint = 0, oracle = 0;
    for (Policy p : kPolicies) {
      for (const Job& j : jobs) {
        if (j.sc != &sc || j.load_idx != l || j.pol != p) continue;
        // '*': some instance was offered more than its capacity — its queue grew for the
        // whole run, so that figure depends on the run length.
        std::printf(" %.1f / %.1f%s |", j.res.mean_ms, j.res.p99_ms, j.res.max_offered > 1.0 ? "*" : "");
        if (p == Policy::joint) joint = j.res.p99_ms;
        if (p == Policy::oracle) oracle = j.res.p99_ms;
      }
    }
    std::printf(" %.2f |\n", oracle > 0 ? joint / oracle : 0.0);
  }
}

void print_herd(const Scenario& sc, const std::vector<double>& loads, const std::vector<Job>& jobs) {
  std::printf("\n### %s\n\n", sc.name.c_str());
  std::printf(
      "| load | policy | mean ms | p99 ms | weight flaps /CPE/min | publications /CPE/min | "
      "util spread max-min (mean, p95) | per-instance util s.d. |\n|---:|---|---:|---:|---:|---:|---:|---:|\n");
  for (std::size_t l = 0; l < loads.size(); ++l)
    for (const Job& j : jobs) {
      if (j.sc != &sc || j.load_idx != l) continue;
      const Result& r = j.res;
      char pubs[32] = "-";  // baselines have no publications, only a current choice
      if (j.pol == Policy::joint) std::snprintf(pubs, sizeof pubs, "%.1f", r.publications_per_min);
      std::printf("| %2.0f %% | %s | %.1f | %.1f%s | %.1f | %s | %.2f, %.2f | %.3f |\n", loads[l] * 100, name(j.pol),
                  r.mean_ms, r.p99_ms, r.max_offered > 1.0 ? "*" : "", r.flaps_per_min, pubs, r.spread_mean,
                  r.spread_p95, r.util_sd);
    }
  // A short trace makes oscillation visible: true 1 s utilisation of the three instances.
  const std::size_t show = loads.size() - 1;
  std::printf("\nTrue utilisation (%%) per second at %.0f %% load, 16 s from t = 40 s (instance 1/2/3):\n\n",
              loads[show] * 100);
  for (const Job& j : jobs) {
    if (j.sc != &sc || j.load_idx != show) continue;
    std::printf("%-13s", name(j.pol));
    const std::size_t from = 40 - j.res.series_from;
    for (std::size_t s = from; s < std::min<std::size_t>(from + 16, j.res.util_series.size()); ++s) {
      std::printf(" ");
      for (std::size_t i = 0; i < j.res.util_series[s].size(); ++i)
        std::printf("%s%02.0f", i ? "/" : "", std::min(99.0, j.res.util_series[s][i] * 100));
    }
    std::printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1;
  unsigned threads = 2;
  bool det = false, quick = false;
  double damp = 0.0;
  sel::SelectorConfig selector;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg == "--seed" && a + 1 < argc) seed = std::strtoull(argv[++a], nullptr, 10);
    else if (arg == "--threads" && a + 1 < argc) threads = static_cast<unsigned>(std::max(1L, std::strtol(argv[++a], nullptr, 10)));
    else if (arg == "--deterministic") det = true;
    else if (arg == "--quick") quick = true;
    // Ablations of the selector's own knobs (never the simulation's): see BENCHMARKS.md.
    else if (arg == "--hold-down-ms" && a + 1 < argc) selector.hold_down = std::chrono::milliseconds(std::strtol(argv[++a], nullptr, 10));
    else if (arg == "--damp" && a + 1 < argc) damp = std::strtod(argv[++a], nullptr);
    else if (arg == "--rel-threshold" && a + 1 < argc) selector.rel_threshold = std::strtod(argv[++a], nullptr);
    else if (arg == "--step-gain" && a + 1 < argc) selector.step_gain = std::strtod(argv[++a], nullptr);
    else if (arg == "--step-min" && a + 1 < argc) selector.step_min = std::strtod(argv[++a], nullptr);
    else if (arg == "--step-max" && a + 1 < argc) selector.step_max = std::strtod(argv[++a], nullptr);
    else if (arg == "--settle-units" && a + 1 < argc) selector.settle_units = static_cast<uint32_t>(std::strtoul(argv[++a], nullptr, 10));
    else if (arg == "--overload-util" && a + 1 < argc) selector.overload_utilization = std::strtod(argv[++a], nullptr);
    else if (arg == "--urgent-cost-rise" && a + 1 < argc) selector.urgent_cost_rise = std::strtod(argv[++a], nullptr);
    else if (arg == "--foreign-jump" && a + 1 < argc) selector.foreign_jump = std::strtod(argv[++a], nullptr);
    else if (arg == "--explain-window-ms" && a + 1 < argc) selector.explain_window = std::chrono::milliseconds(std::strtol(argv[++a], nullptr, 10));
    else if (arg == "--band-z" && a + 1 < argc) selector.band.z = std::strtod(argv[++a], nullptr);
    else if (arg == "--rise-window-ms" && a + 1 < argc) selector.band.rise_window_s = std::strtod(argv[++a], nullptr) / 1000.0;
    else if (arg == "--trend-run" && a + 1 < argc) selector.band.trend_run = std::atoi(argv[++a]);
    else if (arg == "--util-sigma-cap" && a + 1 < argc) selector.band.util_sigma_cap = std::strtod(argv[++a], nullptr);
    else if (arg == "--trend-rtt" && a + 1 < argc) selector.band.trend_rtt = std::atoi(argv[++a]) != 0;
    else if (arg == "--band-max" && a + 1 < argc) selector.band_max = std::strtod(argv[++a], nullptr);
    else if (arg == "--goal-ms" && a + 1 < argc) selector.goal_time = std::chrono::milliseconds(std::strtol(argv[++a], nullptr, 10));
    else {
      std::fprintf(stderr, "usage: %s [--seed N] [--threads N] [--deterministic] [--quick] [--hold-down-ms N] [--rel-threshold X] [--step-gain G] [--step-min A] [--step-max A] [--settle-units N] [--overload-util U] [--urgent-cost-rise R] [--foreign-jump J] [--explain-window-ms N] [--band-z Z] [--rise-window-ms N] [--trend-run N] [--util-sigma-cap K] [--trend-rtt 0|1] [--band-max B] [--goal-ms N] [--damp A]\n", argv[0]);
      return 2;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Scenario> quality{fig3(seed), fig4(seed), random_sites(seed)};
  Scenario h = herd(seed);
  for (Scenario* s : {&quality[0], &quality[1], &quality[2], &h}) {
    s->deterministic = det;
    s->selector = selector;
    s->damp = damp;
    if (quick) s->target_requests /= 4, s->min_duration_s /= 2, s->max_duration_s /= 2;
  }
  const std::vector<double> loads{0.10, 0.30, 0.50, 0.70, 0.80, 0.90, 0.95};
  const std::vector<double> herd_loads{0.70, 0.90};

  std::vector<Job> jobs;
  for (const Scenario& s : quality)
    for (std::size_t l = 0; l < loads.size(); ++l)
      for (Policy p : kPolicies) jobs.push_back(Job{&s, loads[l], l, p, {}});
  for (std::size_t l = 0; l < herd_loads.size(); ++l)
    for (Policy p : {Policy::joint, Policy::least_loaded, Policy::oracle}) jobs.push_back(Job{&h, herd_loads[l], l, p, {}});
  run_jobs(jobs, threads);

  std::printf("sim_selection: seed %llu, %s service times, %zu runs, selector hold-down %lld ms, rel_threshold %.2f, "
              "step %.2f(1-rho) in %.2f..%.2f, settle %u, overload %.2f, urgent cost rise %.2f%s\n",
              static_cast<unsigned long long>(seed), det ? "deterministic" : "exponential", jobs.size(),
              static_cast<long long>(selector.hold_down.count()), selector.rel_threshold, selector.step_gain, selector.step_min,
              selector.step_max, selector.settle_units, selector.overload_utilization, selector.urgent_cost_rise,
              damp > 0 ? (", ABLATION: damped weights " + std::to_string(damp)).c_str() : "");
  for (const Scenario& s : quality) print_quality(s, loads, jobs);
  print_herd(h, herd_loads, jobs);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("\nwall time %.1f s (%u threads)\n", secs, threads);
  return 0;
}
