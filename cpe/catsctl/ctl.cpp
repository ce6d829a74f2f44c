#include "ctl.hpp"

#include "accounts.hpp"
#include "config_cmd.hpp"
#include "api/api.hpp"
#include "api/https.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <ostream>

namespace cats::ctl {

namespace json = boost::json;

namespace {

const json::value* field(const json::object& o, std::string_view key) { return o.if_contains(key); }

std::string str_field(const json::object& o, std::string_view key) {
  const json::value* v = field(o, key);
  return v ? fmt_text(*v) : "-";
}

double number_of(const json::value& v) {
  if (v.is_double()) return v.get_double();
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return std::nan("");
}

std::string pad(const std::string& s, size_t width, bool right) {
  if (s.size() >= width) return s;
  std::string fill(width - s.size(), ' ');
  return right ? fill + s : s + fill;
}

double unix_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string fmt_text(const json::value& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) {
    std::string s(v.get_string());
    return s.empty() ? "-" : s;
  }
  if (v.is_bool()) return v.get_bool() ? "yes" : "no";
  return json::serialize(v);
}

std::string fmt_bytes(const json::value& v) {
  double n = number_of(v);
  if (std::isnan(n) || n < 0) return "-";
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  size_t u = 0;
  while (n >= 1024 && u + 1 < std::size(units)) {
    n /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%.0f B", n);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", n, units[u]);
  }
  return buf;
}

std::string fmt_ago(const json::value& unix_seconds, double now) {
  double t = number_of(unix_seconds);
  // WireGuard reports 0 for "no handshake yet".
  if (std::isnan(t) || t <= 0) return "never";
  auto s = static_cast<long long>(std::max(0.0, now - t));  // clock skew: never negative
  long long d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60, sec = s % 60;
  std::string out;
  if (d > 0) {
    out = std::to_string(d) + "d" + std::to_string(h) + "h";
  } else if (h > 0) {
    out = std::to_string(h) + "h" + std::to_string(m) + "m";
  } else if (m > 0) {
    out = std::to_string(m) + "m" + std::to_string(sec) + "s";
  } else {
    out = std::to_string(sec) + "s";
  }
  return out + " ago";
}

Column col(std::string header, std::string key, std::function<std::string(const json::value&)> fmt,
           bool right_align) {
  if (!fmt) fmt = fmt_text;
  return Column{std::move(header),
                [key = std::move(key), fmt = std::move(fmt)](const json::object& row) {
                  const json::value* v = field(row, key);
                  return v ? fmt(*v) : std::string("-");
                },
                right_align};
}

std::string render_table(const json::array& rows, const std::vector<Column>& columns) {
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> width;
  std::vector<std::string> header;
  for (const auto& c : columns) {
    header.push_back(c.header);
    width.push_back(c.header.size());
  }
  cells.push_back(std::move(header));
  for (const auto& r : rows) {
    if (!r.is_object()) continue;
    std::vector<std::string> line;
    for (size_t i = 0; i < columns.size(); ++i) {
      line.push_back(columns[i].cell(r.get_object()));
      width[i] = std::max(width[i], line.back().size());
    }
    cells.push_back(std::move(line));
  }
  std::string out;
  for (const auto& line : cells) {
    std::string text;
    for (size_t i = 0; i < line.size(); ++i) {
      if (i > 0) text += "  ";
      text += pad(line[i], width[i], columns[i].right_align);
    }
    text.erase(text.find_last_not_of(' ') + 1);
    out += text + "\n";
  }
  return out;
}

// One flat row per (tunnel, peer), so the generic table can show them; a tunnel without
// peers still gets a row so it is visible.
static json::array flatten_status(const json::object& status) {
  json::array rows;
  const json::value* tunnels = field(status, "tunnels");
  if (!tunnels || !tunnels->is_array()) return rows;
  for (const auto& t : tunnels->get_array()) {
    if (!t.is_object()) continue;
    const auto& tun = t.get_object();
    json::object base{{"interface", tun.contains("interface") ? tun.at("interface") : nullptr},
                      {"wan", tun.contains("wan") ? tun.at("wan") : nullptr}};
    const json::value* peers = field(tun, "peers");
    bool any = false;
    if (peers && peers->is_array()) {
      for (const auto& p : peers->get_array()) {
        if (!p.is_object()) continue;
        json::object row = base;
        for (const auto& kv : p.get_object()) row[kv.key()] = kv.value();
        rows.push_back(std::move(row));
        any = true;
      }
    }
    if (!any) rows.push_back(std::move(base));
  }
  return rows;
}

