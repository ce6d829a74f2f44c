// The vCPE's choice among a CPE's plan entries (vcpe/plan.hpp, issue 9): within its own
// allow-list and limits, never against its file.
#include "vcpe/plan.hpp"

#include "report/plan_sync.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace cats;
using report::PlanInstance;
using report::Refusal;

namespace {

UdpEndpoint ep(const char* a, uint16_t port) { return UdpEndpoint(boost::asio::ip::make_address(a), port); }

config::Instance local(const char* svc, const char* id, const char* addr, uint16_t port) {
  config::Instance in;
  in.service = svc;
  in.id = id;
  in.address = ep(addr, port);
  return in;
}

config::SamplingPlanLimits limits(std::vector<const char*> allow) {
  config::SamplingPlanLimits l;
  for (auto* a : allow) l.allow.push_back(*parse_prefix(a));
  return l;
}

}  // namespace

TEST_CASE("vcpe plan: allowed entries are sampled, others refused with their reason") {
  std::vector<config::Instance> file{local("app1", "app1-cloud1", "10.2.1.10", 8080)};
  std::vector<PlanInstance> plan{
      {"app1", "10.2.1.10:8080", ep("10.2.1.10", 8080)},  // the file samples it already
      {"app9", "10.2.1.10:8080", ep("10.2.1.10", 8080)},  // new service, same host: sampled
      {"app1", "app1-cloud1", ep("10.2.1.20", 8080)},     // the file's id elsewhere: conflict
      {"app8", "10.9.0.1:80", ep("10.9.0.1", 80)},        // outside the allow-list
      {"app7", "[fd00::1]:80", ep("fd00::1", 80)},        // outside (other family)
  };
  auto d = vcpe::decide_plan(plan, file, limits({"10.2.1.0/24"}), 32);
  REQUIRE(d.sample.size() == 1);
  CHECK(d.sample[0].service_id == "app9");
  CHECK(d.covered == 1);
  CHECK(d.applied() == 2);
  REQUIRE(d.refused.size() == 3);
  CHECK(d.refused[0].reason == Refusal::local_conflict);
  CHECK(d.refused[1].reason == Refusal::not_allowed);
  CHECK(d.refused[1].service_id == "app8");
  CHECK(d.refused[2].reason == Refusal::not_allowed);

  SECTION("the same plan decides the same (idempotent)") {
    auto again = vcpe::decide_plan(plan, file, limits({"10.2.1.0/24"}), 32);
    CHECK(again.sample == d.sample);
    CHECK(again.refused == d.refused);
  }
}

TEST_CASE("vcpe plan: an empty allow-list refuses every new entry; the room bounds the rest") {
  std::vector<PlanInstance> plan{{"a", "1", ep("10.0.0.1", 80)}, {"b", "2", ep("10.0.0.2", 80)},
                                 {"c", "3", ep("10.0.0.3", 80)}};
  auto none = vcpe::decide_plan(plan, {}, limits({}), 32);
  CHECK(none.sample.empty());
  CHECK(none.refused.size() == 3);

  auto two = vcpe::decide_plan(plan, {}, limits({"10.0.0.0/8"}), 2);
  CHECK(two.sample.size() == 2);
  REQUIRE(two.refused.size() == 1);
  CHECK(two.refused[0].reason == Refusal::over_limit);
  CHECK(two.refused[0].service_id == "c");
}

TEST_CASE("vcpe plan: an entry is sampled with a TCP health check of its address") {
  auto in = vcpe::plan_instance_config({"app9", "10.2.1.10:8080", ep("10.2.1.10", 8080)});
  CHECK(in.service == "app9");
  CHECK(in.id == "10.2.1.10:8080");
  CHECK(in.health == "tcp");
  CHECK(in.load_url.empty());
  CHECK_FALSE(in.proc);
}

