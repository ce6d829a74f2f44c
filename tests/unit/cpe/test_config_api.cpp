#include "cpe/config_api.hpp"

#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

using namespace cats;
namespace json = boost::json;

TEST_CASE("tuning_only: selection, a service's selection figures, a WAN's cost and weight; nothing structural") {
  const auto base = json::parse(R"({"selection":{"hold_down_ms":1000},
    "wan":[{"name":"wan1","interface":"wan1"}],
    "service":[{"id":"app1","vip":"10.255.0.1","ports":[80],"service_time_ms":20,
                "instance":[{"vcpe":"cloud1","address":"10.2.1.10:8080"}]}]})");
  auto with = [&](const char* ptr, json::value v) {
    auto d = base;
    boost::system::error_code ec;
    *d.find_pointer(ptr, ec) = std::move(v);
    return d;
  };
  CHECK_FALSE(cpe::tuning_only(base, base));  // nothing changed: nothing to apply
  CHECK(cpe::tuning_only(base, with("/selection/hold_down_ms", 1500)));
  CHECK(cpe::tuning_only(base, with("/service/0/service_time_ms", 25)));
  auto low = base;
  low.at("service").at(0).as_object()["priority"] = "low";  // draft 4.2: a selection figure
  CHECK(cpe::tuning_only(base, low));
  auto sla = base;
  sla.at("service").at(0).as_object()["sla"] = json::object{{"max_rtt_ms", 15}};
  CHECK(cpe::tuning_only(base, sla));
  CHECK_FALSE(cpe::tuning_only(base, with("/service/0/vip", "10.255.0.2")));
  CHECK_FALSE(cpe::tuning_only(base, with("/service/0/ports/0", 81)));
  CHECK_FALSE(cpe::tuning_only(base, with("/service/0/instance/0/address", "10.2.1.11:8080")));
  CHECK_FALSE(cpe::tuning_only(base, with("/wan/0/interface", "wan9")));
  // An instance's load source only moves its vCPE's sampling plan.
  auto src = base;
  src.at("service").at(0).at("instance").at(0).as_object()["load_url"] = "http://10.2.1.10:8081/load";
  CHECK(cpe::tuning_only(base, src));
  src.at("service").at(0).at("instance").at(0).as_object()["prometheus"] =
      json::array{json::object{{"url", "http://10.2.1.10:9100/metrics"}, {"preset", "node_exporter"}}};
  CHECK(cpe::tuning_only(base, src));
  CHECK(cpe::tuning_only(src, base));
  // A WAN's cost and weight are selection inputs only (docs/SELECTION.md "WAN cost and weight").
  auto wan = base;
  wan.at("wan").at(0).as_object()["cost"] = 40;
  CHECK(cpe::tuning_only(base, wan));
  wan.at("wan").at(0).as_object()["weight"] = 3;
  CHECK(cpe::tuning_only(base, wan));
  // A tuning change together with a structural one is not tuning.
  auto both = with("/selection/hold_down_ms", 1500);
  both.at("service").at(0).as_object()["vip"] = "10.255.0.9";
  CHECK_FALSE(cpe::tuning_only(base, both));
}

#include "cpe/enrol.hpp"

namespace {

// The CPE "branch1" with the given [[wan]] tables and one vCPE, cloud1, with a listen
// port on each WAN named "fiber" (51811) or "lte" (51812 after fiber, else 51811).
config::CpeConfig branch_with(const std::string& wans) {
  std::string ports;
  for (const char* name : {"fiber", "lte"})
    if (wans.find(std::string("\"") + name + "\"") != std::string::npos)
      ports += std::string(name) + " = " + (ports.empty() ? "51811" : "51812") + "\n";
  auto c = config::parse_cpe(R"(
[cpe]
name = "branch1"
[lan]
interface = "lan0"
address = "10.1.0.1"
subnets = ["10.1.0.0/24"]
)" + wans + R"(
[[vcpe]]
name = "cloud1"
public_key = "6nRskU+hL0BfztnvvleaG/9Fxpo4mL7CUO/0WB9yd2Q="
report_key = "zflfEUVyUIcGHWZPkC6JrWZ/h46ClV+jSLytI4tLDrQ="
endpoint = "203.0.113.2"
address = "10.2.1.1"
subnets = ["10.2.1.0/24"]
[vcpe.ports]
)" + ports, "cpe.toml");
  INFO((c ? std::string() : c.error().message));
  REQUIRE(c.has_value());
  return *c;
}

}  // namespace

