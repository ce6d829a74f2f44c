// Sampling plans and their acks (issue 9): golden bytes, round trips, bounds, and the
// CPE's sync state machine (report/plan_sync.hpp) with an injected clock.
#include "fixtures.hpp"
#include "report/collector.hpp"
#include "report/plan_sync.hpp"
#include "report/report.hpp"

#include <catch2/catch.hpp>

using namespace cats::report;
using cats::report::test::ep;
using cats::report::test::kBaseUnixNs;
using namespace std::chrono_literals;

namespace {

const SigningKey& key() {
  static SigningKey k = *SigningKey::from_seed(std::vector<uint8_t>(32, 3));
  return k;
}

SamplingPlan small_plan() {
  SamplingPlan p;
  p.cpe_id = "c";
  p.vcpe_id = "v";
  p.seq = 0x0102030405060708ull;
  p.timestamp_ns = 0x1122334455667788ull;
  p.revision = 7;
  p.instances = {{"s", "i", ep("10.0.0.1", 8080)}};
  p.digest = *plan_digest(p.instances);
  return p;
}

PlanAck small_ack() {
  PlanAck a;
  a.vcpe_id = "v";
  a.cpe_id = "c";
  a.seq = 9;
  a.timestamp_ns = kBaseUnixNs;
  a.revision = 7;
  a.digest = *plan_digest(small_plan().instances);
  a.applied = 0;
  a.refused = {{"s", "i", Refusal::not_allowed}};
  return a;
}

std::vector<uint8_t> unsigned_part(const std::vector<uint8_t>& b) {
  return std::vector<uint8_t>(b.begin(), b.end() - static_cast<std::ptrdiff_t>(kEd25519SignatureSize));
}

}  // namespace

TEST_CASE("plan codec: golden bytes of a small plan") {
  auto enc = encode_sampling_plan(small_plan(), key());
  REQUIRE(enc.has_value());
  const std::vector<uint8_t> want{
      'C', 'A', 'T', 'R', 0x01, 0x03, 0x00, 0x00,     // magic, version 1, type sampling_plan, reserved
      0x01, 'c', 0x01, 'v',                            // CPE id, vCPE id
      0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // seq
      0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,  // timestamp ns
      0, 0, 0, 0, 0, 0, 0, 7,                          // revision
      0x00, 0x01,                                      // part 0 of 1
  };
  const std::vector<uint8_t> entries{
      0x01,                                            // 1 instance
      0x01, 's', 0x01, 'i',                            // service, instance
      0x04, 10, 0, 0, 1, 0x1f, 0x90,                   // IPv4 10.0.0.1 port 8080
      0x00,                                            // flags: no load source
  };
  auto u = unsigned_part(*enc);
  REQUIRE(u.size() == want.size() + 32 + entries.size());
  CHECK(std::vector<uint8_t>(u.begin(), u.begin() + static_cast<std::ptrdiff_t>(want.size())) == want);
  const auto& dg = small_plan().digest;
  CHECK(std::equal(dg.begin(), dg.end(), u.begin() + static_cast<std::ptrdiff_t>(want.size())));
  CHECK(std::vector<uint8_t>(u.end() - static_cast<std::ptrdiff_t>(entries.size()), u.end()) == entries);
  // The digest is SHA-256 of the whole plan's count + entries, exactly as encoded.
  CHECK(*plan_digest(small_plan().instances) == *plan_digest({{"s", "i", ep("10.0.0.1", 8080)}}));
  auto d = decode_sampling_plan(*enc);
  REQUIRE(d.has_value());
  CHECK(d->message == small_plan());
  CHECK(d->verify(key().public_key()));
  CHECK(*peek_type(*enc) == MessageType::sampling_plan);
}

