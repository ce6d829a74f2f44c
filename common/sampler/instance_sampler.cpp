#include "sampler/instance_sampler.hpp"

#include "sampler/http.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace cats::sampler {
using metrics::MetricType;
using std::chrono::steady_clock;

Result<std::string> read_small_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Error::sys(errno, path);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Error::sys(e, path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxFileSize) {
      ::close(fd);
      return Error::msg(path + ": larger than 64 KiB");
    }
  }
  ::close(fd);
  return out;
}

std::shared_ptr<InstanceSampler> InstanceSampler::create(boost::asio::io_context& io, config::Instance cfg,
                                                         SteadyClock clock, FileReader reader) {
  auto p = std::shared_ptr<InstanceSampler>(new InstanceSampler(io, std::move(cfg), std::move(clock), std::move(reader)));
  // Prime the cumulative counters so the first round already has a delta.
  auto now = p->clock_();
  if (!p->cfg_.cgroup.empty()) (void)p->sample_cgroup(now);
  if (p->cfg_.proc) (void)p->sample_proc(now);
  return p;
}

InstanceSampler::InstanceSampler(boost::asio::io_context& io, config::Instance cfg, SteadyClock clock,
                                 FileReader reader)
    : io_(io), cfg_(std::move(cfg)), clock_(std::move(clock)), read_(std::move(reader)) {
  if (!clock_) clock_ = [] { return steady_clock::now(); };
  if (!read_) read_ = read_small_file;
  // The config loader already checked the scheme; a URL we cannot use is a source that
  // always fails (visible in the API) rather than a startup error.
  if (!cfg_.load_url.empty()) {
    auto u = parse_http_url(cfg_.load_url);
    if (u) load_url_ = *u;
    else load_.error = "load_url: " + u.error().message;
  }
  for (const auto& ps : cfg_.prometheus) {
    Prom p{std::nullopt, prom::Mapper(ps.rules), prom::sample_names(ps.rules), {}};
    auto u = parse_http_url(ps.url);
    if (u) p.url = *u;
    else p.src.error = "prometheus url: " + u.error().message;
    prom_.push_back(std::move(p));
  }
  if (cfg_.health.rfind("http://", 0) == 0) {
    auto u = parse_http_url(cfg_.health);
    if (u) health_url_ = *u;
    else health_error_ = "health URL: " + u.error().message;
  }
}

void InstanceSampler::record(Source& s, Result<std::vector<metrics::L0Metric>> r) {
  if (r) {
    s.failures = 0;
    s.answered = true;
    s.error.clear();
    s.last = std::move(*r);
  } else {
    ++s.failures;
    s.error = r.error().message;
  }
}

Result<std::vector<metrics::L0Metric>> InstanceSampler::sample_cgroup(steady_clock::time_point now) {
  const std::string& d = cfg_.cgroup;
  std::vector<metrics::L0Metric> m;
  CATS_TRY_ASSIGN(stat, read_(d + "/cpu.stat"));
  CATS_TRY_ASSIGN(usage, parse_cpu_stat_usage(stat));
  // vCPUs: the quota if one is set, else the CPUs the cgroup may run on.
  std::optional<double> vcpus;
  if (auto t = read_(d + "/cpu.max")) {
    if (auto q = parse_cpu_max(*t); q && *q) vcpus = **q;
  }
  if (!vcpus) {
    if (auto t = read_(d + "/cpuset.cpus.effective")) {
      if (auto n = parse_cpuset_count(*t)) vcpus = static_cast<double>(*n);
    }
  }
  if (!vcpus) {
    long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    vcpus = n > 0 ? static_cast<double>(n) : 1.0;
  }
  auto prev = cg_prev_;
  cg_prev_ = std::make_pair(usage, now);
  m.push_back(metrics::make(MetricType::vcpus, std::clamp(*vcpus, 0.0, 4096.0), metrics::Source::nominal));
  if (prev) {
    if (auto u = usage_utilization(prev->first, usage, now - prev->second, *vcpus))
      m.push_back(metrics::make(MetricType::cpu_utilization, *u));
  }
  if (auto cur = read_(d + "/memory.current")) {
    auto max = read_(d + "/memory.max");
    auto c = parse_memory_value(*cur);
    auto mx = max ? parse_memory_value(*max) : Result<std::optional<uint64_t>>(Error::msg("no memory.max"));
    if (c && *c && mx && *mx && **mx > 0)
      m.push_back(metrics::make(MetricType::memory_utilization,
                                std::clamp(static_cast<double>(**c) / static_cast<double>(**mx), 0.0, 1.0)));
  }
  return m;
}

Result<std::vector<metrics::L0Metric>> InstanceSampler::sample_proc(steady_clock::time_point) {
  CATS_TRY_ASSIGN(stat, read_("/proc/stat"));
  CATS_TRY_ASSIGN(cur, parse_proc_stat(stat));
  std::vector<metrics::L0Metric> m{
      metrics::make(MetricType::vcpus, std::min<double>(cur.cpus, 4096), metrics::Source::nominal)};
  if (proc_prev_) {
    if (auto u = proc_utilization(*proc_prev_, cur)) m.push_back(metrics::make(MetricType::cpu_utilization, *u));
  }
  proc_prev_ = cur;
  if (auto mi = read_("/proc/meminfo")) {
    if (auto p = parse_meminfo(*mi))
      m.push_back(metrics::make(MetricType::memory_utilization,
                                1.0 - static_cast<double>(p->available_kb) / static_cast<double>(p->total_kb)));
  }
  return m;
}