TEST_CASE("enrol: the bundle's vcpe.toml is a valid vCPE file naming this CPE on every WAN") {
  const auto cpe = branch_with(R"(
[[wan]]
name = "fiber"
interface = "wan0"
gateway = "192.0.2.1"
[[wan]]
name = "lte"
interface = "wan1"
gateway = "192.0.2.5"
)");
  const cpe::CpeIdentity id{"KzfE6znnIHQ1PDed9AhG+HTJMVoqeNFVEIDdy4N/f20=", "zflfEUVyUIcGHWZPkC6JrWZ/h46ClV+jSLytI4tLDrQ="};
  auto e = cpe::enrol(cpe, id, json::parse(R"({"name":"cloud9","endpoint":"203.0.113.10","address":"10.2.9.1",
                                                "subnets":["10.2.9.0/24"],"ports":{"lte":52000}})"));
  REQUIRE(e.has_value());
  CHECK_FALSE(e->has_keys);
  auto v = config::parse_vcpe(e->vcpe_toml, "vcpe.toml");
  REQUIRE(v.has_value());
  REQUIRE(v->cpes.size() == 1);
  CHECK(v->cpes[0].name == "branch1");
  REQUIRE(v->cpes[0].paths.size() == 2);
  CHECK(v->cpes[0].paths[0].listen_port == 51811);  // the default, WAN index 0
  CHECK(v->cpes[0].paths[1].listen_port == 52000);  // as asked
  CHECK(v->cpes[0].paths[1].tunnel_interface == "cats-bran-lte");
  CHECK(e->entry.at("ports").at("lte").as_int64() == 52000);
  CHECK(e->cloud_init.find("      [vcpe]\n") != std::string::npos);  // the file, indented under content: |

  auto bad = cpe::enrol(cpe, id, json::parse(R"({"name":"cloud9","endpoint":"203.0.113.10","address":"10.2.9.1",
                                                  "subnets":["10.2.9.0/24"],"ports":{"dsl":1},"public_key":"x"})"));
  REQUIRE_FALSE(bad.has_value());
  std::vector<std::string> fields;
  for (const auto& f : bad.error()) fields.push_back(f.field);
  CHECK(fields == std::vector<std::string>{"/report_key"});  // shape first: both keys or neither
  auto port = cpe::enrol(cpe, id, json::parse(R"({"name":"cloud9","endpoint":"203.0.113.10","address":"10.2.9.1",
                                                   "subnets":["10.2.9.0/24"],"ports":{"dsl":1}})"));
  REQUIRE_FALSE(port.has_value());
  CHECK(port.error().at(0).field == "/ports/dsl");
}

