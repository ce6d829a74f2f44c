// vCPE services (C-SMA): sample every instance, send signed rate-controlled reports to
// every CPE over a tunnel, accept the CPEs' desired intervals and sampling plans, reflect
// STAMP probes, and expose all of it on the control API.
//
// Threads: everything below runs on the daemon's services io_context thread except the
// API handlers (API server thread); they only read `Shared`, under its mutex.
#include "vcpe/services.hpp"

#include "base/hex.hpp"
#include "base/log.hpp"
#include "report/ed25519.hpp"
#include "report/report.hpp"
#include "report/scheduler.hpp"
#include "sampler/figures.hpp"
#include "sampler/instance_sampler.hpp"
#include "stamp/reflector.hpp"
#include "tunsock/tunnel_socket.hpp"
#include "vcpe/plan.hpp"
#include "vcpe/replay_marks.hpp"

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <span>

namespace cats::vcpe {
namespace asio = boost::asio;
namespace json = boost::json;
using asio::ip::udp;
using std::chrono::steady_clock;

namespace {

struct InstanceView {
  std::string service, id, address;
  std::string source = "file";  // or "plan:<cpe>" (a CPE's sampling plan)
  bool sampled = false;
  bool available = false;
  std::string reason = "not sampled yet";
  std::vector<metrics::L0Metric> metrics;
  steady_clock::time_point at{};
};

struct PathView {
  std::string cpe, wan, ifname;
  uint64_t sent = 0, errors = 0;
  std::string last_error;
};

// What the API thread may read. Written on the io thread.
struct Shared {
  std::mutex mu;
  std::vector<InstanceView> instances;
  std::vector<PathView> paths;
  uint64_t reports_sent = 0;
  uint64_t reports_failed = 0;  // reports that left over no path to some CPE
  uint64_t last_seq = 0;
  report::Intervals intervals;
  uint64_t desired_accepted = 0, desired_ignored = 0;
  std::string desired_last;  // "<cpe>: min/max" of the last applied message
  struct PlanView {
    uint64_t revision = 0;
    std::string digest;  // hex
    size_t entries = 0;
    uint8_t applied = 0;
    std::vector<report::PlanRefusal> refused;
  };
  std::map<std::string, PlanView> plans;  // per CPE, the plan applied last
  uint64_t plans_accepted = 0, plans_ignored = 0;
  uint64_t mark_write_failures = 0;  // replay marks not saved (vcpe/replay_marks.hpp)
  std::string mark_error;
  stamp::ReflectorCounters reflector{};
};

json::value metric_json(const metrics::L0Metric& m) {
  json::object o;
  const auto* t = metrics::find_type(m.type);
  o["type"] = t ? json::value(std::string(t->name)) : json::value(m.type);
  o["value"] = m.value;
  o["unit"] = std::string(metrics::to_string(m.unit));
  o["source"] = std::string(metrics::to_string(m.source));
  o["statistic"] = std::string(metrics::to_string(m.statistic));
  return o;
}

class VcpeServices final : public daemon::Services {
 public:
  VcpeServices(asio::io_context& io, config::VcpeConfig cfg, report::SigningKey key,
               std::map<std::string, report::PublicKey> cpe_keys, ReplayMarks marks, std::shared_ptr<Shared> shared)
      : io_(io),
        cfg_(std::move(cfg)),
        key_(std::move(key)),
        cpe_keys_(std::move(cpe_keys)),
        marks_(std::move(marks)),
        shared_(std::move(shared)),
        scheduler_(report::Intervals{report::Millis(cfg_.reporting.min_interval_ms),
                                     report::Millis(cfg_.reporting.max_interval_ms)},
                   thresholds(cfg_.reporting)),
        seq_(report::initial_sequence(unix_ns())),
        timer_(io),
        listener_(io) {
    for (const auto& in : cfg_.instances) add_slot(in, "file");
    for (auto& c : cfg_.cpes)
      for (auto& p : c.paths) {
        paths_.push_back({&c, &p,
                          std::make_unique<tunsock::TunnelUdpSocket>(
                              io_, tunsock::Options{p.tunnel_interface, *cfg_.lan.address, std::nullopt})});
        shared_->paths.push_back({c.name, p.wan, p.tunnel_interface, 0, 0, {}});
      }
    shared_->intervals = scheduler_.intervals();
  }

  ~VcpeServices() override {
    timer_.cancel();
    if (reflector_) reflector_->stop();
  }

