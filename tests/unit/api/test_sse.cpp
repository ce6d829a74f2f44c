// api::sse::Hub: ids, the per-topic rate limit with coalescing (injected clock), replay
// after Last-Event-ID, reset when too old, bounded streams, slow subscribers, keepalive.
#include "api/sse.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace cats::api;
using namespace std::chrono_literals;
using Tp = std::chrono::steady_clock::time_point;

namespace {

struct FakeClock {
  Tp now{std::chrono::seconds(1000)};
  sse::Clock fn() {
    return [this] { return now; };
  }
};

struct Msg {
  uint64_t id = 0;
  std::string event, data;
};

// Parses an SSE byte stream (WHATWG 9.2.6, the subset we emit): messages, comments skipped.
std::vector<Msg> parse(const std::string& bytes) {
  std::vector<Msg> out;
  Msg cur;
  bool any = false;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t nl = bytes.find('\n', pos);
    std::string line = bytes.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) {
      if (any) out.push_back(cur);
      cur = {};
      any = false;
      continue;
    }
    if (line[0] == ':' || line.rfind("retry:", 0) == 0) continue;
    auto colon = line.find(": ");
    auto field = line.substr(0, colon), value = line.substr(colon + 2);
    any = true;
    if (field == "id") cur.id = std::stoull(value);
    if (field == "event") cur.event = value;
    if (field == "data") cur.data = value;
  }
  return out;
}

std::vector<Msg> drain(StreamBody& s) { return parse(s.pull().bytes); }

}  // namespace

TEST_CASE("sse: topics and Last-Event-ID parsing") {
  CHECK(sse::parse_topics("")->size() == 4);
  CHECK(*sse::parse_topics("events,paths,events") == std::vector<std::string>{"events", "paths"});
  CHECK_FALSE(sse::parse_topics("paths,").has_value());
  CHECK_FALSE(sse::parse_topics("path").has_value());
  CHECK_FALSE(sse::parse_topics(",paths").has_value());
  CHECK(*sse::parse_last_event_id("18446744073709551615") == 18446744073709551615ull);
  CHECK_FALSE(sse::parse_last_event_id("18446744073709551616").has_value());
  CHECK_FALSE(sse::parse_last_event_id("-1").has_value());
  CHECK_FALSE(sse::parse_last_event_id("1 ").has_value());
  CHECK_FALSE(sse::parse_last_event_id("").has_value());
  CHECK(sse::frame(7, "paths", "{\"a\":1}") == "id: 7\nevent: paths\ndata: {\"a\":1}\n\n");
}

TEST_CASE("sse: ids are global and increasing; a subscriber sees its topics only, live") {
  FakeClock c;
  sse::Options o;
  o.first_id = 100;
  auto hub = sse::Hub::make(o, c.fn());
  hub->publish("paths", "wan1/c1", "{\"p\":1}");  // before anyone listens: not replayed without an id
  auto sub = hub->subscribe({"paths", "events"}, std::nullopt);
  REQUIRE(sub);
  CHECK(drain(*sub).empty());
  hub->publish("instances", "c1/a/i", "{\"i\":1}");
  hub->publish("events", "x", "{\"e\":1}");
  hub->publish("paths", "wan1/c1", "{\"p\":2}");
  auto m = drain(*sub);
  REQUIRE(m.size() == 2);
  CHECK(m[0].id == 102);
  CHECK(m[0].event == "events");
  CHECK(m[1].id == 103);
  CHECK(m[1].data == "{\"p\":2}");
  CHECK(hub->last_id() == 103);
  CHECK(drain(*sub).empty());
}

