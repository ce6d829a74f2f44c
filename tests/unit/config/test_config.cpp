#include "config/config.hpp"
#include "source_file.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace cats;

namespace {
using test::source_file;
// Replace the first occurrence of `from` in the example config.
std::string edit(std::string s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  REQUIRE(pos != std::string::npos);
  return s.replace(pos, from.size(), to);
}
std::string cpe_error(const std::string& text) {
  auto r = config::parse_cpe(text, "cpe.toml");
  REQUIRE_FALSE(r.has_value());
  return r.error().message;
}
std::string vcpe_error(const std::string& text) {
  auto r = config::parse_vcpe(text, "vcpe.toml");
  REQUIRE_FALSE(r.has_value());
  return r.error().message;
}
}  // namespace

TEST_CASE("the example CPE config loads with every field") {
  auto r = config::parse_cpe(source_file("docs/examples/cpe.toml"), "cpe.toml");
  REQUIRE(r.has_value());
  CHECK(r->daemon.name == "branch1");
  CHECK(r->daemon.wireguard == wg::Options::Mode::automatic);
  REQUIRE(r->wans.size() == 2);
  CHECK(r->wans[1].weight == 1);  // default
  CHECK(r->wans[1].tunnel_interface == "cats-wan2");
  REQUIRE(r->vcpes.size() == 2);
  CHECK(r->vcpes[1].ports.at("wan2") == 51812);
  CHECK(r->lan.address->to_string() == "10.1.0.1");
}

TEST_CASE("the example vCPE config loads") {
  auto r = config::parse_vcpe(source_file("docs/examples/vcpe.toml"), "vcpe.toml");
  REQUIRE(r.has_value());
  CHECK(r->lan.address->to_string() == "10.2.1.1");
  REQUIRE(r->cpes.size() == 1);
  REQUIRE(r->cpes[0].paths.size() == 2);
  CHECK(r->cpes[0].paths[1].tunnel_interface == "cats-c1-wan2");
  CHECK_FALSE(r->cpes[0].paths[0].endpoint.has_value());
}

TEST_CASE("bad CPE configs name the file, line, field and reason") {
  auto base = source_file("docs/examples/cpe.toml");
  SECTION("unknown key") {
    auto m = cpe_error(edit(base, "cost = 0", "cots = 0"));
    auto line = 1 + std::count(base.begin(), base.begin() + static_cast<std::ptrdiff_t>(base.find("cost = 0")), '\n');
    CHECK_THAT(m, Catch::Contains("cpe.toml:" + std::to_string(line) + ":8:") &&
                      Catch::Contains("wan[0].cots: unknown key"));
  }
  SECTION("bad address") {
    auto m = cpe_error(edit(base, "\"192.0.2.1\"", "\"192.0.2.300\""));
    CHECK_THAT(m, Catch::Contains("wan[0].gateway: invalid IP address '192.0.2.300'"));
  }
  SECTION("bad key") {
    auto m = cpe_error(edit(base, "6nRskU+hL0Bf", "6nRskU+hL0B"));
    CHECK_THAT(m, Catch::Contains("vcpe[0].public_key: invalid WireGuard key"));
  }
  SECTION("duplicate names") {
    auto m = cpe_error(edit(base, "name = \"cloud2\"", "name = \"cloud1\""));
    CHECK_THAT(m, Catch::Contains("vcpe[1].name: duplicate name 'cloud1'"));
  }
  SECTION("duplicate tunnel interface") {
    auto m = cpe_error(edit(base, "\"cats-wan2\"", "\"cats-wan1\""));
    CHECK_THAT(m, Catch::Contains("duplicate tunnel_interface 'cats-wan1'"));
  }
  SECTION("missing port for a WAN") {
    auto m = cpe_error(edit(base, "wan2 = 51812", ""));
    CHECK_THAT(m, Catch::Contains("vcpe[0].ports.wan2: missing"));
  }
  SECTION("host bits in a subnet") {
    auto m = cpe_error(edit(base, "\"10.2.1.0/24\"", "\"10.2.1.5/24\""));
    CHECK_THAT(m, Catch::Contains("host bits set") && Catch::Contains("10.2.1.0/24"));
  }
  SECTION("out of range") {
    auto m = cpe_error(edit(base, "listen_port = 51801", "listen_port = 70000"));
    CHECK_THAT(m, Catch::Contains("wan[0].listen_port: must be in 0..65535"));
  }
  SECTION("interface name too long") {
    auto m = cpe_error(edit(base, "\"cats-wan1\"", "\"cats-wan1-is-too-long\""));
    CHECK_THAT(m, Catch::Contains("wan[0].tunnel_interface: invalid interface name"));
  }
  SECTION("wrong type") {
    auto m = cpe_error(edit(base, "weight = 1", "weight = \"1\""));
    CHECK_THAT(m, Catch::Contains("wan[0].weight: must be an integer"));
  }
  SECTION("LAN address outside its subnets") {
    auto m = cpe_error(edit(base, "address = \"10.1.0.1\"", "address = \"10.9.0.1\""));
    CHECK_THAT(m, Catch::Contains("lan.address: is not inside any of lan.subnets"));
  }
  SECTION("TOML syntax error keeps line and column") {
    auto m = cpe_error(edit(base, "[lan]", "[lan"));
    CHECK_THAT(m, Catch::StartsWith("cpe.toml:9:"));
  }
  SECTION("missing section") {
    auto m = cpe_error(base.substr(0, base.find("[[vcpe]]")));
    CHECK_THAT(m, Catch::Contains("vcpe: at least one [[vcpe]] is required"));
  }
  SECTION("every problem is reported, not just the first") {
    auto m = cpe_error(edit(edit(base, "cost = 0", "cots = 0"), "\"192.0.2.1\"", "\"nope\""));
    CHECK_THAT(m, Catch::Contains("cots: unknown key") && Catch::Contains("gateway: invalid IP address"));
  }
}