// The user-data is images/vcpe/cloud-config.yaml (compiled in) with the vCPE's file as the
// literal block of write_files' content: YAML's "|" block, six spaces in, gives back the
// file byte for byte (clip chomping: one final newline), which cloud-init 22.4 writes.
TEST_CASE("enrol: cloud_init is the image's cloud-config template carrying vcpe.toml unchanged") {
  const auto cpe = branch_with(R"(
[[wan]]
name = "fiber"
interface = "wan0"
gateway = "192.0.2.1"
)");
  const cpe::CpeIdentity id{"KzfE6znnIHQ1PDed9AhG+HTJMVoqeNFVEIDdy4N/f20=", "zflfEUVyUIcGHWZPkC6JrWZ/h46ClV+jSLytI4tLDrQ="};
  auto e = cpe::enrol(cpe, id, json::parse(R"({"name":"cloud9","endpoint":"203.0.113.10","address":"10.2.9.1",
                                                "subnets":["10.2.9.0/24"]})"));
  REQUIRE(e.has_value());
  const std::string& ci = e->cloud_init;
  CHECK(ci.rfind("#cloud-config\n", 0) == 0);  // cloud-init's marker: the first line, exactly
  CHECK(ci.find("{{") == std::string::npos);
  CHECK(ci.find("# cats-sdwan vCPE cloud9,") != std::string::npos);
  const std::string head = "  - path: /etc/cats/vcpe.toml\n    owner: root:root\n    permissions: '0644'\n    content: |\n";
  const auto at = ci.find(head);
  REQUIRE(at != std::string::npos);
  const auto end = ci.find("\nruncmd:\n", at);
  REQUIRE(end != std::string::npos);
  std::string block = ci.substr(at + head.size(), end + 1 - at - head.size()), file;
  for (size_t b = 0; b < block.size();) {
    const auto nl = block.find('\n', b);
    const std::string line = block.substr(b, nl - b);
    REQUIRE(line.rfind("      ", 0) == 0);  // every line inside the block, blank ones too
    file += line.substr(6) + "\n";
    b = nl + 1;
  }
  CHECK(file == e->vcpe_toml);
  CHECK(ci.find("  - [systemctl, enable, --now, cats-vcpe.service]\n") != std::string::npos);
  CHECK(ci.find("echo \"cats-vcpe cloud9 public_key=$(runuser -u _cats -- cats-vcpe pubkey --config /etc/cats/vcpe.toml)") !=
        std::string::npos);
  // The image names its NICs eth0 (uplink) and eth1 (LAN): the defaults of the file.
  auto v = config::parse_vcpe(e->vcpe_toml, "vcpe.toml");
  REQUIRE(v.has_value());
  CHECK(v->lan.interface == "eth1");
  CHECK(v->uplink_interface == "eth0");

  // A name that would end the YAML comment, or the quoted shell line, is refused.
  for (const char* bad : {"cloud9\n  - [reboot]", "it's", "a b", "-x", ""}) {
    json::object req{{"name", bad}, {"endpoint", "203.0.113.10"}, {"address", "10.2.9.1"}, {"subnets", json::array{"10.2.9.0/24"}}};
    auto r = cpe::enrol(cpe, id, req);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().at(0).field == "/name");
  }
}

#include "cpe/config_parts.hpp"

TEST_CASE("config parts: array steps by index, id or name; put adds or replaces; delete removes") {
  const auto doc = json::parse(R"({"wan":[{"name":"wan1","weight":1}],
    "service":[{"id":"app1","ports":[80]},{"id":"a/b","ports":[81]}]})");
  CHECK(cpe::resolve_part(doc, "/service/app1/ports/0") == "/service/0/ports/0");
  CHECK(cpe::resolve_part(doc, "/service/1") == "/service/1");
  CHECK(cpe::resolve_part(doc, "/service/a~1b") == "/service/1");  // RFC 6901 escape of '/'
  CHECK(cpe::resolve_part(doc, "/wan/wan1/weight") == "/wan/0/weight");
  CHECK(cpe::resolve_part(doc, "") == "");
  CHECK_FALSE(cpe::resolve_part(doc, "/service/app9"));
  CHECK_FALSE(cpe::resolve_part(doc, "/service/01"));  // no leading zeros (RFC 6901 §4)
  CHECK_FALSE(cpe::resolve_part(doc, "service"));
  CHECK_FALSE(cpe::resolve_part(doc, "/wan/~2"));

  auto rep = cpe::put_part(doc, "/wan/wan1/weight", 3);
  REQUIRE(rep.has_value());
  CHECK(rep->at(0).op == "replace");
  CHECK(rep->at(0).path == "/wan/0/weight");
  auto add = cpe::put_part(doc, "/service/app1/sla", json::object{{"max_rtt_ms", 15}});
  REQUIRE(add.has_value());
  CHECK(add->at(0).op == "add");
  CHECK(add->at(0).path == "/service/0/sla");
  auto app = cpe::put_part(doc, "/service/-", json::object{{"id", "app3"}});
  REQUIRE(app.has_value());
  CHECK(app->at(0).path == "/service/-");
  CHECK_FALSE(cpe::put_part(doc, "/service/app9/ports", 1).has_value());  // no such parent
  CHECK_FALSE(cpe::put_part(doc, "", 1).has_value());                     // the whole document is PUT without path

  auto del = cpe::delete_part(doc, "/service/app1");
  REQUIRE(del.has_value());
  CHECK(del->at(0).op == "remove");
  CHECK(del->at(0).path == "/service/0");
  CHECK_FALSE(cpe::delete_part(doc, "/service/app9").has_value());
}

