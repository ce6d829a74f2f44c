// Reflector and sender over loopback. Every wait is "run the io_context until a
// condition holds or a deadline passes" — no fixed sleeps.
#include "stamp/reflector.hpp"
#include "stamp/sender.hpp"

#include <boost/asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <functional>
#include <thread>

using namespace cats;
using namespace cats::stamp;
using namespace std::chrono_literals;

namespace {

bool run_until(boost::asio::io_context& io, const std::function<bool()>& cond,
               std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    io.restart();
    io.run_one_for(20ms);
  }
  return true;
}

ReflectorConfig loopback_reflector() {
  ReflectorConfig rc;
  rc.address = parse_address("127.0.0.1").value();
  rc.port = 0;
  return rc;
}

SenderConfig loopback_sender(const UdpEndpoint& reflector) {
  SenderConfig sc;
  sc.name = "lo/test";
  sc.device = "lo";
  sc.local_address = parse_address("127.0.0.1").value();
  sc.reflector = reflector;
  sc.interval = 20ms;
  sc.stats.timeout = 60ms;  // 3 x interval
  sc.stats.min_timeout = 40ms;
  return sc;
}

AuthKey key_of(uint8_t fill) {
  std::vector<uint8_t> k(32, fill);
  return *AuthKey::make(k);
}

}  // namespace

TEST_CASE("reflector builds stateless replies, copies TTL, drops junk") {
  boost::asio::io_context io;
  auto rc = loopback_reflector();
  rc.rate_limit = RateLimitConfig{1, 2, 16};
  auto r = StampReflector::start(io, rc);
  REQUIRE(r.has_value());
  auto& refl = **r;

  const SenderPacket sp{42, Timestamp{100, 200}, ErrorEstimate{}};
  const auto req = encode_sender(sp, nullptr);
  StampReflector::Arrival a;
  a.bytes = req;
  a.source = {parse_address("10.0.0.1").value(), 7};
  a.ttl = 61;
  a.received_at = std::chrono::system_clock::time_point{} + 1s;
  a.now = std::chrono::steady_clock::time_point{};
  auto reply = refl.make_reply(a, a.received_at + 2ms);
  REQUIRE(reply.has_value());
  REQUIRE(reply->size() == kUnauthLen);
  auto d = decode_reflector(*reply, nullptr);
  REQUIRE(d.packet.has_value());
  CHECK(d.packet->seq == 42);
  CHECK(d.packet->sender_seq == 42);
  CHECK(d.packet->sender_timestamp == sp.timestamp);
  CHECK(d.packet->sender_ttl == 61);
  CHECK(timestamp_diff(d.packet->timestamp, d.packet->receive_timestamp, false) ==
        std::chrono::nanoseconds(2'000'000 - 1));  // 2 ms, less NTP fraction rounding

  SECTION("symmetric size, never larger than the request") {
    std::vector<uint8_t> big = req;
    big.resize(200, 0xEE);
    a.bytes = big;
    auto rep = refl.make_reply(a, a.received_at);
    REQUIRE(rep.has_value());
    CHECK(rep->size() == 200);
  }
  SECTION("malformed, truncated and rate-limited requests are counted, not answered") {
    std::vector<uint8_t> shorter(req.begin(), req.end() - 1);
    a.bytes = shorter;
    CHECK_FALSE(refl.make_reply(a, a.received_at).has_value());
    a.bytes = req;
    a.truncated = true;
    CHECK_FALSE(refl.make_reply(a, a.received_at).has_value());
    CHECK(refl.counters().malformed == 2);
    a.truncated = false;
    CHECK(refl.make_reply(a, a.received_at).has_value());  // second token of burst 2
    CHECK_FALSE(refl.make_reply(a, a.received_at).has_value());
    CHECK(refl.counters().rate_limited == 1);
  }
}

TEST_CASE("authenticated reflector rejects unauthenticated and wrongly keyed packets") {
  boost::asio::io_context io;
  auto rc = loopback_reflector();
  rc.key = key_of(1);
  auto r = StampReflector::start(io, rc);
  REQUIRE(r.has_value());
  StampReflector::Arrival a;
  a.source = {parse_address("10.0.0.1").value(), 1};
  const SenderPacket sp{1, Timestamp{1, 2}, ErrorEstimate{}};
  const auto plain = encode_sender(sp, nullptr);
  const auto k2 = key_of(2);
  const auto wrong = encode_sender(sp, &k2);
  const auto good = encode_sender(sp, &*rc.key);
  a.bytes = plain;
  CHECK_FALSE((*r)->make_reply(a, {}).has_value());
  a.bytes = wrong;
  CHECK_FALSE((*r)->make_reply(a, {}).has_value());
  CHECK((*r)->counters().malformed == 1);
  CHECK((*r)->counters().auth_failed == 1);
  a.bytes = good;
  auto rep = (*r)->make_reply(a, {});
  REQUIRE(rep.has_value());
  CHECK(rep->size() == kAuthLen);
  CHECK(decode_reflector(*rep, &*rc.key).packet.has_value());
}