TEST_CASE("bad vCPE configs are rejected with the field") {
  auto base = source_file("docs/examples/vcpe.toml");
  CHECK_THAT(vcpe_error(edit(base, "listen_port = 51812", "listen_port = 51811")),
             Catch::Contains("duplicate listen_port '51811'"));
  CHECK_THAT(vcpe_error(edit(base, "wan = \"wan2\"", "wan = \"wan1\"")), Catch::Contains("duplicate wan 'wan1'"));
  CHECK_THAT(vcpe_error(edit(base, "[uplink]\ninterface = \"up0\"", "")), Catch::Contains("uplink: missing required section"));
  CHECK_THAT(vcpe_error(edit(base, "address = \"10.2.1.1\"", "adress = \"10.2.1.1\"")),
             Catch::Contains("vcpe.adress: unknown key") && Catch::Contains("vcpe.address: missing required field"));
  CHECK_THAT(vcpe_error(edit(base, "tunnel_interface = \"cats-c1-wan1\"", "tunnel_interface = \"a/b\"")),
             Catch::Contains("cpe[0].path[0].tunnel_interface: invalid interface name"));
  CHECK_THAT(vcpe_error(base + "\n[[cpe.path]]\nwan = \"wan3\"\nlisten_port = 1\ntunnel_interface = \"x\"\nendpoint = \"1.2.3.4\"\n"),
             Catch::Contains("cpe[0].path[2].endpoint: invalid endpoint"));
}

TEST_CASE("config files: missing file and oversize are clear errors") {
  auto r = config::load_cpe("/nonexistent/cats.toml");
  REQUIRE_FALSE(r.has_value());
  CHECK_THAT(r.error().message, Catch::Contains("/nonexistent/cats.toml"));
  std::string huge(2 << 20, '#');
  auto h = config::parse_cpe(huge, "big.toml");
  REQUIRE_FALSE(h.has_value());
  CHECK_THAT(h.error().message, Catch::Contains("larger than 1 MiB"));
}