  Status start() {
    // STAMP reflector on the inner address (R7: the CPE probes every path to us).
    stamp::ReflectorConfig rc;
    rc.address = *cfg_.lan.address;
    rc.port = cfg_.probing.port;
    if (!cfg_.probing.auth_key.empty()) {
      auto k = stamp::AuthKey::make(cfg_.probing.auth_key);
      if (!k) return fail(k.error().context("probing.auth_key"));
      rc.key = *k;
    }
    auto r = stamp::StampReflector::start(io_, rc);
    if (!r) return fail(r.error().context("STAMP reflector on " + rc.address.to_string()));
    reflector_ = *r;
    // Desired-interval messages arrive over any tunnel to our inner address.
    boost::system::error_code ec;
    udp::endpoint ep(*cfg_.lan.address, cfg_.reporting.port);
    listener_.open(ep.protocol(), ec);
    if (!ec) listener_.bind(ep, ec);
    if (ec) return fail(Error::sys(ec.value(), "reporting listener " + ep.address().to_string() + ":" +
                                                   std::to_string(ep.port())));
    arm_listener();
    tick();
    log::info("vcpe", "services: " + std::to_string(slots_.size()) + " instance(s), reports to " +
                          std::to_string(cfg_.cpes.size()) + " CPE(s), STAMP reflector on " +
                          rc.address.to_string() + ":" + std::to_string(rc.port) +
                          (rc.key ? " (authenticated)" : ""));
    return ok();
  }

 private:
  static report::Thresholds thresholds(const config::Reporting& r) {
    report::Thresholds t;
    t.utilization_abs = r.utilization_threshold;
    t.delay_rel = r.delay_threshold_pct / 100.0;
    return t;
  }
  static uint64_t unix_ns() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  }

  // One sampled instance: from the file, or from a CPE's plan (source "plan:<cpe>").
  // Slots are addressed by id in sampler callbacks, so a slot removed while its round is
  // in flight is simply not found. shared_->instances is kept parallel to slots_.
  struct Slot {
    uint64_t id;
    config::Instance cfg;
    std::string source;
    std::shared_ptr<sampler::InstanceSampler> sampler;
    sampler::InstanceFigures figures;
    bool sampled = false;
  };

  void add_slot(const config::Instance& in, const std::string& source) {
    const uint64_t id = next_slot_++;
    slots_.push_back(Slot{id, in, source, sampler::InstanceSampler::create(io_, in),
                          sampler::InstanceFigures(in.service_time_ms), false});
    InstanceView v;
    v.service = in.service;
    v.id = in.id;
    v.address = in.address.address().to_string() + ":" + std::to_string(in.address.port());
    v.source = source;
    std::lock_guard lk(shared_->mu);
    shared_->instances.push_back(std::move(v));
  }