TEST_CASE("plan codec: golden bytes of an ack") {
  auto enc = encode_plan_ack(small_ack(), key());
  REQUIRE(enc.has_value());
  auto u = unsigned_part(*enc);
  const std::vector<uint8_t> head{'C', 'A', 'T', 'R', 0x01, 0x04, 0x00, 0x00, 0x01, 'v', 0x01, 'c'};
  REQUIRE(u.size() == head.size() + 8 + 8 + 8 + 32 + 1 + 1 + 5);
  CHECK(std::equal(head.begin(), head.end(), u.begin()));
  CHECK(u[head.size() + 23] == 7);  // revision, last byte
  const std::vector<uint8_t> tail{0x00, 0x01, 0x01, 's', 0x01, 'i', 0x01};  // applied 0, 1 refusal: not_allowed
  CHECK(std::equal(tail.begin(), tail.end(), u.end() - static_cast<std::ptrdiff_t>(tail.size())));
  auto d = decode_plan_ack(*enc);
  REQUIRE(d.has_value());
  CHECK(d->message == small_ack());
  CHECK(*peek_type(*enc) == MessageType::plan_ack);
}

TEST_CASE("plan codec: IPv6 and many instances round-trip; the digest follows content, not order") {
  SamplingPlan p = small_plan();
  p.instances.clear();
  for (size_t i = 0; i < kMaxPlanInstances; ++i)
    p.instances.push_back({"svc" + std::to_string(i), std::string(kMaxIdLength, 'x'), ep("2001:db8::1", uint16_t(i + 1))});
  auto enc = encode_sampling_plan(p, key());
  REQUIRE(enc.has_value());
  CHECK(enc->size() <= kMaxDatagram);  // the largest plan is one datagram
  auto d = decode_sampling_plan(*enc);
  REQUIRE(d.has_value());
  CHECK(d->message == p);

  auto a = plan_digest(p.instances);
  std::swap(p.instances[0], p.instances[1]);
  auto b = plan_digest(p.instances);
  CHECK(*a != *b);  // the encoding is ordered; PlanSync sorts before hashing
  p.instances.clear();
  CHECK(plan_digest(p.instances).has_value());
}

TEST_CASE("plan codec: bounds and strictness") {
  SamplingPlan p = small_plan();
  SECTION("too many instances are refused by the encoder") {
    p.instances.assign(kMaxPlanInstances + 1, p.instances[0]);
    CHECK_FALSE(encode_sampling_plan(p, key()).has_value());
  }
  SECTION("invalid ids are refused") {
    p.instances[0].service_id = "with space";
    CHECK_FALSE(encode_sampling_plan(p, key()).has_value());
    p = small_plan();
    p.vcpe_id = "";
    CHECK_FALSE(encode_sampling_plan(p, key()).has_value());
  }
  auto enc = *encode_sampling_plan(small_plan(), key());
  const size_t parts_at = 8 + 4 + 8 + 8 + 8;  // part, parts
  const size_t count_at = parts_at + 2 + 32;   // the instance count byte
  SECTION("a count above the bound") {
    auto b = enc;
    b[count_at] = kMaxPlanInstances + 1;
    CHECK_FALSE(decode_sampling_plan(b).has_value());
  }
  SECTION("reserved flags, and a flag whose field is missing") {
    auto b = enc;
    b[enc.size() - kEd25519SignatureSize - 1] = 0x04;
    CHECK_FALSE(decode_sampling_plan(b).has_value());
    b[enc.size() - kEd25519SignatureSize - 1] = 0x01;  // load_url announced, none follows
    CHECK_FALSE(decode_sampling_plan(b).has_value());
  }
  SECTION("part numbers out of range") {
    for (auto [part, parts] : {std::pair<uint8_t, uint8_t>{0, 0}, {1, 1}, {0, kMaxPlanParts + 1}, {5, 3}}) {
      auto b = enc;
      b[parts_at] = part;
      b[parts_at + 1] = parts;
      CHECK_FALSE(decode_sampling_plan(b).has_value());
      auto q = small_plan();
      q.part = part;
      q.parts = parts;
      CHECK_FALSE(encode_sampling_plan(q, key()).has_value());
    }
  }
  SECTION("every truncation fails") {
    for (size_t n = 0; n < enc.size(); ++n)
      CHECK_FALSE(decode_sampling_plan(std::span<const uint8_t>(enc.data(), n)).has_value());
  }
  SECTION("trailing bytes, wrong type") {
    auto b = enc;
    b.insert(b.end() - static_cast<std::ptrdiff_t>(kEd25519SignatureSize), 0);
    CHECK_FALSE(decode_sampling_plan(b).has_value());
    CHECK_FALSE(decode_desired_interval(enc).has_value());
    CHECK_FALSE(decode_plan_ack(enc).has_value());
  }
  SECTION("a tampered plan does not verify") {
    auto b = enc;
    b[count_at + 2] ^= 1;  // the service id's byte
    auto d = decode_sampling_plan(b);
    REQUIRE(d.has_value());
    CHECK_FALSE(d->verify(key().public_key()));
  }
  SECTION("acks: unknown refusal reason, too many refusals") {
    auto a = *encode_plan_ack(small_ack(), key());
    auto b = a;
    b[a.size() - kEd25519SignatureSize - 1] = kMaxRefusal + 1;
    CHECK_FALSE(decode_plan_ack(b).has_value());
    b[a.size() - kEd25519SignatureSize - 1] = 0;
    CHECK_FALSE(decode_plan_ack(b).has_value());
    auto ack = small_ack();
    ack.refused.assign(kMaxPlanInstances + 1, ack.refused[0]);
    CHECK_FALSE(encode_plan_ack(ack, key()).has_value());
  }
}

