// The vCPE's services as a CPE sees them (vcpe/services.cpp), on loopback, without root:
// the vCPE's inner address is 127.0.0.1, its one path to the CPE is bound to `lo`, and the
// CPE is a UDP socket on 127.0.0.2 at the reporting port. The test plays the CPE: it sends
// signed sampling plans and desired intervals, and reads the vCPE's signed reports and
// plan acks. Everything runs on this thread's io_context, each wait bounded by a deadline.
#include "api/api.hpp"
#include "daemon/daemon.hpp"
#include "report/ed25519.hpp"
#include "report/report.hpp"
#include "temp_dir.hpp"
#include "vcpe/services.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/json.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>

using namespace cats;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace json = boost::json;
using asio::ip::tcp;
using asio::ip::udp;

namespace {

const auto kVcpeAddr = asio::ip::make_address("127.0.0.1");
const auto kCpeAddr = asio::ip::make_address("127.0.0.2");

// A TCP listener nobody accepts from: the kernel completes connects to it, so the vCPE's
// TCP health check finds the instance available.
struct Listener {
  tcp::acceptor acc;
  explicit Listener(asio::io_context& io, const char* ip) : acc(io, tcp::endpoint(asio::ip::make_address(ip), 0)) {}
  UdpEndpoint address() const { return UdpEndpoint(acc.local_endpoint().address(), acc.local_endpoint().port()); }
};

struct Fixture {
  test::TempDir tmp;
  asio::io_context io;
  udp::socket cpe{io, udp::endpoint(kCpeAddr, 0)};  // the CPE's collector; its port is the reporting port
  report::SigningKey cpe_key = *report::SigningKey::generate();
  Listener app1{io, "127.0.0.1"}, app9{io, "127.0.0.3"};
  config::VcpeConfig cfg;
  api::Router router;
  std::vector<api::prom::Collector> metrics;
  std::vector<std::vector<uint8_t>> received;  // datagrams the CPE got, in order
  uint64_t seq = 1000;                         // the CPE's message sequence
  std::unique_ptr<daemon::Services> services;  // last: goes first

  Fixture() {
    cpe.non_blocking(true);
    cfg.daemon.name = "cloud1";
    cfg.daemon.state_dir = tmp.path;
    cfg.lan.interface = "lo";
    cfg.lan.address = kVcpeAddr;
    cfg.probing.port = 0;  // the STAMP reflector on any free port: not under test here
    cfg.reporting.port = cpe.local_endpoint().port();
    cfg.reporting.min_interval_ms = 20;
    cfg.reporting.max_interval_ms = 1000;
    config::Instance in;
    in.service = "app1";
    in.id = "app1-cloud1";
    in.address = app1.address();
    in.health = "tcp";
    cfg.instances.push_back(in);
    config::CpePeer c;
    c.name = "branch1";
    c.address = kCpeAddr;
    const auto& raw = cpe_key.public_key().raw();
    c.report_key.assign(raw.begin(), raw.end());
    c.paths.push_back({"wan1", 51811, "lo", std::nullopt});
    cfg.cpes.push_back(c);
    cfg.sampling_plan.allow = {*parse_prefix("127.0.0.3/32")};
    cfg.sampling_plan.max_instances = 4;
  }

  void start() {
    daemon::ServiceContext ctx{io, router, cfg.daemon, metrics, {}};
    auto s = vcpe::services_factory(cfg)(ctx);
    REQUIRE(s.has_value());
    services = std::move(*s);
  }

  // The vCPE's report key, as it created it in its state directory.
  report::PublicKey vcpe_key() const {
    auto k = report::load_or_create_signing_key(daemon::report_key_path(cfg.daemon));
    REQUIRE(k.has_value());
    return k->public_key();
  }

  void send(const std::vector<uint8_t>& bytes) {
    cpe.send_to(asio::buffer(bytes), udp::endpoint(kVcpeAddr, cfg.reporting.port));
  }