std::string render_status(const json::value& status, double now) {
  if (!status.is_object()) return "unexpected status reply (not a JSON object)\n";
  const auto& o = status.as_object();
  std::string out = "role: " + str_field(o, "role") + "  name: " + str_field(o, "name") +
                    "  backend: " + str_field(o, "backend") + "\n";
  // Compare with the browser's certificate warning on first contact (self-signed).
  if (o.if_contains("tls_fingerprint_sha256")) out += "https certificate SHA-256: " + str_field(o, "tls_fingerprint_sha256") + "\n";
  json::array rows = flatten_status(o);
  if (rows.empty()) return out + "no tunnels\n";
  auto ago = [now](const json::value& v) { return fmt_ago(v, now); };
  std::vector<Column> columns{
      col("TUNNEL", "interface"), col("WAN", "wan"),        col("PEER", "name"),
      col("ENDPOINT", "endpoint"), col("HANDSHAKE", "last_handshake", ago),
      col("RX", "rx_bytes", fmt_bytes, true), col("TX", "tx_bytes", fmt_bytes, true)};
  return out + "\n" + render_table(rows, columns);
}

namespace {
// A number rendered with a printf format after scaling; "-" when it is null or missing.
std::string fmt_number(const json::value& v, const char* format, double scale) {
  double n = number_of(v);
  if (std::isnan(n)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, format, n * scale);
  return buf;
}
}  // namespace

std::string fmt_ms(const json::value& v) { return fmt_number(v, "%.1f ms", 1); }
std::string fmt_pct(const json::value& v) { return fmt_number(v, "%.1f%%", 1); }
std::string fmt_ratio_pct(const json::value& v) { return fmt_number(v, "%.0f%%", 100); }

std::string fmt_count(const json::value& v) {
  if (std::isnan(number_of(v))) return fmt_text(v);
  return fmt_number(v, "%g", 1);
}

static std::string list_or(const json::value& body, const std::vector<Column>& columns, const char* empty) {
  if (!body.is_array()) return "unexpected reply (not a JSON list)\n";
  if (body.get_array().empty()) return std::string(empty) + "\n";
  return render_table(body.get_array(), columns);
}

std::string render_paths(const json::value& body, double) {
  // HELD: how much longer flap damping keeps the path down although its probes say up.
  auto held = [](const json::value& v) {
    return v.is_null() ? std::string("-") : fmt_number(v, "%.1f s", 0.001);
  };
  return list_or(body,
                 {col("WAN", "wan"), col("VCPE", "vcpe"), col("RTT", "rtt_ms", fmt_ms, true),
                  col("JITTER", "jitter_ms", fmt_ms, true), col("LOSS", "loss_pct", fmt_pct, true),
                  col("STATE", "state"), col("PROBES", "probe_state"), col("FLAPS", "flaps", fmt_count, true),
                  col("PENALTY", "penalty", fmt_count, true), col("HELD", "held_ms", held, true)},
                 "no paths");
}

std::string render_instances(const json::value& body, double) {
  if (!body.is_array()) return "unexpected reply (not a JSON list)\n";
  // The instance's own figures: "SERVICE TIME" as "60.0 ms learned" / "5.0 ms configured"
  // ("-" when it gave none: the CPE prices it with the service's constant), "LAST DELAY"
  // as "61.0 ms 20s ago" (the last measured delay, however old).
  json::array rows;
  for (const auto& v : body.get_array()) {
    if (!v.is_object()) continue;
    json::object row = v.get_object();
    auto get = [&](const char* k) -> json::value {
      const json::value* f = field(row, k);
      return f ? *f : json::value(nullptr);
    };
    std::string st = fmt_ms(get("service_time_ms"));
    if (st != "-") {
      const std::string src = fmt_text(get("service_time_source"));
      st += src == "nominal" ? " configured" : src == "estimated" ? " learned" : " " + src;
    }
    std::string last = fmt_ms(get("last_processing_delay_ms"));
    const double age_ms = number_of(get("last_processing_delay_age_ms"));
    // fmt_ago counts from a unix time to `now`; an age is the same difference from 1 s.
    if (last != "-" && !std::isnan(age_ms)) last += " " + fmt_ago(json::value(1.0), 1.0 + age_ms / 1000.0);
    row["service_time_text"] = st;
    row["last_delay_text"] = last;
    rows.push_back(std::move(row));
  }
  return list_or(rows,
                 {col("SERVICE", "service"), col("INSTANCE", "instance"), col("VCPE", "vcpe"),
                  col("VCPUS", "vcpus", fmt_count, true), col("UTIL", "utilization", fmt_ratio_pct, true),
                  col("DELAY", "processing_delay_ms", fmt_ms, true), col("SERVICE TIME", "service_time_text"),
                  col("LAST DELAY", "last_delay_text"), col("AVAILABLE", "available")},
                 "no instances");
}

