// In-process collector path: a signed report sent to the collector's UDP socket on
// 127.0.0.1 is accepted and shows in /api/v1/instances; a forged one (signed with another
// key, R23) is counted as bad_signature and changes nothing.
#include "cpe/cnma.hpp"
#include "report/report.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

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

bool wait_for(const std::function<bool()>& pred) {
  for (int i = 0; i < 200; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

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

  config::CpeConfig cfg;
  cfg.daemon.name = "branch1";
  cfg.lan.address = boost::asio::ip::make_address("127.0.0.1");
  cfg.reporting.port = 0;  // kernel-chosen
  config::VcpePeer v;
  v.name = "cloud1";
  v.address = boost::asio::ip::make_address("127.0.0.1");  // allowed source
  const auto& raw = vkey->public_key().raw();
  v.report_key.assign(raw.begin(), raw.end());
  cfg.vcpes.push_back(v);

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
  config::CpeConfig cfg;
  cfg.daemon.name = "branch1";
  cfg.lan.address = boost::asio::ip::make_address("127.0.0.1");
  cfg.reporting.port = 0;
  config::VcpePeer v;
  v.name = "cloud1";
  v.address = boost::asio::ip::make_address("127.0.0.1");
  const auto& raw = vkey->public_key().raw();
  v.report_key.assign(raw.begin(), raw.end());
  cfg.vcpes.push_back(v);

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
  CHECK_FALSE(available());  // reported available, held unavailable
  CHECK(count("instance_held") == 1);
  svc->reset();
}