TEST_CASE("collector: plan acks are checked like reports, with their own sequence and counters") {
  auto vkey = *SigningKey::from_seed(std::vector<uint8_t>(32, 5));
  auto src = boost::asio::ip::make_address("10.200.0.2");
  Collector c({{"v", vkey.public_key(), {src}}});
  Now now{std::chrono::steady_clock::time_point(1s),
          std::chrono::system_clock::time_point(std::chrono::nanoseconds(kBaseUnixNs))};
  auto a = *encode_plan_ack(small_ack(), vkey);
  auto r = c.accept_ack(a, src, now);
  REQUIRE(r.accepted());
  CHECK(r.ack->revision == 7);
  CHECK(c.accept_ack(a, src, now).verdict == Verdict::replay);
  CHECK(c.accept_ack(a, boost::asio::ip::make_address("10.200.0.3"), now).verdict == Verdict::peer_mismatch);
  auto forged = *encode_plan_ack(small_ack(), key());
  auto later = small_ack();
  later.seq = 10;
  CHECK(c.accept_ack(*encode_plan_ack(later, key()), src, now).verdict == Verdict::bad_signature);
  later.timestamp_ns = kBaseUnixNs - 60'000'000'000ull;
  CHECK(c.accept_ack(*encode_plan_ack(later, vkey), src, now).verdict == Verdict::stale);
  CHECK(c.accept(a, src, now).verdict == Verdict::malformed);  // an ack is not a report
  CHECK(c.ack_count(Verdict::accepted) == 1);
  CHECK(c.ack_count(Verdict::replay) == 1);
  CHECK(c.count(Verdict::accepted) == 0);
  CHECK_FALSE(c.last_seq("v").has_value());  // reports' replay mark untouched
  (void)forged;
}