std::string render_reports(const json::value& body, double) {
  if (!body.is_object()) return "unexpected reports reply (not a JSON object)\n";
  const auto& o = body.get_object();
  json::array counters;
  if (const json::value* c = field(o, "counters"); c && c->is_object())
    for (const auto& kv : c->get_object())
      counters.push_back(json::object{{"verdict", kv.key()}, {"count", kv.value()}});
  std::string out = render_table(counters, {col("VERDICT", "verdict"), col("COUNT", "count", {}, true)});
  const json::value* v = field(o, "vcpes");
  if (v && v->is_array() && !v->get_array().empty())
    out += "\n" + render_table(v->get_array(), {col("VCPE", "vcpe"), col("ADDRESS", "address"),
                                                 col("LAST SEQ", "last_seq", {}, true)});
  return out;
}

std::string render_events(const json::value& body, double now) {
  auto ago = [now](const json::value& ms) {
    double t = number_of(ms);
    return std::isnan(t) ? std::string("-") : fmt_ago(json::value(t / 1000.0), now);
  };
  return list_or(body, {col("WHEN", "ts_ms", ago), col("KIND", "kind"), col("SUBJECT", "subject"), col("DETAIL", "detail")},
                 "no events");
}

std::string render_services(const json::value& body, double) {
  if (!body.is_array()) return "unexpected reply (not a JSON list)\n";
  // One row per service; its instances as "vcpe:instance=weight".
  json::array rows;
  for (const auto& v : body.get_array()) {
    if (!v.is_object()) continue;
    json::object row = v.get_object();
    std::string ports, inst;
    if (const json::value* p = field(row, "ports"); p && p->is_array())
      for (const auto& x : p->get_array()) ports += (ports.empty() ? "" : ",") + fmt_text(x);
    if (const json::value* is = field(row, "instances"); is && is->is_array())
      for (const auto& x : is->get_array()) {
        if (!x.is_object()) continue;
        const auto& o = x.get_object();
        auto get = [&](const char* k) { const json::value* f = field(o, k); return f ? fmt_text(*f) : std::string("-"); };
        inst += (inst.empty() ? "" : " ") + get("vcpe") + ":" + get("instance") + "=" + get("weight");
      }
    row["ports_text"] = ports;
    row["instances_text"] = inst;
    rows.push_back(std::move(row));
  }
  return list_or(rows,
                 {col("SERVICE", "id"), col("VIP", "vip"), col("PROTO", "protocol"), col("PORTS", "ports_text"),
                  col("AFFINITY", "affinity"), col("OUTCOME", "outcome"), col("INSTANCES (WEIGHT/1000)", "instances_text")},
                 "no services");
}

std::string render_decisions(const json::value& body, double) {
  return list_or(body,
                 {col("SERVICE", "service"), col("INSTANCE", "instance"), col("VCPE", "vcpe"), col("WAN", "wan"),
                  col("WEIGHT", "weight", {}, true), col("COST", "cost_ms", fmt_ms, true),
                  col("NETWORK", "network_ms", fmt_ms, true), col("COMPUTE", "compute_ms", fmt_ms, true),
                  col("HEALTH", "health"), col("REASON", "reason")},
                 "no decisions (no services configured)");
}