TEST_CASE("sse: at most per_second messages per topic in any second; the latest per subject waits") {
  FakeClock c;
  auto hub = sse::Hub::make({}, c.fn());
  auto sub = hub->subscribe({"paths", "events"}, std::nullopt);
  for (int i = 0; i < 10; ++i) hub->publish("paths", "p" + std::to_string(i), "{\"v\":" + std::to_string(i) + "}");
  // Over budget: p0 and p1 wait, each keeping only its latest value.
  hub->publish("paths", "p0", "{\"v\":100}");
  hub->publish("paths", "p1", "{\"v\":101}");
  hub->publish("paths", "p0", "{\"v\":200}");
  // Another topic has its own budget.
  hub->publish("events", "e", "{\"e\":1}");
  auto m = drain(*sub);
  REQUIRE(m.size() == 11);
  CHECK(m.back().event == "events");

  c.now += 999ms;
  hub->tick();
  CHECK(drain(*sub).empty());  // still inside the second of the first ten
  c.now += 1ms;
  hub->tick();
  m = drain(*sub);
  REQUIRE(m.size() == 2);
  CHECK(m[0].data == "{\"v\":200}");  // coalesced: p0's latest, in p0's place
  CHECK(m[1].data == "{\"v\":101}");

  // A burst spread over time: never more than 10 in any 1 s window.
  std::vector<Tp> sent;
  for (int i = 0; i < 300; ++i) {
    c.now += 7ms;
    hub->publish("paths", "p" + std::to_string(i % 5), "{}");
    hub->tick();
    for (size_t k = 0; k < drain(*sub).size(); ++k) sent.push_back(c.now);
  }
  for (size_t i = 10; i < sent.size(); ++i) CHECK(sent[i] - sent[i - 10] >= 1s);
  CHECK(sent.size() >= 20);  // and it does flow: ~10/s over 2.1 s
}

TEST_CASE("sse: waiting subjects are bounded; a waiting one still takes its latest value") {
  FakeClock c;
  sse::Options o;
  o.per_second = 1;
  o.max_pending = 3;
  auto hub = sse::Hub::make(o, c.fn());
  auto sub = hub->subscribe({"events"}, std::nullopt);
  for (int i = 0; i < 10; ++i) hub->publish("events", std::to_string(i), "{\"n\":" + std::to_string(i) + "}");
  hub->publish("events", "2", "{\"n\":22}");  // waiting already: updated, not refused
  CHECK(drain(*sub).size() == 1);               // 0 went at once
  std::vector<std::string> later;
  for (int i = 0; i < 5; ++i) {
    c.now += 1s;
    hub->tick();
    for (auto& m : drain(*sub)) later.push_back(m.data);
  }
  // 1..3 waited, in their order; 4..9 found the waiting room full.
  CHECK(later == std::vector<std::string>{"{\"n\":1}", "{\"n\":22}", "{\"n\":3}"});
  CHECK(hub->dropped() == 6);
}

TEST_CASE("sse: Last-Event-ID replays what followed it, exactly once; too old or unknown resets") {
  FakeClock c;
  sse::Options o;
  o.ring = 8;
  o.per_second = 1000;
  o.first_id = 1;
  auto hub = sse::Hub::make(o, c.fn());
  for (int i = 1; i <= 5; ++i) hub->publish("paths", "p", "{\"n\":" + std::to_string(i) + "}");

  auto resumed = hub->subscribe(sse::topics(), 2);
  auto m = drain(*resumed);
  REQUIRE(m.size() == 3);
  CHECK(m[0].id == 3);
  CHECK(m[2].id == 5);
  hub->publish("paths", "p", "{\"n\":6}");
  m = drain(*resumed);
  REQUIRE(m.size() == 1);
  CHECK(m[0].id == 6);

  auto current = hub->subscribe(sse::topics(), 6);  // up to date: nothing to replay
  CHECK(drain(*current).empty());

  for (int i = 7; i <= 20; ++i) hub->publish("paths", "p", "{}");  // ring now holds 13..20
  auto edge = hub->subscribe(sse::topics(), 12);
  m = drain(*edge);
  REQUIRE(m.size() == 8);
  CHECK(m[0].id == 13);

  auto old = hub->subscribe(sse::topics(), 11);
  m = drain(*old);
  REQUIRE(m.size() == 1);
  CHECK(m[0].event == "reset");
  CHECK(m[0].id == 20);
  hub->publish("paths", "p", "{}");
  m = drain(*old);
  REQUIRE(m.size() == 1);
  CHECK(m[0].id == 21);

  auto future = hub->subscribe(sse::topics(), 999);  // an id of another run
  m = drain(*future);
  REQUIRE(m.size() == 1);
  CHECK(m[0].event == "reset");
}

