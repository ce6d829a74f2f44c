// cats-app in-process on 127.0.0.1 ephemeral ports: real requests queue behind the
// workers, and the load endpoint reports what the workers measured.
#include "client.hpp"
#include "server.hpp"

#include <boost/json/parse.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/serialize.hpp>

#include <catch2/catch.hpp>

#include <future>
#include <thread>
#include <vector>

using namespace cats::app;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

std::unique_ptr<AppServer> start_app(unsigned workers, std::chrono::milliseconds service) {
  AppConfig cfg;
  cfg.name = "app-test.1";
  cfg.listen = TcpEndpoint(boost::asio::ip::make_address("127.0.0.1"), 0);
  cfg.load_listen = cfg.listen;
  cfg.workers = workers;
  cfg.service = service;
  auto s = AppServer::start(cfg);
  if (!s) FAIL("start: " << s.error().message);
  return std::move(*s);
}

// GET /load over HTTP (not the in-process accessor), so the endpoint itself is tested.
json::object get_load(const AppServer& app) {
  auto r = http_request(app.load_endpoint(), "GET", "/load");
  if (!r) FAIL("GET /load: " << r.error().message);
  REQUIRE(r->status == 200);
  return json::parse(r->body).as_object();
}

double num(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_number()) FAIL("no number " << key << " in " << json::serialize(o));
  return v->to_number<double>();
}

}  // namespace

TEST_CASE("requests queue behind the workers and the load endpoint shows it") {
  auto app = start_app(2, 50ms);
  auto load0 = get_load(*app);
  CHECK(load0.at("name").as_string() == "app-test.1");
  CHECK(num(load0, "vcpus") == 2);
  CHECK(num(load0, "utilization") == 0.0);
  CHECK(num(load0, "requests_total") == 0);
  // Nothing measured yet: no delay (0 would read as "infinitely fast").
  CHECK_FALSE(load0.contains("processing_delay_ms"));
  CHECK_FALSE(load0.contains("last_processing_delay_ms"));

  auto health = http_request(app->load_endpoint(), "GET", "/healthz");
  REQUIRE(health.has_value());
  CHECK(health->status == 200);

  // 8 at once on 2 workers of 50 ms: they finish in pairs at 50, 100, 150, 200 ms, so the
  // mean delay is about 125 ms, far above the 50 ms service time.
  std::vector<std::future<cats::Result<HttpReply>>> futs;
  for (int i = 0; i < 8; ++i)
    futs.push_back(std::async(std::launch::async, [&] { return http_request(app->service_endpoint(), "GET", "/"); }));
  for (auto& f : futs) {
    auto r = f.get();
    if (!r) FAIL("request: " << r.error().message);
    CHECK(r->status == 200);
    CHECK(r->body == "app-test.1");
    CHECK(r->headers["x-cats-instance"] == "app-test.1");
  }

  auto load = get_load(*app);
  INFO(json::serialize(load));
  CHECK(num(load, "requests_total") == 8);
  CHECK(num(load, "delay_samples") == 8);
  CHECK(num(load, "processing_delay_ms") >= 90);
  CHECK(num(load, "processing_delay_ms") < 1000);
  CHECK(num(load, "last_processing_delay_ms") == num(load, "processing_delay_ms"));
  CHECK(load.at("delay_stale").as_bool() == false);
  // 400 ms of worker time within at most 2 x 1 s.
  CHECK(num(load, "utilization") >= 0.15);
  CHECK(num(load, "queue_depth") == 0);
}

TEST_CASE("keep-alive: several requests on one connection") {
  auto app = start_app(1, 0ms);
  // Raw Beast client reusing one stream; http_request always closes.
  boost::asio::io_context ioc;
  boost::beast::tcp_stream stream(ioc);
  stream.connect(app->service_endpoint());
  for (int i = 0; i < 3; ++i) {
    boost::beast::http::request<boost::beast::http::string_body> req{boost::beast::http::verb::get, "/x", 11};
    req.set(boost::beast::http::field::host, "t");
    boost::beast::http::write(stream, req);
    boost::beast::flat_buffer buf;
    boost::beast::http::response<boost::beast::http::string_body> res;
    boost::beast::http::read(stream, buf, res);
    CHECK(res.result_int() == 200);
    CHECK(res.body() == "app-test.1");
    CHECK(res.keep_alive());
  }
  // The load endpoint counts that open connection.
  CHECK(num(get_load(*app), "active_sessions") == 1);
}