  std::optional<size_t> slot_index(uint64_t id) const {
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].id == id) return i;
    return std::nullopt;
  }

  // Every min_interval: start a round for each idle sampler (a slow instance skips
  // rounds instead of piling them up) and let the scheduler fire a held-back change or
  // the max_interval heartbeat (R11).
  void tick() {
    for (auto& sl : slots_)
      sl.sampler->sample([this, id = sl.id](const sampler::Sample& s) { on_sample(id, s); });
    if (all_sampled() && scheduler_.poll(steady_clock::now())) send(scheduler_.latest());
    {
      std::lock_guard lk(shared_->mu);
      if (reflector_) shared_->reflector = reflector_->counters();
    }
    timer_.expires_after(std::chrono::milliseconds(cfg_.reporting.min_interval_ms));
    timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) tick();
    });
  }

  bool all_sampled() const {
    for (const auto& sl : slots_)
      if (!sl.sampled) return false;
    return true;
  }

  void on_sample(uint64_t id, const sampler::Sample& s) {
    auto i = slot_index(id);
    if (!i) return;  // withdrawn by a plan while its round ran
    auto& sl = slots_[*i];
    sl.sampled = true;
    {
      std::lock_guard lk(shared_->mu);
      auto& v = shared_->instances[*i];
      if (v.sampled && v.available != s.available)
        log::info("vcpe", v.service + "/" + v.id + (s.available ? " available" : " unavailable: " + s.reason));
      v.sampled = true;
      v.available = s.available;
      v.reason = s.reason;
      // The instance's own figures (service time, last delay with its age) ride along with
      // what was sampled (docs/METRICS.md "Instance figures").
      v.metrics = sl.figures.update(s.metrics, s.at);
      v.at = s.at;
    }
    if (!all_sampled()) return;
    // A report is a full snapshot: every instance, available or not (R3, R4).
    if (scheduler_.offer(snapshot(), steady_clock::now())) send(scheduler_.latest());
  }

  std::vector<report::InstanceReport> snapshot() {
    std::vector<report::InstanceReport> out;
    std::lock_guard lk(shared_->mu);
    for (size_t i = 0; i < slots_.size(); ++i) {
      const auto& in = slots_[i].cfg;
      auto& v = shared_->instances[i];
      report::InstanceReport r;
      r.service_id = in.service;
      r.instance_id = in.id;
      r.address = in.address;
      r.available = v.available;
      // The sender holds itself to the receiver's rule (docs/METRICS.md): an invalid
      // known metric is dropped here rather than making the whole report malformed.
      for (auto& m : v.metrics)
        if (metrics::is_valid(m) && r.metrics.size() < report::kMaxMetricsPerInstance) r.metrics.push_back(m);
      out.push_back(std::move(r));
    }
    return out;
  }

  void send(const std::vector<report::InstanceReport>& instances) {
    report::Report r;
    r.vcpe_id = cfg_.daemon.name;
    r.seq = seq_++;
    r.timestamp_ns = unix_ns();
    r.instances = instances;
    auto bytes = report::encode_report(r, key_);
    if (!bytes) {
      log::warn("vcpe", "report not encoded: " + bytes.error().message);
      return;
    }
    bool all_ok = true;
    for (auto& c : cfg_.cpes) all_ok = send_to_cpe(c, *bytes) && all_ok;
    std::lock_guard lk(shared_->mu);
    ++shared_->reports_sent;
    if (!all_ok) ++shared_->reports_failed;
    shared_->last_seq = r.seq;
  }

  // Path choice: the paths of the CPE in config order, falling back to the next on a
  // send error. The vCPE's main table has no route to the CPE's inner address (only the
  // per-path tables selected by `oif` rules, docs/ARCHITECTURE.md), so each socket is
  // bound to its tunnel with SO_BINDTODEVICE and to our inner address (the source the
  // CPE's collector maps to this vCPE). Why not prefer by handshake age: WireGuard
  // authenticates whichever path carries it, and a silently lossy first path is covered
  // by the max_interval heartbeat plus the CPE's 3 x max_interval expiry; reading the
  // handshake needs the WireGuard control socket, which stays with the reconcile loop.
  bool send_to_cpe(const config::CpePeer& c, const std::vector<uint8_t>& bytes) {
    udp::endpoint dst(c.address, cfg_.reporting.port);
    for (size_t k = 0; k < paths_.size(); ++k) {
      auto& p = paths_[k];
      if (p.cpe != &c) continue;
      // The helper reopens the socket when the tunnel was re-created (issue 14).
      auto st = p.socket->send(bytes, dst);
      std::lock_guard lk(shared_->mu);
      if (st) {
        ++shared_->paths[k].sent;
        return true;
      }
      auto& pv = shared_->paths[k];
      ++pv.errors;
      if (pv.last_error != st.error().message) log::debug("vcpe", "report via " + pv.ifname + ": " + st.error().message);
      pv.last_error = st.error().message;
    }
    return false;
  }

  struct Path {
    const config::CpePeer* cpe;
    const config::CpePath* path;
    std::unique_ptr<tunsock::TunnelUdpSocket> socket;  // bound to the path's tunnel and our inner address
  };

  void arm_listener() {
    listener_.async_receive_from(asio::buffer(rx_), rx_from_, [this](boost::system::error_code ec, size_t n) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) on_cpe_message(std::span<const uint8_t>(rx_.data(), n));
      arm_listener();
    });
  }

  void on_cpe_message(std::span<const uint8_t> bytes) {
    auto t = report::peek_type(bytes);
    if (t && *t == report::MessageType::sampling_plan) return on_plan(bytes);
    on_desired(bytes);
  }

  // The checks both CPE messages pass (R23): addressed to us, from a CPE whose
  // report_key we have, signed by it, newer than the last message from it (one sequence
  // per CPE over both types: the CPE numbers them from one counter; the marks outlive a
  // restart, vcpe/replay_marks.hpp). Empty: accepted.
  template <class M>
  std::string check_cpe_message(const report::Decoded<M>& d) {
    const auto& m = d.message;
    if (m.vcpe_id != cfg_.daemon.name) return "addressed to " + m.vcpe_id;
    auto k = cpe_keys_.find(m.cpe_id);
    if (k == cpe_keys_.end()) return "no report_key configured for CPE " + m.cpe_id;
    if (!d.verify(k->second)) return "bad signature";
    if (marks_.is_replay(m.cpe_id, m.seq)) return "replay";
    if (auto st = marks_.accept(m.cpe_id, m.seq); !st) {
      std::lock_guard lk(shared_->mu);
      if (shared_->mark_write_failures++ == 0 || shared_->mark_error != st.error().message)
        log::warn("vcpe", "replay mark of " + m.cpe_id + " not saved (a restart could take this message again): " +
                              st.error().message);
      shared_->mark_error = st.error().message;
    }
    return {};
  }

  // The CPE's DesiredInterval (R11); the scheduler clamps the values.
  void on_desired(std::span<const uint8_t> bytes) {
    auto ignore = [&](const std::string& why) {
      log::debug("vcpe", "desired interval from " + rx_from_.address().to_string() + " ignored: " + why);
      std::lock_guard lk(shared_->mu);
      ++shared_->desired_ignored;
    };
    if (bytes.size() > report::kMaxDatagram) return ignore("oversized");
    auto d = report::decode_desired_interval(bytes);
    if (!d) return ignore(d.error().message);
    if (auto why = check_cpe_message(*d); !why.empty()) return ignore(why);
    const auto& m = d->message;
    auto iv = scheduler_.set_intervals(report::Millis(m.min_interval_ms), report::Millis(m.max_interval_ms));
    log::info("vcpe", "report intervals from " + m.cpe_id + ": min " + std::to_string(iv.min.count()) + " ms, max " +
                          std::to_string(iv.max.count()) + " ms");
    std::lock_guard lk(shared_->mu);
    ++shared_->desired_accepted;
    shared_->intervals = iv;
    shared_->desired_last = m.cpe_id;
  }

  // A whole plan of one CPE, assembled from its parts.
  struct PlanMessage {
    std::string cpe_id;
    uint64_t revision = 0;
    std::vector<report::PlanInstance> instances;
  };

  // A CPE's sampling plan (issue 9): decide within our limits (vcpe/plan.hpp), start and
  // stop samplers to match, and confirm with a signed PlanAck. The same plan twice
  // changes nothing (and is confirmed again).
  void on_plan(std::span<const uint8_t> bytes) {
    auto ignore = [&](const std::string& why) {
      log::debug("vcpe", "sampling plan from " + rx_from_.address().to_string() + " ignored: " + why);
      std::lock_guard lk(shared_->mu);
      ++shared_->plans_ignored;
    };
    if (bytes.size() > report::kMaxDatagram) return ignore("oversized");
    auto d = report::decode_sampling_plan(bytes);
    if (!d) return ignore(d.error().message);
    if (auto why = check_cpe_message(*d); !why.empty()) return ignore(why);
    const auto& part = d->message;
    // A plan of several parts is applied once all have arrived (vcpe/plan.hpp).
    auto fed = assemblers_[part.cpe_id].feed(part);
    if (!fed.error.empty()) return ignore(fed.error);
    if (!fed.plan) {
      std::lock_guard lk(shared_->mu);
      ++shared_->plans_accepted;
      return;
    }
    PlanMessage m{part.cpe_id, fed.plan->revision, std::move(fed.plan->instances)};
    const auto* digest = &fed.plan->digest;

    // Room for this CPE: what the other CPEs' plans do not use, within max_instances and
    // the report's kMaxInstances beside the file's instances.
    size_t others = 0;
    for (const auto& [cpe, list] : plan_instances_)
      if (cpe != m.cpe_id) others += list.size();
    const size_t cap = std::min<size_t>(cfg_.sampling_plan.max_instances,
                                        report::kMaxInstances - std::min(report::kMaxInstances, cfg_.instances.size()));
    const size_t room = cap > others ? cap - others : 0;
    auto dec = decide_plan(m.instances, cfg_.instances, cfg_.sampling_plan, room);
    for (const auto& f : dec.refused) {
      const std::string key = m.cpe_id + "|" + f.service_id + "|" + f.instance_id + "|" + std::string(to_string(f.reason));
      if (logged_refusals_.insert(key).second)
        log::warn("vcpe", "sampling plan of " + m.cpe_id + ": " + f.service_id + "/" + f.instance_id + " refused: " +
                              refusal_text(f.reason));
    }
    if (dec.sample != plan_instances_[m.cpe_id]) {
      plan_instances_[m.cpe_id] = dec.sample;
      sync_plan_slots();
      log::info("vcpe", "sampling plan of " + m.cpe_id + " (revision " + std::to_string(m.revision) + "): " +
                            std::to_string(dec.sample.size()) + " instance(s) sampled for it, " +
                            std::to_string(dec.covered) + " already in the file, " +
                            std::to_string(dec.refused.size()) + " refused");
    }
    {
      std::lock_guard lk(shared_->mu);
      ++shared_->plans_accepted;
      auto& pv = shared_->plans[m.cpe_id];
      pv.revision = m.revision;
      pv.digest = hex_bytes(*digest);
      pv.entries = m.instances.size();
      pv.applied = dec.applied();
      pv.refused = dec.refused;
    }
    send_ack(m, *digest, dec);
  }

  static std::string refusal_text(report::Refusal r) {
    switch (r) {
      case report::Refusal::not_allowed: return "its address is outside sampling_plan.allow";
      case report::Refusal::over_limit: return "more plan instances than sampling_plan.max_instances allows";
      case report::Refusal::local_conflict: return "the file has this instance id at another address";
      case report::Refusal::source_not_allowed: return "its load source's host is outside sampling_plan.allow";
      case report::Refusal::source_invalid: return "its load source is not an http://IP URL or names an unknown preset";
    }
    return "unknown";
  }

  // Whether a running slot samples the plan entry's load sources (else it restarts).
  static bool same_sources(const report::PlanInstance& p, const config::Instance& c) {
    if (p.load_url != c.load_url || p.prometheus.size() != c.prometheus.size()) return false;
    for (size_t i = 0; i < p.prometheus.size(); ++i)
      if (p.prometheus[i].url != c.prometheus[i].url || p.prometheus[i].preset != c.prometheus[i].preset) return false;
    return true;
  }

  // The plan instances wanted now (every CPE's, one slot per service and address) against
  // the running plan slots: stop the withdrawn, start the new; the file's are untouched.
  void sync_plan_slots() {
    std::map<std::pair<std::string, UdpEndpoint>, std::pair<report::PlanInstance, std::string>> want;
    for (const auto& [cpe, list] : plan_instances_)
      for (const auto& p : list) want.try_emplace({p.service_id, p.address}, p, "plan:" + cpe);
    for (size_t i = slots_.size(); i-- > 0;) {
      auto& sl = slots_[i];
      if (sl.source == "file") continue;
      auto it = want.find({sl.cfg.service, sl.cfg.address});
      if (it != want.end() && it->second.first.instance_id == sl.cfg.id && same_sources(it->second.first, sl.cfg)) {
        want.erase(it);  // running already
        continue;
      }
      log::info("vcpe", "stopped sampling " + sl.cfg.service + "/" + sl.cfg.id + " (" + sl.source + ")");
      slots_.erase(slots_.begin() + static_cast<std::ptrdiff_t>(i));
      std::lock_guard lk(shared_->mu);
      shared_->instances.erase(shared_->instances.begin() + static_cast<std::ptrdiff_t>(i));
    }
    for (const auto& [key, entry] : want) {
      add_slot(plan_instance_config(entry.first), entry.second);
      log::info("vcpe", "sampling " + entry.first.service_id + "/" + entry.first.instance_id + " at " +
                            endpoint_to_string(entry.first.address) + " (" + entry.second + ")");
    }
    // The membership changed: the next report (once every slot has a sample) goes out
    // at once rather than waiting for a significant change or the heartbeat.
    if (all_sampled()) {
      if (scheduler_.offer(snapshot(), steady_clock::now())) send(scheduler_.latest());
    }
  }

  void send_ack(const PlanMessage& m, const report::PlanDigest& digest, const PlanDecision& dec) {
    auto c = std::find_if(cfg_.cpes.begin(), cfg_.cpes.end(), [&](const config::CpePeer& p) { return p.name == m.cpe_id; });
    if (c == cfg_.cpes.end()) return;
    report::PlanAck a;
    a.vcpe_id = cfg_.daemon.name;
    a.cpe_id = m.cpe_id;
    if (ack_seq_ == 0) ack_seq_ = report::initial_sequence(unix_ns());
    a.seq = ack_seq_++;
    a.timestamp_ns = unix_ns();
    a.revision = m.revision;
    a.digest = digest;
    a.applied = dec.applied();
    a.refused = dec.refused;
    auto bytes = report::encode_plan_ack(a, key_);
    if (!bytes) {
      log::warn("vcpe", "plan ack not encoded: " + bytes.error().message);
      return;
    }
    if (!send_to_cpe(*c, *bytes)) log::debug("vcpe", "plan ack to " + m.cpe_id + ": no path took it");
  }

  asio::io_context& io_;
  config::VcpeConfig cfg_;
  report::SigningKey key_;
  std::map<std::string, report::PublicKey> cpe_keys_;
  ReplayMarks marks_;  // io thread only
  std::shared_ptr<Shared> shared_;
  report::ReportScheduler scheduler_;
  uint64_t seq_;
  std::vector<Slot> slots_;  // io thread only
  uint64_t next_slot_ = 0;
  std::map<std::string, std::vector<report::PlanInstance>> plan_instances_;  // per CPE, sampled for it
  std::map<std::string, PlanAssembler> assemblers_;                           // per CPE
  std::set<std::string> logged_refusals_;  // each refusal is logged once
  uint64_t ack_seq_ = 0;
  std::vector<Path> paths_;
  asio::steady_timer timer_;
  udp::socket listener_;
  std::array<uint8_t, report::kMaxDatagram + 1> rx_{};
  udp::endpoint rx_from_;
  std::shared_ptr<stamp::StampReflector> reflector_;
};