bool InstanceSampler::sample(std::function<void(const Sample&)> done) {
  if (busy_) return false;
  busy_ = true;
  done_ = std::move(done);
  auto now = clock_();
  if (!cfg_.cgroup.empty()) record(cgroup_, sample_cgroup(now));
  if (cfg_.proc) record(proc_, sample_proc(now));
  // One extra count so the round cannot finish before both ops are started.
  pending_ = 1;
  start_load();
  start_prom();
  start_health();
  boost::asio::post(io_, [self = shared_from_this()] { self->finish_one(); });
  return true;
}

void InstanceSampler::start_load() {
  if (cfg_.load_url.empty()) return;
  if (!load_url_) {
    record(load_, Error::msg(load_.error));
    return;
  }
  ++pending_;
  http_get(io_, *load_url_, std::chrono::milliseconds(cfg_.health_timeout_ms), kMaxLoadBody,
           [self = shared_from_this()](Result<HttpResponse> r) {
             if (!r) self->record(self->load_, r.error());
             else if (r->status != 200)
               self->record(self->load_, Error::msg("HTTP " + std::to_string(r->status)));
             else if (auto s = parse_load_json(r->body); !s)
               self->record(self->load_, s.error());
             else
               self->record(self->load_, to_metrics(*s));
             self->finish_one();
           });
}

void InstanceSampler::start_prom() {
  static const prom::Limits limits;
  for (size_t i = 0; i < prom_.size(); ++i) {
    if (!prom_[i].url) {
      record(prom_[i].src, Error::msg(prom_[i].src.error));
      continue;
    }
    ++pending_;
    http_get(io_, *prom_[i].url, std::chrono::milliseconds(cfg_.health_timeout_ms), limits.max_body,
             [self = shared_from_this(), i](Result<HttpResponse> r) {
               auto& p = self->prom_[i];
               auto keep = [&p](std::string_view n) { return std::binary_search(p.keep.begin(), p.keep.end(), n); };
               if (!r) {
                 self->record(p.src, r.error());
               } else if (r->status != 200) {
                 self->record(p.src, Error::msg("HTTP " + std::to_string(r->status)));
               } else if (auto e = prom::parse_text(r->body, limits, keep); !e) {
                 self->record(p.src, e.error());
               } else {
                 // The scrape's time is when its answer came: the rates divide by it.
                 self->record(p.src, p.mapper.apply(*e, self->clock_()));
               }
               self->finish_one();
             });
  }
}

void InstanceSampler::start_health() {
  auto timeout = std::chrono::milliseconds(cfg_.health_timeout_ms);
  if (health_url_) {
    ++pending_;
    http_get(io_, *health_url_, timeout, 4096, [self = shared_from_this()](Result<HttpResponse> r) {
      if (!r) self->health_error_ = "health: " + r.error().message;
      else if (r->status < 200 || r->status > 299) self->health_error_ = "health: HTTP " + std::to_string(r->status);
      else self->health_error_.reset();
      self->finish_one();
    });
  } else if (cfg_.health == "tcp") {
    ++pending_;
    boost::asio::ip::tcp::endpoint ep(cfg_.address.address(), cfg_.address.port());
    tcp_connect_probe(io_, ep, timeout, [self = shared_from_this()](Status s) {
      if (!s) self->health_error_ = "health: " + s.error().message;
      else self->health_error_.reset();
      self->finish_one();
    });
  }
}

void InstanceSampler::finish_one() {
  if (--pending_ > 0) return;
  Sample s;
  s.at = clock_();
  // Merge: the instance's own figures first, then cgroup, then /proc; per type the first
  // source wins (the instance knows its vCPUs better than the VM does).
  auto add = [&](const std::vector<metrics::L0Metric>& ms) {
    for (auto& m : ms) {
      bool have = false;
      for (auto& x : s.metrics) have = have || x.type == m.type;
      if (!have) s.metrics.push_back(m);
    }
  };
  add(load_.last);
  // A server's own exposition knows its queue and GPUs; the cgroup and /proc only the host.
  for (const auto& p : prom_) add(p.src.last);
  add(cgroup_.last);
  add(proc_.last);
  if (cfg_.vcpus) add({metrics::make(MetricType::vcpus, *cfg_.vcpus, metrics::Source::nominal)});
  s.available = true;
  if (health_error_) {
    s.available = false;
    s.reason = *health_error_;
  }
  struct Named {
    const char* name;
    const Source* src;
    bool configured;
  };
  std::vector<Named> sources{Named{"load", &load_, !cfg_.load_url.empty()},
                             Named{"cgroup", &cgroup_, !cfg_.cgroup.empty()}, Named{"proc", &proc_, cfg_.proc}};
  std::vector<std::string> prom_names;
  prom_names.reserve(prom_.size());  // the names outlive the loop below: no reallocation
  for (size_t i = 0; i < prom_.size(); ++i) {
    prom_names.push_back("prometheus[" + std::to_string(i) + "]");
    sources.push_back(Named{prom_names.back().c_str(), &prom_[i].src, true});
  }
  for (auto [name, src, configured] : sources) {
    // A source that has never answered well, or has failed kSourceFailureLimit rounds in
    // a row. (A first Prometheus scrape may rightly give no metric yet: rates need two.)
    bool never = !src->answered && src->failures > 0;
    if (configured && s.available && (src->failures >= kSourceFailureLimit || never)) {
      s.available = false;
      s.reason = std::string(name) + ": " + src->error;
    }
  }
  busy_ = false;
  auto done = std::move(done_);
  done_ = nullptr;
  if (done) done(s);
}

}  // namespace cats::sampler
