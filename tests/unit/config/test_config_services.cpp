// [selection] and [[service]] in the CPE config: every field lands in the struct, defaults
// apply, and every rule rejects the whole file with the field path in the message.
#include "config/config.hpp"
#include "source_file.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace cats;

namespace {
using test::source_file;
const std::string& example() {
  static const std::string s = source_file("docs/examples/cpe.toml");
  return s;
}
// The example without its [selection] and [[service]] part, so a test can append its own.
std::string sites() {
  auto pos = example().find("\n[selection]");
  REQUIRE(pos != std::string::npos);
  return example().substr(0, pos + 1);
}
// Replace the first occurrence of `from` at or after `after` (so edits land in the
// service part even when the text also occurs earlier).
std::string edit(std::string s, const std::string& from, const std::string& to, const std::string& after = "[[service]]") {
  auto start = s.find(after);
  REQUIRE(start != std::string::npos);
  auto pos = s.find(from, start);
  REQUIRE(pos != std::string::npos);
  return s.replace(pos, from.size(), to);
}
std::string error_of(const std::string& text) {
  auto r = config::parse_cpe(text, "cpe.toml");
  REQUIRE_FALSE(r.has_value());  // nothing is returned, so nothing is partially applied
  return r.error().message;
}
std::string minimal(const std::string& id, const std::string& extra = "",
                    const std::string& instances = "[[service.instance]]\nvcpe = \"cloud1\"\naddress = \"10.2.1.10:8080\"\n") {
  return "\n[[service]]\nid = \"" + id + "\"\nvip = \"10.255.0.1\"\nports = [80]\n" + extra + instances;
}
std::string instances(const std::string& vcpe, const std::string& net, int n, int port = 8080) {
  std::string s;
  for (int k = 0; k < n; ++k)
    s += "[[service.instance]]\nvcpe = \"" + vcpe + "\"\naddress = \"" + net + std::to_string(k + 1) + ":" +
         std::to_string(port) + "\"\n";
  return s;
}
// The sites with a third WAN (the vCPEs listen for it too).
std::string three_wans(std::string s) {
  auto pos = s.find("[[vcpe]]");
  s.insert(pos, "[[wan]]\nname = \"wan3\"\ninterface = \"wan3\"\ngateway = \"192.0.2.9\"\nlisten_port = 51803\n\n");
  const std::string wan2 = "wan2 = 51812\n", wan3 = "wan3 = 51813\n";
  for (pos = s.find(wan2); pos != std::string::npos; pos = s.find(wan2, pos + wan3.size() + wan2.size()))
    s.insert(pos, wan3);
  return s;
}
int line_of(const std::string& text, const std::string& needle) {
  auto pos = text.find(needle, text.find("[[service]]"));
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
}
}  // namespace

