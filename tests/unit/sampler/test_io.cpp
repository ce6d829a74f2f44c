// The load-endpoint client and the health checks against a tiny raw-socket HTTP server on
// 127.0.0.1, on the same io_context. Every wait is bounded by io.run_for deadlines.
#include "sampler/http.hpp"
#include "sampler/instance_sampler.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <optional>

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace cats::sampler;
using namespace std::chrono_literals;

namespace {

// Answers each request with respond(target); nullopt = hold the connection, never answer.
struct TestServer {
  using Respond = std::function<std::optional<std::string>(const std::string& target)>;
  TestServer(asio::io_context& io, Respond r) : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
                                                respond(std::move(r)) {
    accept();
  }
  uint16_t port() const { return acceptor.local_endpoint().port(); }
  void accept() {
    acceptor.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      auto sock = std::make_shared<tcp::socket>(std::move(s));
      auto buf = std::make_shared<asio::streambuf>();
      held.push_back(sock);
      asio::async_read_until(*sock, *buf, "\r\n\r\n", [this, sock, buf](boost::system::error_code e2, size_t) {
        if (e2) return;
        std::string head(asio::buffers_begin(buf->data()), asio::buffers_end(buf->data()));
        auto sp1 = head.find(' ');
        auto sp2 = head.find(' ', sp1 + 1);
        auto out = respond(head.substr(sp1 + 1, sp2 - sp1 - 1));
        if (!out) return;  // hang
        auto msg = std::make_shared<std::string>(std::move(*out));
        asio::async_write(*sock, asio::buffer(*msg), [sock, msg](boost::system::error_code, size_t) {
          boost::system::error_code ignored;
          sock->shutdown(tcp::socket::shutdown_both, ignored);
        });
      });
      accept();
    });
  }
  tcp::acceptor acceptor;
  Respond respond;
  std::vector<std::shared_ptr<tcp::socket>> held;
};

std::string http(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

template <class Pred>
bool run_until(asio::io_context& io, Pred done, std::chrono::milliseconds deadline = 5s) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (!done() && std::chrono::steady_clock::now() < end) {
    io.restart();
    io.run_for(10ms);
  }
  return done();
}

cats::config::Instance instance(uint16_t port, const std::string& health) {
  cats::config::Instance in;
  in.service = "app1";
  in.id = "app1-test";
  in.address = cats::UdpEndpoint(asio::ip::make_address("127.0.0.1"), port);
  in.load_url = "http://127.0.0.1:" + std::to_string(port) + "/load";
  in.health = health;
  in.health_timeout_ms = 200;
  return in;
}

const char* kLoad = R"({"vcpus":6,"utilization":0.5,"processing_delay_ms":20,"active_sessions":2})";

}  // namespace

TEST_CASE("http_get: answer, status, body limit, timeout") {
  asio::io_context io;
  TestServer srv(io, [](const std::string& t) -> std::optional<std::string> {
    if (t == "/load") return http(200, kLoad);
    if (t == "/big") return http(200, std::string(2000, 'x'));
    if (t == "/hang") return std::nullopt;
    return http(404, "{}");
  });
  auto url = [&](const std::string& path) { return *parse_http_url("http://127.0.0.1:" + std::to_string(srv.port()) + path); };

  std::optional<cats::Result<HttpResponse>> r;
  http_get(io, url("/load"), 1s, kMaxLoadBody, [&](cats::Result<HttpResponse> x) { r = std::move(x); });
  REQUIRE(run_until(io, [&] { return r.has_value(); }));
  REQUIRE(r->has_value());
  CHECK((*r)->status == 200);
  CHECK(parse_load_json((*r)->body).has_value());

  r.reset();
  http_get(io, url("/nope"), 1s, kMaxLoadBody, [&](cats::Result<HttpResponse> x) { r = std::move(x); });
  REQUIRE(run_until(io, [&] { return r.has_value(); }));
  REQUIRE(r->has_value());
  CHECK((*r)->status == 404);

  r.reset();
  http_get(io, url("/big"), 1s, 1000, [&](cats::Result<HttpResponse> x) { r = std::move(x); });
  REQUIRE(run_until(io, [&] { return r.has_value(); }));
  CHECK_FALSE(r->has_value());

  r.reset();
  auto t0 = std::chrono::steady_clock::now();
  http_get(io, url("/hang"), 150ms, kMaxLoadBody, [&](cats::Result<HttpResponse> x) { r = std::move(x); });
  REQUIRE(run_until(io, [&] { return r.has_value(); }));
  CHECK_FALSE(r->has_value());
  CHECK(r->error().sys_errno == ETIMEDOUT);
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}