TEST_CASE("missing_interfaces: a new or changed WAN interface must exist; a running one may have gone") {
  const auto running = branch_with(R"(
[[wan]]
name = "fiber"
interface = "wan0"
gateway = "192.0.2.1"
)");
  // The host has wan1 only: wan0 (the running fiber's) has gone away.
  auto exists = [](const std::string& n) { return n == "wan1"; };
  CHECK(cpe::missing_interfaces(running, running, exists).empty());  // unchanged: not in the way
  auto fields = [&](const config::CpeConfig& next) {
    std::vector<std::string> out;
    for (const auto& e : cpe::missing_interfaces(running, next, exists)) out.push_back(e.field);
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(fields(branch_with(R"(
[[wan]]
name = "fiber"
interface = "wan1"
gateway = "192.0.2.1"
)")) == V{});
  CHECK(fields(branch_with(R"(
[[wan]]
name = "fiber"
interface = "wan0"
gateway = "192.0.2.1"
[[wan]]
name = "lte"
interface = "nosuch9"
gateway = "192.0.2.5"
)")) == V{"/wan/1/interface"});
  CHECK(fields(branch_with(R"(
[[wan]]
name = "fiber"
interface = "nosuch0"
gateway = "192.0.2.1"
)")) == V{"/wan/0/interface"});
  auto errs = cpe::missing_interfaces(running, branch_with(R"(
[[wan]]
name = "lte"
interface = "wan0"
gateway = "192.0.2.5"
)"), exists);  // a new WAN (by name) on an interface that has gone: refused
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].message.find("\"wan0\"") != std::string::npos);
}

#include "cpe/config_boot.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

// Issue 9: the file a daemon runs becomes revision 1 of an empty database once it is up,
// and bootstrap says so, so the running services' sampling plans carry 1 rather than the
// file's 0 (cpe/services.cpp).
TEST_CASE("bootstrap: returns the revision now current, the import's or the database's") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("cats-boot-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ifstream in(std::string(CATS_SOURCE_DIR) + "/docs/examples/cpe.toml");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string file = (dir / "cpe.toml").string();
  std::ofstream(file) << ss.str();
  auto cfg = config::parse_cpe(ss.str(), file);
  REQUIRE(cfg.has_value());
  cfg->file = file;
  cfg->source_sha256 = configdb::sha256_hex(ss.str());
  CHECK(cfg->revision == 0);  // the file runs until it is imported
  auto clock = [] { return int64_t{1'700'000'000'000}; };
  {
    auto db = configdb::ConfigDb::open((dir / "cats.db").string(), clock);
    REQUIRE(db.has_value());
    auto rev = cpe::bootstrap(*db, *cfg);
    REQUIRE(rev.has_value());
    CHECK(*rev == 1);
    auto again = cpe::bootstrap(*db, *cfg);  // a database with a revision: that one
    REQUIRE(again.has_value());
    CHECK(*again == 1);
  }
  {
    // A file edited while the daemon started is not imported (and no revision claimed).
    auto db = configdb::ConfigDb::open((dir / "other.db").string(), clock);
    REQUIRE(db.has_value());
    std::ofstream(file) << ss.str() << "\n# edited\n";
    CHECK_FALSE(cpe::bootstrap(*db, *cfg).has_value());
  }
  fs::remove_all(dir);
}