TEST_CASE("vcpe plan: an entry's load source is taken only inside the allow-list") {
  auto with = [](std::string load, std::vector<report::PlanPromSource> prom = {}) {
    return PlanInstance{"app9", "10.2.1.10:8080", ep("10.2.1.10", 8080), std::move(load), std::move(prom)};
  };
  const auto allow = limits({"10.2.1.0/24"});
  std::vector<PlanInstance> plan{
      with("http://10.2.1.10:8081/load"),                                    // sampled with its source
      with("http://10.9.0.1:8081/load"),                                     // host outside: refused
      with("http://app.example/load"),                                       // not an IP: invalid
      with("", {{"http://10.2.1.10:9100/metrics", "node_exporter"}}),        // sampled
      with("", {{"http://10.2.1.10:9100/metrics", "no_such_preset"}}),       // invalid
      with("", {{"http://192.0.2.1:9100/metrics", "node_exporter"}}),        // outside
  };
  for (size_t i = 0; i < plan.size(); ++i) plan[i].service_id = "s" + std::to_string(i);
  auto d = vcpe::decide_plan(plan, {}, allow, 32);
  REQUIRE(d.sample.size() == 2);
  CHECK(d.sample[0].service_id == "s0");
  CHECK(d.sample[1].service_id == "s3");
  REQUIRE(d.refused.size() == 4);
  CHECK(d.refused[0].service_id == "s1");
  CHECK(d.refused[0].reason == Refusal::source_not_allowed);
  CHECK(d.refused[1].reason == Refusal::source_invalid);
  CHECK(d.refused[2].reason == Refusal::source_invalid);
  CHECK(d.refused[3].reason == Refusal::source_not_allowed);

  auto in = vcpe::plan_instance_config(d.sample[0]);
  CHECK(in.load_url == "http://10.2.1.10:8081/load");
  CHECK(in.health == "tcp");
  auto pin = vcpe::plan_instance_config(d.sample[1]);
  REQUIRE(pin.prometheus.size() == 1);
  CHECK(pin.prometheus[0].preset == "node_exporter");
  CHECK_FALSE(pin.prometheus[0].rules.empty());  // the preset's rules

  SECTION("the file's own instance keeps the file's source (covered, sources not checked)") {
    std::vector<config::Instance> file{local("s1", "x", "10.2.1.10", 8080)};
    auto c = vcpe::decide_plan({plan[1]}, file, allow, 32);
    CHECK(c.covered == 1);
    CHECK(c.refused.empty());
  }
}

namespace {

report::SamplingPlan part_of(const std::vector<std::vector<PlanInstance>>& parts, size_t i, uint64_t revision) {
  std::vector<PlanInstance> all;
  for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
  report::SamplingPlan m;
  m.cpe_id = "c";
  m.vcpe_id = "v";
  m.revision = revision;
  m.part = static_cast<uint8_t>(i);
  m.parts = static_cast<uint8_t>(parts.size());
  m.digest = *report::plan_digest(all);
  m.instances = parts[i];
  return m;
}

}  // namespace

TEST_CASE("vcpe plan assembler: a plan of several parts is whole or nothing") {
  std::vector<std::vector<PlanInstance>> parts{{{"a", "1", ep("10.0.0.1", 80)}},
                                               {{"b", "2", ep("10.0.0.2", 80)}, {"c", "3", ep("10.0.0.3", 80)}},
                                               {{"d", "4", ep("10.0.0.4", 80)}}};
  vcpe::PlanAssembler as;
  SECTION("in any order; complete once the last part arrives") {
    CHECK_FALSE(as.feed(part_of(parts, 2, 5)).plan);
    CHECK_FALSE(as.feed(part_of(parts, 0, 5)).plan);
    CHECK_FALSE(as.feed(part_of(parts, 0, 5)).plan);  // a part twice
    auto done = as.feed(part_of(parts, 1, 5));
    REQUIRE(done.plan);
    CHECK(done.error.empty());
    CHECK(done.plan->revision == 5);
    REQUIRE(done.plan->instances.size() == 4);
    CHECK(done.plan->instances[0].service_id == "a");  // in part order
    CHECK(done.plan->instances[3].service_id == "d");
    // The same plan again (a refresh) is assembled again from all its parts.
    CHECK_FALSE(as.feed(part_of(parts, 0, 5)).plan);
    CHECK_FALSE(as.feed(part_of(parts, 1, 5)).plan);
    CHECK(as.feed(part_of(parts, 2, 5)).plan);
  }
  SECTION("a part of another plan starts over: nothing of the first is applied") {
    CHECK_FALSE(as.feed(part_of(parts, 0, 5)).plan);
    CHECK_FALSE(as.feed(part_of(parts, 1, 5)).plan);
    auto other = parts;
    other[2][0].service_id = "z";
    CHECK_FALSE(as.feed(part_of(other, 2, 6)).plan);
    CHECK_FALSE(as.feed(part_of(parts, 2, 5)).plan);  // the first plan's last part: too late
  }
  SECTION("parts that do not hash to the digest they name are refused") {
    auto bad = part_of(parts, 0, 5);
    CHECK_FALSE(as.feed(bad).plan);
    CHECK_FALSE(as.feed(part_of(parts, 1, 5)).plan);
    auto last = part_of(parts, 2, 5);
    last.instances[0].address = ep("10.0.0.9", 80);  // signed by the CPE, but not the plan it names
    auto r = as.feed(last);
    CHECK_FALSE(r.plan);
    CHECK_FALSE(r.error.empty());
  }
  SECTION("a single-part plan is complete at once") {
    std::vector<std::vector<PlanInstance>> one{{{"a", "1", ep("10.0.0.1", 80)}}};
    auto r = as.feed(part_of(one, 0, 1));
    REQUIRE(r.plan);
    CHECK(r.plan->instances.size() == 1);
  }
}

