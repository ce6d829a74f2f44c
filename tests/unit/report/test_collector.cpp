#include "fixtures.hpp"
#include "report/collector.hpp"

#include <catch2/catch.hpp>

using namespace cats::report;
using namespace cats::metrics;
using namespace std::chrono_literals;
using cats::IpAddress;
using test::kBaseUnixNs;
using test::realistic_report;

namespace {

struct Fixture {
  SigningKey k1 = *SigningKey::generate();
  SigningKey k2 = *SigningKey::generate();
  SigningKey rogue = *SigningKey::generate();
  IpAddress a1 = boost::asio::ip::make_address("10.200.0.2");
  IpAddress a2 = boost::asio::ip::make_address("10.200.1.2");
  Collector c{{{"vcpe-1", k1.public_key(), {a1}}, {"vcpe-2", k2.public_key(), {a2}}},
              CollectorConfig{10s, 30s, 5s, 60s}};
  std::chrono::steady_clock::time_point mono0{std::chrono::hours(5)};

  Now at(std::chrono::milliseconds dt, int64_t wall_skew_ns = 0) const {
    auto wall = std::chrono::system_clock::time_point(std::chrono::nanoseconds(
        static_cast<int64_t>(kBaseUnixNs) + std::chrono::nanoseconds(dt).count() + wall_skew_ns));
    return Now{mono0 + dt, wall};
  }
  std::vector<uint8_t> enc(const Report& r, const SigningKey& k) { return *encode_report(r, k); }
};

// One instance of service app1 at vCPE "v" with 4 vCPUs at 10 %, plus `extra` metrics.
Report figures_report(uint64_t seq, const char* id, std::vector<L0Metric> extra) {
  Report r;
  r.vcpe_id = "v";
  r.seq = seq;
  InstanceReport in;
  in.service_id = "app1";
  in.instance_id = id;
  in.address = test::ep("10.2.1.10", 8080);
  in.available = true;
  in.metrics = {make(MetricType::vcpus, 4, Source::nominal), make(MetricType::cpu_utilization, 0.1)};
  in.metrics.insert(in.metrics.end(), extra.begin(), extra.end());
  r.instances.push_back(in);
  return r;
}

}  // namespace

TEST_CASE("collector: a valid report is accepted and fills the instance table") {
  Fixture f;
  auto res = f.c.accept(f.enc(realistic_report("vcpe-1", 10), f.k1), f.a1, f.at(0ms));
  REQUIRE(res.accepted());
  REQUIRE(res.report.has_value());
  CHECK(res.report->instances.size() == 4);
  CHECK(res.events.size() == 4);
  for (const auto& e : res.events) CHECK(e.available);
  CHECK(f.c.table().entries().size() == 4);
  const auto* st = f.c.table().find({"vcpe-1", "ar", "ar-a"});
  REQUIRE(st != nullptr);
  CHECK(st->available());
  CHECK(st->address.address().is_v6());
  CHECK(current_value(st->metrics, MetricType::processing_delay_ms) == 25.0);
  CHECK(f.c.count(Verdict::accepted) == 1);
  REQUIRE(f.c.last_seq("vcpe-1").has_value());
  CHECK(*f.c.last_seq("vcpe-1") == 10);
}

TEST_CASE("collector: replay of the same or an older seq is rejected") {
  Fixture f;
  auto d10 = f.enc(realistic_report("vcpe-1", 10), f.k1);
  REQUIRE(f.c.accept(d10, f.a1, f.at(0ms)).accepted());
  CHECK(f.c.accept(d10, f.a1, f.at(1ms)).verdict == Verdict::replay);
  CHECK(f.c.accept(f.enc(realistic_report("vcpe-1", 9), f.k1), f.a1, f.at(2ms)).verdict == Verdict::replay);
  CHECK(f.c.count(Verdict::replay) == 2);
  CHECK(f.c.accept(f.enc(realistic_report("vcpe-1", 11, kBaseUnixNs + 3'000'000), f.k1), f.a1, f.at(3ms))
            .accepted());
  // Sequence numbers are per vCPE.
  CHECK(f.c.accept(f.enc(realistic_report("vcpe-2", 1), f.k2), f.a2, f.at(4ms)).accepted());
}

