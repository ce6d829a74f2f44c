// In-process collector path: a signed report sent to the collector's UDP socket on
// 127.0.0.1 is accepted and shows in /api/v1/instances; a forged one (signed with another
// key, R23) is counted as bad_signature and changes nothing.
#include "cpe/cnma.hpp"
#include "report/report.hpp"
#include "stamp/reflector.hpp"
#include "temp_dir.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

using namespace cats;
namespace json = boost::json;
using udp = boost::asio::ip::udp;

namespace {

struct Running {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::thread t;
  Running() : t([this] { io.run(); }) {}
  ~Running() {
    work.reset();
    io.stop();
    t.join();
  }
};

json::value get(const api::Router& r, const std::string& path) {
  api::Request req;
  req.method = "GET";
  req.path = path;
  auto resp = r.dispatch(req);
  REQUIRE(resp.status == 200);
  return resp.body;
}

uint64_t counter(const api::Router& r, const char* verdict) {
  auto v = get(r, "/api/v1/reports");
  return v.at("counters").at(verdict).as_uint64();
}

bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds deadline = std::chrono::seconds(2)) {
  for (auto waited = std::chrono::milliseconds(0); waited < deadline; waited += std::chrono::milliseconds(10)) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

// A CPE on loopback with one vCPE, cloud1, reporting from 127.0.0.1 with `key`; the
// collector's port chosen by the kernel.
config::CpeConfig one_vcpe(const report::SigningKey& key) {
  config::CpeConfig cfg;
  cfg.daemon.name = "branch1";
  cfg.lan.address = boost::asio::ip::make_address("127.0.0.1");
  cfg.reporting.port = 0;
  config::VcpePeer v;
  v.name = "cloud1";
  v.address = boost::asio::ip::make_address("127.0.0.1");
  const auto& raw = key.public_key().raw();
  v.report_key.assign(raw.begin(), raw.end());
  cfg.vcpes.push_back(v);
  return cfg;
}

// CpeServices with `cfg` and the store file at `so`, on their own io thread. Destroyed
// without any shutdown step: as after kill -9, only what was stored counts.
struct StoredCpe {
  Running run;
  api::Router router;
  std::unique_ptr<cpe::CpeServices> svc;
  StoredCpe(const config::CpeConfig& cfg, const store::Options& so) {
    auto st = store::Store::open(so);
    REQUIRE(st.has_value());
    cpe::Deps deps;
    deps.store = std::move(*st);
    auto started = cpe::CpeServices::start(run.io, router, cfg, std::move(deps));
    REQUIRE(started.has_value());
    svc = std::move(*started);
  }
  void send(udp::socket& from, const std::vector<uint8_t>& datagram) {
    from.send_to(boost::asio::buffer(datagram), *svc->report_endpoint());
  }
};

// What the restart tests share: cloud1's key, the CPE's configuration, a store file and
// the socket cloud1's reports leave from.
struct Restarts {
  report::SigningKey vkey = *report::SigningKey::generate();
  config::CpeConfig cfg = one_vcpe(vkey);
  test::TempDir dir;
  store::Options so{dir.path + "/cats.db"};
  boost::asio::io_context cio;
  udp::socket s{cio, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)};
};

report::Report make_report(uint64_t seq) {
  using namespace cats::metrics;
  report::Report r;
  r.vcpe_id = "cloud1";
  r.seq = seq;
  r.timestamp_ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  report::InstanceReport in;
  in.service_id = "app1";
  in.instance_id = "app1-cloud1";
  in.address = udp::endpoint(boost::asio::ip::make_address("10.2.1.10"), 8080);
  in.metrics = {make(MetricType::vcpus, 6, Source::nominal), make(MetricType::cpu_utilization, 0.5),
                make(MetricType::processing_delay_ms, 12)};
  r.instances.push_back(in);
  return r;
}

}  // namespace