// GET /metrics on the vCPE (docs/API.md "Metrics"): the CPE's instance families for the
// instances this vCPE samples (labels {service, instance, vcpe}, vcpe = this daemon's
// name, as the CPE shows them), and the reports it sent. Unknown figures are left out.
api::prom::Collector metrics_collector(std::shared_ptr<Shared> shared, std::string vcpe) {
  return [shared, vcpe](api::prom::Exposition& e) {
    using api::prom::Type;
    using metrics::MetricType;
    e.family("cats_instance_utilization_ratio", Type::gauge, "CPU utilisation last sampled, 0..1.");
    e.family("cats_instance_vcpus", Type::gauge, "vCPUs of the instance.");
    e.family("cats_instance_available", Type::gauge, "1 when the last sample found the instance available.");
    e.family("cats_instance_processing_delay_seconds", Type::gauge, "Processing delay last measured.");
    std::lock_guard lk(shared->mu);
    for (const auto& v : shared->instances) {
      const api::prom::Labels l{{"service", v.service}, {"instance", v.id}, {"vcpe", vcpe}};
      auto cur = [&](MetricType t) {
        auto x = metrics::current_value(v.metrics, t);
        return x && std::isfinite(*x) ? x : std::nullopt;
      };
      if (auto x = cur(MetricType::cpu_utilization)) e.gauge("cats_instance_utilization_ratio", l, *x);
      if (auto x = cur(MetricType::vcpus)) e.gauge("cats_instance_vcpus", l, *x);
      if (v.sampled) e.gauge("cats_instance_available", l, v.available ? 1 : 0);
      if (auto x = cur(MetricType::processing_delay_ms)) e.gauge("cats_instance_processing_delay_seconds", l, *x / 1e3);
    }
    e.counter("cats_reports_sent_total", "Signed reports sent (each to every CPE over its first working path).", {},
              shared->reports_sent);
    e.counter("cats_reports_undelivered_total", "Reports that reached no path to some CPE.", {},
              shared->reports_failed);
  };
}

