#include "daemon/daemon.hpp"

#include "api/encoding.hpp"
#include "api/https.hpp"
#include "base/files.hpp"
#include "base/log.hpp"
#include "base/slice.hpp"
#include "nft/nft.hpp"
#include "overlay/apply.hpp"
#include "overlay/input_filter.hpp"
#include "report/ed25519.hpp"
#include "rtnl/rtnl.hpp"

#include <boost/asio/executor_work_guard.hpp>

#include <boost/json.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

namespace cats::daemon {

namespace json = boost::json;

Result<Args> parse_args(const std::vector<std::string>& argv) {
  Args a;
  for (size_t i = 1; i < argv.size(); ++i) {
    const auto& s = argv[i];
    if (s == "-h" || s == "--help") {
      a.mode = Args::Mode::help;
      return a;  // whatever else is there: the usage is what was asked for
    } else if (s == "--config") {
      if (i + 1 >= argv.size()) return Error::msg("--config needs a value (FILE)");
      a.config = argv[++i];
    } else if (s.rfind("--config=", 0) == 0) {
      a.config = s.substr(9);
    } else if (s == "--cleanup") {
      a.mode = Args::Mode::cleanup;
    } else if (s == "--reimport") {
      a.reimport = true;
    } else if (s == "--check") {
      a.mode = Args::Mode::check;
    } else if (s == "pubkey" && i == 1) {
      a.mode = Args::Mode::pubkey;
    } else if (s == "--report" && a.mode == Args::Mode::pubkey) {
      a.report_key = true;
    } else {
      return Error::msg("unknown argument '" + s + "'");
    }
  }
  if (a.config.empty()) return Error::msg("--config FILE is required");
  return a;
}

std::string usage(const std::string& prog) {
  return "usage: " + prog + " --config FILE [--check|--cleanup|--reimport]\n       " + prog +
         " pubkey [--report] --config FILE\n";
}

namespace {

std::string key_path(const config::Daemon& d) { return wireguard_key_path(d); }
std::string owned_path(const config::Daemon& d) { return d.state_dir + "/tunnels"; }

// Tunnels we created in earlier runs: lets a config change (or --cleanup) remove a tunnel
// that is no longer configured, without ever guessing at interfaces that are not ours.
std::vector<std::string> read_owned(const config::Daemon& d) {
  std::vector<std::string> out;
  std::ifstream in(owned_path(d));
  std::string line;
  while (std::getline(in, line) && out.size() < 1024)
    if (config::valid_ifname(line)) out.push_back(line);
  return out;
}

Status write_owned(const config::Daemon& d, const std::vector<std::string>& names) {
  std::string text;
  for (auto& n : names) text += n + "\n";
  return replace_file(owned_path(d), text);
}

std::vector<std::string> tunnel_names(const overlay::Plan& p) {
  std::vector<std::string> v;
  for (auto& t : p.tunnels) v.push_back(t.ifname);
  return v;
}

// Everything a running daemon holds, opened in dependency order and closed in reverse.
struct Kernel {
  rtnl::Rtnl rt;
  std::unique_ptr<wg::Control> wg;
  nft::Nft nft;
  wg::Key key;
};

Result<Kernel> open_kernel(const config::Daemon& d) {
  CATS_TRY_ASSIGN(rt, rtnl::Rtnl::open());
  wg::Options o;
  o.mode = d.wireguard;
  o.wireguard_go = d.wireguard_go;
  CATS_TRY_ASSIGN(wgc, wg::make_control(o));
  CATS_TRY_ASSIGN(nft, nft::Nft::open());
  CATS_TRY_ASSIGN(key, wg::load_or_create_private_key(key_path(d)));
  return Kernel{std::move(rt), std::move(wgc), std::move(nft), key};
}

Status check_links(const overlay::Plan& p) {
  CATS_TRY_ASSIGN(rt, rtnl::Rtnl::open());
  return overlay::check_required(rt, p);
}

std::string backend_name(const wg::Control& c) {
  return c.kind() == wg::BackendKind::kernel ? "kernel" : "userspace";
}

// From `now` to `next`, added before removed (the Applier), recording every tunnel in the
// owned file before it can exist. On failure the kernel goes back to `now`.
Status replace_plan(overlay::Applier& ap, const config::Daemon& d, const overlay::Plan& now, const overlay::Plan& next) {
  const auto old_names = tunnel_names(now), new_names = tunnel_names(next);
  auto only_in = [](const std::vector<std::string>& a, const std::vector<std::string>& b) {
    std::vector<std::string> out;
    for (const auto& n : a)
      if (std::find(b.begin(), b.end(), n) == b.end()) out.push_back(n);
    return out;
  };
  // The owned-tunnels file names every tunnel that may exist if we die mid-apply (for
  // --cleanup): rewritten only when the set of names changes, so a change that keeps the
  // tunnels writes nothing to disk here (and is not refused by a full one).
  const bool same_names = old_names == new_names;
  auto all = old_names;
  for (const auto& n : only_in(new_names, old_names)) all.push_back(n);
  if (!same_names) CATS_TRY(write_owned(d, all));
  auto rep = ap.apply(next, only_in(old_names, new_names));
  if (!rep) {
    auto back = ap.apply(now, only_in(new_names, old_names));
    if (!back) log::error("overlay", "returning to the previous plan failed too: " + back.error().message + " (reconcile retries)");
    return rep.error().context("overlay");
  }
  if (!same_names) (void)write_owned(d, new_names);  // a stale extra name only costs --cleanup a lookup
  for (const auto& a : rep->actions) log::info("overlay", a);
  return ok();
}

constexpr auto kDeviceCacheTtl = std::chrono::milliseconds(250);

// What SIGUSR2 re-executes: the path we were started from, resolved once at start. Once a
// package upgrade has replaced the binary, /proc/self/exe names the old, deleted file, and
// an in-place restart of it would go on running the old code (found by the VM test,
// tests/vm: `/proc/PID/exe -> /usr/sbin/cats-cpe (deleted)` after the upgrade).
std::string own_executable() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec || p.empty()) return "/proc/self/exe";
  return p.string();
}