TEST_CASE("/nowork is answered at once, beside busy workers, and not counted") {
  auto app = start_app(1, 2000ms);
  // The only worker is busy for 2 s with this one.
  auto busy = std::async(std::launch::async, [&] { return http_request(app->service_endpoint(), "GET", "/"); });
  auto t0 = std::chrono::steady_clock::now();
  while (num(get_load(*app), "busy_workers") < 1 && std::chrono::steady_clock::now() - t0 < 2s)
    std::this_thread::sleep_for(5ms);
  auto start = std::chrono::steady_clock::now();
  auto r = http_request(app->service_endpoint(), "GET", "/nowork");
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == "app-test.1");
  CHECK(r->headers["x-cats-instance"] == "app-test.1");
  CHECK(took < 1000ms);
  CHECK(num(get_load(*app), "requests_total") == 0);  // the busy one has not finished yet
  auto b = busy.get();
  REQUIRE(b.has_value());
  CHECK(b->status == 200);
  CHECK(num(get_load(*app), "requests_total") == 1);
}

TEST_CASE("a delay measured before the window is not reported as current") {
  AppConfig cfg;
  cfg.name = "app-test.1";
  cfg.listen = TcpEndpoint(boost::asio::ip::make_address("127.0.0.1"), 0);
  cfg.load_listen = cfg.listen;
  cfg.workers = 1;
  cfg.service = 10ms;
  cfg.window = 200ms;
  auto app = AppServer::start(cfg);
  REQUIRE(app);
  auto r = http_request((*app)->service_endpoint(), "GET", "/");
  REQUIRE(r.has_value());
  auto fresh = get_load(**app);
  INFO(json::serialize(fresh));
  CHECK(num(fresh, "processing_delay_ms") >= 10);
  // No request since: once the window has passed, only the last-known mean remains.
  json::object later;
  auto deadline = std::chrono::steady_clock::now() + 3s;
  do {
    std::this_thread::sleep_for(50ms);
    later = get_load(**app);
  } while (later.contains("processing_delay_ms") && std::chrono::steady_clock::now() < deadline);
  INFO(json::serialize(later));
  CHECK_FALSE(later.contains("processing_delay_ms"));
  CHECK(later.at("delay_stale").as_bool());
  CHECK(num(later, "last_processing_delay_ms") == num(fresh, "processing_delay_ms"));
}

TEST_CASE("background load shows as utilisation without requests") {
  auto app = start_app(2, 50ms);
  auto bad = http_request(app->load_endpoint(), "POST", "/load", R"({"background": 1.5})");
  REQUIRE(bad.has_value());
  CHECK(bad->status == 400);
  auto r = http_request(app->load_endpoint(), "POST", "/load", R"({"background": 0.5})");
  REQUIRE(r.has_value());
  REQUIRE(r->status == 200);
  auto set_at = std::chrono::steady_clock::now();
  CHECK(num(json::parse(r->body).as_object(), "background") == 0.5);

  // Utilisation is measured over the last 1 s window, so it climbs from 0 to 0.5 within a
  // window of the change: poll until it is there, up to a deadline that leaves a loaded
  // test host 3 s beyond that window. It cannot overshoot (there are no requests).
  double u = -1;
  json::object load;
  const auto deadline = set_at + 4s;
  while (std::chrono::steady_clock::now() < deadline) {
    load = get_load(*app);
    u = num(load, "utilization");
    if (u >= 0.4 && u <= 0.6) break;
    std::this_thread::sleep_for(50ms);
  }
  INFO(json::serialize(load));
  CHECK(u == Approx(0.5).margin(0.1));
  CHECK(num(load, "requests_total") == 0);
}