std::string render_plans(const json::value& body, double) {
  if (!body.is_object()) return "unexpected plans reply (not a JSON object)\n";
  const json::value* v = field(body.get_object(), "vcpes");
  if (!v || !v->is_array()) return "unexpected plans reply (no vcpes list)\n";
  // One row per vCPE: "in_sync" / "pending" with how long, and what it refused.
  json::array rows;
  for (const auto& x : v->get_array()) {
    if (!x.is_object()) continue;
    json::object row = x.get_object();
    std::string refused;
    if (const json::value* r = field(row, "refused"); r && r->is_array())
      for (const auto& f : r->get_array()) {
        if (!f.is_object()) continue;
        const auto& o = f.get_object();
        auto get = [&](const char* k) { const json::value* g = field(o, k); return g ? fmt_text(*g) : std::string("-"); };
        refused += (refused.empty() ? "" : " ") + get("service") + "/" + get("instance") + ":" + get("reason");
      }
    size_t n = 0;
    if (const json::value* i = field(row, "instances"); i && i->is_array()) n = i->get_array().size();
    row["entries"] = n;
    row["since_text"] = fmt_number(*field(row, "since_ms"), "%.1f s", 0.001);
    row["refused_text"] = refused.empty() ? "-" : refused;
    rows.push_back(std::move(row));
  }
  return list_or(rows,
                 {col("VCPE", "vcpe"), col("STATE", "state"), col("SINCE", "since_text", {}, true),
                  col("REVISION", "revision", {}, true), col("ENTRIES", "entries", {}, true),
                  col("APPLIED", "applied", {}, true), col("REFUSED", "refused_text")},
                 "no vCPEs");
}

std::string render_setup_url(const json::value& body, double) {
  if (!body.is_object()) return "unexpected reply (not a JSON object)\n";
  const auto& o = body.as_object();
  const json::value* url = o.if_contains("url");
  if (url && url->is_string())
    return "open " + std::string(url->get_string()) + "\nto set the first admin's password (the link works once)\n";
  return "HTTPS is off ([management] listen): add the first admin with the local API instead\n";
}

const std::vector<Command>& commands() {
  static const std::vector<Command> table{
      {"status", "GET", "/api/v1/status", "role, tunnels and peers", render_status},
      {"paths", "GET", "/api/v1/paths", "probed WAN x vCPE paths: RTT, jitter, loss, state, flap damping", render_paths},
      {"instances", "GET", "/api/v1/instances", "service instances reported by the vCPEs", render_instances},
      {"reports", "GET", "/api/v1/reports", "report collector counters and last sequence per vCPE", render_reports},
      // The newest 1000 (the API's default is the oldest: a range reads forward).
      {"events", "GET", "/api/v1/events?newest=1", "recent events (paths, instances, weights, rejected reports)",
       render_events},
      {"services", "GET", "/api/v1/services", "configured services: VIP, affinity, outcome, weight per instance", render_services},
      {"decisions", "GET", "/api/v1/decisions", "per service x instance x WAN: weight, cost and why", render_decisions},
      {"plans", "GET", "/api/v1/plans", "per vCPE: the sampling plan sent, in sync or pending, refused entries",
       render_plans},
      {"setup-url", "GET", "/api/v1/setup-url", "the one-time link that sets the first admin (while there is none)",
       render_setup_url},
  };
  return table;
}

void usage(std::ostream& os) {
  os << "usage: catsctl [--socket PATH | --url https://HOST:PORT --pin SHA256 [--token-file F]] [--json] COMMAND\n\n"
     << "  --socket PATH  control socket (default $CATS_SOCKET, else " << kDefaultSocket << ")\n"
     << "  --url URL      the HTTPS API instead (default $CATS_URL); needs the certificate's\n"
     << "                 SHA-256 (--pin or $CATS_PIN, as `catsctl status` shows it on the box)\n"
     << "                 and an API token (--token-file or $CATS_TOKEN)\n"
     << "  --json         print the API's JSON reply as is\n\ncommands:\n";
  for (const auto& c : commands()) os << "  " << pad(c.name, 12, false) << " " << c.help << "\n";
  os << accounts_usage() << config_usage();
}

namespace {

// "--name VALUE" or "--name=VALUE" at args[i]; advances i past the value.
std::optional<std::string> option_value(const std::vector<std::string>& args, size_t& i, const std::string& name,
                                        bool& missing) {
  const std::string& a = args[i];
  if (a == name) {
    if (i + 1 >= args.size()) {
      missing = true;
      return std::nullopt;
    }
    return args[++i];
  }
  if (a.rfind(name + "=", 0) == 0) return a.substr(name.size() + 1);
  return std::nullopt;
}

}  // namespace