UniqueFd block_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGUSR2, SIGHUP}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return UniqueFd(signalfd(-1, &set, SFD_CLOEXEC));
}

}  // namespace

json::value status_json(const Site& site, const std::string& backend, const std::vector<wg::Device>& devices) {
  json::object root;
  root["role"] = site.role;
  root["name"] = site.daemon.name;
  root["backend"] = backend;
  json::array tunnels;
  for (auto& t : site.plan.tunnels) {
    json::object jt;
    jt["interface"] = t.ifname;
    jt["wan"] = t.label.substr(t.label.find('/') + 1);
    if (site.role == "vcpe") jt["cpe"] = t.label.substr(0, t.label.find('/'));
    auto dev = std::find_if(devices.begin(), devices.end(), [&](auto& d) { return d.name == t.ifname; });
    jt["up"] = dev != devices.end();
    json::array peers;
    if (dev != devices.end()) {
      jt["listen_port"] = dev->listen_port;
      jt["fwmark"] = dev->fwmark;
      if (dev->public_key) jt["public_key"] = wg::to_base64(*dev->public_key);
      for (auto& p : dev->peers) {
        json::object jp;
        std::string name = "?";
        for (auto& ps : t.peers)
          if (ps.public_key == p.public_key) name = ps.name;
        jp["name"] = name;
        jp["public_key"] = wg::to_base64(p.public_key);
        jp["endpoint"] = p.endpoint ? json::value(endpoint_to_string(*p.endpoint)) : json::value(nullptr);
        jp["last_handshake"] = p.last_handshake_unix_ns
                                   ? json::value(static_cast<double>(p.last_handshake_unix_ns) / 1e9)
                                   : json::value(nullptr);
        jp["rx_bytes"] = p.rx_bytes;
        jp["tx_bytes"] = p.tx_bytes;
        json::array allowed;
        for (auto& a : p.allowed_ips) allowed.push_back(json::value(a.to_string()));
        jp["allowed_ips"] = std::move(allowed);
        peers.push_back(std::move(jp));
      }
    }
    jt["peers"] = std::move(peers);
    tunnels.push_back(std::move(jt));
  }
  root["tunnels"] = std::move(tunnels);
  return root;
}

const char* build_version() { return CATS_VERSION; }