TEST_CASE("the example's service: every field lands in the struct") {
  auto r = config::parse_cpe(example(), "cpe.toml");
  REQUIRE(r.has_value());
  CHECK(r->selection.hysteresis == Approx(0.10));
  CHECK(r->selection.hold_down_ms == 1000);
  REQUIRE(r->services.size() == 1);
  auto& s = r->services[0];
  CHECK(s.select.id == "app1");
  CHECK(s.vip.to_string() == "10.255.0.1");
  CHECK(s.protocol == config::Protocol::tcp);
  CHECK(s.ports == std::vector<uint16_t>{80, 443});
  CHECK(s.select.affinity == select::Affinity::flow);
  CHECK(s.sticky_timeout_s == 0);
  CHECK(s.select.on_no_candidate == select::OnNoCandidate::best_effort);
  CHECK(s.select.service_time_ms == Approx(20));
  CHECK(s.select.access_delay_ms == Approx(1));
  CHECK(s.select.epsilon == Approx(0.25));
  CHECK(s.select.power == Approx(2));
  CHECK(s.select.sla.max_rtt_ms == Approx(50));
  CHECK(s.select.sla.max_jitter_ms == Approx(10));
  CHECK(s.select.sla.max_loss_pct == Approx(2));
  CHECK(s.select.sla.max_e2e_ms == Approx(80));
  CHECK(s.select.sla.required_capability.empty());  // commented out: the lab's instances report none
  CHECK(s.select.sla.min_free_capacity == Approx(0.10));
  CHECK(s.select.weights.network == Approx(1));
  CHECK(s.select.weights.compute == Approx(1));
  CHECK(s.select.weights.jitter_k == Approx(2));
  CHECK(s.select.weights.loss_k == Approx(1));
  REQUIRE(s.instances.size() == 2);
  CHECK(s.instances[0].vcpe == "cloud1");
  CHECK(endpoint_to_string(s.instances[0].address) == "10.2.1.10:8080");
  CHECK(s.instances[1].vcpe == "cloud2");
  CHECK(endpoint_to_string(s.instances[1].address) == "10.2.2.10:8080");
  // Its load source (sent to cloud2 in the sampling plan); none for cloud1's.
  CHECK(s.instances[0].load_url.empty());
  CHECK(s.instances[0].prometheus.empty());
  CHECK(s.instances[1].load_url == "http://10.2.2.10:8081/load");
  REQUIRE(s.instances[1].prometheus.size() == 1);
  CHECK(s.instances[1].prometheus[0].url == "http://10.2.2.10:9100/metrics");
  CHECK(s.instances[1].prometheus[0].preset == "node_exporter");
  CHECK_FALSE(s.instances[1].prometheus[0].rules.empty());
}

TEST_CASE("service fields other than the example's values are read, not defaulted") {
  // Every value differs from its default, so a field that is ignored fails here.
  auto text = sites() +
              "[selection]\nhysteresis_pct = 2.5\nhold_down_ms = 0\ndeadband_sigmas = 0\nsettle_mean_ms = 0\n"
              "low_priority_reserve_pct = 35\n" +
              minimal("b_2",
                      "protocol = \"udp\"\naffinity = \"sticky\"\nsticky_timeout_s = 86400\n"
                      "on_no_candidate = \"reject\"\nservice_time_ms = 0.5\naccess_delay_ms = 10000\n"
                      "spread_pct = 0\nspread_power = 8\npriority = \"low\"\n"
                      "[service.sla]\nmax_loss_pct = 0\nmin_free_capacity_pct = 100\ncapability = \"a-b_9\"\n"
                      "min_gpu_memory_free_pct = 25\n"
                      "[service.weights]\nnetwork = 0\ncompute = 100\njitter = 0\nloss = 0.5\n");
  auto r = config::parse_cpe(text, "cpe.toml");
  REQUIRE(r.has_value());
  CHECK(r->selection.hysteresis == Approx(0.025));
  CHECK(r->selection.hold_down_ms == 0);
  CHECK(r->selection.deadband_sigmas == 0.0);
  CHECK(r->selection.settle_mean_ms == 0);
  CHECK(r->selection.low_priority_reserve == Approx(0.35));
  auto& s = r->services.at(0);
  CHECK(s.select.id == "b_2");
  CHECK(s.protocol == config::Protocol::udp);
  CHECK(s.select.affinity == select::Affinity::source);
  CHECK(s.sticky_timeout_s == 86400);
  CHECK(s.select.on_no_candidate == select::OnNoCandidate::reject);
  CHECK(s.select.service_time_ms == Approx(0.5));
  CHECK(s.select.access_delay_ms == Approx(10000));
  CHECK(s.select.epsilon == 0.0);
  CHECK(s.select.power == Approx(8));
  CHECK(s.select.reserve == Approx(0.35));  // priority "low": the [selection] reserve
  CHECK(s.select.sla.max_loss_pct == 0.0);
  CHECK(s.select.sla.min_free_capacity == Approx(1.0));
  CHECK(s.select.sla.min_gpu_memory_free == Approx(0.25));
  CHECK(s.select.sla.required_capability == "a-b_9");
  CHECK(s.select.weights.network == 0.0);
  CHECK(s.select.weights.compute == Approx(100));
  CHECK(s.select.weights.jitter_k == 0.0);
  CHECK(s.select.weights.loss_k == Approx(0.5));
}