TEST_CASE("collector socket: signed report accepted, forged one rejected") {
  auto vkey = report::SigningKey::generate();
  REQUIRE(vkey.has_value());
  auto other = report::SigningKey::generate();
  REQUIRE(other.has_value());

  const config::CpeConfig cfg = one_vcpe(*vkey);  // cloud1 from 127.0.0.1, the port kernel-chosen

  Running run;
  api::Router router;
  auto svc = cpe::CpeServices::start(run.io, router, cfg, cpe::Deps{});
  REQUIRE(svc.has_value());
  auto ep = (*svc)->report_endpoint();
  REQUIRE(ep.has_value());

  boost::asio::io_context cio;
  udp::socket s(cio, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));

  CHECK(get(router, "/api/v1/instances").as_array().empty());

  auto good = report::encode_report(make_report(100), *vkey);
  REQUIRE(good.has_value());
  s.send_to(boost::asio::buffer(*good), *ep);
  REQUIRE(wait_for([&] { return counter(router, "accepted") == 1; }));
  auto inst = get(router, "/api/v1/instances");
  REQUIRE(inst.as_array().size() == 1);
  const auto& row = inst.as_array()[0].as_object();
  CHECK(row.at("service").as_string() == "app1");
  CHECK(row.at("instance").as_string() == "app1-cloud1");
  CHECK(row.at("vcpe").as_string() == "cloud1");
  CHECK(row.at("vcpus").as_double() == 6.0);
  CHECK(row.at("utilization").as_double() == 0.5);
  CHECK(row.at("available").as_bool());
  auto before = json::serialize(inst.as_array()[0].as_object().at("utilization"));

  // Forged: a valid report body signed by a key that is not cloud1's.
  auto forged_report = make_report(101);
  forged_report.instances[0].metrics[1] = metrics::make(metrics::MetricType::cpu_utilization, 0.99);
  auto forged = report::encode_report(forged_report, *other);
  REQUIRE(forged.has_value());
  s.send_to(boost::asio::buffer(*forged), *ep);
  REQUIRE(wait_for([&] { return counter(router, "bad_signature") == 1; }));
  CHECK(counter(router, "accepted") == 1);
  auto after = get(router, "/api/v1/instances");
  REQUIRE(after.as_array().size() == 1);
  CHECK(json::serialize(after.as_array()[0].as_object().at("utilization")) == before);
  auto reps = get(router, "/api/v1/reports");
  CHECK(reps.at("vcpes").as_array()[0].at("last_seq").as_uint64() == 100);

  // Events are served from memory without a store; history needs the store.
  CHECK(get(router, "/api/v1/events").as_array().size() >= 1);
  api::Request h;
  h.method = "GET";
  h.path = "/api/v1/paths";
  h.query = {{"history", "1"}};
  CHECK(router.dispatch(h).status == 503);
  svc->reset();
}

TEST_CASE("collector socket: an instance whose availability flaps is held unavailable (flap damping)") {
  auto vkey = report::SigningKey::generate();
  REQUIRE(vkey.has_value());
  const config::CpeConfig cfg = one_vcpe(*vkey);

  // The injected clock stands still: every flap lands at the same instant, and no hold
  // can end on its own.
  const auto t = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  cpe::Deps deps;
  deps.mono = [t] { return t; };
  Running run;
  api::Router router;
  auto svc = cpe::CpeServices::start(run.io, router, cfg, std::move(deps));
  REQUIRE(svc.has_value());
  auto ep = (*svc)->report_endpoint();
  REQUIRE(ep.has_value());
  boost::asio::io_context cio;
  udp::socket s(cio, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));

  auto send = [&](uint64_t seq, bool available) {
    auto r = make_report(seq);
    r.instances[0].available = available;
    auto bytes = report::encode_report(r, *vkey);
    REQUIRE(bytes.has_value());
    const auto n = counter(router, "accepted");
    s.send_to(boost::asio::buffer(*bytes), *ep);
    REQUIRE(wait_for([&] { return counter(router, "accepted") == n + 1; }));
  };
  auto available = [&] {
    const json::value body = get(router, "/api/v1/instances");
    return body.as_array().at(0).as_object().at("available").as_bool();
  };
  auto count = [&](const char* kind) {
    const json::value body = get(router, "/api/v1/events");
    size_t n = 0;
    for (const auto& e : body.as_array())
      if (e.as_object().at("kind").as_string() == kind) ++n;
    return n;
  };

  send(200, true);
  CHECK(available());
  send(201, false);  // flap 1 (penalty 1000)
  CHECK_FALSE(available());
  send(202, true);   // the first outage is not held
  CHECK(available());
  CHECK(count("instance_held") == 0);
  send(203, false);  // flap 2 (penalty 2000 >= 1500): held
  send(204, true);
  // The event is recorded after the report is counted as accepted, on the services'
  // thread: wait for it (the counter alone raced it, 1 run in ~40 under ctest -j2).
  CHECK(wait_for([&] { return count("instance_held") == 1; }));
  CHECK_FALSE(available());  // reported available, held unavailable
  CHECK(count("instance_held") == 1);
  svc->reset();
}