void daemon_metrics(api::prom::Exposition& e, const Site& site, const std::vector<wg::Device>& devices,
                    double start_time_unix_s) {
  using api::prom::Type;
  e.gauge("cats_build_info", "Build of this daemon; the value is always 1.", {{"version", build_version()}}, 1);
  e.gauge("cats_start_time_seconds", "When this daemon process started, unix time in seconds.", {},
          start_time_unix_s);
  e.family("cats_wireguard_peer_last_handshake_seconds", Type::gauge,
           "Last WireGuard handshake with the peer, unix time in seconds; absent before the first.");
  e.family("cats_wireguard_peer_receive_bytes_total", Type::counter, "Bytes received from the WireGuard peer.");
  e.family("cats_wireguard_peer_transmit_bytes_total", Type::counter, "Bytes sent to the WireGuard peer.");
  for (const auto& t : site.plan.tunnels) {
    auto dev = std::find_if(devices.begin(), devices.end(), [&](auto& d) { return d.name == t.ifname; });
    if (dev == devices.end()) continue;
    for (const auto& ps : t.peers) {
      auto p = std::find_if(dev->peers.begin(), dev->peers.end(),
                            [&](auto& x) { return x.public_key == ps.public_key; });
      if (p == dev->peers.end()) continue;
      const api::prom::Labels l{{"tunnel", t.ifname}, {"peer", ps.name}};
      if (p->last_handshake_unix_ns)
        e.gauge("cats_wireguard_peer_last_handshake_seconds", l, static_cast<double>(p->last_handshake_unix_ns) / 1e9);
      e.counter("cats_wireguard_peer_receive_bytes_total", l, p->rx_bytes);
      e.counter("cats_wireguard_peer_transmit_bytes_total", l, p->tx_bytes);
    }
  }
}

MetricsRoute::MetricsRoute(std::vector<api::prom::Collector> state, std::vector<api::prom::Collector> per_request)
    : state_(std::move(state)), per_request_(std::move(per_request)), shared_(std::make_shared<Shared>()) {}

api::Response MetricsRoute::operator()(const api::Request& r) const {
  size_t at = 0;
  std::string text;
  {
    // The collectors take their own locks under this one; nothing holding theirs scrapes.
    std::lock_guard lk(shared_->mu);
    auto& e = shared_->exposition;
    e.reset();
    for (const auto& c : state_) c(e);
    const size_t split = e.families();
    // A per-request collector adding to a family of the state's would only move its
    // samples into the first part: the text is the same either way (families are grouped).
    for (const auto& c : per_request_) c(e);
    text = e.render(split, at);
  }
  auto out = api::Response::text(std::move(text), api::prom::kContentType);
  const std::string_view whole = *out.raw;
  const std::string_view parts[] = {whole.substr(0, at), whole.substr(at)};
  api::encode_for(r, out, shared_->gzip, parts);  // reads `parts` before it replaces out.raw
  return out;
}

void RequestStats::observe(const std::string& route, int status, double seconds) {
  std::lock_guard lk(mu_);
  auto it = by_.find({route, status});
  if (it == by_.end()) it = by_.emplace(std::make_pair(route, status), api::prom::Histogram(api::prom::duration_buckets())).first;
  it->second.observe(seconds);
}

void RequestStats::collect(api::prom::Exposition& e) const {
  e.family("cats_api_request_duration_seconds", api::prom::Type::histogram,
           "Time to answer an API request (control socket and HTTPS), by route and status.");
  std::lock_guard lk(mu_);
  for (const auto& [k, h] : by_)
    e.histogram("cats_api_request_duration_seconds", {{"route", k.first.empty() ? "other" : k.first},
                                                      {"code", std::to_string(k.second)}},
                h);
}

api::Guard read_only_guard(const config::Management& m) {
  return [allow = m.metrics_allow](const api::Request& r) -> std::optional<api::Response> {
    if (r.local) return std::nullopt;
    if (r.method != "GET" && r.method != "HEAD") return api::Response::error(403, "read-only: " + r.method + " refused");
    if (r.path != "/api/v1/status" && r.path != "/metrics")
      return api::Response::error(403, r.path + " is served on the local control socket only");
    auto ip = parse_address(r.peer);
    const bool listed = ip && std::any_of(allow.begin(), allow.end(), [&](const Prefix& p) { return p.contains(*ip); });
    if (!listed) return api::Response::error(403, "source " + r.peer + " is not in management.metrics_allow");
    return std::nullopt;
  };
}