TEST_CASE("service defaults") {
  SECTION("no [selection] and no [[service]] at all") {
    auto r = config::parse_cpe(sites(), "cpe.toml");
    REQUIRE(r.has_value());
    CHECK(r->services.empty());
    CHECK(r->selection.hysteresis == Approx(0.10));
    CHECK(r->selection.hold_down_ms == 1000);
    CHECK(r->selection.deadband_sigmas == 4.0);
    CHECK(r->selection.settle_mean_ms == 5000);
  }
  SECTION("a minimal service") {
    auto r = config::parse_cpe(sites() + minimal("app1"), "cpe.toml");
    REQUIRE(r.has_value());
    REQUIRE(r->services.size() == 1);
    auto& s = r->services[0];
    const select::Service d;
    CHECK(s.protocol == config::Protocol::tcp);
    CHECK(s.select.affinity == select::Affinity::flow);
    CHECK(s.sticky_timeout_s == 0);
    CHECK(s.select.on_no_candidate == select::OnNoCandidate::reject);
    CHECK(s.select.service_time_ms == Approx(10));
    CHECK(s.select.access_delay_ms == 0.0);
    CHECK(s.select.epsilon == Approx(d.epsilon));
    CHECK(s.select.power == Approx(d.power));
    CHECK(s.select.sla.max_rtt_ms == select::kNoLimit);
    CHECK(s.select.sla.max_jitter_ms == select::kNoLimit);
    CHECK(s.select.sla.max_loss_pct == select::kNoLimit);
    CHECK(s.select.sla.max_e2e_ms == select::kNoLimit);
    CHECK(s.select.sla.required_capability.empty());
    CHECK(s.select.sla.min_free_capacity == 0.0);
    CHECK(s.select.sla.min_gpu_memory_free == 0.0);
    CHECK(s.select.reserve == 0.0);  // priority "normal"
    CHECK(s.select.weights.network == Approx(d.weights.network));
    CHECK(s.select.weights.compute == Approx(d.weights.compute));
    CHECK(s.select.weights.jitter_k == Approx(d.weights.jitter_k));
    CHECK(s.select.weights.loss_k == Approx(d.weights.loss_k));
  }
  SECTION("sticky without a timeout gets 300 s") {
    auto r = config::parse_cpe(sites() + minimal("app1", "affinity = \"sticky\"\n"), "cpe.toml");
    REQUIRE(r.has_value());
    CHECK(r->services.at(0).select.affinity == select::Affinity::source);
    CHECK(r->services.at(0).sticky_timeout_s == 300);
  }
  SECTION("IPv6 VIP and instance") {
    auto text = sites() + minimal("v6", "", "[[service.instance]]\nvcpe = \"cloud1\"\naddress = \"[fd00:2::10]:8080\"\n");
    text = edit(text, "vip = \"10.255.0.1\"", "vip = \"fd00:ff::1\"");
    text = edit(text, "subnets = [\"10.2.1.0/24\"]", "subnets = [\"10.2.1.0/24\", \"fd00:2::/64\"]", "[[vcpe]]");
    auto r = config::parse_cpe(text, "cpe.toml");
    REQUIRE(r.has_value());
    CHECK(r->services.at(0).vip.to_string() == "fd00:ff::1");
    CHECK(endpoint_to_string(r->services.at(0).instances.at(0).address) == "[fd00:2::10]:8080");
  }
  SECTION("one VIP, same port, different protocols") {
    auto r = config::parse_cpe(sites() + minimal("a") + minimal("b", "protocol = \"udp\"\n"), "cpe.toml");
    REQUIRE(r.has_value());
    CHECK(r->services.size() == 2);
  }
  SECTION("the candidate limits are inclusive: 63 per service, 255 in all with 3 WANs") {
    // 3 WANs: 4 services x 21 instances + 1 x 1 = 85 instances = 255 candidates.
    std::string text = three_wans(sites());
    for (int k = 0; k < 4; ++k)
      text += edit(minimal(std::string(1, static_cast<char>('a' + k)), "", instances("cloud1", "10.2.1.", 21, 8000 + k)),
                   "[80]", "[" + std::to_string(80 + k) + "]", "");
    auto r = config::parse_cpe(text + edit(minimal("e"), "[80]", "[85]", ""), "cpe.toml");
    REQUIRE(r.has_value());
    CHECK(r->services.size() == 5);
    CHECK(r->wans.size() == 3);
    // One more instance is one too many (3 more candidates).
    auto m = error_of(text + edit(minimal("e", "", instances("cloud2", "10.2.2.", 2)), "[80]", "[85]", ""));
    CHECK_THAT(m, Catch::Contains("service: 258 candidates"));
  }
  SECTION("64 candidates in one service") {
    auto r = config::parse_cpe(sites() + minimal("a", "", instances("cloud1", "10.2.1.", 32)), "cpe.toml");
    REQUIRE(r.has_value());
    CHECK(r->services.at(0).instances.size() == 32);
  }
}