TEST_CASE("collector: each rejection cause is counted and changes no state") {
  Fixture f;
  REQUIRE(f.c.accept(f.enc(realistic_report("vcpe-1", 10), f.k1), f.a1, f.at(0ms)).accepted());
  const auto table_before = f.c.table().entries();
  const auto seq_before = f.c.last_seq("vcpe-1");

  Report changed = realistic_report("vcpe-1", 20);
  changed.instances[0].available = false;
  changed.instances.pop_back();

  std::vector<uint8_t> oversized(kMaxDatagram + 1, 0);
  std::vector<uint8_t> garbage{1, 2, 3, 4, 5};
  auto bad_sig = f.enc(changed, f.rogue);
  auto other_vcpes_key = f.enc(changed, f.k2);
  Report unknown = changed;
  unknown.vcpe_id = "vcpe-9";
  auto replayed = f.enc(realistic_report("vcpe-1", 10), f.k1);
  auto old = f.enc(realistic_report("vcpe-1", 21, kBaseUnixNs - 31'000'000'000ull), f.k1);
  auto future = f.enc(realistic_report("vcpe-1", 22, kBaseUnixNs + 6'000'000'000ull), f.k1);

  struct Case {
    std::vector<uint8_t> bytes;
    IpAddress src;
    Verdict want;
  };
  std::vector<Case> cases{
      {oversized, f.a1, Verdict::oversized},
      {garbage, f.a1, Verdict::malformed},
      {f.enc(unknown, f.k1), f.a1, Verdict::unknown_vcpe},
      {f.enc(changed, f.k1), f.a2, Verdict::peer_mismatch},  // vcpe-2's tunnel claims vcpe-1
      {bad_sig, f.a1, Verdict::bad_signature},
      {other_vcpes_key, f.a1, Verdict::bad_signature},
      {replayed, f.a1, Verdict::replay},
      {old, f.a1, Verdict::stale},
      {future, f.a1, Verdict::stale},
  };
  for (const auto& c : cases) {
    const auto before = f.c.count(c.want);
    auto res = f.c.accept(c.bytes, c.src, f.at(1ms));
    CHECK(res.verdict == c.want);
    CHECK_FALSE(res.report.has_value());
    CHECK(res.events.empty());
    CHECK(f.c.count(c.want) == before + 1);
    CHECK(f.c.table().entries() == table_before);
    CHECK(f.c.last_seq("vcpe-1") == seq_before);
  }
  CHECK(f.c.count(Verdict::accepted) == 1);
  // Within one log interval: one log line per cause, the rest suppressed.
  CHECK(f.c.logged(Verdict::bad_signature) == 1);
  CHECK(f.c.count(Verdict::bad_signature) == 2);
  CHECK(f.c.logged(Verdict::stale) == 1);
  f.c.accept(bad_sig, f.a1, f.at(61s));
  CHECK(f.c.logged(Verdict::bad_signature) == 2);
}

TEST_CASE("collector: flipping any single bit of a signed report defeats it") {
  Fixture f;
  Report r;
  r.vcpe_id = "vcpe-1";
  r.seq = 5;
  r.timestamp_ns = kBaseUnixNs;
  r.instances.push_back(test::instance("s", "i", "10.0.0.1", 0.5, 10));
  r.instances[0].metrics.resize(2);
  const auto good = f.enc(r, f.k1);
  const auto pub = f.k1.public_key();
  size_t n_bits = good.size() * 8;
  size_t accepted = 0;
  for (size_t bit = 0; bit < n_bits; ++bit) {
    auto b = good;
    b[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    const size_t body = b.size() - kEd25519SignatureSize;
    CHECK_FALSE(pub.verify(std::span<const uint8_t>(b.data(), body),
                           std::span<const uint8_t>(b.data() + body, kEd25519SignatureSize)));
    if (f.c.accept(b, f.a1, f.at(0ms)).accepted()) ++accepted;
  }
  CHECK(accepted == 0);
  CHECK(f.c.table().entries().empty());
  CHECK(f.c.accept(good, f.a1, f.at(0ms)).accepted());
}

TEST_CASE("collector: v4-mapped IPv6 source matches the configured IPv4 peer") {
  Fixture f;
  auto mapped = boost::asio::ip::make_address("::ffff:10.200.0.2");
  CHECK(f.c.accept(f.enc(realistic_report("vcpe-1", 1), f.k1), mapped, f.at(0ms)).accepted());
}

TEST_CASE("instance table: withdrawn instances and expiry after 3 x max-interval") {
  Fixture f;
  REQUIRE(f.c.accept(f.enc(realistic_report("vcpe-1", 1), f.k1), f.a1, f.at(0ms)).accepted());
  REQUIRE(f.c.accept(f.enc(realistic_report("vcpe-2", 1), f.k2), f.a2, f.at(5s)).accepted());

  // vcpe-1 drops ar-b and marks video-a unavailable.
  Report r = realistic_report("vcpe-1", 2, kBaseUnixNs + 1'000'000'000ull);
  r.instances.pop_back();
  r.instances[0].available = false;
  auto res = f.c.accept(f.enc(r, f.k1), f.a1, f.at(1s));
  REQUIRE(res.accepted());
  using Reason = AvailabilityEvent::Reason;
  std::vector<AvailabilityEvent> want{{{"vcpe-1", "video", "video-a"}, false, Reason::reported},
                                      {{"vcpe-1", "ar", "ar-b"}, false, Reason::withdrawn}};
  CHECK(res.events == want);

  // max_interval 10 s: vcpe-1 (last report at 1 s) expires at 31 s, vcpe-2 at 35 s.
  CHECK(f.c.expire(f.mono0 + 30999ms).empty());
  auto ev = f.c.expire(f.mono0 + 31s);
  std::vector<AvailabilityEvent> want_exp{{{"vcpe-1", "ar", "ar-a"}, false, Reason::expired},
                                          {{"vcpe-1", "video", "video-b"}, false, Reason::expired}};
  CHECK(ev == want_exp);  // video-a and ar-b were already unavailable: no second event
  CHECK(f.c.expire(f.mono0 + 32s).empty());
  CHECK(f.c.expire(f.mono0 + 35s).size() == 4);
  const auto* st = f.c.table().find({"vcpe-1", "video", "video-b"});
  REQUIRE(st != nullptr);
  CHECK_FALSE(st->available());
  CHECK(st->expired);

  // Long gone entries are forgotten (100 x max_interval), the others stay.
  REQUIRE(f.c.accept(f.enc(realistic_report("vcpe-2", 2, kBaseUnixNs + 990'000'000'000ull), f.k2), f.a2,
                     f.at(990s))
              .accepted());
  CHECK(f.c.expire(f.mono0 + 1001s).empty());
  CHECK(f.c.table().entries().size() == 4);
  CHECK(f.c.table().find({"vcpe-1", "video", "video-b"}) == nullptr);

  // A fresh report brings them back.
  auto back = f.c.accept(f.enc(realistic_report("vcpe-1", 3, kBaseUnixNs + 1002'000'000'000ull), f.k1), f.a1,
                         f.at(1002s));
  REQUIRE(back.accepted());
  CHECK(back.events.size() == 4);
  CHECK(f.c.table().entries().size() == 8);
  for (const auto& e : back.events) CHECK(e.available);
}

TEST_CASE("instance table: an instance's own figures are kept across reports that lack them") {
  InstanceTable t;
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  auto report = [](uint64_t seq, std::vector<L0Metric> extra) { return figures_report(seq, "a", std::move(extra)); };

  auto figures = [&] { return t.find({"v", "app1", "a"})->figures; };

  // Utilisation only: nothing measured about its processing time.
  t.apply(report(1, {}), t0);
  CHECK_FALSE(figures().measured);
  CHECK_FALSE(figures().service_time_ms);
  CHECK_FALSE(figures().last_delay_ms);

  // A fresh delay: measured now.
  t.apply(report(2, {make(MetricType::processing_delay_ms, 61.0, Source::measured, Statistic::mean)}), t0 + 1s);
  CHECK(figures().measured);
  CHECK(figures().last_delay_ms == 61.0);
  CHECK(figures().last_delay_at == t0 + 1s);

  // Learned service time plus the last delay, 20 s old: the delay's time is the report's
  // time minus its age; the service time and its source are kept.
  t.apply(report(3, {make(MetricType::service_time_ms, 60.0, Source::estimated, Statistic::mean),
                     make(MetricType::last_processing_delay_ms, 61.0, Source::measured, Statistic::mean),
                     make(MetricType::last_processing_delay_age_ms, 20'000.0)}),
          t0 + 21s);
  CHECK(figures().service_time_ms == 60.0);
  CHECK(figures().service_time_source == Source::estimated);
  CHECK(figures().last_delay_at == t0 + 1s);

  // An older last delay (a vCPE that restarted and knows less) does not replace a newer one.
  t.apply(report(4, {make(MetricType::last_processing_delay_ms, 90.0, Source::measured, Statistic::mean),
                     make(MetricType::last_processing_delay_age_ms, 30'000.0)}),
          t0 + 22s);
  CHECK(figures().last_delay_ms == 61.0);

  // A report without any figure (a restarted vCPE that has not measured yet) forgets nothing.
  t.apply(report(5, {}), t0 + 23s);
  CHECK(figures().measured);
  CHECK(figures().service_time_ms == 60.0);
  CHECK(figures().last_delay_ms == 61.0);

  // A configured figure replaces the learned one.
  t.apply(report(6, {make(MetricType::service_time_ms, 55.0, Source::nominal)}), t0 + 24s);
  CHECK(figures().service_time_ms == 55.0);
  CHECK(figures().service_time_source == Source::nominal);

  // Invalid entries (only another source than the Collector could bring them) are ignored.
  InstanceTable u;
  u.apply(report(1, {L0Metric{static_cast<uint16_t>(MetricType::service_time_ms), -3.0, Unit::milliseconds}}), t0);
  CHECK_FALSE(u.find({"v", "app1", "a"})->figures.measured);
}

TEST_CASE("instance table: seeded figures (an earlier run's) start an instance's entry, reports still win") {
  // Issue 8: a restarted CPE saw an instance it had priced for hours as never measured
  // (its vCPE had restarted too and not re-measured), explored it and rewrote its weights.
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  InstanceFigures kept;
  kept.measured = true;
  kept.last_delay_ms = 61.0;
  kept.last_delay_at = t0 - 30s;
  InstanceFigures other;
  other.measured = true;
  other.service_time_ms = 40.0;
  InstanceTable t;
  t.seed_figures({{{"v", "app1", "a"}, kept}, {{"v", "app1", "b"}, other}});
  CHECK(t.entries().empty());  // a seed is no entry: nothing reported it yet


  // A report with no figure (the vCPE has not measured since its restart): the kept ones stand.
  t.apply(figures_report(1, "a", {}), t0);
  CHECK(t.find({"v", "app1", "a"})->figures == kept);
  // A fresh delay replaces the kept one, as within one run.
  t.apply(figures_report(2, "a", {make(MetricType::processing_delay_ms, 70.0, Source::measured, Statistic::mean)}), t0 + 1s);
  CHECK(t.find({"v", "app1", "a"})->figures.last_delay_ms == 70.0);
  CHECK(t.find({"v", "app1", "a"})->figures.last_delay_at == t0 + 1s);
  // A seed is used once: an entry forgotten and reported again starts from nothing.
  t.expire(t0 + 1s + kForgetIntervals * 30s, 30s);
  CHECK(t.entries().empty());
  t.apply(figures_report(3, "a", {}), t0 + 1s + kForgetIntervals * 30s);
  CHECK_FALSE(t.find({"v", "app1", "a"})->figures.measured);
  // An unseeded instance of the same vCPE starts unmeasured; a seeded one with its seed.
  t.apply(figures_report(4, "b", {}), t0 + 2s + kForgetIntervals * 30s);
  CHECK(t.find({"v", "app1", "b"})->figures == other);
}