TEST_CASE("sse: streams are bounded and released") {
  FakeClock c;
  sse::Options o;
  o.max_streams = 2;
  auto hub = sse::Hub::make(o, c.fn());
  auto a = hub->subscribe(sse::topics(), std::nullopt);
  auto b = hub->subscribe(sse::topics(), std::nullopt);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(hub->subscribe(sse::topics(), std::nullopt) == nullptr);
  CHECK(hub->streams() == 2);
  a.reset();
  CHECK(hub->streams() == 1);
  auto d = hub->subscribe(sse::topics(), std::nullopt);
  REQUIRE(d != nullptr);
  b->pull();
  CHECK_FALSE(b->pull().end);
  hub->close();  // the services feeding it are gone: every stream ends, none opens
  CHECK(b->pull().end);
  CHECK(d->pull().end);
  d.reset();
  CHECK(hub->subscribe(sse::topics(), std::nullopt) == nullptr);
}

TEST_CASE("sse: a subscriber too far behind is ended; chunks are bounded; keepalive when quiet") {
  FakeClock c;
  sse::Options o;
  o.per_second = 100000;
  o.max_lag = 10;
  o.max_chunk = 100;
  auto hub = sse::Hub::make(o, c.fn());
  auto sub = hub->subscribe(sse::topics(), std::nullopt);
  auto first = sub->pull();
  CHECK(first.bytes.find("retry: ") == 0);
  for (int i = 0; i < 5; ++i) hub->publish("paths", std::to_string(i), std::string(40, 'x'));
  auto chunk = sub->pull();
  CHECK(chunk.bytes.size() <= 100);
  CHECK(parse(chunk.bytes).size() == 1);
  CHECK_FALSE(chunk.end);
  for (int i = 0; i < 20; ++i) hub->publish("paths", std::to_string(i), "{}");
  CHECK(sub->pull().end);

  auto quiet = hub->subscribe(sse::topics(), std::nullopt);
  quiet->pull();
  c.now += 14s;
  CHECK(quiet->pull().bytes.empty());
  c.now += 1s;
  CHECK(quiet->pull().bytes == ": keepalive\n\n");
  CHECK(quiet->pull().bytes.empty());
}

// The session's streaming seam, end to end on a Unix socket: head, then messages as they
// are published, past the idle and request timeouts; the stream slot is freed when the
// client goes.
#include "api/http.hpp"
#include "test_helpers.hpp"

#include <thread>

namespace {

// Reads until `needle` has arrived (or the 3 s receive timeout); returns all read so far.
std::string read_until(const cats::UniqueFd& fd, std::string& acc, const std::string& needle) {
  char buf[4096];
  while (acc.find(needle) == std::string::npos) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) break;
    acc.append(buf, static_cast<size_t>(n));
  }
  return acc;
}

// After raw_read_all: whether it ended because the server closed the connection (EOF),
// not because the 3 s receive timeout ran out.
bool closed_by_server(const cats::UniqueFd& fd) {
  char c;
  return ::recv(fd.get(), &c, 1, MSG_DONTWAIT) == 0;
}

}  // namespace