TEST_CASE("tcp_connect_probe: listening and closed ports") {
  asio::io_context io;
  TestServer srv(io, [](const std::string&) { return std::optional<std::string>{}; });
  std::optional<cats::Status> s;
  tcp_connect_probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), srv.port()), 1s,
                    [&](cats::Status x) { s = x; });
  REQUIRE(run_until(io, [&] { return s.has_value(); }));
  CHECK(s->has_value());

  // A port nobody listens on: bind one, take its number, close it.
  uint16_t closed;
  {
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    closed = a.local_endpoint().port();
  }
  s.reset();
  tcp_connect_probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), closed), 1s,
                    [&](cats::Status x) { s = x; });
  REQUIRE(run_until(io, [&] { return s.has_value(); }));
  CHECK_FALSE(s->has_value());
}

TEST_CASE("InstanceSampler: load + http health, then failures make it unavailable") {
  asio::io_context io;
  int health_status = 200;
  std::string load_body = kLoad;
  bool hang = false;
  TestServer srv(io, [&](const std::string& t) -> std::optional<std::string> {
    if (hang) return std::nullopt;
    if (t == "/healthz") return http(health_status, "{}");
    return http(200, load_body);
  });
  auto s = InstanceSampler::create(
      io, instance(srv.port(), "http://127.0.0.1:" + std::to_string(srv.port()) + "/healthz"));
  auto round = [&]() {
    std::optional<Sample> out;
    REQUIRE(s->sample([&](const Sample& x) { out = x; }));
    CHECK_FALSE(s->sample([](const Sample&) {}));  // one round at a time
    REQUIRE(run_until(io, [&] { return out.has_value(); }));
    return *out;
  };

  auto a = round();
  CHECK(a.available);
  CHECK(a.reason.empty());
  CHECK(cats::metrics::current_value(a.metrics, cats::metrics::MetricType::cpu_utilization).value_or(-1) == 0.5);
  CHECK(cats::metrics::current_value(a.metrics, cats::metrics::MetricType::vcpus).value_or(-1) == 6);

  health_status = 503;  // R4: a failed health check is unavailable at once
  auto b = round();
  CHECK_FALSE(b.available);
  CHECK(b.reason.find("health") == 0);

  health_status = 200;
  load_body = "junk";  // the load source stops answering sensibly: tolerated, then unavailable
  for (int i = 1; i < kSourceFailureLimit; ++i) {
    auto c = round();
    CHECK(c.available);
    // last good figures kept meanwhile
    CHECK(cats::metrics::current_value(c.metrics, cats::metrics::MetricType::cpu_utilization).value_or(-1) == 0.5);
  }
  auto d = round();
  CHECK_FALSE(d.available);
  CHECK(d.reason.find("load") == 0);

  hang = true;  // both time out (200 ms): the round still ends, bounded
  auto t0 = std::chrono::steady_clock::now();
  auto e = round();
  CHECK_FALSE(e.available);
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}

TEST_CASE("InstanceSampler: tcp health against a closed port") {
  asio::io_context io;
  uint16_t closed;
  {
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    closed = a.local_endpoint().port();
  }
  auto in = instance(closed, "tcp");
  in.load_url.clear();
  in.vcpus = 4;
  auto s = InstanceSampler::create(io, in);
  std::optional<Sample> out;
  REQUIRE(s->sample([&](const Sample& x) { out = x; }));
  REQUIRE(run_until(io, [&] { return out.has_value(); }));
  CHECK_FALSE(out->available);
  CHECK(cats::metrics::current_value(out->metrics, cats::metrics::MetricType::vcpus).value_or(-1) == 4);
}

TEST_CASE("InstanceSampler: cgroup and /proc from injected files and clock") {
  asio::io_context io;
  std::map<std::string, std::string> files{{"/cg/cpu.stat", "usage_usec 1000000\n"},
                                           {"/cg/cpu.max", "200000 100000\n"},
                                           {"/cg/memory.current", "256\n"},
                                           {"/cg/memory.max", "1024\n"},
                                           {"/proc/stat", "cpu  100 0 100 800 0 0 0 0\ncpu0 1\ncpu1 1\n"},
                                           {"/proc/meminfo", "MemTotal: 1000 kB\nMemAvailable: 250 kB\n"}};
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  cats::config::Instance in;
  in.service = "s";
  in.id = "i";
  in.cgroup = "/cg";
  in.proc = true;
  in.health = "none";  // no health check configured (neither tcp nor http)
  auto s = InstanceSampler::create(
      io, in, [&] { return now; },
      [&](const std::string& p) -> cats::Result<std::string> {
        auto it = files.find(p);
        if (it == files.end()) return cats::Error::msg(p + ": no such file");
        return it->second;
      });
  now += 1s;
  files["/cg/cpu.stat"] = "usage_usec 2000000\n";  // 1 CPU-second in 1 s on 2 vCPUs
  files["/proc/stat"] = "cpu  200 0 200 1000 100 0 0 0\ncpu0 1\ncpu1 1\n";
  std::optional<Sample> out;
  REQUIRE(s->sample([&](const Sample& x) { out = x; }));
  REQUIRE(run_until(io, [&] { return out.has_value(); }));
  CHECK(out->available);
  using cats::metrics::MetricType;
  CHECK(cats::metrics::current_value(out->metrics, MetricType::cpu_utilization).value_or(-1) == Approx(0.5));
  CHECK(cats::metrics::current_value(out->metrics, MetricType::vcpus).value_or(-1) == 2);
  CHECK(cats::metrics::current_value(out->metrics, MetricType::memory_utilization).value_or(-1) == Approx(0.25));
}