TEST_CASE("plan sync: pending until the matching ack, resent on its schedule, refreshed when in sync") {
  PlanSync ps({1000ms, 10000ms});
  const auto t0 = std::chrono::steady_clock::time_point(100s);
  std::vector<PlanInstance> plan{{"s", "i", ep("10.0.0.1", 8080)}, {"a", "b", ep("10.0.0.2", 80)}};
  ps.set_plan("v", plan, 3, t0);
  const auto* st = ps.find("v");
  REQUIRE(st);
  CHECK(st->state == SyncState::pending);
  CHECK(st->instances.front().service_id == "a");  // sorted
  CHECK(ps.due("v", t0));
  ps.sent("v", t0);
  CHECK_FALSE(ps.due("v", t0 + 999ms));
  CHECK(ps.due("v", t0 + 1000ms));

  PlanAck ack;
  ack.vcpe_id = "v";
  ack.cpe_id = "c";
  ack.revision = 3;
  ack.digest = *plan_digest({{"s", "i", ep("10.0.0.1", 8080)}});  // an older plan's
  CHECK_FALSE(ps.on_ack(ack, t0 + 10ms));
  CHECK(ps.find("v")->stale_acks == 1);
  CHECK(ps.find("v")->state == SyncState::pending);

  ack.digest = st->digest;
  ack.applied = 1;
  ack.refused = {{"s", "i", Refusal::not_allowed}};
  CHECK(ps.on_ack(ack, t0 + 20ms));
  st = ps.find("v");
  CHECK(st->state == SyncState::in_sync);
  CHECK(st->since == t0 + 20ms);
  CHECK(st->refused.size() == 1);
  CHECK_FALSE(ps.due("v", t0 + 5s));
  CHECK(ps.due("v", t0 + 10s));  // refresh

  SECTION("a revision that does not change this vCPE's plan keeps it in sync") {
    ps.set_plan("v", {plan[1], plan[0]}, 4, t0 + 30s);
    CHECK(ps.find("v")->state == SyncState::in_sync);
    CHECK(ps.find("v")->revision == 4);
  }
  SECTION("a new plan is pending from then and due at once") {
    ps.set_plan("v", {plan[0]}, 5, t0 + 30s);
    CHECK(ps.find("v")->state == SyncState::pending);
    CHECK(ps.find("v")->since == t0 + 30s);
    CHECK(ps.due("v", t0 + 30s));
    CHECK_FALSE(ps.on_ack(ack, t0 + 31s));  // the confirmation of the previous plan
  }
  SECTION("an ack for an unknown vCPE changes nothing") {
    ack.vcpe_id = "other";
    CHECK_FALSE(ps.on_ack(ack, t0 + 1s));
    CHECK(ps.status().size() == 1);
  }
}

TEST_CASE("plan codec: load sources round-trip; golden bytes of their fields") {
  SamplingPlan p = small_plan();
  p.instances[0].load_url = "http://h/l";
  p.instances[0].prometheus = {{"http://p/m", "vllm"}};
  p.digest = *plan_digest(p.instances);
  auto enc = encode_sampling_plan(p, key());
  REQUIRE(enc.has_value());
  const std::vector<uint8_t> tail{
      0x03,                                                  // flags: load_url, prometheus
      0x0a, 'h', 't', 't', 'p', ':', '/', '/', 'h', '/', 'l',  // load_url
      0x01,                                                  // 1 Prometheus source
      0x0a, 'h', 't', 't', 'p', ':', '/', '/', 'p', '/', 'm',  // url
      0x04, 'v', 'l', 'l', 'm',                              // preset
  };
  auto u = unsigned_part(*enc);
  CHECK(std::vector<uint8_t>(u.end() - static_cast<std::ptrdiff_t>(tail.size()), u.end()) == tail);
  auto d = decode_sampling_plan(*enc);
  REQUIRE(d.has_value());
  CHECK(d->message == p);
  CHECK(*plan_digest(p.instances) != *plan_digest(small_plan().instances));  // the source is content

  SECTION("bad source fields are refused both ways") {
    auto q = p;
    q.instances[0].load_url = "http://h/with space";
    CHECK_FALSE(encode_sampling_plan(q, key()).has_value());
    q = p;
    q.instances[0].load_url = "http://" + std::string(kMaxPlanUrlLength, 'x');
    CHECK_FALSE(encode_sampling_plan(q, key()).has_value());
    q = p;
    q.instances[0].prometheus.assign(kMaxPlanPromSources + 1, p.instances[0].prometheus[0]);
    CHECK_FALSE(encode_sampling_plan(q, key()).has_value());
    q = p;
    q.instances[0].prometheus[0].preset = "";
    CHECK_FALSE(encode_sampling_plan(q, key()).has_value());

    const size_t count_at = u.size() - tail.size() + 12;  // the Prometheus source count
    REQUIRE(u[count_at] == 0x01);
    for (uint8_t n : {uint8_t{0}, uint8_t{kMaxPlanPromSources + 1}}) {
      auto b = *enc;
      b[count_at] = n;
      CHECK_FALSE(decode_sampling_plan(b).has_value());
    }
    auto b = *enc;
    b[count_at + 3] = ' ';  // a space in the url
    CHECK_FALSE(decode_sampling_plan(b).has_value());
  }
}