// Per CPE, the sampling plan applied last (call under shared.mu).
json::object plans_json(const Shared& shared) {
  json::object plans;
  for (const auto& [cpe, pv] : shared.plans) {
    json::array refused;
    for (const auto& f : pv.refused)
      refused.push_back(json::object{{"service", f.service_id}, {"instance", f.instance_id},
                                     {"reason", std::string(report::to_string(f.reason))}});
    plans[cpe] = json::object{{"revision", pv.revision}, {"digest", pv.digest},     {"entries", pv.entries},
                              {"applied", pv.applied},   {"refused", std::move(refused)}};
  }
  return json::object{{"accepted", shared.plans_accepted}, {"ignored", shared.plans_ignored}, {"cpes", std::move(plans)}};
}

void add_routes(api::Router& router, std::shared_ptr<Shared> shared) {
  router.add("GET", "/api/v1/instances", [shared](const api::Request&) {
    auto now = steady_clock::now();
    json::array arr;
    std::lock_guard lk(shared->mu);
    for (auto& v : shared->instances) {
      json::object o;
      o["service"] = v.service;
      o["instance"] = v.id;
      o["address"] = v.address;
      o["source"] = v.source;
      o["available"] = v.available;
      o["reason"] = v.reason;
      json::array ms;
      for (auto& m : v.metrics) ms.push_back(metric_json(m));
      o["metrics"] = std::move(ms);
      if (v.sampled)
        o["last_sample_age_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(now - v.at).count();
      else
        o["last_sample_age_ms"] = nullptr;
      arr.push_back(std::move(o));
    }
    return api::Response::json(json::object{{"instances", std::move(arr)}});
  });
  router.add("GET", "/api/v1/reports", [shared](const api::Request&) {
    std::lock_guard lk(shared->mu);
    json::array paths;
    uint64_t errors = 0;
    for (auto& p : shared->paths) {
      paths.push_back(json::object{{"cpe", p.cpe}, {"wan", p.wan}, {"interface", p.ifname}, {"sent", p.sent},
                                   {"send_errors", p.errors}, {"last_error", p.last_error}});
      errors += p.errors;
    }
    const auto& r = shared->reflector;
    json::object o{
        {"sent", shared->reports_sent},
        {"undelivered", shared->reports_failed},
        {"last_seq", shared->last_seq},
        {"intervals", json::object{{"min_ms", shared->intervals.min.count()}, {"max_ms", shared->intervals.max.count()}}},
        {"send_errors", errors},
        {"paths", std::move(paths)},
        {"desired_interval",
         json::object{{"accepted", shared->desired_accepted}, {"ignored", shared->desired_ignored},
                      {"last_from", shared->desired_last}}},
        {"sampling_plans", plans_json(*shared)},
        {"replay_marks", json::object{{"write_failures", shared->mark_write_failures},
                                      {"last_error", shared->mark_error}}},
        {"stamp_reflector", json::object{{"received", r.received}, {"reflected", r.reflected},
                                         {"malformed", r.malformed}, {"auth_failed", r.auth_failed},
                                         {"rate_limited", r.rate_limited}, {"send_errors", r.send_errors}}}};
    return api::Response::json(std::move(o));
  });
}

}  // namespace