TEST_CASE("a full queue answers 503") {
  AppConfig cfg;
  cfg.name = "q";
  cfg.listen = TcpEndpoint(boost::asio::ip::make_address("127.0.0.1"), 0);
  cfg.load_listen = cfg.listen;
  cfg.workers = 1;
  cfg.service = 300ms;
  cfg.queue_limit = 1;
  auto s = AppServer::start(cfg);
  REQUIRE(s.has_value());
  auto& app = *s;
  // One in service, one queued; wait until the load endpoint says so, then a third.
  auto a = std::async(std::launch::async, [&] { return http_request(app->service_endpoint(), "GET", "/"); });
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (num(app->load(), "busy_workers") < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  auto b = std::async(std::launch::async, [&] { return http_request(app->service_endpoint(), "GET", "/"); });
  while (num(app->load(), "queue_depth") < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  auto c = http_request(app->service_endpoint(), "GET", "/");
  REQUIRE(c.has_value());
  CHECK(c->status == 503);
  auto ra = a.get();
  auto rb = b.get();
  REQUIRE(ra.has_value());
  REQUIRE(rb.has_value());
  CHECK(ra->status == 200);
  CHECK(rb->status == 200);
  CHECK(num(app->load(), "rejected_total") == 1);
}

TEST_CASE("bad configuration is refused") {
  AppConfig cfg;
  cfg.listen = TcpEndpoint(boost::asio::ip::make_address("127.0.0.1"), 0);
  cfg.load_listen = cfg.listen;
  cfg.name = "bad name\r\n";
  CHECK_FALSE(AppServer::start(cfg).has_value());
  cfg.name = "ok";
  cfg.workers = 0;
  CHECK_FALSE(AppServer::start(cfg).has_value());
  cfg.workers = 1;
  cfg.background = 1.0;
  CHECK_FALSE(AppServer::start(cfg).has_value());
}

TEST_CASE("stop with requests in service and queued is prompt and clean") {
  auto app = start_app(1, 5000ms);
  std::vector<std::future<cats::Result<HttpReply>>> futs;
  for (int i = 0; i < 3; ++i)
    futs.push_back(std::async(std::launch::async, [&] { return http_request(app->service_endpoint(), "GET", "/"); }));
  auto deadline = std::chrono::steady_clock::now() + 3s;
  // 2 once the worker took the first request: before that, all 3 may be queued at once.
  while (num(app->load(), "queue_depth") != 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  REQUIRE(num(app->load(), "queue_depth") == 2);
  auto t0 = std::chrono::steady_clock::now();
  app->stop();
  // The 5 s service sleep is cut short rather than waited for.
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  // The clients see their connections closed, not an answer.
  for (auto& f : futs) CHECK_FALSE(f.get().has_value());
  app->stop();  // idempotent
}

TEST_CASE("--llm: the answer streams the tokens, /metrics has vLLM's series and DCGM's only with GPUs") {
  for (unsigned gpus : {0u, 2u}) {
    AppConfig cfg;
    cfg.name = "llm-test";
    cfg.listen = TcpEndpoint(boost::asio::ip::make_address("127.0.0.1"), 0);
    cfg.load_listen = cfg.listen;
    LlmOptions lo;
    lo.batch = 1;
    lo.prefill = 20ms;
    lo.per_token = 5ms;
    lo.tokens = 2;
    cfg.llm = lo;
    cfg.gpus = gpus;
    auto app = AppServer::start(cfg);
    REQUIRE(app.has_value());
    auto r = http_request((*app)->service_endpoint(), "GET", "/v1/completions");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->headers["transfer-encoding"] == "chunked");
    CHECK(r->headers["x-cats-instance"] == "llm-test");
    CHECK(r->body == "1 2 3\n");
    auto m = http_request((*app)->load_endpoint(), "GET", "/metrics");
    REQUIRE(m.has_value());
    CHECK(m->body.find("vllm:num_requests_waiting{model_name=\"llm-test\"} 0") != std::string::npos);
    CHECK(m->body.find("vllm:time_to_first_token_seconds_count{model_name=\"llm-test\"} 1") != std::string::npos);
    CHECK((m->body.find("DCGM_FI_DEV_GPU_UTIL{gpu=\"1\"") != std::string::npos) == (gpus == 2));
    CHECK((m->body.find("DCGM_") != std::string::npos) == (gpus > 0));
    auto bg = http_request((*app)->load_endpoint(), "POST", "/load", R"({"background": 0.5})");
    REQUIRE(bg.has_value());
    CHECK(bg->status == 409);
  }
}