TEST_CASE("plan split: the largest plan fits its parts, and reassembles to its digest") {
  // kMaxPlanInstances entries of the longest ids, IPv6 addresses and every source field
  // at its longest: the worst case split_plan must cut.
  std::vector<PlanInstance> all;
  const std::string longest_url = "http://[2001:db8::1]:9100/" + std::string(kMaxPlanUrlLength - 26, 'm');
  REQUIRE(longest_url.size() == kMaxPlanUrlLength);
  for (size_t i = 0; i < kMaxPlanInstances; ++i) {
    PlanInstance in{std::string(kMaxIdLength - 2, 's') + std::to_string(10 + i), std::string(kMaxIdLength, 'i'),
                    ep("2001:db8::1", uint16_t(i + 1)), longest_url, {}};
    in.prometheus.assign(kMaxPlanPromSources, {longest_url, std::string(kMaxPlanPresetLength, 'p')});
    all.push_back(std::move(in));
  }
  const std::string cpe(kMaxIdLength, 'c'), vcpe(kMaxIdLength, 'v');
  auto parts = split_plan(all, cpe, vcpe);
  REQUIRE(parts.has_value());
  CHECK(parts->size() > 1);
  CHECK(parts->size() <= kMaxPlanParts);
  std::vector<PlanInstance> back;
  for (size_t i = 0; i < parts->size(); ++i) {
    SamplingPlan p{cpe, vcpe, 1 + i, 2, 3, uint8_t(i), uint8_t(parts->size()), *plan_digest(all), (*parts)[i]};
    auto enc = encode_sampling_plan(p, key());
    REQUIRE(enc.has_value());
    CHECK(enc->size() <= kMaxDatagram);
    auto d = decode_sampling_plan(*enc);
    REQUIRE(d.has_value());
    CHECK(d->message == p);
    back.insert(back.end(), d->message.instances.begin(), d->message.instances.end());
  }
  CHECK(back == all);
  CHECK(*plan_digest(back) == *plan_digest(all));

  SECTION("a small plan is one part; an empty plan is one empty part") {
    CHECK(split_plan(small_plan().instances, "c", "v")->size() == 1);
    auto e = split_plan({}, "c", "v");
    REQUIRE(e->size() == 1);
    CHECK(e->front().empty());
  }
  SECTION("beyond kMaxPlanInstances the plan is refused (PlanSync shows it in error)") {
    all.push_back(all.front());
    CHECK_FALSE(split_plan(all, cpe, vcpe).has_value());
    CHECK_FALSE(plan_digest(all).has_value());
    PlanSync ps;
    ps.set_plan("v", all, 1, std::chrono::steady_clock::time_point(1s));
    CHECK(ps.find("v")->state == SyncState::error);
    CHECK_FALSE(ps.due("v", std::chrono::steady_clock::time_point(2s)));
  }
  SECTION("the ack of a plan refusing every entry of the longest ids is one datagram") {
    PlanAck a = small_ack();
    a.vcpe_id = vcpe;
    a.cpe_id = cpe;
    a.refused.clear();
    for (const auto& in : all) a.refused.push_back({in.service_id, in.instance_id, Refusal::source_not_allowed});
    auto enc = encode_plan_ack(a, key());
    REQUIRE(enc.has_value());
    CHECK(enc->size() <= kMaxDatagram);
    CHECK(decode_plan_ack(*enc)->message == a);
  }
}
