#include "config_cmd.hpp"

#include "ctl.hpp"

#include <boost/json.hpp>

#include <fstream>
#include <iterator>
#include <sstream>

namespace cats::ctl {

namespace json = boost::json;

namespace {

constexpr size_t kMaxImportBytes = 1 << 20;  // the document's own limit

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// ?confirm_within=S&comment=C from the options.
std::string change_query(const Parsed& p) {
  std::string q;
  auto add = [&](const char* k, const std::string& v) { q += (q.empty() ? "?" : "&") + std::string(k) + "=" + url_encode(v); };
  if (auto it = p.opt.find("--confirm"); it != p.opt.end()) add("confirm_within", it->second);
  if (auto it = p.opt.find("--comment"); it != p.opt.end()) add("comment", it->second);
  return q;
}

std::string pretty(const json::value& v, int indent = 0) {
  std::string pad(static_cast<size_t>(indent), ' ');
  if (v.is_object()) {
    const auto& o = v.get_object();
    if (o.empty()) return "{}";
    std::string s = "{\n";
    size_t i = 0;
    for (const auto& kv : o) {
      s += pad + "  " + json::serialize(json::value(kv.key())) + ": " + pretty(kv.value(), indent + 2);
      s += ++i < o.size() ? ",\n" : "\n";
    }
    return s + pad + "}";
  }
  if (v.is_array()) {
    const auto& a = v.get_array();
    if (a.empty()) return "[]";
    std::string s = "[\n";
    for (size_t i = 0; i < a.size(); ++i) s += pad + "  " + pretty(a[i], indent + 2) + (i + 1 < a.size() ? ",\n" : "\n");
    return s + pad + "]";
  }
  return json::serialize(v);
}

std::string render_change(const json::value& v) {
  std::string s = "revision " + fmt_text(v.at("revision"));
  if (const auto* p = v.as_object().if_contains("pending"); p && p->is_object())
    s += " (pending: confirm with `catsctl config confirm " + fmt_text(p->at("revision")) + "` or it reverts to " +
         fmt_text(p->at("base")) + ")";
  return s + "\n";
}

Result<int64_t> revision_arg(const std::string& s) {
  try {
    size_t used = 0;
    long long v = std::stoll(s, &used);
    if (used == s.size() && v > 0) return static_cast<int64_t>(v);
  } catch (...) {
  }
  return Error::msg("'" + s + "' is not a revision number");
}

Call json_call(std::string method, std::string target, std::function<std::string(const json::value&)> render) {
  Call c;
  c.method = std::move(method);
  c.target = std::move(target);
  c.render = std::move(render);
  return c;
}

}  // namespace

std::string config_usage() {
  return "  config get [POINTER] | set POINTER JSON | del POINTER   [--confirm S] [--comment C]\n"
         "  config history [--limit N] | diff A B | revert N | confirm N\n"
         "  config export [--revision N] [--secrets] | import FILE|-\n";
}

Result<Call> config_call(const std::vector<std::string>& args, std::istream& in) {
  if (args.empty()) return Error::msg("config: which? get, set, del, history, diff, revert, confirm, export, import");
  const std::string sub = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  CATS_TRY_ASSIGN(p, parse_subcommand(rest, {"--confirm", "--comment", "--limit", "--revision"}, {"--secrets"}));

  if (sub == "get") {
    if (p.pos.size() > 1) return Error::msg("config get [POINTER]");
    const std::string ptr = p.pos.empty() ? "" : p.pos[0];
    return json_call("GET", "/api/v1/config", [ptr](const json::value& v) {
      boost::system::error_code ec;
      const json::value* at = ptr.empty() ? &v : v.find_pointer(ptr, ec);
      if (!at) return "no value at " + ptr + "\n";
      return pretty(*at) + "\n";
    });
  }
  if (sub == "set" || sub == "del") {
    const size_t want = sub == "set" ? 2 : 1;
    if (p.pos.size() != want) return Error::msg(sub == "set" ? "config set POINTER JSON" : "config del POINTER");
    const std::string ptr = p.pos[0];
    if (ptr.empty() || ptr[0] != '/') return Error::msg("POINTER is a JSON pointer such as /selection/hold_down_ms");
    std::optional<json::value> value;
    if (sub == "set") {
      boost::system::error_code ec;
      value = json::parse(p.pos[1], ec);
      // A bare word is a string: `config set /cpe/log_level debug`.
      if (ec) value = json::value(json::string(p.pos[1]));
    }
    Call c = json_call("PATCH", "/api/v1/config" + change_query(p), render_change);
    c.with_current = [ptr, value](Call& call, const json::value& current) -> Result<void> {
      boost::system::error_code ec;
      const bool exists = current.find_pointer(ptr, ec) != nullptr;
      json::object op{{"op", !value ? "remove" : exists ? "replace" : "add"}, {"path", ptr}};
      if (!value && !exists) return Error::msg("no value at " + ptr);
      if (value) op["value"] = *value;
      call.body = json::serialize(json::array{op});
      return {};
    };
    return c;
  }
  if (sub == "history") {
    std::string target = "/api/v1/config/revisions";
    if (auto it = p.opt.find("--limit"); it != p.opt.end()) target += "?limit=" + url_encode(it->second);
    return json_call("GET", target, [](const json::value& v) {
      std::string s = render_table(v.at("revisions").as_array(),
                                   {col("REV", "revision", {}, true), col("TIME (ms)", "ts_ms", {}, true),
                                    col("AUTHOR", "author"), col("FROM", "peer"), col("COMMENT", "comment"),
                                    col("CONFIRM BY", "confirm_by_ms")});
      if (v.at("pending").is_object()) s += "pending: revision " + fmt_text(v.at("pending").at("revision")) + "\n";
      return s;
    });
  }
  if (sub == "diff") {
    if (p.pos.size() != 2) return Error::msg("config diff A B");
    CATS_TRY_ASSIGN(a, revision_arg(p.pos[0]));
    CATS_TRY_ASSIGN(b, revision_arg(p.pos[1]));
    Call c = json_call("GET", "/api/v1/config/diff?from=" + std::to_string(a) + "&to=" + std::to_string(b) +
                                  "&format=text", {});
    c.raw = true;
    return c;
  }
  if (sub == "revert" || sub == "confirm") {
    if (p.pos.size() != 1) return Error::msg("config " + sub + " N");
    CATS_TRY_ASSIGN(n, revision_arg(p.pos[0]));
    json::object body{{"revision", n}};
    if (sub == "confirm")
      return Call{"POST", "/api/v1/config/confirm", json::serialize(body),
                  [n](const json::value&) { return "revision " + std::to_string(n) + " confirmed\n"; }};
    Call c = json_call("POST", "/api/v1/config/revert" + change_query(p), render_change);
    c.body = json::serialize(body);
    return c;
  }
  if (sub == "export") {
    std::string q;
    if (auto it = p.opt.find("--revision"); it != p.opt.end()) {
      CATS_TRY_ASSIGN(n, revision_arg(it->second));
      q += "?revision=" + std::to_string(n);
    }
    if (p.opt.count("--secrets")) q += (q.empty() ? "?" : "&") + std::string("secrets=1");
    Call c = json_call("GET", "/api/v1/config/export" + q, {});
    c.raw = true;
    return c;
  }
  if (sub == "import") {
    if (p.pos.size() != 1) return Error::msg("config import FILE|-");
    std::string text;
    if (p.pos[0] == "-") {
      text.assign(std::istreambuf_iterator<char>(in), {});
    } else {
      std::ifstream f(p.pos[0], std::ios::binary);
      if (!f) return Error::msg("cannot read " + p.pos[0]);
      text.assign(std::istreambuf_iterator<char>(f), {});
    }
    if (text.size() > kMaxImportBytes) return Error::msg(p.pos[0] + ": larger than 1 MiB");
    Call c = json_call("POST", "/api/v1/config/import" + change_query(p), render_change);
    c.body = std::move(text);
    c.with_current = [](Call&, const json::value&) -> Result<void> { return {}; };
    return c;
  }
  return Error::msg("config: unknown subcommand " + sub);
}

}  // namespace cats::ctl