TEST_CASE("bad [selection] is rejected with its field") {
  auto base = example();
  CHECK_THAT(error_of(edit(base, "hysteresis_pct = 10", "hysteresis_pct = 101", "[selection]")),
             Catch::Contains("selection.hysteresis_pct: must be a number in 0..100"));
  CHECK_THAT(error_of(edit(base, "hysteresis_pct = 10", "hysteresis_pct = \"10\"", "[selection]")),
             Catch::Contains("selection.hysteresis_pct: must be a number"));
  CHECK_THAT(error_of(edit(base, "hold_down_ms = 1000", "hold_down_ms = 600001", "[selection]")),
             Catch::Contains("selection.hold_down_ms: must be in 0..600000"));
  CHECK_THAT(error_of(edit(base, "hold_down_ms = 1000", "hold_down = 1000", "[selection]")),
             Catch::Contains("selection.hold_down: unknown key"));
}

TEST_CASE("bad [[service]] fields are rejected with file:line:col and the field path") {
  auto base = example();
  SECTION("location") {
    auto text = edit(base, "vip = \"10.255.0.1\"", "vip = \"10.1.0.77\"");
    auto m = error_of(text);
    CHECK_THAT(m, Catch::Contains("cpe.toml:" + std::to_string(line_of(text, "vip = ")) + ":7: service[0].vip: "
                                  "must not be inside lan.subnets (10.1.0.0/24)"));
  }
  SECTION("unknown key") {
    CHECK_THAT(error_of(edit(base, "spread_power = 2", "spread_powr = 2")),
               Catch::Contains("service[0].spread_powr: unknown key"));
  }
  SECTION("id") {
    CHECK_THAT(error_of(edit(base, "id = \"app1\"", "id = \"App1\"")),
               Catch::Contains("service[0].id: must be a lower-case letter followed by a-z, 0-9 or '_'"));
    CHECK_THAT(error_of(edit(base, "id = \"app1\"", "id = \"1app\"")), Catch::Contains("service[0].id: must be"));
    CHECK_THAT(error_of(edit(base, "id = \"app1\"", "id = \"app-1\"")), Catch::Contains("service[0].id: must be"));
    CHECK_THAT(error_of(edit(base, "id = \"app1\"", "id = \"" + std::string(25, 'a') + "\"")),
               Catch::Contains("service[0].id: must be 1..24 characters"));
    CHECK_THAT(error_of(edit(base, "id = \"app1\"", "")), Catch::Contains("service[0].id: missing required field"));
    CHECK_THAT(error_of(edit(base, "id = \"app1\"", "id = 1")), Catch::Contains("service[0].id: must be a string"));
    CHECK_THAT(error_of(base + edit(minimal("app1"), "[80]", "[8080]", "")), Catch::Contains("service[1].id: duplicate id 'app1'"));
  }
  SECTION("vip") {
    auto vip = [&](const std::string& v) { return error_of(edit(base, "vip = \"10.255.0.1\"", "vip = \"" + v + "\"")); };
    CHECK_THAT(vip("10.1.0.1"), Catch::Contains("service[0].vip: must not be the LAN address"));
    CHECK_THAT(vip("10.1.0.200"), Catch::Contains("service[0].vip: must not be inside lan.subnets"));
    CHECK_THAT(vip("10.2.1.1"), Catch::Contains("service[0].vip: must not be the address of vcpe 'cloud1'"));
    CHECK_THAT(vip("10.2.2.99"), Catch::Contains("service[0].vip: must not be inside the subnets of vcpe 'cloud2' (10.2.2.0/24)"));
    CHECK_THAT(vip("0.0.0.0"), Catch::Contains("service[0].vip: must not be the unspecified address"));
    CHECK_THAT(vip("::"), Catch::Contains("service[0].vip: must not be the unspecified address"));
    CHECK_THAT(vip("239.1.2.3"), Catch::Contains("service[0].vip: must not be a multicast address"));
    CHECK_THAT(vip("ff02::1"), Catch::Contains("service[0].vip: must not be a multicast address"));
    CHECK_THAT(vip("127.0.0.1"), Catch::Contains("service[0].vip: must not be a loopback address"));
    CHECK_THAT(vip("255.255.255.255"), Catch::Contains("service[0].vip: must not be the broadcast address"));
    CHECK_THAT(vip("::ffff:10.255.0.1"), Catch::Contains("service[0].vip: must not be an IPv4-mapped"));
    CHECK_THAT(vip("10.255.0"), Catch::Contains("service[0].vip: invalid IP address"));
    CHECK_THAT(error_of(edit(base, "vip = \"10.255.0.1\"", "")), Catch::Contains("service[0].vip: missing required field"));
  }
  SECTION("protocol") {
    CHECK_THAT(error_of(edit(base, "protocol = \"tcp\"", "protocol = \"sctp\"")),
               Catch::Contains("service[0].protocol: must be one of tcp, udp"));
  }
  SECTION("ports") {
    auto ports = [&](const std::string& v) { return error_of(edit(base, "ports = [80, 443]", "ports = " + v)); };
    CHECK_THAT(ports("[]"), Catch::Contains("service[0].ports: must be a list of 1..64 ports"));
    CHECK_THAT(ports("80"), Catch::Contains("service[0].ports: must be a list of 1..64 ports"));
    std::string many = "[";
    for (int p = 1; p <= 65; ++p) many += std::to_string(p) + (p < 65 ? "," : "]");
    CHECK_THAT(ports(many), Catch::Contains("service[0].ports: must be a list of 1..64 ports"));
    CHECK_THAT(ports("[80, 0]"), Catch::Contains("service[0].ports[1]: must be in 1..65535"));
    CHECK_THAT(ports("[65536]"), Catch::Contains("service[0].ports[0]: must be in 1..65535"));
    CHECK_THAT(ports("[80, \"443\"]"), Catch::Contains("service[0].ports[1]: must be an integer"));
    CHECK_THAT(ports("[80, 443, 80]"), Catch::Contains("service[0].ports[2]: duplicate port 80"));
    CHECK_THAT(error_of(edit(base, "ports = [80, 443]", "")), Catch::Contains("service[0].ports: missing required field"));
  }
  SECTION("a port on one VIP is one service's") {
    CHECK_THAT(error_of(base + minimal("app2")), Catch::Contains("service[1].ports: 80/tcp on 10.255.0.1 is already service 'app1'"));
  }
  SECTION("affinity and sticky_timeout_s") {
    CHECK_THAT(error_of(edit(base, "affinity = \"flow\"", "affinity = \"source\"")),
               Catch::Contains("service[0].affinity: must be one of flow, sticky"));
    CHECK_THAT(error_of(edit(base, "affinity = \"flow\"", "affinity = \"flow\"\nsticky_timeout_s = 300")),
               Catch::Contains("service[0].sticky_timeout_s: only allowed with affinity = \"sticky\""));
    CHECK_THAT(error_of(edit(base, "affinity = \"flow\"", "sticky_timeout_s = 300")),
               Catch::Contains("service[0].sticky_timeout_s: only allowed with affinity = \"sticky\""));
    CHECK_THAT(error_of(edit(base, "affinity = \"flow\"", "affinity = \"sticky\"\nsticky_timeout_s = 0")),
               Catch::Contains("service[0].sticky_timeout_s: must be in 1..86400"));
    CHECK_THAT(error_of(edit(base, "affinity = \"flow\"", "affinity = \"sticky\"\nsticky_timeout_s = 86401")),
               Catch::Contains("service[0].sticky_timeout_s: must be in 1..86400"));
  }
  SECTION("on_no_candidate") {
    CHECK_THAT(error_of(edit(base, "on_no_candidate = \"best_effort\"", "on_no_candidate = \"drop\"")),
               Catch::Contains("service[0].on_no_candidate: must be one of reject, best_effort"));
  }
  SECTION("priority") {
    CHECK_THAT(error_of(edit(base, "on_no_candidate = \"best_effort\"", "on_no_candidate = \"best_effort\"\npriority = \"high\"")),
               Catch::Contains("service[0].priority: must be one of normal, low"));
    CHECK_THAT(error_of(edit(base, "hold_down_ms = 1000", "hold_down_ms = 1000\nlow_priority_reserve_pct = 91", "[selection]")),
               Catch::Contains("selection.low_priority_reserve_pct: must be a number in 0..90"));
  }
  SECTION("numbers") {
    auto set = [&](const std::string& from, const std::string& to) { return error_of(edit(base, from, to)); };
    CHECK_THAT(set("service_time_ms = 20", "service_time_ms = 0"),
               Catch::Contains("service[0].service_time_ms: must be a number > 0 and <= 60000"));
    CHECK_THAT(set("service_time_ms = 20", "service_time_ms = 60001"),
               Catch::Contains("service[0].service_time_ms: must be a number > 0 and <= 60000"));
    CHECK_THAT(set("access_delay_ms = 1", "access_delay_ms = 10001"),
               Catch::Contains("service[0].access_delay_ms: must be a number in 0..10000"));
    CHECK_THAT(set("access_delay_ms = 1", "access_delay_ms = -1"),
               Catch::Contains("service[0].access_delay_ms: must be a number in 0..10000"));
    CHECK_THAT(set("spread_pct = 25", "spread_pct = 100.5"), Catch::Contains("service[0].spread_pct: must be a number in 0..100"));
    CHECK_THAT(set("spread_pct = 25", "spread_pct = nan"), Catch::Contains("service[0].spread_pct: must be a number in 0..100"));
    CHECK_THAT(set("spread_power = 2", "spread_power = 9"), Catch::Contains("service[0].spread_power: must be a number in 0..8"));
    CHECK_THAT(set("spread_power = 2", "spread_power = inf"), Catch::Contains("service[0].spread_power: must be a number in 0..8"));
  }
  SECTION("sla") {
    auto set = [&](const std::string& from, const std::string& to) { return error_of(edit(base, from, to)); };
    CHECK_THAT(set("max_rtt_ms = 50", "max_rtt_ms = 0"), Catch::Contains("service[0].sla.max_rtt_ms: must be a number > 0"));
    CHECK_THAT(set("max_jitter_ms = 10", "max_jitter_ms = -1"), Catch::Contains("service[0].sla.max_jitter_ms: must be a number in 0..60000"));
    CHECK_THAT(set("max_loss_pct = 2", "max_loss_pct = 101"), Catch::Contains("service[0].sla.max_loss_pct: must be a number in 0..100"));
    CHECK_THAT(set("max_e2e_ms = 80", "max_e2e_ms = 0"), Catch::Contains("service[0].sla.max_e2e_ms: must be a number > 0 and <= 60000"));
    CHECK_THAT(set("# capability = \"gpu\"", "capability = \"GPU\""),
               Catch::Contains("service[0].sla.capability: must use only a-z, 0-9, '_' and '-'"));
    CHECK_THAT(set("# capability = \"gpu\"", "capability = \"g u\""),
               Catch::Contains("service[0].sla.capability: must use only a-z, 0-9, '_' and '-'"));
    CHECK_THAT(set("# capability = \"gpu\"", "capability = \"" + std::string(33, 'g') + "\""),
               Catch::Contains("service[0].sla.capability: must be 1..32 characters"));
    CHECK_THAT(set("min_free_capacity_pct = 10", "min_free_capacity_pct = 100.1"),
               Catch::Contains("service[0].sla.min_free_capacity_pct: must be a number in 0..100"));
    CHECK_THAT(set("min_free_capacity_pct = 10", "min_gpu_memory_free_pct = -1"),
               Catch::Contains("service[0].sla.min_gpu_memory_free_pct: must be a number in 0..100"));
    CHECK_THAT(set("max_rtt_ms = 50", "max_rtt = 50"), Catch::Contains("service[0].sla.max_rtt: unknown key"));
    CHECK_THAT(set("[service.sla]", "sla = 1\n[service.x]"), Catch::Contains("service[0].sla: must be a table"));
  }
  SECTION("weights") {
    auto set = [&](const std::string& from, const std::string& to) { return error_of(edit(base, from, to, "[service.weights]")); };
    CHECK_THAT(set("network = 1", "network = 101"), Catch::Contains("service[0].weights.network: must be a number in 0..100"));
    CHECK_THAT(set("compute = 1", "compute = -0.1"), Catch::Contains("service[0].weights.compute: must be a number in 0..100"));
    CHECK_THAT(set("jitter = 2", "jitter = 1000"), Catch::Contains("service[0].weights.jitter: must be a number in 0..100"));
    CHECK_THAT(set("loss = 1", "loss = true"), Catch::Contains("service[0].weights.loss: must be a number in 0..100"));
    CHECK_THAT(set("network = 1\ncompute = 1", "network = 0\ncompute = 0"),
               Catch::Contains("service[0].weights: network + compute must be > 0"));
    CHECK_THAT(set("jitter = 2", "jiter = 2"), Catch::Contains("service[0].weights.jiter: unknown key"));
  }
  SECTION("instances") {
    auto set = [&](const std::string& from, const std::string& to) { return error_of(edit(base, from, to, "[[service.instance]]")); };
    CHECK_THAT(set("vcpe = \"cloud1\"", "vcpe = \"cloud9\""),
               Catch::Contains("service[0].instance[0].vcpe: no [[vcpe]] is named 'cloud9'"));
    CHECK_THAT(set("vcpe = \"cloud1\"", ""), Catch::Contains("service[0].instance[0].vcpe: missing required field"));
    CHECK_THAT(set("address = \"10.2.1.10:8080\"", "address = \"10.2.1.10\""),
               Catch::Contains("service[0].instance[0].address: invalid endpoint"));
    CHECK_THAT(set("address = \"10.2.1.10:8080\"", "address = \"10.2.1.10:0\""),
               Catch::Contains("service[0].instance[0].address: invalid port"));
    CHECK_THAT(set("address = \"10.2.1.10:8080\"", "address = \"10.2.2.10:8080\""),
               Catch::Contains("service[0].instance[0].address: is not behind vcpe 'cloud1' (its address or subnets: 10.2.1.1, 10.2.1.0/24)"));
    CHECK_THAT(set("address = \"10.2.1.10:8080\"", "address = \"[fd00:2::10]:8080\""),
               Catch::Contains("service[0].instance[0].address: is IPv6 but vip is IPv4"));
    CHECK_THAT(set("address = \"10.2.2.10:8080\"", "address = \"10.2.2.10:8080\"\nport = 1"),
               Catch::Contains("service[0].instance[1].port: unknown key"));
    // The vCPE's own inner address may serve (an app on the vCPE itself).
    REQUIRE(config::parse_cpe(edit(base, "address = \"10.2.1.10:8080\"", "address = \"10.2.1.1:8080\"", "[[service.instance]]"),
                              "cpe.toml")
                .has_value());
  }
  SECTION("the same instance twice") {
    auto text = edit(base, "vcpe = \"cloud2\"\naddress = \"10.2.2.10:8080\"", "vcpe = \"cloud1\"\naddress = \"10.2.1.10:8080\"",
                     "[[service.instance]]");
    CHECK_THAT(error_of(text), Catch::Contains("service[0].instance[1].address: duplicate instance: vcpe 'cloud1' address "
                                               "10.2.1.10:8080 is already service[0].instance[0]"));
    // The same address behind another vCPE is another instance (clouds may reuse subnets).
    auto other = edit(edit(base, "vcpe = \"cloud2\"\naddress = \"10.2.2.10:8080\"", "vcpe = \"cloud2\"\naddress = \"10.2.1.10:8080\"",
                           "[[service.instance]]"),
                      "subnets = [\"10.2.2.0/24\"]", "subnets = [\"10.2.2.0/24\", \"10.2.1.0/24\"]", "[[vcpe]]");
    REQUIRE(config::parse_cpe(other, "cpe.toml").has_value());
  }
  SECTION("no instance") {
    auto text = sites() + "[[service]]\nid = \"a\"\nvip = \"10.255.0.1\"\nports = [80]\n";
    CHECK_THAT(error_of(text), Catch::Contains("service[0].instance: at least one [[service.instance]] is required"));
  }
  SECTION("too many instances") {
    CHECK_THAT(error_of(sites() + minimal("a", "", instances("cloud1", "10.2.1.", 65))),
               Catch::Contains("service[0].instance: at most 64 instances per service"));
  }
  SECTION("too many candidates in one service (instances x WANs)") {
    CHECK_THAT(error_of(sites() + minimal("a", "", instances("cloud1", "10.2.1.", 33))),
               Catch::Contains("service[0].instance: 33 instances x 2 WANs = 66 candidates") &&
                   Catch::Contains("at most 64 per service"));
  }
  SECTION("too many candidates in all services") {
    std::string text = sites();
    for (int k = 0; k < 4; ++k)
      text += edit(minimal(std::string(1, static_cast<char>('a' + k)), "", instances("cloud1", "10.2.1.", 32, 8000 + k)),
                   "[80]", "[" + std::to_string(80 + k) + "]", "");
    CHECK_THAT(error_of(text), Catch::Contains("cpe.toml:1:1: service: 256 candidates (instances x WANs) in all services; "
                                               "at most 255: the data plane's candidate id is 8 bits"));
  }
  SECTION("every problem at once") {
    auto m = error_of(edit(edit(base, "protocol = \"tcp\"", "protocol = \"icmp\""), "max_loss_pct = 2", "max_loss_pct = 200"));
    CHECK_THAT(m, Catch::Contains("service[0].protocol") && Catch::Contains("service[0].sla.max_loss_pct"));
  }
}
