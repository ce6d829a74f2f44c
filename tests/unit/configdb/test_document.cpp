// The document validator: one case per rule category through JSON, TOML and JSON naming
// the same field for the same mistake, and the JSON-only rules (null, numbers, duplicate
// keys, depth, size).
#include "config/config.hpp"
#include "configdb/diff.hpp"
#include "configdb/document.hpp"
#include "fixtures.hpp"

#include <cmath>
#include <functional>
#include <limits>

using namespace cats::configdb;
using namespace cats::configdb::test;
namespace json = boost::json;

TEST_CASE("the example configuration is a valid document and survives TOML -> JSON -> TOML") {
  auto doc = example_doc();
  CHECK(validate(doc).empty());
  REQUIRE(doc.is_object());
  for (auto* k : {"cpe", "lan", "probing", "reporting", "store", "wan", "vcpe", "selection", "service"})
    CHECK(doc.as_object().contains(k));
  CHECK(at(doc, "/service/0/instance/1/vcpe") == "cloud2");
  // The rendered TOML loads to the same configuration as the file.
  auto text = to_toml(doc);
  REQUIRE(text);
  auto a = cats::config::parse_cpe(example_toml(), "a");
  auto b = cats::config::parse_cpe(*text, "b");
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(a->wans.size() == b->wans.size());
  CHECK(a->services[0].select.epsilon == b->services[0].select.epsilon);
  CHECK(a->vcpes[1].report_key == b->vcpes[1].report_key);
  CHECK(a->probing.flap_max_hold_ms == b->probing.flap_max_hold_ms);
}

TEST_CASE("validator rules through JSON name the JSON pointer") {
  auto doc = example_doc();
  SECTION("type") {
    at(doc, "/probing/port") = "862";
    auto e = validate(doc);
    CHECK(has(e, "/probing/port", "must be an integer"));
  }
  SECTION("range") {
    at(doc, "/wan/0/weight") = 101;
    CHECK(has(validate(doc), "/wan/0/weight", "must be in 1..100"));
  }
  SECTION("unknown key") {
    doc.as_object()["lan"].as_object()["bogus"] = 1;
    CHECK(has(validate(doc), "/lan/bogus", "unknown key"));
  }
  SECTION("unknown section") {
    doc.as_object()["nope"] = json::object{};
    CHECK(has(validate(doc), "/nope", "unknown key"));
  }
  SECTION("missing required") {
    at(doc, "/wan/0").as_object().erase("gateway");
    CHECK(has(validate(doc), "/wan/0/gateway", "missing required field"));
  }
  SECTION("empty lists: none is zero services, but WANs are required") {
    at(doc, "/service") = json::array{};
    CHECK(validate(doc).empty());
    at(doc, "/wan") = json::array{};
    CHECK(has(validate(doc), "/wan", "at least one [[wan]] is required"));
    at(doc, "/service") = example_doc().at("service");
    at(doc, "/service/0/instance") = json::array{};
    CHECK(has(validate(doc), "/service/0/instance", "at least one [[service.instance]] is required"));
  }
  SECTION("missing required section") {
    doc.as_object().erase("lan");
    CHECK(has(validate(doc), "/lan", "missing required section"));
  }
  SECTION("duplicate name") {
    at(doc, "/vcpe/1/name") = "cloud1";
    CHECK(has(validate(doc), "/vcpe/1/name", "duplicate name 'cloud1'"));
  }
  SECTION("cross-reference: an instance naming an unknown vCPE") {
    at(doc, "/service/0/instance/0/vcpe") = "nowhere";
    CHECK(has(validate(doc), "/service/0/instance/0/vcpe", "no [[vcpe]] is named 'nowhere'"));
  }
  SECTION("cross-reference: a vCPE's ports must name every WAN") {
    at(doc, "/vcpe/0/ports").as_object().erase("wan2");
    CHECK(has(validate(doc), "/vcpe/0/ports/wan2", "missing"));
  }
  SECTION("address semantics") {
    at(doc, "/service/0/vip") = "10.1.0.7";
    CHECK(has(validate(doc), "/service/0/vip", "inside lan.subnets"));
  }
  SECTION("array element") {
    at(doc, "/service/0/ports/1") = 0;
    CHECK(has(validate(doc), "/service/0/ports/1", "must be in 1..65535"));
  }
  SECTION("every problem at once, nothing else") {
    at(doc, "/probing/port") = 0;
    at(doc, "/wan/0/weight") = 0;
    auto e = validate(doc);
    CHECK(e.size() == 2);
  }
}