// The whole path of a plan larger than one datagram, as the daemons run it: the CPE's
// PlanSync and split_plan, signed parts on the wire, the vCPE's assembly and decision,
// and the ack that puts the CPE in sync.
TEST_CASE("vcpe plan: a 45-entry plan with load sources goes in parts and is confirmed whole") {
  auto cpe_key = *report::SigningKey::from_seed(std::vector<uint8_t>(32, 1));
  auto vcpe_key = *report::SigningKey::from_seed(std::vector<uint8_t>(32, 2));
  std::vector<PlanInstance> want;
  for (int i = 0; i < 45; ++i) {
    const std::string host = "10.2.1." + std::to_string(10 + i);
    PlanInstance in{"svc" + std::to_string(i), host + ":8080", ep(host.c_str(), 8080),
                    "http://" + host + ":8081/" + std::string(150, 'l'), {}};
    in.prometheus = {{"http://" + host + ":9100/" + std::string(150, 'm'), "node_exporter"}};
    want.push_back(std::move(in));
  }
  const auto t0 = std::chrono::steady_clock::time_point(std::chrono::seconds(100));
  report::PlanSync sync;
  sync.set_plan("v", want, 3, t0);
  const auto* st = sync.find("v");
  REQUIRE(st->state == report::SyncState::pending);

  auto parts = report::split_plan(st->instances, "c", "v");
  REQUIRE(parts.has_value());
  REQUIRE(parts->size() >= 3);  // ~400 bytes an entry: ~20 per 8 KiB datagram
  std::vector<std::vector<uint8_t>> wire;
  for (size_t i = 0; i < parts->size(); ++i) {
    report::SamplingPlan p{"c", "v", 1000 + i, 1, st->revision, uint8_t(i), uint8_t(parts->size()), st->digest,
                           (*parts)[i]};
    auto b = report::encode_sampling_plan(p, cpe_key);
    REQUIRE(b.has_value());
    CHECK(b->size() <= report::kMaxDatagram);
    wire.push_back(std::move(*b));
  }

  auto deliver = [&](vcpe::PlanAssembler& as, const std::vector<size_t>& order) {
    std::optional<vcpe::PlanAssembler::Plan> out;
    for (size_t i : order) {
      auto d = report::decode_sampling_plan(wire[i]);
      REQUIRE(d.has_value());
      REQUIRE(d->verify(cpe_key.public_key()));
      auto fed = as.feed(d->message);
      CHECK(fed.error.empty());
      if (fed.plan) out = std::move(fed.plan);
    }
    return out;
  };
  vcpe::PlanAssembler as;
  SECTION("a lost part: nothing is applied") {
    std::vector<size_t> all_but_one;
    for (size_t i = 1; i < wire.size(); ++i) all_but_one.push_back(i);
    CHECK_FALSE(deliver(as, all_but_one).has_value());
  }
  std::vector<size_t> order;
  for (size_t i = wire.size(); i-- > 0;) order.push_back(i);  // reordered in transit
  auto plan = deliver(as, order);
  REQUIRE(plan.has_value());
  CHECK(plan->instances == st->instances);
  CHECK(plan->revision == 3);

  // The vCPE samples what its room allows (32) and refuses the rest; its ack, one
  // datagram, confirms the whole plan's digest.
  auto dec = vcpe::decide_plan(plan->instances, {}, limits({"10.2.1.0/24"}), 32);
  CHECK(dec.sample.size() == 32);
  CHECK(dec.refused.size() == 13);
  CHECK(std::all_of(dec.refused.begin(), dec.refused.end(),
                    [](const report::PlanRefusal& f) { return f.reason == Refusal::over_limit; }));
  CHECK_FALSE(vcpe::plan_instance_config(dec.sample[0]).load_url.empty());
  report::PlanAck ack{"v", "c", 1, 1, plan->revision, plan->digest, dec.applied(), dec.refused};
  auto ab = report::encode_plan_ack(ack, vcpe_key);
  REQUIRE(ab.has_value());
  auto ad = report::decode_plan_ack(*ab);
  REQUIRE(ad.has_value());
  CHECK(sync.on_ack(ad->message, t0 + std::chrono::milliseconds(5)));
  CHECK(sync.find("v")->state == report::SyncState::in_sync);
  CHECK(sync.find("v")->applied == 32);
}