int print_pubkey(const config::Daemon& d) {
  auto key = wg::load_or_create_private_key(key_path(d));
  if (!key) {
    std::cerr << "error: " << key.error().message << "\n";
    return 1;
  }
  auto pub = wg::public_from_private(*key);
  if (!pub) {
    std::cerr << "error: " << pub.error().message << "\n";
    return 1;
  }
  std::cout << wg::to_base64(*pub) << "\n";
  return 0;
}

std::string report_key_path(const config::Daemon& d) { return d.state_dir + "/report.key"; }
std::string wireguard_key_path(const config::Daemon& d) { return d.state_dir + "/private.key"; }

int print_report_pubkey(const config::Daemon& d) {
  auto key = report::load_or_create_signing_key(report_key_path(d));
  if (!key) {
    std::cerr << "error: " << key.error().message << "\n";
    return 1;
  }
  std::cout << key->public_key().to_base64() << "\n";
  return 0;
}

int cleanup(const Site& site) {
  auto k = open_kernel(site.daemon);
  if (!k) {
    std::cerr << "error: " << k.error().message << "\n";
    return 1;
  }
  overlay::Applier ap(k->rt, *k->wg, k->nft, k->key);
  auto st = ap.teardown(site.plan, read_owned(site.daemon));
  // The explicit teardown is the one place the WAN input filter goes (overlay::Plan).
  if (site.plan.input_nft_script)
    if (auto f = ap.remove_input_filter(); !f) {
      log::warn("teardown", f.error().message);
      if (st) st = f;
    }
  ::unlink(owned_path(site.daemon).c_str());
  ::unlink(site.daemon.control_socket.c_str());
  if (!st) {
    std::cerr << "error: cleanup incomplete: " << st.error().message << "\n";
    return 1;
  }
  log::info(site.role, "cleanup done");
  return 0;
}