TEST_CASE("probing, reporting, store and instance sections") {
  auto cpe = config::parse_cpe(source_file("docs/examples/cpe.toml"), "cpe.toml");
  REQUIRE(cpe.has_value());
  CHECK(cpe->probing.port == 862);
  CHECK(cpe->probing.interval_ms == 50);
  CHECK(cpe->probing.down_after == 2);
  CHECK(cpe->probing.flap_half_life_ms == 10000);
  CHECK(cpe->probing.flap_suppress == 1500);
  CHECK(cpe->probing.flap_reuse == 750);
  CHECK(cpe->probing.flap_max_hold_ms == 60000);
  CHECK(cpe->reporting.max_interval_ms == 1000);
  CHECK(cpe->store_path == "/var/lib/cats-cpe/cats.db");
  CHECK(cpe->vcpes[0].report_key.size() == 32);
  auto v = config::parse_vcpe(source_file("docs/examples/vcpe.toml"), "vcpe.toml");
  REQUIRE(v.has_value());
  REQUIRE(v->instances.size() == 1);
  CHECK(v->instances[0].service == "app1");
  CHECK(endpoint_to_string(v->instances[0].address) == "10.2.1.10:8080");
  CHECK(v->instances[0].health == "http://10.2.1.10:8081/healthz");
  CHECK(v->instances[0].vcpus == 6u);
  REQUIRE(v->instances[0].service_time_ms.has_value());
  CHECK(*v->instances[0].service_time_ms == Approx(20.0));
  CHECK(v->reporting.utilization_threshold == Approx(0.05));

  auto base = source_file("docs/examples/cpe.toml");
  CHECK_THAT(cpe_error(edit(base, "report_key = \"zflfEUVy", "report_key = \"zflf")),
             Catch::Contains("vcpe[0].report_key: must be base64 of a 32-byte Ed25519 public key"));
  CHECK_THAT(cpe_error(edit(base, "interval_ms = 50 ", "interval_ms = 1 ")), Catch::Contains("probing.interval_ms: must be in 10..60000"));
  CHECK_THAT(cpe_error(edit(base, "down_after = 2", "down_after = 0")), Catch::Contains("probing.down_after: must be in 1..100"));
  CHECK_THAT(cpe_error(edit(base, "flap_reuse = 750", "flap_reuse = 1500")),
             Catch::Contains("probing.flap_reuse: must be below flap_suppress"));
  // 750 x 2^(5 s / 10 s) = 1061 < 1500: the suppress threshold could never be reached.
  CHECK_THAT(cpe_error(edit(base, "flap_max_hold_ms = 60000", "flap_max_hold_ms = 5000")),
             Catch::Contains("probing.flap_max_hold_ms: too short"));
  // Authenticated probes default to 70 ms (0.466 % of 10 Mbit/s instead of 0.653 %); an
  // explicit interval is kept.
  auto auth = config::parse_cpe(edit(base, "interval_ms = 50 ", "auth_key = \"AAAAAAAAAAAAAAAAAAAAAA==\" "), "cpe.toml");
  REQUIRE(auth.has_value());
  CHECK(auth->probing.interval_ms == 70);
  auto auth50 = config::parse_cpe(edit(base, "interval_ms = 50 ", "interval_ms = 50\nauth_key = \"AAAAAAAAAAAAAAAAAAAAAA==\" "), "cpe.toml");
  REQUIRE(auth50.has_value());
  CHECK(auth50->probing.interval_ms == 50);
  // Damping off (half-life 0) needs no reachable ceiling.
  auto off = config::parse_cpe(edit(edit(base, "flap_half_life_ms = 10000", "flap_half_life_ms = 0"),
                                    "flap_max_hold_ms = 60000", "flap_max_hold_ms = 5000"), "cpe.toml");
  REQUIRE(off.has_value());
  CHECK(off->probing.flap_half_life_ms == 0);
  CHECK_THAT(cpe_error(edit(base, "min_interval_ms = 100", "min_interval_ms = 5000")),
             Catch::Contains("reporting.min_interval_ms: must not exceed max_interval_ms"));
  auto vb = source_file("docs/examples/vcpe.toml");
  CHECK_THAT(vcpe_error(edit(vb, "health = \"http://10.2.1.10:8081/healthz\"", "health = \"icmp\"")),
             Catch::Contains("instance[0].health: must be \"tcp\" or an http:// URL"));
  CHECK_THAT(vcpe_error(edit(vb, "address = \"10.2.1.10:8080\"", "address = \"10.2.1.10\"")),
             Catch::Contains("instance[0].address: invalid endpoint"));
  CHECK_THAT(vcpe_error(edit(vb, "utilization_threshold = 0.05", "utilization_threshold = 2")),
             Catch::Contains("reporting.utilization_threshold: must be a number"));
}

TEST_CASE("vCPE instance service_time_ms: optional, > 0 and <= 60000 ms, errors at file:line:col") {
  auto vb = source_file("docs/examples/vcpe.toml");
  auto without = config::parse_vcpe(edit(vb, "service_time_ms = 20\n", ""), "vcpe.toml");
  REQUIRE(without.has_value());
  CHECK_FALSE(without->instances[0].service_time_ms.has_value());  // learned, not configured
  auto frac = config::parse_vcpe(edit(vb, "service_time_ms = 20", "service_time_ms = 2.5"), "vcpe.toml");
  REQUIRE(frac.has_value());
  CHECK(*frac->instances[0].service_time_ms == Approx(2.5));
  const auto line = 1 + std::count(vb.begin(), vb.begin() + static_cast<std::ptrdiff_t>(vb.find("service_time_ms = 20")), '\n');
  const std::string at = "vcpe.toml:" + std::to_string(line) + ":19: instance[0].service_time_ms: ";
  for (const char* bad : {"0", "-1", "60001", "nan", "inf", "\"20\"", "true"}) {
    INFO(bad);
    CHECK_THAT(vcpe_error(edit(vb, "service_time_ms = 20", std::string("service_time_ms = ") + bad)),
               Catch::Contains(at + "must be a number > 0 and <= 60000"));
  }
  CHECK(config::parse_vcpe(edit(vb, "service_time_ms = 20", "service_time_ms = 60000"), "vcpe.toml").has_value());
}