std::optional<int> parse_args(const std::vector<std::string>& args, Options& opt, std::ostream& out,
                              std::ostream& err) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool missing = false;
    if (!opt.command.empty() && a != "--json" && a.rfind("--socket", 0) != 0 && a.rfind("--url", 0) != 0 &&
        a.rfind("--pin", 0) != 0 && a.rfind("--token-file", 0) != 0) {
      opt.rest.push_back(a);  // the command's own arguments (global options may follow it too)
      continue;
    }
    if (a == "-h" || a == "--help" || a == "help") {
      usage(out);
      return kOk;
    } else if (a == "--json") {
      opt.json = true;
    } else if (auto v = option_value(args, i, "--socket", missing)) {
      opt.socket = *v;
    } else if (auto u = option_value(args, i, "--url", missing)) {
      opt.url = *u;
    } else if (auto pn = option_value(args, i, "--pin", missing)) {
      opt.pin = *pn;
    } else if (auto tf = option_value(args, i, "--token-file", missing)) {
      opt.token_file = *tf;
    } else if (missing) {
      err << "catsctl: " << a << " needs a value\n";
      return kUsage;
    } else if (!a.empty() && a[0] == '-') {
      err << "catsctl: unknown option " << a << "\n";
      usage(err);
      return kUsage;
    } else {
      opt.command = a;
    }
  }
  if (opt.command.empty()) {
    usage(err);
    return kUsage;
  }
  if (opt.socket.empty() && opt.url.empty()) {
    err << "catsctl: empty socket path\n";
    return kUsage;
  }
  return std::nullopt;
}

namespace {

// https://HOST[:PORT] (IPv6 in brackets), nothing after.
Result<api::HttpsTarget> parse_url(const std::string& url) {
  const std::string scheme = "https://";
  if (url.rfind(scheme, 0) != 0) return Error::msg("--url must start with https://");
  std::string rest = url.substr(scheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find('/') != std::string::npos) return Error::msg("--url is https://HOST[:PORT], no path");
  api::HttpsTarget t;
  size_t colon = rest.rfind(':');
  if (rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) return Error::msg("--url: unclosed [");
    t.host = rest.substr(1, close - 1);
    colon = close + 1 < rest.size() && rest[close + 1] == ':' ? close + 1 : std::string::npos;
  } else {
    t.host = rest.substr(0, colon);
  }
  if (colon != std::string::npos) {
    const std::string port = rest.substr(colon + 1);
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || p < 1 || p > 65535) return Error::msg("--url: bad port '" + port + "'");
    t.port = static_cast<uint16_t>(p);
  }
  return t;
}

