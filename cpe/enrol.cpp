#include "cpe/enrol.hpp"

#include "cpe/cloud_config.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <sstream>

namespace cats::cpe {

namespace json = boost::json;
using configdb::FieldErrors;

namespace {

constexpr uint16_t kFirstPort = 51811;  // the lab's and the docs' convention: 51811 + WAN index

const json::string* str(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  return v && v->is_string() ? &v->get_string() : nullptr;
}

std::string q(std::string_view s) { return json::serialize(json::value(json::string(s))); }  // TOML basic string

std::string tunnel_name(const std::string& cpe, const std::string& wan) {
  std::string n = "cats-" + cpe.substr(0, 4) + "-" + wan;  // ≤ 15 characters (IFNAMSIZ - 1)
  return n.substr(0, 15);
}

std::string indent(const std::string& text, const std::string& pad) {
  std::istringstream in(text);
  std::string out, line;
  while (std::getline(in, line)) out += pad + line + "\n";
  return out;
}

// The vCPE's name goes into the user-data's comment and its runcmd shell line, and names
// the vCPE on every console: letters, digits, '.', '_', '-' cannot end a YAML comment,
// close the quoted shell command or inject a line.
bool plain_name(std::string_view s) {
  if (s.empty() || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

// images/vcpe/cloud-config.yaml with its {{name}} and {{vcpe_toml}} filled in. The file
// is a YAML block scalar ("content: |"), six spaces in; its lines carry no YAML syntax of
// their own (TOML strings are quoted on one line).
std::string cloud_config(std::string_view name, const std::string& vcpe_toml) {
  std::string out(kCloudConfigTemplate);
  const std::string file = indent(vcpe_toml, "      ");
  auto replace = [&](std::string_view key, std::string_view value) {
    for (size_t at = out.find(key); at != std::string::npos; at = out.find(key, at + value.size()))
      out.replace(at, key.size(), value);
  };
  replace("{{vcpe_toml}}\n", file);  // the placeholder's own line becomes the file's lines
  replace("{{name}}", name);
  return out;
}

}  // namespace

Expected<Enrolment, FieldErrors> enrol(const config::CpeConfig& cpe, const CpeIdentity& id,
                                                    const json::value& request) {
  FieldErrors errs;
  if (!request.is_object()) return FieldErrors{{"", "the body must be a JSON object"}};
  const auto& r = request.as_object();
  static const char* const known[] = {"name", "endpoint", "address", "subnets", "ports", "keepalive",
                                      "lan_interface", "uplink_interface", "public_key", "report_key"};
  for (const auto& kv : r)
    if (std::find_if(std::begin(known), std::end(known), [&](const char* k) { return kv.key() == k; }) == std::end(known))
      errs.push_back({"/" + configdb::escape_token(kv.key()), "unknown field"});
  for (const char* k : {"name", "endpoint", "address"})
    if (!str(r, k)) errs.push_back({std::string("/") + k, "required, a string"});
  if (str(r, "name") && !plain_name(*str(r, "name")))
    errs.push_back({"/name", "letters, digits, '.', '_' and '-' only, starting with a letter or digit"});
  const auto* subnets = r.if_contains("subnets");
  if (!subnets || !subnets->is_array() || subnets->as_array().empty())
    errs.push_back({"/subnets", "required, a non-empty list of prefixes"});
  const bool has_pub = str(r, "public_key"), has_rep = str(r, "report_key");
  if (has_pub != has_rep) errs.push_back({has_pub ? "/report_key" : "/public_key", "give both keys or neither"});
  if (!errs.empty()) return errs;

  Enrolment e;
  e.has_keys = has_pub;
  json::object entry{{"name", *str(r, "name")}, {"endpoint", *str(r, "endpoint")}, {"address", *str(r, "address")},
                     {"subnets", *subnets}, {"keepalive", r.if_contains("keepalive") ? r.at("keepalive") : json::value(5)}};
  if (e.has_keys) {
    entry["public_key"] = *str(r, "public_key");
    entry["report_key"] = *str(r, "report_key");
  }
  json::object ports;
  const json::object* asked = r.if_contains("ports") && r.at("ports").is_object() ? &r.at("ports").as_object() : nullptr;
  if (r.if_contains("ports") && !asked) return FieldErrors{{"/ports", "an object {wan name: port}"}};
  for (size_t w = 0; w < cpe.wans.size(); ++w) {
    const auto& name = cpe.wans[w].name;
    const json::value* p = asked ? asked->if_contains(name) : nullptr;
    ports[name] = p ? *p : json::value(kFirstPort + w);
  }
  if (asked)
    for (const auto& kv : *asked)
      if (!ports.contains(kv.key())) errs.push_back({"/ports/" + configdb::escape_token(kv.key()), "no such WAN"});
  entry["ports"] = ports;
  e.entry = entry;

  // The vCPE's file: its own section, then this CPE with one path per WAN.
  std::ostringstream t;
  // The vCPE cloud image's NIC names (net.ifnames=0, docs/IMAGES.md "vCPE cloud image"):
  // eth0 its uplink, eth1 its LAN.
  const std::string lan_if = str(r, "lan_interface") ? std::string(*str(r, "lan_interface")) : "eth1";
  const std::string up_if = str(r, "uplink_interface") ? std::string(*str(r, "uplink_interface")) : "eth0";
  t << "# Written by cats-cpe " << q(cpe.daemon.name) << " for vCPE " << q(std::string(*str(r, "name"))) << ".\n"
    << "# Add an [[instance]] per application instance this vCPE fronts (docs/CONFIG.md).\n"
    << "[vcpe]\nname = " << q(std::string(*str(r, "name"))) << "\naddress = " << q(std::string(*str(r, "address")))
    << "\n\n[lan]\ninterface = " << q(lan_if) << "\nsubnets = " << json::serialize(*subnets)
    << "\n\n[uplink]\ninterface = " << q(up_if) << "\n\n[[cpe]]\nname = " << q(cpe.daemon.name)
    << "\npublic_key = " << q(id.wireguard_public_key) << "\nreport_key = " << q(id.report_public_key);
  if (cpe.lan.address) t << "\naddress = " << q(cpe.lan.address->to_string());
  json::array lan_subnets;
  for (const auto& p : cpe.lan.subnets) lan_subnets.push_back(json::value(p.to_string()));
  t << "\nsubnets = " << json::serialize(lan_subnets) << "\n";
  for (const auto& w : cpe.wans) {
    const auto& port = ports[w.name];
    t << "\n[[cpe.path]]\nwan = " << q(w.name) << "\nlisten_port = " << json::serialize(port)
      << "\ntunnel_interface = " << q(tunnel_name(cpe.daemon.name, w.name)) << "\n";
  }
  e.vcpe_toml = t.str();
  auto parsed = config::check_vcpe(e.vcpe_toml, "vcpe.toml");
  for (const auto& p : parsed.problems) {
    // Map the vCPE file's fields back to what the request named.
    std::string field = p.field == "vcpe.name" ? "/name" : p.field == "vcpe.address" ? "/address"
                      : p.field == "lan.subnets" ? "/subnets" : p.field == "lan.interface" ? "/lan_interface"
                      : p.field == "uplink.interface" ? "/uplink_interface"
                      : p.field.rfind("cpe[0].path", 0) == 0 ? "/ports" : "";
    errs.push_back({field, p.reason + (field.empty() ? " (vcpe.toml " + p.field + ")" : "")});
  }
  if (!errs.empty()) return errs;

  e.cloud_init = cloud_config(*str(r, "name"), e.vcpe_toml);
  return e;
}

}  // namespace cats::cpe