Result<config::VcpeConfig> load_config(const daemon::Args& args) {
  if (args.reimport) return Error::msg("--reimport: a vCPE's configuration is its file; restart it instead");
  return config::load_vcpe(args.config);
}

daemon::ServicesFactory services_factory(const config::VcpeConfig& cfg) {
  return [cfg](daemon::ServiceContext& ctx) -> Result<std::unique_ptr<daemon::Services>> {
    if (!cfg.lan.address) return Error::msg("the vCPE has no inner address");
    auto key = report::load_or_create_signing_key(daemon::report_key_path(ctx.daemon));
    if (!key) return key.error().context("report signing key");
    std::map<std::string, report::PublicKey> cpe_keys;
    for (auto& c : cfg.cpes) {
      if (c.report_key.empty()) continue;
      auto k = report::PublicKey::from_raw(c.report_key);
      if (!k) return k.error().context("cpe " + c.name + " report_key");
      cpe_keys.emplace(c.name, *k);
    }
    std::set<std::string> cpes;
    for (const auto& [name, k] : cpe_keys) cpes.insert(name);
    auto marks = ReplayMarks::load(ctx.daemon.state_dir + "/replay-marks", cpes);
    if (marks.dropped() != 0)
      log::warn("vcpe", ctx.daemon.state_dir + "/replay-marks: " + std::to_string(marks.dropped()) +
                            " line(s) dropped (malformed, or a CPE no longer configured)");
    auto shared = std::make_shared<Shared>();
    auto s = std::make_unique<VcpeServices>(ctx.io, cfg, std::move(*key), std::move(cpe_keys), std::move(marks),
                                            shared);
    if (auto st = s->start(); !st) return st.error();
    add_routes(ctx.router, shared);
    ctx.metrics.push_back(metrics_collector(shared, cfg.daemon.name));
    return std::unique_ptr<daemon::Services>(std::move(s));
  };
}

}  // namespace cats::vcpe
