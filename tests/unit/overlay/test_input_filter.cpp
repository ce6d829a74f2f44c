// The CPE's WAN input filter (overlay/input_filter.hpp): the nft text it sends (golden),
// the desired state from the configuration (WAN set, WireGuard and management ports, off
// mode), and its lifecycle in the Applier: idempotent, kept by teardown (a stop), removed
// only by remove_input_filter (--cleanup), never touched on a vCPE.
#include "base/hash.hpp"
#include "config/config.hpp"
#include "fake_kernel.hpp"
#include "overlay/apply.hpp"
#include "overlay/input_filter.hpp"
#include "overlay/site_plan.hpp"
#include "golden.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace cats;
using test::check_golden;
using test::source_file;

namespace {

// The example CPE with `extra` TOML appended (a section of its own).
config::CpeConfig example_cpe(const std::string& extra = "") {
  auto c = config::parse_cpe(source_file("docs/examples/cpe.toml") + "\n" + extra, "cpe.toml");
  if (!c) FAIL(c.error().message);
  return *c;
}

using Kernel = test::FakeKernel;

}  // namespace

TEST_CASE("input filter: the example CPE with HTTPS on every address (golden nft text)") {
  auto c = example_cpe("[management]\nlisten = [\"0.0.0.0:8443\", \"[::]:8443\"]\n");
  auto f = overlay::cpe_input_filter(c);
  REQUIRE(f.has_value());
  check_golden(nft::replace_table_script(slice::kNftFamily, slice::kNftInputTable, "FP", overlay::input_filter_body(*f)),
               "cpe_input.nft");
}

TEST_CASE("input filter: WAN set and WireGuard ports come from the WANs") {
  auto c = example_cpe();
  auto f = overlay::cpe_input_filter(c);
  REQUIRE(f.has_value());
  CHECK(f->wan_interfaces == std::vector<std::string>{"wan1", "wan2"});
  CHECK(f->wireguard_ports == std::vector<uint16_t>{51801, 51802});
  CHECK(f->management.empty());  // no [management] listen: no HTTPS port
  const auto body = overlay::input_filter_body(*f);
  CHECK(body.find("iifname != { \"wan1\", \"wan2\" } accept") != std::string::npos);
  CHECK(body.find("udp dport { 51801, 51802 } accept") != std::string::npos);
  CHECK(body.find("tcp dport") == std::string::npos);

  // A WAN whose tunnel lets the kernel choose its port (listen_port 0) opens none: only
  // replies to the CPE's own handshakes reach it (ct state established).
  c.wans[1].listen_port = 0;
  f = overlay::cpe_input_filter(c);
  REQUIRE(f.has_value());
  CHECK(f->wireguard_ports == std::vector<uint16_t>{51801});
  CHECK(f->wan_interfaces.size() == 2);
  c.wans[0].listen_port = 0;
  f = overlay::cpe_input_filter(c);
  REQUIRE(f.has_value());
  CHECK(overlay::input_filter_body(*f).find("udp dport {") == std::string::npos);
}

TEST_CASE("input filter: management ports only for addresses a WAN can reach") {
  auto c = example_cpe(
      "[management]\nlisten = [\"127.0.0.1:8443\", \"[::1]:8443\", \"10.1.0.1:9443\", \"198.51.100.7:443\", "
      "\"[2001:db8::7]:443\", \"0.0.0.0:8443\", \"[::]:8444\"]\n");
  auto f = overlay::cpe_input_filter(c);
  REQUIRE(f.has_value());
  // Loopback and the LAN address (10.1.0.1) are left closed on the WANs.
  REQUIRE(f->management.size() == 4);
  const auto body = overlay::input_filter_body(*f);
  CHECK(body.find("ip daddr 198.51.100.7 tcp dport 443 accept") != std::string::npos);
  CHECK(body.find("ip6 daddr 2001:db8::7 tcp dport 443 accept") != std::string::npos);
  CHECK(body.find("meta nfproto ipv4 tcp dport 8443 accept") != std::string::npos);
  CHECK(body.find("meta nfproto ipv6 tcp dport 8444 accept") != std::string::npos);
  CHECK(body.find("9443") == std::string::npos);
  CHECK(body.find("127.0.0.1") == std::string::npos);
  // The chain ends in the counted drop; the policy is drop too.
  CHECK(body.find("policy drop;") != std::string::npos);
  CHECK(body.ends_with("\t\tcounter name \"wan_input_dropped\" drop\n\t}\n"));
}