TEST_CASE("cpe services: the stream, history in points and flows through the router") {
  auto vkey = report::SigningKey::generate();
  REQUIRE(vkey.has_value());
  const config::CpeConfig cfg = one_vcpe(*vkey);

  char tmpl[] = "/tmp/cats-cnma-test-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  store::Options so;
  so.path = dir + "/cats.db";
  auto st = store::Store::open(so);
  REQUIRE(st.has_value());
  cpe::Deps deps;
  deps.store = std::move(*st);

  Running run;
  api::Router router;
  auto svc = cpe::CpeServices::start(run.io, router, cfg, std::move(deps));
  REQUIRE(svc.has_value());

  auto dispatch = [&](const std::string& path, std::map<std::string, std::string> query = {}) {
    api::Request req;
    req.method = "GET";
    req.path = path;
    req.query = std::move(query);
    return router.dispatch(req);
  };
  CHECK(dispatch("/api/v1/stream", {{"topics", "paths,bogus"}}).status == 400);
  CHECK(dispatch("/api/v1/stream", {{"last_event_id", "-3"}}).status == 400);
  auto r = dispatch("/api/v1/stream", {{"topics", "instances,events"}});
  REQUIRE(r.status == 200);
  REQUIRE(r.stream);
  CHECK(r.content_type == "text/event-stream");
  std::vector<api::Response> more;
  for (int i = 0; i < 31; ++i) more.push_back(dispatch("/api/v1/stream"));
  CHECK(dispatch("/api/v1/stream").status == 503);  // 32 open
  more.clear();

  udp::socket s(run.io, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  auto good = report::encode_report(make_report(100), *vkey);
  REQUIRE(good.has_value());
  s.send_to(boost::asio::buffer(*good), *(*svc)->report_endpoint());

  std::string got;
  REQUIRE(wait_for([&] {
    got += r.stream->pull().bytes;
    return got.find("event: instances\ndata: {\"service\":\"app1\"") != std::string::npos &&
           got.find("event: events\ndata: {") != std::string::npos;
  }));
  CHECK(got.find("event: paths") == std::string::npos);  // not subscribed

  // History in points: the 1 s sample of the instance is in the store.
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  std::map<std::string, std::string> hq{{"history", "1"}, {"from", std::to_string(now - 60'000)},
                                        {"to", std::to_string(now + 60'000)}, {"points", "2"}};
  REQUIRE(wait_for([&] {
    auto h = dispatch("/api/v1/instances", hq);
    return h.status == 200 && !h.body.as_array().empty();
  }));
  auto h = dispatch("/api/v1/instances", hq).body.as_array();
  CHECK(h.size() <= 2);
  CHECK(h[0].at("bucket_ms").as_int64() == 60'001);
  CHECK(h[0].at("utilization_max").as_double() == 0.5);
  hq["points"] = "2001";
  CHECK(dispatch("/api/v1/instances", hq).status == 400);
  CHECK(dispatch("/api/v1/paths", hq).status == 400);

  // No steering here: no candidates, not counted.
  auto f = dispatch("/api/v1/flows");
  REQUIRE(f.status == 200);
  CHECK(f.body.at("services").as_array().empty());
  CHECK(f.body.at("counted_ms").is_null());

  svc->reset();  // the services stop: their streams end (clients reconnect to the next ones)
  CHECK(r.stream->pull().end);
  r = {};
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST_CASE("collector socket: a report captured before a restart is a replay after it (marks in the store)") {
  // Issue 14: the replay marks lived only in memory, so a restarted CPE accepted any
  // report up to max_age old once more.
  Restarts f;
  // (Named references, not a structured binding: clang 14 cannot capture one in a lambda.)
  const auto& vkey = f.vkey;
  const auto& cfg = f.cfg;
  const auto& so = f.so;
  auto& s = f.s;

  auto run_once = [&](const std::vector<std::vector<uint8_t>>& datagrams, const char* verdict, uint64_t n) {
    StoredCpe cpe(cfg, so);
    for (const auto& d : datagrams) cpe.send(s, d);
    REQUIRE(wait_for([&] { return counter(cpe.router, verdict) == n; }));
    return get(cpe.router, "/api/v1/reports");
  };

  auto r100 = report::encode_report(make_report(100), vkey);
  auto r101 = report::encode_report(make_report(101), vkey);
  auto r102 = report::encode_report(make_report(102), vkey);
  REQUIRE((r100 && r101 && r102));
  auto first = run_once({*r100, *r101}, "accepted", 2);
  CHECK(first.at("vcpes").as_array()[0].at("last_seq").as_uint64() == 101);

  // The restarted collector: both captured reports are replays, a new one is accepted.
  auto second = run_once({*r100, *r101}, "replay", 2);
  CHECK(second.at("counters").at("accepted").as_uint64() == 0);
  CHECK(second.at("vcpes").as_array()[0].at("last_seq").as_uint64() == 101);
  auto third = run_once({*r102}, "accepted", 1);
  CHECK(third.at("vcpes").as_array()[0].at("last_seq").as_uint64() == 102);
}

TEST_CASE("collector socket: a restarted CPE knows a measured instance as measured (figures in the store)") {
  // Issue 8 (lab.steering's restart flake): the kept figures lived only in memory, so a
  // CPE restarted after its vCPE (which had not re-measured yet) explored an instance it
  // had priced for hours and rewrote its weights.
  Restarts f;
  // (Named references, not a structured binding: clang 14 cannot capture one in a lambda.)
  const auto& vkey = f.vkey;
  const auto& cfg = f.cfg;
  const auto& so = f.so;
  auto& s = f.s;
  auto instance = [](const api::Router& r) { return get(r, "/api/v1/instances").as_array().at(0).as_object(); };
  // Read through another connection, as a new process would.
  auto stored_delay = [&]() -> std::optional<double> {
    auto other = store::Store::open(so);
    if (!other) return std::nullopt;
    auto rows = (*other)->instance_figures();
    if (!rows || rows->size() != 1) return std::nullopt;
    return (*rows)[0].last_delay_ms;
  };

  {
    StoredCpe cpe(cfg, so);
    auto r = report::encode_report(make_report(100), vkey);  // processing_delay_ms 12
    REQUIRE(r.has_value());
    cpe.send(s, *r);
    REQUIRE(wait_for([&] { return counter(cpe.router, "accepted") == 1; }));
    CHECK(instance(cpe.router).at("measured").as_bool());
    // Written within a sample tick (1 s).
    REQUIRE(wait_for([&] { return stored_delay() == 12.0; }, std::chrono::seconds(5)));
  }

  // The restarted CPE; the vCPE restarted too and reports no delay yet.
  StoredCpe cpe(cfg, so);
  auto rep = make_report(101);
  rep.instances[0].metrics.pop_back();  // the processing delay
  auto r = report::encode_report(rep, vkey);
  REQUIRE(r.has_value());
  cpe.send(s, *r);
  REQUIRE(wait_for([&] { return counter(cpe.router, "accepted") == 1; }));
  auto row = instance(cpe.router);
  CHECK(row.at("measured").as_bool());
  CHECK(row.at("processing_delay_ms").is_null());  // this report's: none
  CHECK(row.at("last_processing_delay_ms").as_double() == 12.0);
}

TEST_CASE("cpe services: a retuned WAN cost is decided and applied at once, not at the next tick") {
  // A WAN cost PATCH (ConfigService -> LiveServices::retune -> CpeServices::retune) used
  // to wait for the next kFastTick (100 ms) before the nft maps moved. Now retune posts a
  // steering round: it runs before a handler posted right after retune, in the order
  // posted (one services thread), long before the next periodic tick would. The injected
  // clock stands still throughout.
  auto vkey = report::SigningKey::generate();
  REQUIRE(vkey.has_value());
  Running run;
  auto refl = stamp::StampReflector::start(run.io, [] {
    stamp::ReflectorConfig rc;
    rc.address = boost::asio::ip::make_address("127.0.0.1");
    rc.port = 0;
    return rc;
  }());
  REQUIRE(refl.has_value());

  config::CpeConfig cfg = one_vcpe(*vkey);
  cfg.probing.port = (*refl)->local_endpoint().port();
  for (const char* w : {"wan1", "wan2"}) {
    config::Wan wan;
    wan.name = w;
    wan.tunnel_interface = "lo";  // both paths over loopback: equal, so both WANs get flows
    cfg.wans.push_back(wan);
  }
  config::Service app;
  app.select.id = "app1";
  app.select.service_time_ms = 20;
  app.vip = boost::asio::ip::make_address("10.255.0.1");
  app.ports = {80};
  app.instances = {{"cloud1", udp::endpoint(boost::asio::ip::make_address("10.2.1.10"), 8080)}};
  cfg.services.push_back(app);

  const auto t = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  std::mutex mu;
  std::vector<steer::State> applied;  // what the fake kernel was given, in order
  cpe::Deps deps;
  deps.mono = [t] { return t; };
  deps.steer_apply = [&](const steer::State& st) -> Result<steer::ApplyReport> {
    std::lock_guard lk(mu);
    applied.push_back(st);
    return steer::ApplyReport{};
  };
  deps.steer_adopt = [](const steer::State&) -> Result<std::optional<steer::State>> { return std::nullopt; };
  api::Router router;
  auto svc = cpe::CpeServices::start(run.io, router, cfg, std::move(deps));
  REQUIRE(svc.has_value());
  udp::socket s(run.io, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  auto rep = report::encode_report(make_report(100), *vkey);
  REQUIRE(rep.has_value());
  s.send_to(boost::asio::buffer(*rep), *(*svc)->report_endpoint());

  // Candidates: cloud1's instance over wan1, over wan2. Both probed up and the instance
  // reported: the periodic ticks decide and give both WANs flows.
  auto weights = [&] {
    std::lock_guard lk(mu);
    std::vector<uint32_t> w;
    if (!applied.empty())
      for (const auto& c : applied.back().services.at(0).candidates) w.push_back(c.weight);
    return w;
  };
  std::vector<uint32_t> seen;
  const bool spread = wait_for([&] {
    seen = weights();
    return seen.size() == 2 && seen[0] > 0 && seen[1] > 0;
  }, std::chrono::seconds(10));
  INFO("last applied weights: " << Catch::Detail::stringify(seen));
  REQUIRE(spread);

  config::CpeConfig next = cfg;
  next.wans[1].cost = 100;  // wan2 metered: far outside the near-best window
  std::promise<std::pair<size_t, std::vector<uint32_t>>> done;
  boost::asio::post(run.io, [&] {
    size_t before = 0;
    {
      std::lock_guard lk(mu);
      before = applied.size();
    }
    (*svc)->retune(next);  // on the services thread, as LiveServices::retune calls it
    boost::asio::post(run.io, [&, before] {
      std::lock_guard lk(mu);
      std::vector<uint32_t> w;
      for (const auto& c : applied.back().services.at(0).candidates) w.push_back(c.weight);
      done.set_value({applied.size() - before, w});
    });
  });
  auto [applies, now] = done.get_future().get();
  INFO("weights right after retune: " << Catch::Detail::stringify(now));
  CHECK(applies == 1);  // the posted round, not a periodic tick (that would be 100 ms away)
  REQUIRE(now.size() == 2);
  CHECK(now[0] == steer::kWeightTotal);
  CHECK(now[1] == 0);

  const json::value evs = get(router, "/api/v1/events");
  bool configured = false;
  for (const auto& e : evs.as_array())
    if (e.at("kind").as_string() == "weights" &&
        std::string(e.at("detail").as_string()).find("configured: wan2 cost 0 -> 100 ms") != std::string::npos)
      configured = true;
  CHECK(configured);
  svc->reset();
  (*refl)->stop();
}