std::string first_line_of(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

// The one request of this run, over the socket or HTTPS (with the pin and the token).
Result<api::ClientResponse> send(const Options& o, const std::string& method, const std::string& target,
                                 const std::string& body,
                                 std::vector<std::pair<std::string, std::string>> extra = {}) {
  // A configuration change waits for its live apply (overlay and services).
  constexpr auto kTimeout = std::chrono::seconds(35);
  if (o.url.empty()) return api::unix_request(o.socket, method, target, body, extra, kTimeout);
  CATS_TRY_ASSIGN(to, parse_url(o.url));
  if (o.pin.empty()) return Error::msg("--url needs --pin SHA256 (or $CATS_PIN): `catsctl status` on the box shows it");
  to.pin_sha256 = o.pin;
  std::string token = !o.token_file.empty() ? first_line_of(o.token_file) : std::string();
  if (token.empty())
    if (const char* t = std::getenv("CATS_TOKEN")) token = t;
  if (token.empty()) return Error::msg("--url needs an API token: --token-file F or $CATS_TOKEN (`catsctl token add`)");
  std::vector<std::pair<std::string, std::string>> headers{{"Authorization", "Bearer " + token}};
  if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
  for (auto& h : extra) headers.push_back(std::move(h));
  return api::https_request(to, method, target, body, headers, kTimeout);
}

std::string error_message(const api::ClientResponse& r) {
  json::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (!ec && v.is_object()) {
    // {"error": {"code", "message", "fields": [{"field", "message"}]}} (docs/API.md)
    if (const json::value* e = v.as_object().if_contains("error"); e && e->is_object()) {
      const json::value* m = e->as_object().if_contains("message");
      std::string out = m && m->is_string() ? std::string(m->get_string()) : std::string("(no message)");
      if (const json::value* fs = e->as_object().if_contains("fields"); fs && fs->is_array())
        for (const auto& f : fs->get_array())
          if (f.is_object() && f.as_object().if_contains("field") && f.at("field").is_string() &&
              f.as_object().if_contains("message") && f.at("message").is_string())
            out += std::string("\n  ") + std::string(f.at("field").get_string()) + ": " +
                   std::string(f.at("message").get_string());
      return out;
    }
  }
  std::string body = r.body.substr(0, 200);
  return body.empty() ? "(no message)" : body;
}

}  // namespace

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, const char* env_socket) {
  return run(args, out, err, env_socket, std::cin);
}

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, const char* env_socket,
        std::istream& in) {
  Options opt;
  opt.socket = env_socket && *env_socket ? env_socket : kDefaultSocket;
  if (const char* u = std::getenv("CATS_URL")) opt.url = u;
  if (const char* p = std::getenv("CATS_PIN")) opt.pin = p;
  if (auto code = parse_args(args, opt, out, err)) return *code;

  Call call;
  std::string name = opt.command;
  auto it = std::find_if(commands().begin(), commands().end(),
                         [&](const Command& c) { return c.name == opt.command; });
  if (it != commands().end() && opt.rest.empty()) {
    call = Call{it->method, it->target, {}, [r = it->render](const json::value& v) { return r(v, unix_now()); }};
  } else if (is_accounts_command(opt.command)) {
    auto c = accounts_call(opt.command, opt.rest, in, static_cast<int64_t>(unix_now() * 1000));
    if (!c) {
      err << "catsctl: " << c.error().message << "\n";
      return kUsage;
    }
    call = std::move(*c);
    name += opt.rest.empty() ? "" : " " + opt.rest.front();
  } else if (opt.command == "config") {
    auto c = config_call(opt.rest, in);
    if (!c) {
      err << "catsctl: " << c.error().message << "\n";
      return kUsage;
    }
    call = std::move(*c);
    name += opt.rest.empty() ? "" : " " + opt.rest.front();
  } else {
    err << "catsctl: " << (it == commands().end() ? "unknown command " + opt.command
                                                   : opt.command + " takes no arguments") << "\n";
    usage(err);
    return kUsage;
  }

  if (call.with_current) {
    // Made against the revision just read: If-Match its ETag (a change in between is a 409).
    auto cur = send(opt, "GET", "/api/v1/config", {});
    if (!cur) {
      err << "catsctl: " << cur.error().message << "\n";
      return kNoConnection;
    }
    json::error_code ec;
    json::value doc = json::parse(cur->body, ec);
    if (cur->status != 200 || ec || cur->header("ETag").empty()) {
      err << "catsctl: " << name << ": reading the configuration: " << cur->status << ": " << error_message(*cur) << "\n";
      return kApiError;
    }
    call.headers.emplace_back("If-Match", cur->header("ETag"));
    if (auto st = call.with_current(call, doc); !st) {
      err << "catsctl: " << name << ": " << st.error().message << "\n";
      return kUsage;
    }
  }
  auto reply = send(opt, call.method, call.target, call.body, call.headers);
  if (!reply) {
    err << "catsctl: " << reply.error().message << "\n";
    return kNoConnection;
  }
  if (reply->status < 200 || reply->status >= 300) {
    err << "catsctl: " << name << ": server error " << reply->status << ": " << error_message(*reply) << "\n";
    return kApiError;
  }
  if (opt.json || call.raw) {
    out << reply->body;
    if (reply->body.empty() || reply->body.back() != '\n') out << "\n";
    return kOk;
  }
  json::error_code ec;
  json::value body = json::parse(reply->body, ec);
  if (ec) {
    err << "catsctl: " << name << ": reply is not JSON: " << ec.message() << "\n";
    return kApiError;
  }
  out << call.render(body);
  return kOk;
}

}  // namespace cats::ctl