TEST_CASE("input filter: [firewall] wan_input = \"off\" asks for no table; the vCPE never touches it") {
  auto c = example_cpe("[firewall]\nwan_input = \"off\"\n");
  CHECK_FALSE(overlay::cpe_input_filter(c).has_value());
  auto p = overlay::plan_cpe(c);
  REQUIRE(p.input_nft_script.has_value());
  CHECK(p.input_nft_script->empty());
  CHECK(overlay::render(p).find("nft table inet cats_input: none") != std::string::npos);

  auto deny = overlay::plan_cpe(example_cpe("[firewall]\nwan_input = \"deny\"\n"));
  CHECK(deny.input_nft_script == overlay::plan_cpe(example_cpe()).input_nft_script);  // deny is the default

  auto v = config::parse_vcpe(source_file("docs/examples/vcpe.toml"), "vcpe.toml");
  REQUIRE(v.has_value());
  CHECK_FALSE(overlay::plan_vcpe(*v).input_nft_script.has_value());
}

TEST_CASE("input filter: [firewall] is validated with a field error") {
  auto bad = config::parse_cpe(source_file("docs/examples/cpe.toml") + "\n[firewall]\nwan_input = \"allow\"\n", "cpe.toml");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message.find("firewall.wan_input: must be one of deny, off") != std::string::npos);
  auto unknown = config::parse_cpe(source_file("docs/examples/cpe.toml") + "\n[firewall]\nlan_input = \"deny\"\n", "cpe.toml");
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().message.find("firewall.lan_input: unknown key") != std::string::npos);
}

TEST_CASE("input filter in the Applier: applied once, kept by teardown, removed by remove_input_filter") {
  const auto plan = overlay::plan_cpe(example_cpe());
  Kernel k(plan);
  auto rep = k.applier.apply(plan);
  REQUIRE(rep.has_value());
  REQUIRE(k.nft.input_table.has_value());
  CHECK(nft::table_fingerprint(*k.nft.input_table) == fnv1a_hex(*plan.input_nft_script));
  CHECK_FALSE(k.nft.table.has_value());  // inet cats is steering's on the CPE
  CHECK(std::count(rep->actions.begin(), rep->actions.end(),
                   "replace nft table inet cats_input (cats:" + fnv1a_hex(*plan.input_nft_script) + ")") == 1);

  // The same input twice changes nothing (no nft transaction at all).
  const int runs = k.nft.runs;
  auto again = k.applier.apply(plan);
  REQUIRE(again.has_value());
  CHECK_FALSE(again->changed());
  CHECK(k.nft.runs == runs);

  // A configuration change (a WAN's port) replaces it, once.
  auto c2 = example_cpe();
  c2.wans[0].listen_port = 51901;
  const auto plan2 = overlay::plan_cpe(c2);
  auto changed = k.applier.apply(plan2);
  REQUIRE(changed.has_value());
  CHECK(k.nft.runs == runs + 1);
  CHECK(k.nft.input_table->find("51901") != std::string::npos);

  // Removed behind our back: the next apply (the reconcile) puts it back.
  k.nft.input_table.reset();
  REQUIRE(k.applier.apply(plan2).has_value());
  CHECK(k.nft.input_table.has_value());

  // A stop (teardown) keeps the filter; the explicit teardown removes it.
  REQUIRE(k.applier.teardown(plan2).has_value());
  CHECK(k.nft.input_table.has_value());
  REQUIRE(k.applier.remove_input_filter().has_value());
  CHECK_FALSE(k.nft.input_table.has_value());
  CHECK(k.applier.remove_input_filter().has_value());  // absent: still fine
}

TEST_CASE("input filter in the Applier: off removes ours; a vCPE plan leaves it alone") {
  auto on = overlay::plan_cpe(example_cpe());
  Kernel k(on);
  REQUIRE(k.applier.apply(on).has_value());
  REQUIRE(k.nft.input_table.has_value());
  auto off = overlay::plan_cpe(example_cpe("[firewall]\nwan_input = \"off\"\n"));
  auto rep = k.applier.apply(off);
  REQUIRE(rep.has_value());
  CHECK_FALSE(k.nft.input_table.has_value());
  CHECK(std::count(rep->actions.begin(), rep->actions.end(), "delete nft table inet cats_input") == 1);

  auto v = config::parse_vcpe(source_file("docs/examples/vcpe.toml"), "vcpe.toml");
  REQUIRE(v.has_value());
  const auto vp = overlay::plan_vcpe(*v);
  Kernel kv(vp);
  kv.nft.input_table = "table inet cats_input {\n}\n";  // someone's (a CPE in the same namespace)
  REQUIRE(kv.applier.apply(vp).has_value());
  REQUIRE(kv.applier.teardown(vp).has_value());
  CHECK(kv.nft.input_table.has_value());
}

TEST_CASE("input filter: the drop counter read from a `list counter` answer") {
  CHECK(overlay::counter_packets("table inet cats_input {\n\tcounter wan_input_dropped {\n\t\tpackets 42 bytes 2520\n"
                                 "\t}\n}\n") == std::optional<uint64_t>(42));
  CHECK(overlay::counter_packets("packets 0 bytes 0") == std::optional<uint64_t>(0));
  CHECK_FALSE(overlay::counter_packets("table inet cats_input {\n}\n").has_value());
  CHECK_FALSE(overlay::counter_packets("packets x").has_value());
}