  // Runs the vCPE until pred holds (true) or 5 s have passed (false), collecting what the
  // CPE receives.
  bool run_until(const std::function<bool()>& pred) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io.restart();
      io.run_for(5ms);
      drain();
    }
    return true;
  }
  void drain() {
    std::array<uint8_t, report::kMaxDatagram + 1> buf;
    boost::system::error_code ec;
    for (;;) {
      size_t n = cpe.receive(asio::buffer(buf), 0, ec);
      if (ec) return;
      received.emplace_back(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    }
  }

  std::vector<report::PlanAck> acks() const {
    std::vector<report::PlanAck> out;
    for (const auto& d : received) {
      auto t = report::peek_type(d);
      if (!t || *t != report::MessageType::plan_ack) continue;
      auto a = report::decode_plan_ack(d);
      REQUIRE(a.has_value());
      CHECK(a->verify(vcpe_key()));
      out.push_back(a->message);
    }
    return out;
  }
  std::vector<report::Report> reports() const {
    std::vector<report::Report> out;
    for (const auto& d : received) {
      auto t = report::peek_type(d);
      if (!t || *t != report::MessageType::report) continue;
      auto r = report::decode_report(d);
      REQUIRE(r.has_value());
      CHECK(r->verify(vcpe_key()));
      out.push_back(r->message);
    }
    return out;
  }

  json::value get(const std::string& path) const {
    api::Request req;
    req.method = "GET";
    req.path = path;
    auto r = router.dispatch(req);
    REQUIRE(r.status == 200);
    return r.body;
  }
  json::value plans() const { return get("/api/v1/reports").at("sampling_plans"); }
  // "service/instance source" of each instance the vCPE samples, in its order.
  std::vector<std::string> instances() const {
    std::vector<std::string> out;
    const auto body = get("/api/v1/instances");
    for (const auto& v : body.at("instances").as_array())
      out.push_back(std::string(v.at("service").as_string()) + "/" + std::string(v.at("instance").as_string()) + " " +
                    std::string(v.at("source").as_string()));
    return out;
  }

  // One signed plan part from the CPE (a whole plan in one part unless parts > 1).
  std::vector<uint8_t> plan(const std::vector<report::PlanInstance>& entries, uint64_t revision,
                            const std::string& to = "cloud1", const report::SigningKey* key = nullptr) {
    report::SamplingPlan p;
    p.cpe_id = "branch1";
    p.vcpe_id = to;
    p.seq = ++seq;
    p.timestamp_ns = 1;
    p.revision = revision;
    p.digest = *report::plan_digest(entries);
    p.instances = entries;
    auto b = report::encode_sampling_plan(p, key ? *key : cpe_key);
    REQUIRE(b.has_value());
    return *b;
  }
};

report::PlanInstance entry(const char* svc, const char* id, UdpEndpoint a) { return {svc, id, a}; }

}  // namespace

TEST_CASE("vcpe services: reports of the file's instances reach the CPE, signed, over the path") {
  Fixture f;
  f.start();
  REQUIRE(f.run_until([&] { return !f.reports().empty(); }));
  auto r = f.reports().front();
  CHECK(r.vcpe_id == "cloud1");
  REQUIRE(r.instances.size() == 1);
  CHECK(r.instances[0].service_id == "app1");
  CHECK(r.instances[0].instance_id == "app1-cloud1");
  CHECK(r.instances[0].available);
  CHECK(f.instances() == std::vector<std::string>{"app1/app1-cloud1 file"});
  auto paths = f.get("/api/v1/reports").at("paths").as_array();
  REQUIRE(paths.size() == 1);
  CHECK(paths[0].at("interface") == "lo");
  CHECK(paths[0].at("sent").as_uint64() >= 1);
}