TEST_CASE("a key holding '.' maps to the right pointer") {
  auto doc = example_doc();
  at(doc, "/wan/0/name") = "w.1";
  at(doc, "/wan/0/tunnel_interface") = "cats-w1";
  auto& ports = at(doc, "/vcpe/1/ports").as_object();
  ports.erase("wan1");
  at(doc, "/vcpe/0/ports").as_object().erase("wan1");
  at(doc, "/vcpe/0/ports").as_object()["w.1"] = 51811;
  ports["w.1"] = 70000;
  CHECK(has(validate(doc), "/vcpe/1/ports/w.1", "must be in 1..65535"));
  CHECK(pointer_for("a/b~c", json::object{}) == "/a~1b~0c");
}

// The same mistake in the TOML file and in the JSON document: the same field, the same reason.
TEST_CASE("TOML and JSON give the same errors for the same mistakes") {
  struct Case {
    const char* from;  // in docs/examples/cpe.toml
    const char* to;
    std::function<void(json::value&)> edit;
  };
  std::vector<Case> cases{
      {"interval_ms = 50 ", "interval_ms = 5 ", [](json::value& d) { at(d, "/probing/interval_ms") = 5; }},
      {"port = 862", "port = \"x\"", [](json::value& d) { at(d, "/probing/port") = "x"; }},
      {"hold_down = 5", "hold_down = 5\nbogus = 1", [](json::value& d) { d.at("probing").as_object()["bogus"] = 1; }},
      {"gateway = \"192.0.2.5\"", "gateway = \"not-an-ip\"", [](json::value& d) { at(d, "/wan/1/gateway") = "not-an-ip"; }},
      {"name = \"cloud2\"", "name = \"cloud1\"", [](json::value& d) { at(d, "/vcpe/1/name") = "cloud1"; }},
      {"vcpe = \"cloud2\"", "vcpe = \"cloud9\"", [](json::value& d) { at(d, "/service/0/instance/1/vcpe") = "cloud9"; }},
      {"ports = [80, 443]", "ports = [80, 80]", [](json::value& d) { at(d, "/service/0/ports/1") = 80; }},
      {"max_loss_pct = 2", "max_loss_pct = 200", [](json::value& d) { at(d, "/service/0/sla/max_loss_pct") = 200; }},
      // An instance's load source (sent in the sampling plan): http://IP, behind its vCPE,
      // a known preset, nothing but url and preset.
      {"load_url = \"http://10.2.2.10:8081/load\"", "load_url = \"http://10.9.9.9:8081/load\"",
       [](json::value& d) { at(d, "/service/0/instance/1/load_url") = "http://10.9.9.9:8081/load"; }},
      {"load_url = \"http://10.2.2.10:8081/load\"", "load_url = \"https://10.2.2.10/load\"",
       [](json::value& d) { at(d, "/service/0/instance/1/load_url") = "https://10.2.2.10/load"; }},
      {"preset = \"node_exporter\"", "preset = \"nope\"",
       [](json::value& d) { at(d, "/service/0/instance/1/prometheus/0/preset") = "nope"; }},
      {"url = \"http://10.2.2.10:9100/metrics\"", "url = \"http://10.2.1.10:9100/metrics\"",
       [](json::value& d) { at(d, "/service/0/instance/1/prometheus/0/url") = "http://10.2.1.10:9100/metrics"; }},
      {"preset = \"node_exporter\"", "preset = \"node_exporter\"\nmap = 1",
       [](json::value& d) { at(d, "/service/0/instance/1/prometheus/0").as_object()["map"] = 1; }},
  };
  auto base = example_toml();
  for (auto& c : cases) {
    auto text = base;
    auto pos = text.find(c.from);
    REQUIRE(pos != std::string::npos);
    text.replace(pos, std::string(c.from).size(), c.to);
    auto toml = cats::config::check_cpe(text, "cpe.toml");
    REQUIRE_FALSE(toml.problems.empty());
    auto doc = example_doc();
    c.edit(doc);
    auto js = validate(doc);
    INFO(c.to << "\nTOML:\n" << cats::config::format_problem("cpe.toml", toml.problems[0]) << "\nJSON:\n" << dump(js));
    REQUIRE(js.size() == toml.problems.size());
    for (size_t i = 0; i < js.size(); ++i) {
      CHECK(js[i].field == pointer_for(toml.problems[i].field, doc));
      CHECK(js[i].message == toml.problems[i].reason);
    }
  }
}

