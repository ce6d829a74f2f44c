#include "configdb/schema.hpp"

#include "sampler/prom_map.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <initializer_list>
#include <string>
#include <utility>

namespace cats::configdb {

namespace json = boost::json;

namespace {

// Small builders so that the schema below reads like the table in docs/CONFIG.md.
json::object integer(int64_t lo, int64_t hi, const char* description = nullptr) {
  json::object o{{"type", "integer"}, {"minimum", lo}, {"maximum", hi}};
  if (description) o["description"] = description;
  return o;
}
json::object number(double lo, double hi, bool lo_open = false) {
  json::object o{{"type", "number"}, {"maximum", hi}};
  o[lo_open ? "exclusiveMinimum" : "minimum"] = lo;
  return o;
}
json::object string(int64_t max_len, const char* description = nullptr) {
  json::object o{{"type", "string"}, {"minLength", 1}, {"maxLength", max_len}};
  if (description) o["description"] = description;
  return o;
}
json::object ifname() { return string(15, "Linux interface name (no '/', ':' or white space)"); }
json::object address() { return string(64, "IPv4 or IPv6 address"); }
json::object endpoint() { return string(64, "ip:port ([v6]:port)"); }
json::object enumeration(std::initializer_list<const char*> names) {
  json::array a;
  for (auto* n : names) a.emplace_back(n);
  return {{"type", "string"}, {"enum", std::move(a)}};
}
json::object list(json::object items, int64_t min_items, int64_t max_items) {
  return {{"type", "array"}, {"items", std::move(items)}, {"minItems", min_items}, {"maxItems", max_items}};
}
json::object prefixes(int64_t min_items) { return list(string(64, "prefix, host bits clear (10.1.0.0/24)"), min_items, 256); }

using Props = std::initializer_list<std::pair<const char*, json::object>>;
// A closed object: unknown keys are errors, as in the TOML loader.
json::object section(Props props, std::initializer_list<const char*> required = {}) {
  json::object p;
  for (auto& [k, v] : props) p[k] = v;
  json::object o{{"type", "object"}, {"properties", std::move(p)}, {"additionalProperties", false}};
  if (required.size()) {
    json::array r;
    for (auto* k : required) r.emplace_back(k);
    o["required"] = std::move(r);
  }
  return o;
}

json::object build() {
  auto ms = [](int64_t lo, int64_t hi) { return integer(lo, hi); };
  auto port = integer(1, 65535);
  auto b64 = [](const char* what) { return string(512, what); };

  auto cpe = section({{"name", string(63)},
                      {"state_dir", string(4095)},
                      {"control_socket", string(107)},
                      {"wireguard", enumeration({"auto", "kernel", "userspace"})},
                      {"wireguard_go", string(4095)},
                      {"log_level", enumeration({"debug", "info", "warn", "error"})}},
                     {"name"});
  auto lan = section({{"interface", ifname()}, {"address", address()}, {"subnets", prefixes(1)}},
                     {"interface", "address", "subnets"});
  auto auth_key = b64("base64 of a 16..128-byte HMAC key (RFC 8762 authenticated mode); secret");
  auth_key["writeOnly"] = true;
  auto probing = section({{"port", port},
                          {"interval_ms", ms(10, 60000)},
                          {"timeout_ms", ms(10, 60000)},
                          {"min_timeout_ms", ms(10, 60000)},
                          {"down_after", integer(1, 100)},
                          {"hold_down", integer(1, 1000)},
                          {"flap_half_life_ms", ms(0, 3600000)},
                          {"flap_suppress", integer(1, 1000000)},
                          {"flap_reuse", integer(1, 1000000)},
                          {"flap_max_hold_ms", ms(1, 86400000)},
                          {"auth_key", auth_key}});
  auto reporting = section({{"port", port}, {"min_interval_ms", ms(100, 60000)}, {"max_interval_ms", ms(1000, 300000)}});
  auto store = section({{"path", string(4095)}});
  auto wan = section({{"name", string(32)},
                      {"interface", ifname()},
                      {"gateway", address()},
                      {"weight", integer(1, 100, "share of an instance's flows against its other near-best WANs (default 1)")},
                      {"cost", integer(0, 1000, "ms added to the cost of every path over this WAN (default 0)")},
                      {"tunnel_interface", ifname()},
                      {"listen_port", integer(0, 65535)}},
                     {"name", "interface", "gateway"});
  json::object ports{{"type", "object"},
                     {"description", "WAN name -> the vCPE's listen port for it; one per [[wan]]"},
                     {"additionalProperties", port}};
  auto vcpe = section({{"name", string(63)},
                       {"public_key", string(64, "WireGuard public key (base64, 44 characters)")},
                       {"report_key", b64("Ed25519 public key (base64 of 32 bytes)")},
                       {"endpoint", address()},
                       {"address", address()},
                       {"subnets", prefixes(0)},
                       {"keepalive", integer(0, 3600)},
                       {"ports", ports}},
                      {"name", "public_key", "report_key", "endpoint", "address", "subnets", "ports"});
  auto selection = section(
      {{"hysteresis_pct", number(0, 100)},
               {"hold_down_ms", ms(0, 600000)},
               {"deadband_sigmas", number(0, 10)},
               {"settle_mean_ms", ms(0, 60000)},
               {"low_priority_reserve_pct", number(0, 90)}});
  auto capability = string(32);
  capability["pattern"] = "^[a-z0-9_-]+$";
  auto sla = section({{"max_rtt_ms", number(0, 60000, true)},
                      {"max_jitter_ms", number(0, 60000)},
                      {"max_loss_pct", number(0, 100)},
                      {"max_e2e_ms", number(0, 60000, true)},
                      {"capability", capability},
                      {"min_free_capacity_pct", number(0, 100)},
                      {"min_gpu_memory_free_pct", number(0, 100)}});
  auto weights = section({{"network", number(0, 100)},
                          {"compute", number(0, 100)},
                          {"jitter", number(0, 100)},
                          {"loss", number(0, 100)}});
  // An instance's load source, sent to its vCPE in the sampling plan (docs/CONFIG.md).
  json::array presets;
  for (auto n : sampler::prom::preset_names()) presets.emplace_back(n);
  json::object preset{{"type", "string"}, {"enum", std::move(presets)}};
  auto http_url = string(255, "http://IP[:port]/path, the host behind the instance's vCPE");
  auto prom_source = section({{"url", http_url}, {"preset", preset}}, {"url", "preset"});
  auto instance = section({{"vcpe", string(63)},
                           {"address", endpoint()},
                           {"load_url", http_url},
                           {"prometheus", list(prom_source, 0, 4)}},
                          {"vcpe", "address"});
  auto id = string(24, "names nft maps");
  id["pattern"] = "^[a-z][a-z0-9_]*$";
  auto service_ports = list(port, 1, 64);
  service_ports["uniqueItems"] = true;
  auto service = section({{"id", id},
                          {"vip", address()},
                          {"protocol", enumeration({"tcp", "udp"})},
                          {"ports", service_ports},
                          {"affinity", enumeration({"flow", "sticky"})},
                          {"sticky_timeout_s", integer(1, 86400)},
                          {"on_no_candidate", enumeration({"reject", "best_effort"})},
                          {"service_time_ms", number(0, 60000, true)},
                          {"access_delay_ms", number(0, 10000)},
                          {"spread_pct", number(0, 100)},
                          {"spread_power", number(0, 8)},
                          {"priority", enumeration({"normal", "low"})},
                          {"sla", sla},
                          {"weights", weights},
                          {"instance", list(instance, 1, 64)}},
                         {"id", "vip", "ports", "instance"});
  auto management = section({{"listen", list(endpoint(), 0, 256)},
                             {"cert_file", string(4095)},
                             {"key_file", string(4095)},
                             {"allowed_hosts", list(string(255), 0, 256)},
                             {"metrics_allow", prefixes(0)},
                             {"session_idle_s", integer(60, 86400)},
                             {"session_max_s", integer(300, 30 * 86400)},
                             {"max_connections", integer(1, 4096)},
                             {"max_connections_per_client", integer(1, 4096)},
                             {"webui_dir", string(4095)}});

  auto firewall = section({{"wan_input", enumeration({"deny", "off"})}});

  auto root = section({{"cpe", cpe},
                       {"lan", lan},
                       {"probing", probing},
                       {"reporting", reporting},
                       {"store", store},
                       {"wan", list(wan, 1, 15)},
                       {"vcpe", list(vcpe, 1, 256)},
                       {"selection", selection},
                       {"service", list(service, 0, 256)},
                       {"management", management},
                       {"firewall", firewall}},
                      {"cpe", "lan", "wan", "vcpe"});
  root["$schema"] = "https://json-schema.org/draft/2020-12/schema";
  root["$id"] = "/api/v1/config/schema";
  root["title"] = "cats-cpe configuration";
  root["description"] =
      "The keys of cpe.toml (docs/CONFIG.md). The server's validator is the authority: it also checks "
      "addresses, cross-references and limits a schema cannot express.";
  return root;
}

}  // namespace

const json::value& schema() {
  static const json::value s = build();
  return s;
}

}  // namespace cats::configdb