int run(const Site& site, const std::vector<std::string>& argv) {
  log::set_level(log::parse_level(site.daemon.log_level));
  auto sfd = block_signals();
  const std::string self = own_executable();
  // Nothing is created, not even the key file, unless every interface we depend on exists.
  if (auto st = check_links(site.plan); !st) {
    log::error(site.role, st.error().message + " (nothing was changed)");
    return 1;
  }
  auto k = open_kernel(site.daemon);
  if (!k) {
    log::error(site.role, k.error().message);
    return 1;
  }
  log::info(site.role, "WireGuard backend: " + backend_name(*k->wg));
  std::mutex mu;  // serialises kernel access between the main loop and API handlers
  overlay::Applier ap(k->rt, *k->wg, k->nft, k->key);
  auto owned = read_owned(site.daemon);
  {
    auto all = owned;
    for (auto& n : tunnel_names(site.plan))
      if (std::find(all.begin(), all.end(), n) == all.end()) all.push_back(n);
    // Record before creating, so a crash mid-way still lets --cleanup find them.
    if (auto st = write_owned(site.daemon, all); !st) {
      log::error(site.role, st.error().message);
      return 1;
    }
  }
  auto first = ap.apply(site.plan, owned);
  if (!first) {
    log::error(site.role, "apply failed: " + first.error().message + "; removing what was created");
    (void)ap.teardown(site.plan, owned);
    ::unlink(owned_path(site.daemon).c_str());
    return 1;
  }
  (void)write_owned(site.daemon, tunnel_names(site.plan));
  log::info(site.role, first->changed() ? "applied " + std::to_string(first->actions.size()) + " changes"
                                        : "adopted existing state unchanged");
  for (auto& a : first->actions) log::debug(site.role, a);
  // The site as it runs: a configuration change replaces its plan (change_plan, under mu).
  Site cur = site;
  // What WireGuard reported last and when (see devices() below).
  std::vector<wg::Device> device_cache;
  std::chrono::steady_clock::time_point device_cache_at{};
  owned.clear();  // the first apply removed every stale tunnel
  auto change_plan = [&](const overlay::Plan& next) -> Status {
    CATS_TRY(check_links(next));  // before anything changes
    std::lock_guard lk(mu);
    auto st = replace_plan(ap, cur.daemon, cur.plan, next);
    if (st) cur.plan = next;
    device_cache_at = {};
    return st;
  };

  // The HTTPS identity first: its fingerprint is part of the status every server shows.
  std::optional<api::TlsIdentity> tls;
  if (!site.management.listen.empty()) {
    std::vector<std::string> san{"localhost"};
    for (const auto& ep : site.management.listen)
      if (!ep.address().is_unspecified()) san.push_back(ep.address().to_string());
    auto id = api::load_or_create_identity(site.management.cert_file, site.management.key_file, site.daemon.name, san);
    if (!id) {
      log::error(site.role, "management TLS identity: " + id.error().message + "; removing what was created");
      (void)ap.teardown(cur.plan, owned);
      return 1;
    }
    if (id->generated) log::info(site.role, "generated a self-signed certificate " + site.management.cert_file);
    tls = std::move(*id);
  }
  const std::string fingerprint = tls ? tls->fingerprint_sha256 : std::string();

  api::Router router;
  // What WireGuard reports, read at most every kDeviceCacheTtl: a UAPI or genetlink get
  // per tunnel per request made GET /api/v1/status cost ~0.45 ms under the kernel lock
  // (docs/BENCHMARKS.md "Management API"); counters 250 ms old serve a person or a
  // scraper as well. A plan change drops the cache (change_plan).
  auto devices = [&]() -> const std::vector<wg::Device>& {  // under mu; valid while it is held
    const auto now = std::chrono::steady_clock::now();
    if (device_cache_at != std::chrono::steady_clock::time_point{} && now - device_cache_at < kDeviceCacheTtl)
      return device_cache;
    std::vector<wg::Device> devs;
    for (auto& t : cur.plan.tunnels)
      if (auto d = k->wg->get(t.ifname)) devs.push_back(std::move(*d));
    device_cache = std::move(devs);
    device_cache_at = now;
    return device_cache;
  };
  router.add("GET", "/api/v1/status", [&](const api::Request&) {
    std::lock_guard lk(mu);
    auto st = status_json(cur, backend_name(*k->wg), devices());
    if (!fingerprint.empty()) st.as_object()["tls_fingerprint_sha256"] = fingerprint;
    return api::Response::json(std::move(st));
  });
  const double started = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<api::prom::Collector> collectors;
  collectors.push_back([&, started](api::prom::Exposition& e) {
    std::lock_guard lk(mu);
    daemon_metrics(e, cur, devices(), started);
  });
  // The WAN input filter's drops (CPE), read at most once a second: a libnftables query
  // per scrape under the kernel lock would cost what the device cache saves. Absent
  // without a filter or when the counter cannot be read; it restarts from 0 when a
  // configuration change replaces the table (a counter reset, as Prometheus expects).
  std::optional<uint64_t> wan_dropped;
  std::chrono::steady_clock::time_point wan_dropped_at{};
  collectors.push_back([&](api::prom::Exposition& e) {
    std::lock_guard lk(mu);
    if (!cur.plan.input_nft_script || cur.plan.input_nft_script->empty()) return;
    const auto now = std::chrono::steady_clock::now();
    if (wan_dropped_at == std::chrono::steady_clock::time_point{} || now - wan_dropped_at >= std::chrono::seconds(1)) {
      auto text = k->nft.query(std::string("list counter ") + slice::kNftFamily + " " + slice::kNftInputTable + " " +
                               overlay::kWanInputDropCounter);
      wan_dropped = text ? overlay::counter_packets(*text) : std::nullopt;
      wan_dropped_at = now;
    }
    if (!wan_dropped) return;
    e.family("cats_wan_input_dropped_packets_total", api::prom::Type::counter,
             "Packets arriving on a WAN interface for the CPE itself that its input filter (table inet cats_input) dropped.");
    e.counter("cats_wan_input_dropped_packets_total", {}, *wan_dropped);
  });
  // Role services run on their own thread; destroyed (stopped) before any teardown.
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::unique_ptr<Services> services;
  if (site.services) {
    ServiceContext ctx{io, router, site.daemon, collectors, change_plan};
    auto s = site.services(ctx);
    if (!s) {
      log::error(site.role, "services: " + s.error().message + "; removing what was created");
      (void)ap.teardown(cur.plan, owned);
      return 1;
    }
    services = std::move(*s);
  }
  // cats_api_request_duration_seconds{route, code}: shared by both servers' router copies.
  auto requests = std::make_shared<RequestStats>();
  router.set_observer([requests](const std::string& route, int status, double s) { requests->observe(route, status, s); });
  router.add("GET", "/metrics",
             MetricsRoute(collectors, {[requests](api::prom::Exposition& e) { requests->collect(e); }}));
  // Services with accounts (the CPE) set their own guard; everything else is read-only.
  if (!router.has_guard()) router.set_guard(read_only_guard(site.management));
  std::thread service_thread([&io] { io.run(); });
  auto stop_services = [&] {
    work.reset();
    io.stop();
    if (service_thread.joinable()) service_thread.join();
    services.reset();
  };
  auto server = api::UnixServer::start(site.daemon.control_socket, router);
  if (!server) {
    log::error(site.role, "control API: " + server.error().message);
    stop_services();
    (void)ap.teardown(cur.plan, owned);
    return 1;
  }
  std::unique_ptr<api::HttpsServer> https;
  if (tls) {
    api::HttpsOptions o;
    for (const auto& ep : site.management.listen) o.listen.push_back(endpoint_to_string(ep));
    o.identity = *tls;
    o.limits.max_connections = site.management.max_connections;
    o.limits.max_connections_per_client = site.management.max_connections_per_client;
    auto h = api::HttpsServer::start(o, router);
    if (!h) {
      log::error(site.role, "management API: " + h.error().message);
      (*server)->stop();
      stop_services();
      (void)ap.teardown(cur.plan, owned);
      return 1;
    }
    https = std::move(*h);
    std::string where;
    for (const auto& e : https->endpoints()) where += (where.empty() ? "https://" : ", https://") + e;
    // On the console too: whoever opens the web UI first checks the browser's warning
    // against this fingerprint (a self-signed certificate has nothing else to trust).
    const std::string msg = "management API on " + where + "; certificate SHA-256 " + tls->fingerprint_sha256;
    log::info(site.role, msg);
    std::fprintf(stderr, "cats-%s: %s\n", site.role.c_str(), msg.c_str());
  }
  auto stop_servers = [&] {
    if (https) https->stop();
    (*server)->stop();
  };
  log::info(site.role, "ready; control API on " + site.daemon.control_socket);

  // Reconcile: re-apply the plan so that anything removed behind our back (a rule flushed,
  // wireguard-go killed) comes back; backs off while it keeps failing.
  auto period = std::chrono::seconds(2);
  auto next = std::chrono::steady_clock::now() + period;
  int failures = 0;
  while (true) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - std::chrono::steady_clock::now());
    pollfd pfd{sfd.get(), POLLIN, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(std::max<int64_t>(0, wait.count())));
    if (r > 0) {
      signalfd_siginfo si{};
      if (::read(sfd.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        if (si.ssi_signo == SIGUSR2) {
          log::info(site.role, "SIGUSR2: restarting in place, kernel state kept");
          stop_servers();
          stop_services();
          std::vector<char*> args;
          for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
          args.push_back(nullptr);
          // The new image opens its own: nothing of ours crosses the exec (Asio's sockets,
          // SQLite files and the signalfd are not all close-on-exec).
          ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
          ::execv(self.c_str(), args.data());
          log::error(site.role, std::string("re-exec failed: ") + std::strerror(errno));
          return 1;
        }
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
          log::info(site.role, std::string("stopping: removing tunnels, rules, routes") +
                                   (cur.plan.input_nft_script && !cur.plan.input_nft_script->empty()
                                        ? " (the WAN input filter stays: --cleanup removes it)"
                                        : ""));
          stop_servers();
          stop_services();
          std::lock_guard lk(mu);
          auto st = ap.teardown(cur.plan, owned);
          ::unlink(owned_path(site.daemon).c_str());
          return st ? 0 : 1;
        }
      }
      continue;
    }
    {
      std::lock_guard lk(mu);
      auto rep = ap.apply(cur.plan);
      if (!rep) {
        ++failures;
        log::warn(site.role, "reconcile failed (" + std::to_string(failures) + "): " + rep.error().message);
      } else {
        if (failures) log::info(site.role, "reconcile recovered");
        failures = 0;
        for (auto& a : rep->actions) log::info(site.role, "reconciled: " + a);
      }
    }
    next = std::chrono::steady_clock::now() + period * (1 << std::min(failures, 4));
  }
}

}  // namespace cats::daemon