TEST_CASE("[management]: listen addresses, TLS files, hosts, metrics sources, session limits") {
  auto base = source_file("docs/examples/cpe.toml");
  auto none = config::parse_cpe(base, "cpe.toml");
  REQUIRE(none.has_value());
  CHECK(none->management.listen.empty());  // off unless configured
  CHECK(none->management.cert_file == "/var/lib/cats-cpe/tls/cert.pem");
  CHECK(none->management.key_file == "/var/lib/cats-cpe/tls/key.pem");
  const std::string good = base + R"(
[management]
listen = ["0.0.0.0:8443", "[::1]:9443"]
allowed_hosts = ["cpe.example.net", "10.1.0.1:8443"]
metrics_allow = ["10.1.0.0/24"]
session_idle_s = 600
)";
  auto r = config::parse_cpe(good, "cpe.toml");
  REQUIRE(r.has_value());
  REQUIRE(r->management.listen.size() == 2);
  CHECK(endpoint_to_string(r->management.listen[1]) == "[::1]:9443");
  CHECK(r->management.allowed_hosts.size() == 2);
  CHECK(r->management.metrics_allow.size() == 1);
  CHECK(r->management.session_idle_s == 600);
  CHECK(r->management.session_max_s == 43200);
  CHECK_THAT(cpe_error(base + "\n[management]\nlisten = [\"0.0.0.0\"]\n"), Catch::Contains("management.listen"));
  CHECK_THAT(cpe_error(base + "\n[management]\nlisten = [\"1.2.3.4:0\"]\n"), Catch::Contains("invalid port"));
  CHECK_THAT(cpe_error(base + "\n[management]\nlisten = \"1.2.3.4:1\"\n"), Catch::Contains("list of at most 256"));
  CHECK_THAT(cpe_error(base + "\n[management]\nallowed_hosts = [\"a/b\"]\n"), Catch::Contains("not a host"));
  CHECK_THAT(cpe_error(base + "\n[management]\nsession_idle_s = 7200\nsession_max_s = 3600\n"),
             Catch::Contains("must not exceed session_max_s"));
  CHECK_THAT(cpe_error(base + "\n[management]\nlisten_on = []\n"), Catch::Contains("management.listen_on: unknown key"));
  // The web UI's build: an installed path by default, any absolute path without "..".
  CHECK(none->management.webui_dir == "/usr/share/cats/webui");
  auto ui = config::parse_cpe(base + "\n[management]\nwebui_dir = \"/opt/cats/webui/\"\n", "cpe.toml");
  REQUIRE(ui.has_value());
  CHECK(ui->management.webui_dir == "/opt/cats/webui/");
  for (const char* bad : {"webui/dist", "/opt/../etc", "/opt/cats/..", ""}) {
    INFO(bad);
    CHECK_THAT(cpe_error(base + "\n[management]\nwebui_dir = \"" + bad + "\"\n"), Catch::Contains("management.webui_dir"));
  }
  // Only the CPE serves the UI.
  CHECK_FALSE(config::parse_vcpe(source_file("docs/examples/vcpe.toml") + "\n[management]\nwebui_dir = \"/x\"\n", "vcpe.toml").has_value());
  auto v = config::parse_vcpe(source_file("docs/examples/vcpe.toml") + "\n[management]\nlisten = [\"127.0.0.1:9100\"]\n",
                              "vcpe.toml");
  REQUIRE(v.has_value());
  CHECK(v->management.listen.size() == 1);
}

TEST_CASE("the daemon's own section loads while its peers are not configured yet (pubkey)") {
  // First deployment: the vCPE's key is not known yet, so the CPE's [[vcpe]] is a stub.
  const std::string text = R"([cpe]
name = "branch1"
state_dir = "/tmp/cats-x"

[[vcpe]]
name = "cloud1"
public_key = "FILL ME IN"
)";
  CHECK_FALSE(config::parse_cpe(text, "cpe.toml").has_value());
  auto d = config::parse_daemon_section(text, "cpe.toml", "cpe");
  REQUIRE(d.has_value());
  CHECK(d->name == "branch1");
  CHECK(d->state_dir == "/tmp/cats-x");
  auto v = config::parse_daemon_section("[vcpe]\nname = \"c1\"\naddress = \"10.2.1.1\"\n", "v.toml", "vcpe");
  REQUIRE(v.has_value());
  CHECK(v->state_dir == "/var/lib/cats-vcpe");
  // Its own section is still checked.
  CHECK_FALSE(config::parse_daemon_section("[cpe]\nname = \"a\"\nstate_dri = \"/x\"\n", "c.toml", "cpe").has_value());
  CHECK_FALSE(config::parse_daemon_section("[vcpe]\nname = \"a\"\n", "c.toml", "cpe").has_value());
  CHECK_FALSE(config::parse_daemon_section("[cpe]\nname = \"a\"\n", "c.toml", "router").has_value());
}