TEST_CASE("sender over loopback sees replies, then loss when the reflector stops") {
  boost::asio::io_context io;
  auto r = StampReflector::start(io, loopback_reflector());
  REQUIRE(r.has_value());
  auto reflector = *r;
  std::vector<StateChange> events;
  auto s = StampSender::start(io, loopback_sender(reflector->local_endpoint()),
                              [] { return 7u; },
                              [&](const std::string& path, const StateChange& c) {
                                CHECK(path == "lo/test");
                                events.push_back(c);
                              });
  REQUIRE(s.has_value());
  auto sender = *s;

  REQUIRE(run_until(io, [&] { return sender->snapshot().received >= 10; }, 5000ms));
  auto snap = sender->snapshot();
  CHECK(snap.state == PathState::up);
  REQUIRE(snap.rtt_ms.has_value());
  CHECK(*snap.rtt_ms > 0.0);
  CHECK(*snap.rtt_ms < 50.0);
  CHECK(snap.malformed == 0);
  CHECK(reflector->counters().reflected >= 10);
  REQUIRE(!events.empty());
  CHECK(events.front().from == PathState::unknown);
  CHECK(events.front().to == PathState::up);

  reflector->stop();
  REQUIRE(run_until(io, [&] { return sender->snapshot().state == PathState::down; }, 3000ms));
  snap = sender->snapshot();
  CHECK(snap.lost >= 3);
  CHECK(snap.loss_pct > 0.0);
  CHECK(events.back().to == PathState::down);
  sender->stop();
}

TEST_CASE("authenticated sender and reflector over loopback") {
  boost::asio::io_context io;
  auto rc = loopback_reflector();
  rc.key = key_of(9);
  auto r = StampReflector::start(io, rc);
  REQUIRE(r.has_value());
  auto sc = loopback_sender((*r)->local_endpoint());
  sc.key = key_of(9);
  auto s = StampSender::start(io, sc);
  REQUIRE(s.has_value());
  REQUIRE(run_until(io, [&] { return (*s)->snapshot().received >= 3; }, 5000ms));
  CHECK((*r)->counters().auth_failed == 0);

  // A sender with the wrong key is never answered.
  sc.key = key_of(8);
  sc.name = "lo/wrongkey";
  auto bad = StampSender::start(io, sc);
  REQUIRE(bad.has_value());
  REQUIRE(run_until(io, [&] { return (*r)->counters().auth_failed >= 3; }, 5000ms));
  CHECK((*bad)->snapshot().received == 0);
}

TEST_CASE("a sender whose device does not exist counts losses and does not throw") {
  boost::asio::io_context io;
  auto sc = loopback_sender(UdpEndpoint(parse_address("127.0.0.1").value(), 862));
  sc.device = "cats-nonexist";
  auto s = StampSender::start(io, sc);
  REQUIRE(s.has_value());
  REQUIRE(run_until(io, [&] { return (*s)->snapshot().state == PathState::down; }, 3000ms));
  CHECK((*s)->snapshot().send_errors >= 3);

  sc.interval = 0ms;
  CHECK_FALSE(StampSender::start(io, sc).has_value());
}

TEST_CASE("arrival_time: the kernel's stamp moved onto the steady clock, a clock step ignored") {
  using std::chrono::system_clock;
  const SteadyTime steady_now{std::chrono::seconds(1000)};
  const system_clock::time_point wall_now{std::chrono::seconds(1'796'000'000)};
  // Queued 30 ms before we read it: it arrived 30 ms ago on the steady clock too.
  CHECK(arrival_time(steady_now, wall_now, wall_now - 30ms) == steady_now - 30ms);
  CHECK(arrival_time(steady_now, wall_now, wall_now) == steady_now);
  CHECK(arrival_time(steady_now, wall_now, std::nullopt) == steady_now);
  // A stamp from the future, or older than max_age: the wall clock stepped in between.
  CHECK(arrival_time(steady_now, wall_now, wall_now + 5ms) == steady_now);
  CHECK(arrival_time(steady_now, wall_now, wall_now - 1001ms) == steady_now);
  CHECK(arrival_time(steady_now, wall_now, wall_now - 1000ms) == steady_now - 1000ms);
  CHECK(arrival_time(steady_now, wall_now, wall_now - 200ms, 100ms) == steady_now);
}

TEST_CASE("sender: a reply that waited in the socket while the sender did not run is timed by its arrival") {
  // The reflector answers from its own thread while the sender's thread is held up right
  // after a probe left, as a busy host holds up a process: the RTT is the path's (well
  // under a millisecond on loopback), not the hold-up (80 ms). Before the kernel's
  // arrival stamps were used, each such sample was >= 80 ms.
  boost::asio::io_context rio;
  auto r = StampReflector::start(rio, loopback_reflector());
  REQUIRE(r.has_value());
  auto work = boost::asio::make_work_guard(rio);
  std::thread reflector_thread([&] { rio.run(); });

  boost::asio::io_context io;
  auto sc = loopback_sender((*r)->local_endpoint());
  sc.interval = 200ms;  // one probe at a time in flight
  sc.stats.timeout = 400ms;  // no probe is declared lost while held up
  sc.stats.min_timeout = 400ms;
  auto s = StampSender::start(io, sc, [] { return 0u; });
  REQUIRE(s.has_value());
  auto sender = *s;
  // Warm-up: the kernel turns receive stamping on for the whole system from a work
  // queue, a moment after the first socket asks (net_enable_timestamp); a reply before
  // that has no stamp and is timed when read (arrival_time's fallback).
  REQUIRE(run_until(io, [&] { return sender->snapshot().received >= 2; }, 2000ms));
  for (int i = 0; i < 3; ++i) {
    const auto sent = sender->snapshot().sent;
    REQUIRE(run_until(io, [&] { return sender->snapshot().sent > sent; }, 2000ms));
    std::this_thread::sleep_for(80ms);  // the hold-up: the stimulus, not a wait
    REQUIRE(run_until(io, [&] { return sender->snapshot().received > sent; }, 2000ms));
  }
  const auto snap = sender->snapshot();
  sender->stop();
  (*r)->stop();
  work.reset();
  rio.stop();
  reflector_thread.join();
  CHECK(snap.lost == 0);
  REQUIRE(snap.rtt_max_ms.has_value());
  CHECK(*snap.rtt_max_ms < 40.0);
}