TEST_CASE("InstanceSampler: a Prometheus exposition scraped and mapped by the vllm preset") {
  asio::io_context io;
  int waiting = 3;
  double ttft_fast = 0;  // observations in the le="0.05" bucket so far
  std::string body_override;
  TestServer srv(io, [&](const std::string& t) -> std::optional<std::string> {
    if (t != "/metrics") return http(404, "");
    if (!body_override.empty()) return http(200, body_override);
    auto n = std::to_string(ttft_fast);
    return http(200, "# TYPE vllm:num_requests_waiting gauge\r\n"
                     "vllm:num_requests_waiting{model_name=\"m\"} " + std::to_string(waiting) + "\r\n"
                     "vllm:num_requests_running{model_name=\"m\"} 4\r\n"
                     "# TYPE vllm:time_to_first_token_seconds histogram\r\n"
                     "vllm:time_to_first_token_seconds_bucket{le=\"0.05\",model_name=\"m\"} " + n + "\r\n"
                     "vllm:time_to_first_token_seconds_bucket{le=\"+Inf\",model_name=\"m\"} " + n + "\r\n"
                     "vllm:time_to_first_token_seconds_sum{model_name=\"m\"} " + std::to_string(ttft_fast * 0.04) + "\r\n"
                     "vllm:time_to_first_token_seconds_count{model_name=\"m\"} " + n + "\r\n");
  });
  auto in = instance(srv.port(), "tcp");
  in.load_url.clear();
  cats::config::PromSource ps;
  ps.url = "http://127.0.0.1:" + std::to_string(srv.port()) + "/metrics";
  ps.preset = "vllm";
  ps.rules = *prom::preset("vllm");
  in.prometheus.push_back(ps);
  auto now = std::chrono::steady_clock::time_point{} + 1000s;
  auto s = InstanceSampler::create(io, in, [&] { return now; });
  auto round = [&]() {
    std::optional<Sample> out;
    REQUIRE(s->sample([&](const Sample& x) { out = x; }));
    REQUIRE(run_until(io, [&] { return out.has_value(); }));
    return *out;
  };
  using cats::metrics::MetricType;
  auto a = round();
  CHECK(a.available);
  CHECK(cats::metrics::current_value(a.metrics, MetricType::queue_depth) == 3);
  CHECK(cats::metrics::current_value(a.metrics, MetricType::active_sessions) == 4);
  CHECK_FALSE(cats::metrics::current_value(a.metrics, MetricType::ttft_ms));

  waiting = 0;
  ttft_fast = 20;
  now += 1s;
  auto b = round();
  CHECK(b.available);
  CHECK(cats::metrics::current_value(b.metrics, MetricType::queue_depth) == 0);
  // 20 first tokens in (0, 0.05]: p90 at 0.045 s; mean 0.04 s
  CHECK(cats::metrics::current_value(b.metrics, MetricType::ttft_ms).value_or(-1) == Approx(45.0));
  CHECK(cats::metrics::current_value(b.metrics, MetricType::processing_delay_ms).value_or(-1) == Approx(40.0));

  // The server starts answering junk: the last figures are kept for a while, then the
  // instance is unavailable with the parser's reason.
  body_override = "vllm:num_requests_waiting{model_name=\"m} 1\n";
  for (int i = 1; i < kSourceFailureLimit; ++i) {
    now += 1s;
    auto c = round();
    CHECK(c.available);
    CHECK(cats::metrics::current_value(c.metrics, MetricType::queue_depth) == 0);
  }
  now += 1s;
  auto d = round();
  CHECK_FALSE(d.available);
  CHECK(d.reason == "prometheus[0]: line 1: unterminated label value");
}

TEST_CASE("InstanceSampler: a Prometheus source that never answered well is unavailable at once") {
  asio::io_context io;
  TestServer srv(io, [&](const std::string&) -> std::optional<std::string> { return http(200, "node_load1 1\n"); });
  auto in = instance(srv.port(), "tcp");
  in.load_url.clear();
  in.prometheus.push_back({"http://127.0.0.1:" + std::to_string(srv.port()) + "/metrics", "dcgm", *prom::preset("dcgm")});
  auto s = InstanceSampler::create(io, in);
  std::optional<Sample> out;
  REQUIRE(s->sample([&](const Sample& x) { out = x; }));
  REQUIRE(run_until(io, [&] { return out.has_value(); }));
  CHECK_FALSE(out->available);
  CHECK(out->reason.find("prometheus[0]: the exposition has none of the mapped series (DCGM_FI_DEV_FB_FREE") == 0);
}