TEST_CASE("vcpe services: a plan is applied within the limits, acked signed, and withdrawn by the next") {
  Fixture f;
  f.start();
  const auto app9 = f.app9.address();
  const std::vector<report::PlanInstance> entries{
      entry("app1", "app1-cloud1", f.app1.address()),   // the file samples it already
      entry("app9", "app9-a", app9),                    // allowed: sampled for branch1
      entry("app8", "app8-a", *parse_endpoint("10.9.0.1:80")),  // outside sampling_plan.allow
  };
  const auto first = f.plan(entries, 7);
  f.send(first);
  REQUIRE(f.run_until([&] { return f.acks().size() == 1; }));
  auto ack = f.acks()[0];
  CHECK(ack.vcpe_id == "cloud1");
  CHECK(ack.cpe_id == "branch1");
  CHECK(ack.revision == 7);
  CHECK(ack.digest == *report::plan_digest(entries));
  CHECK(ack.applied == 2);
  CHECK(ack.refused == std::vector<report::PlanRefusal>{{"app8", "app8-a", report::Refusal::not_allowed}});
  CHECK(f.instances() == std::vector<std::string>{"app1/app1-cloud1 file", "app9/app9-a plan:branch1"});
  auto p = f.plans();
  CHECK(p.at("accepted").as_uint64() == 1);
  CHECK(p.at("cpes").at("branch1").at("revision").as_uint64() == 7);
  CHECK(p.at("cpes").at("branch1").at("applied").as_uint64() == 2);
  CHECK(p.at("cpes").at("branch1").at("entries").as_uint64() == 3);
  // The next report carries the plan's instance beside the file's.
  REQUIRE(f.run_until([&] {
    auto rs = f.reports();
    return !rs.empty() && rs.back().instances.size() == 2;
  }));

  SECTION("the same datagram again is a replay: ignored, not acked") {
    f.send(first);
    REQUIRE(f.run_until([&] { return f.plans().at("ignored").as_uint64() == 1; }));
    CHECK(f.acks().size() == 1);
  }
  SECTION("the same plan under a new sequence changes nothing and is confirmed again") {
    f.send(f.plan(entries, 7));
    REQUIRE(f.run_until([&] { return f.acks().size() == 2; }));
    CHECK(f.acks()[1].applied == 2);
    CHECK(f.instances() == std::vector<std::string>{"app1/app1-cloud1 file", "app9/app9-a plan:branch1"});
  }
  SECTION("a newer plan without the entry stops sampling it; the file's instance stays") {
    const std::vector<report::PlanInstance> none;
    f.send(f.plan(none, 8));
    REQUIRE(f.run_until([&] { return f.acks().size() == 2; }));
    CHECK(f.acks()[1].revision == 8);
    CHECK(f.acks()[1].applied == 0);
    CHECK(f.instances() == std::vector<std::string>{"app1/app1-cloud1 file"});
  }
}

TEST_CASE("vcpe services: a plan in several parts is applied once whole") {
  Fixture f;
  f.start();
  const auto app9 = f.app9.address();
  const std::vector<report::PlanInstance> entries{entry("app9", "app9-a", app9), entry("app7", "app7-a", app9)};
  auto part = [&](uint8_t i) {
    report::SamplingPlan p;
    p.cpe_id = "branch1";
    p.vcpe_id = "cloud1";
    p.seq = ++f.seq;
    p.revision = 3;
    p.part = i;
    p.parts = 2;
    p.digest = *report::plan_digest(entries);
    p.instances = {entries[i]};
    auto b = report::encode_sampling_plan(p, f.cpe_key);
    REQUIRE(b.has_value());
    return *b;
  };
  f.send(part(1));
  REQUIRE(f.run_until([&] { return f.plans().at("accepted").as_uint64() == 1; }));
  CHECK(f.acks().empty());  // half a plan: nothing applied, nothing confirmed
  CHECK(f.instances().size() == 1);
  f.send(part(0));
  REQUIRE(f.run_until([&] { return f.acks().size() == 1; }));
  CHECK(f.acks()[0].revision == 3);
  CHECK(f.acks()[0].digest == *report::plan_digest(entries));
  CHECK(f.acks()[0].applied == 2);
  CHECK(f.instances().size() == 3);
}

