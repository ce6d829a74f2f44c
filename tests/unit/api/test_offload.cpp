// Deferred answers and the Offload worker over the real UnixServer (the session template
// HTTPS shares): a job that waits must not hold up other requests, the queue is bounded,
// and a server or worker that stops mid-job neither hangs nor crashes.
#include "api/api.hpp"
#include "api/offload.hpp"
#include "test_helpers.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace cats;
using namespace cats::api;
using namespace cats::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// Jobs block in pass() until release(); entered() counts those that reached it.
class Gate {
 public:
  void pass() {
    std::unique_lock lk(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(lk, [this] { return open_; });
  }
  void release() {
    std::lock_guard lk(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait_entered(int n, std::chrono::milliseconds d = 5s) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, d, [&] { return entered_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  bool open_ = false;
};

bool eventually(const std::function<bool()>& f, std::chrono::milliseconds d = 5s) {
  auto end = std::chrono::steady_clock::now() + d;
  while (!f()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

struct Seen {
  std::mutex mu;
  std::vector<std::pair<std::string, int>> v;
  size_t count(const std::string& route, int status) {
    std::lock_guard lk(mu);
    return static_cast<size_t>(std::count(v.begin(), v.end(), std::make_pair(route, status)));
  }
};

Router slow_router(Offload& worker, Gate& gate, Seen& seen) {
  Router rt;
  rt.add("POST", "/slow", [&](const Request& r) {
    return worker.submit([&gate, body = r.body] {
      gate.pass();
      return Response::json(json::object{{"echo", body}}, 201);
    });
  });
  rt.add("GET", "/status", [](const Request&) { return Response::json(json::object{{"ok", true}}); });
  rt.set_observer([&seen](const std::string& route, int status, double) {
    std::lock_guard lk(seen.mu);
    seen.v.emplace_back(route, status);
  });
  return rt;
}

std::string error_code(const std::string& body) {
  return std::string(json::parse(body).at("error").at("code").as_string());
}

}  // namespace

TEST_CASE("deferred answers: other requests are served while jobs wait; the queue is bounded") {
  TempDir tmp;
  const std::string sock = tmp.path + "/api.sock";
  Gate gate;
  Seen seen;
  Offload worker("test-slow", 2);
  auto srv = UnixServer::start(sock, slow_router(worker, gate, seen));
  REQUIRE(srv.has_value());

  // One job running (blocked in the gate), two waiting: the queue is full.
  std::atomic<int> done{0};
  std::vector<Result<ClientResponse>> slow(3, Error::msg("not answered"));
  std::vector<std::thread> clients;
  // On a failed REQUIRE too: open the gate and join, so a failure is reported, not aborted.
  struct Cleanup {
    Gate& g;
    std::vector<std::thread>& ts;
    ~Cleanup() {
      g.release();
      for (auto& t : ts)
        if (t.joinable()) t.join();
    }
  } cleanup{gate, clients};
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back([&, i] {
      slow[i] = unix_request(sock, "POST", "/slow", "job " + std::to_string(i), 10s);
      ++done;
    });
    if (i == 0) REQUIRE(gate.wait_entered(1));
  }
  REQUIRE(eventually([&] { return worker.queued() == 2; }));

  // Served at once by the server thread, though three answers are pending on it: before
  // deferred answers it would have waited for the gate (and timed out here).
  auto status = unix_request(sock, "GET", "/status", {}, 2s);
  REQUIRE(status.has_value());
  CHECK(status->status == 200);
  CHECK(done == 0);

  // A fourth job finds the queue full: 503 JSON with Retry-After, and it never runs.
  auto full = unix_request(sock, "POST", "/slow", "job 3", 2s);
  REQUIRE(full.has_value());
  CHECK(full->status == 503);
  CHECK(error_code(full->body) == "unavailable");
  CHECK(full->header("Retry-After") == "1");

  gate.release();
  for (auto& t : clients) t.join();
  for (int i = 0; i < 3; ++i) {
    REQUIRE(slow[i].has_value());
    CHECK(slow[i]->status == 201);
    CHECK(json::parse(slow[i]->body).at("echo").as_string() == "job " + std::to_string(i));
  }
  // The observer times a deferred answer to its end, with its own status.
  CHECK(seen.count("/slow", 201) == 3);
  CHECK(seen.count("/slow", 503) == 1);
  CHECK(seen.count("/status", 200) == 1);
}

TEST_CASE("deferred answers: a kept-alive connection goes on in order after one") {
  TempDir tmp;
  const std::string sock = tmp.path + "/api.sock";
  Gate gate;
  Seen seen;
  Offload worker("test-slow");
  auto srv = UnixServer::start(sock, slow_router(worker, gate, seen));
  REQUIRE(srv.has_value());
  auto fd = raw_connect(sock);
  REQUIRE(fd);
  // Pipelined: the second request is parsed only after the deferred first one is answered.
  REQUIRE(raw_send(fd, "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
                       "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  REQUIRE(gate.wait_entered(1));
  gate.release();
  std::string all = raw_read_all(fd);
  auto first = all.find("HTTP/1.1 201");
  auto second = all.find("HTTP/1.1 200");
  REQUIRE(first != std::string::npos);
  REQUIRE(second != std::string::npos);
  CHECK(first < second);
  CHECK(all.find("\"echo\":\"hi\"") != std::string::npos);
}

TEST_CASE("deferred answers: answer_timeout answers 503; the server stopping mid-job is safe") {
  TempDir tmp;
  const std::string sock = tmp.path + "/api.sock";
  Gate gate;
  Seen seen;
  Offload worker("test-slow");
  ServerLimits limits;
  limits.answer_timeout = 200ms;
  auto srv = UnixServer::start(sock, slow_router(worker, gate, seen), limits);
  REQUIRE(srv.has_value());

  auto late = unix_request(sock, "POST", "/slow", "x", 5s);
  REQUIRE(late.has_value());
  CHECK(late->status == 503);
  CHECK(error_code(late->body) == "unavailable");
  REQUIRE(gate.wait_entered(1));

  // The job is still running; the server goes on, then stops with a second job pending.
  auto status = unix_request(sock, "GET", "/status", {}, 2s);
  REQUIRE(status.has_value());
  CHECK(status->status == 200);
  std::thread pending([&] { (void)unix_request(sock, "POST", "/slow", "y", 5s); });
  REQUIRE(eventually([&] { return worker.queued() == 1; }));
  (*srv)->stop();  // the connection is dropped with its session
  pending.join();
  gate.release();  // both jobs finish after the server is gone: nothing is posted to it
  REQUIRE(eventually([&] { return seen.count("/slow", 201) == 2; }));
}

TEST_CASE("Offload: a stopping worker answers its queue 503 without running it; a throw is a 500") {
  Gate gate;
  std::atomic<bool> ran{false};
  auto worker = std::make_unique<Offload>("test-stop", 4);
  auto running = worker->submit([&] {
    gate.pass();
    return Response::json(json::object{}, 201);
  });
  REQUIRE(running.deferred);
  REQUIRE(gate.wait_entered(1));
  auto queued = worker->submit([&] {
    ran = true;
    return Response::json(json::object{});
  });
  REQUIRE(queued.deferred);
  std::thread stop([&] { worker.reset(); });
  // Answered while the running job still holds the worker: the stop does not wait for it.
  CHECK(queued.deferred->wait().status == 503);
  gate.release();
  stop.join();
  CHECK(running.deferred->wait().status == 201);
  CHECK_FALSE(ran);

  Offload w2("test-throw");
  auto thrown = w2.submit([]() -> Response { throw std::runtime_error("kaput"); });
  REQUIRE(thrown.deferred);
  auto r = thrown.deferred->wait();
  CHECK(r.status == 500);
  CHECK(r.body.at("error").at("code").as_string() == "internal");
}