TEST_CASE("the structured errors and parse_cpe's text agree") {
  auto text = example_toml();
  text.replace(text.find("weight = 1"), 10, "weight = 0");
  auto check = cats::config::check_cpe(text, "f.toml");
  REQUIRE(check.problems.size() == 1);
  CHECK(check.problems[0].field == "wan[0].weight");
  CHECK(check.problems[0].line == 38);
  auto r = cats::config::parse_cpe(text, "f.toml");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "f.toml:38:10: wan[0].weight: must be in 1..100");
  auto syntax = cats::config::parse_cpe("a = ", "s.toml");
  REQUIRE_FALSE(syntax);
  CHECK(syntax.error().message.rfind("s.toml:1:", 0) == 0);
}

TEST_CASE("JSON-only rules") {
  auto doc = example_doc();
  SECTION("null") {
    at(doc, "/lan/address") = nullptr;
    CHECK(has(validate(doc), "/lan/address", "null is not allowed"));
  }
  SECTION("integer beyond int64") {
    auto d = parse_document(R"({"probing":{"port":18446744073709551615}})");
    REQUIRE(d);
    CHECK(has(validate(*d), "/probing/port", "integer out of range"));
  }
  SECTION("non-finite number") {
    at(doc, "/selection/hysteresis_pct") = std::numeric_limits<double>::infinity();
    CHECK(has(validate(doc), "/selection/hysteresis_pct", "finite"));
  }
  SECTION("a huge literal") {
    auto d = parse_document(R"({"selection":{"hysteresis_pct":1e400}})");
    if (d) CHECK_FALSE(validate(*d).empty());
    else CHECK_FALSE(d.error().empty());
  }
  SECTION("integral floats are integers, others are floats") {
    at(doc, "/probing/port") = 862.0;
    CHECK(validate(doc).empty());
    at(doc, "/probing/port") = 862.5;
    CHECK(has(validate(doc), "/probing/port", "must be an integer"));
  }
  SECTION("not an object") {
    auto d = parse_document("[1]");
    REQUIRE_FALSE(d);
    CHECK(d.error()[0].message.find("JSON object") != std::string::npos);
  }
}

TEST_CASE("parse_document: duplicate keys, depth, size, syntax") {
  auto dup = parse_document(R"({"wan":[{"name":"a"},{"name":"b","name":"c"}],"lan":{}})");
  REQUIRE_FALSE(dup);
  REQUIRE(dup.error().size() == 1);
  CHECK(dup.error()[0].field == "/wan/1/name");
  CHECK(dup.error()[0].message == "duplicate key 'name'");
  CHECK_FALSE(parse_document(R"({"a":1,"a":1})"));
  CHECK(parse_document(R"({"a":{"x":1},"b":{"x":1}})"));  // equal keys in different objects

  std::string deep(33, '[');
  deep = "{\"a\":" + deep + std::string(33, ']') + "}";
  auto d = parse_document(deep);
  REQUIRE_FALSE(d);
  CHECK(d.error()[0].message.find("nested deeper than 32") != std::string::npos);
  std::string very(10000, '[');
  CHECK_FALSE(parse_document("{\"a\":" + very));

  std::string big = "{\"a\":\"" + std::string(kMaxDocumentBytes, 'x') + "\"}";
  auto b = parse_document(big);
  REQUIRE_FALSE(b);
  CHECK(b.error()[0].message.find("1 MiB") != std::string::npos);

  auto bad = parse_document("{\"a\":");
  REQUIRE_FALSE(bad);
  CHECK(bad.error()[0].message.find("invalid JSON") != std::string::npos);
}

TEST_CASE("canonical text: sorted keys, integers, shortest floats, idempotent") {
  auto v = json::parse(R"({"b":[1,2.5,3.0,"x\n"],"a":{"z":true,"y":null},"c":1e-7})");
  CHECK(canonical(v) == R"({"a":{"y":null,"z":true},"b":[1,2.5,3,"x\n"],"c":1e-07})");
  CHECK(canonical(json::parse(canonical(v))) == canonical(v));
  auto doc = example_doc();
  CHECK(canonical(json::parse(pretty(doc))) == canonical(doc));
}

TEST_CASE("redaction and restoring secrets") {
  auto doc = example_doc();
  at(doc, "/probing").as_object()["auth_key"] = kAuthKey;
  CHECK(validate(doc).empty());
  auto r = redact(doc);
  CHECK(at(r, "/probing/auth_key") == "<redacted>");
  CHECK(canonical(r).find(kAuthKey) == std::string::npos);
  restore_secrets(r, doc);
  CHECK(canonical(r) == canonical(doc));
  // A redacted secret where the current document has none is dropped, not stored.
  auto plain = example_doc();
  auto r2 = redact(doc);
  restore_secrets(r2, plain);
  CHECK_FALSE(at(r2, "/probing").as_object().contains("auth_key"));
  // A redacted value left in place would fail validation anyway (not base64 of a key).
  CHECK(has(validate(redact(doc)), "/probing/auth_key", "base64"));
}