TEST_CASE("sse: a streamed answer through UnixServer outlives the idle timeout") {
  cats::test::TempDir tmp;
  const std::string sock = tmp.path + "/api.sock";
  auto hub = sse::Hub::make({}, [] { return std::chrono::steady_clock::now(); });
  Router rt;
  rt.add("GET", "/stream", [hub](const Request&) {
    return Response::streamed(hub->subscribe(sse::topics(), std::nullopt), "text/event-stream");
  });
  rt.add("GET", "/plain", [](const Request&) { return Response::json(1); });
  ServerLimits lim;
  lim.idle_timeout = 200ms;
  lim.read_timeout = 200ms;
  auto srv = UnixServer::start(sock, rt, lim);
  REQUIRE(srv.has_value());

  auto fd = cats::test::raw_connect(sock);
  REQUIRE(fd);
  REQUIRE(cats::test::raw_send(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string got;
  read_until(fd, got, "retry: 2000\n\n");
  CHECK(got.find("HTTP/1.1 200") == 0);
  CHECK(got.find("Content-Type: text/event-stream") != std::string::npos);
  CHECK(got.find("Cache-Control: no-store") != std::string::npos);
  CHECK(got.find("Content-Length") == std::string::npos);
  CHECK(hub->streams() == 1);

  // The stream must outlive both timeouts. They run on the server's Asio timers, with no
  // clock to inject, so rather than sleeping past them the test waits until they have
  // fired on two connections opened after the stream (their timers started later, and the
  // server's one thread handles expiries in deadline order): one left idle after an answer
  // is closed by idle_timeout, one holding half a request is answered 408 by read_timeout.
  auto idle = cats::test::raw_connect(sock);
  auto half = cats::test::raw_connect(sock);
  REQUIRE(idle);
  REQUIRE(half);
  REQUIRE(cats::test::raw_send(idle, "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n"));
  REQUIRE(cats::test::raw_send(half, "GET /plain HTTP/1.1\r\n"));
  CHECK(cats::test::raw_read_all(idle).rfind("HTTP/1.1 200", 0) == 0);
  CHECK(closed_by_server(idle));
  CHECK(cats::test::raw_read_all(half).rfind("HTTP/1.1 408", 0) == 0);
  CHECK(closed_by_server(half));
  CHECK(hub->streams() == 1);
  hub->publish("paths", "a", "{\"x\":1}");
  read_until(fd, got, "data: {\"x\":1}\n\n");
  CHECK(got.find("event: paths\ndata: {\"x\":1}\n\n") != std::string::npos);

  fd.reset();  // the client goes: its stream slot is freed
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (hub->streams() != 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  CHECK(hub->streams() == 0);

  auto plain = unix_request(sock, "GET", "/plain");  // the server goes on serving
  REQUIRE(plain.has_value());
  CHECK(plain->status == 200);

  // Without a session to drive it (the fuzzer's path), a streamed answer is a 500.
  auto raw = detail::parse_raw("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", ServerLimits{});
  REQUIRE(raw.request);
  CHECK(detail::handle(rt, *raw.request, {}).result_int() == 500);
}

TEST_CASE("sse: a client that stops reading is dropped after write_timeout") {
  cats::test::TempDir tmp;
  const std::string sock = tmp.path + "/api.sock";
  sse::Options o;
  o.per_second = 1'000'000;  // the hub lets everything through: the socket is the bound here
  o.ring = 1'000'000;
  o.max_lag = 1'000'000;
  auto hub = sse::Hub::make(o, [] { return std::chrono::steady_clock::now(); });
  Router rt;
  rt.add("GET", "/stream", [hub](const Request&) {
    return Response::streamed(hub->subscribe(sse::topics(), std::nullopt), "text/event-stream");
  });
  ServerLimits lim;
  lim.write_timeout = 300ms;
  auto srv = UnixServer::start(sock, rt, lim);
  REQUIRE(srv.has_value());

  auto fd = cats::test::raw_connect(sock);
  REQUIRE(fd);
  REQUIRE(cats::test::raw_send(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string got;
  read_until(fd, got, "retry: 2000\n\n");
  REQUIRE(hub->streams() == 1);
  // ~16 MiB the client never reads: far beyond both sockets' buffers.
  const std::string big = "\"" + std::string(16 * 1024, 'x') + "\"";
  for (int i = 0; i < 1024; ++i) hub->publish("paths", std::to_string(i), big);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (hub->streams() != 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  CHECK(hub->streams() == 0);
}