TEST_CASE("vcpe services: plans not for us, from an unknown key or mangled are ignored and counted") {
  Fixture f;
  f.start();
  const std::vector<report::PlanInstance> entries{entry("app9", "app9-a", f.app9.address())};
  auto stranger = *report::SigningKey::generate();
  f.send(f.plan(entries, 1, "cloud2"));            // addressed to another vCPE
  f.send(f.plan(entries, 1, "cloud1", &stranger));  // not signed by branch1's key
  auto mangled = f.plan(entries, 1);
  mangled.back() ^= 1;  // the signature no longer verifies
  f.send(mangled);
  f.send({'C', 'A', 'T', 'R'});  // not a message at all (taken for a desired interval)
  REQUIRE(f.run_until([&] { return f.plans().at("ignored").as_uint64() == 3; }));
  REQUIRE(f.run_until(
      [&] { return f.get("/api/v1/reports").at("desired_interval").at("ignored").as_uint64() == 1; }));
  CHECK(f.plans().at("accepted").as_uint64() == 0);
  CHECK(f.acks().empty());
  CHECK(f.instances() == std::vector<std::string>{"app1/app1-cloud1 file"});
}

TEST_CASE("vcpe services: a desired interval from the CPE sets the report intervals") {
  Fixture f;
  f.start();
  report::DesiredInterval d;
  d.cpe_id = "branch1";
  d.vcpe_id = "cloud1";
  d.seq = ++f.seq;
  d.min_interval_ms = 200;
  d.max_interval_ms = 3000;
  f.send(*report::encode_desired_interval(d, f.cpe_key));
  REQUIRE(f.run_until(
      [&] { return f.get("/api/v1/reports").at("desired_interval").at("accepted").as_uint64() == 1; }));
  auto r = f.get("/api/v1/reports");
  CHECK(r.at("intervals").at("min_ms").as_int64() == 200);
  CHECK(r.at("intervals").at("max_ms").as_int64() == 3000);
  CHECK(r.at("desired_interval").at("last_from") == "branch1");
}

TEST_CASE("vcpe load_config: the file, and --reimport refused") {
  daemon::Args a;
  a.config = CATS_SOURCE_DIR "/docs/examples/vcpe.toml";
  auto c = vcpe::load_config(a);
  REQUIRE(c.has_value());
  CHECK(c->daemon.name == "cloud1");
  a.reimport = true;
  auto r = vcpe::load_config(a);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "--reimport: a vCPE's configuration is its file; restart it instead");
  a.reimport = false;
  a.config = "/nonexistent/vcpe.toml";
  CHECK_FALSE(vcpe::load_config(a).has_value());
}

// Issue 14: the replay marks outlive a restart. Before, they lived in memory only, and a
// signed CPE message captured before a restart was taken (and acked) once more after it.
TEST_CASE("vcpe services: a CPE message taken before a restart is a replay after it") {
  Fixture f;
  f.start();
  const std::vector<report::PlanInstance> entries{entry("app9", "app9-a", f.app9.address())};
  const auto first = f.plan(entries, 7);
  f.send(first);
  REQUIRE(f.run_until([&] { return f.acks().size() == 1; }));

  // The restart: new services (and routes) over the same state directory.
  f.services.reset();
  f.router = api::Router{};
  f.metrics.clear();
  f.start();
  f.send(first);
  REQUIRE(f.run_until([&] { return f.plans().at("ignored").as_uint64() == 1; }));
  CHECK(f.plans().at("accepted").as_uint64() == 0);
  CHECK(f.acks().size() == 1);
  // A newer message from the CPE is taken as usual, and its mark replaces the old one.
  f.send(f.plan(entries, 8));
  REQUIRE(f.run_until([&] { return f.acks().size() == 2; }));
  CHECK(f.acks()[1].revision == 8);
  auto r = f.get("/api/v1/reports");
  CHECK(r.at("replay_marks").at("write_failures").as_uint64() == 0);
}
