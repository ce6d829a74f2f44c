#include "accounts.hpp"

#include "ctl.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <fstream>
#include <map>

namespace cats::ctl {

namespace json = boost::json;

Result<Parsed> parse_subcommand(const std::vector<std::string>& args, std::initializer_list<const char*> allowed,
                                std::initializer_list<const char*> flags) {
  Parsed p;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0 || a == "-") {
      p.pos.push_back(a);
      continue;
    }
    bool flag = false;
    for (const char* k : flags) flag = flag || a == k;
    if (flag) {
      p.opt[a] = "1";
      continue;
    }
    bool known = false;
    for (const char* k : allowed) known = known || a == k;
    if (!known) return Error::msg("unknown option " + a);
    if (i + 1 >= args.size()) return Error::msg(a + " needs a value");
    p.opt[a] = args[++i];
  }
  return p;
}

namespace {

Result<Parsed> parse(const std::vector<std::string>& args, std::initializer_list<const char*> allowed) {
  return parse_subcommand(args, allowed);
}

Result<std::string> read_password(const Parsed& p, std::istream& in) {
  auto it = p.opt.find("--password-file");
  if (it == p.opt.end()) return Error::msg("--password-file FILE (or - for stdin) is required");
  std::string line;
  if (it->second == "-") {
    std::getline(in, line);
  } else {
    std::ifstream f(it->second);
    if (!f) return Error::msg("cannot read " + it->second);
    std::getline(f, line);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return Error::msg("empty password");
  return line;
}

std::string done(const std::string& what) { return what + "\n"; }

std::string render_users(const json::value& v) {
  const json::value* u = v.is_object() ? v.as_object().if_contains("users") : nullptr;
  if (!u || !u->is_array() || u->get_array().empty()) return "no users\n";
  return render_table(u->get_array(), {col("NAME", "name"), col("ROLE", "role"), col("DISABLED", "disabled")});
}

std::string render_tokens(const json::value& v) {
  const json::value* t = v.is_object() ? v.as_object().if_contains("tokens") : nullptr;
  if (!t || !t->is_array() || t->get_array().empty()) return "no tokens\n";
  return render_table(t->get_array(), {col("ID", "id"), col("NAME", "name"), col("ROLE", "role"),
                                       col("CREATED BY", "created_by"), col("REVOKED", "revoked")});
}

std::string target_with(const std::string& path, const std::string& key, const std::string& value) {
  std::string enc;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      enc += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789ABCDEF";
      enc += '%';
      enc += hex[c >> 4];
      enc += hex[c & 15];
    }
  }
  return path + "?" + key + "=" + enc;
}

Result<Call> user_call(const Parsed& p, std::istream& in) {
  const std::string sub = p.pos.empty() ? "" : p.pos[0];
  if (sub == "list" && p.pos.size() == 1) return Call{"GET", "/api/v1/users", {}, render_users};
  if (sub == "add" && p.pos.size() == 2) {
    auto role = p.opt.count("--role") ? p.opt.at("--role") : std::string("viewer");
    CATS_TRY_ASSIGN(pw, read_password(p, in));
    json::object b{{"name", p.pos[1]}, {"role", role}, {"password", pw}};
    return Call{"POST", "/api/v1/users", json::serialize(b),
                [n = p.pos[1]](const json::value&) { return done("added user " + n); }};
  }
  if (sub == "del" && p.pos.size() == 2)
    return Call{"DELETE", target_with("/api/v1/users", "name", p.pos[1]), {},
                [n = p.pos[1]](const json::value&) { return done("deleted user " + n); }};
  if (sub == "passwd" && p.pos.size() == 2) {
    CATS_TRY_ASSIGN(pw, read_password(p, in));
    return Call{"POST", target_with("/api/v1/users/password", "name", p.pos[1]), json::serialize(json::object{{"password", pw}}),
                [n = p.pos[1]](const json::value&) { return done("password of " + n + " set; its other sessions ended"); }};
  }
  return Error::msg("usage: user add NAME [--role admin|viewer] --password-file F|- | user list | user del NAME | "
                    "user passwd NAME --password-file F|-");
}

Result<Call> token_call(const Parsed& p, int64_t now_ms) {
  const std::string sub = p.pos.empty() ? "" : p.pos[0];
  if (sub == "list" && p.pos.size() == 1) return Call{"GET", "/api/v1/tokens", {}, render_tokens};
  if (sub == "add" && p.pos.size() == 2) {
    auto role = p.opt.count("--role") ? p.opt.at("--role") : std::string("viewer");
    long days = 0;
    try {
      size_t used = 0;
      const std::string d = p.opt.count("--days") ? p.opt.at("--days") : std::string("30");
      days = std::stol(d, &used);
      if (used != d.size()) days = 0;
    } catch (const std::exception&) {
      days = 0;
    }
    if (days < 1 || days > 366) return Error::msg("--days must be 1..366");
    json::object b{{"name", p.pos[1]}, {"role", role}, {"expires_ms", now_ms + days * 86'400'000LL}};
    return Call{"POST", "/api/v1/tokens", json::serialize(b), [](const json::value& v) {
                  const json::value* t = v.is_object() ? v.as_object().if_contains("token") : nullptr;
                  return std::string("token (shown once; keep it, e.g. in a file given to CATS_TOKEN):\n") +
                         (t && t->is_string() ? std::string(t->get_string()) : std::string("?")) + "\n";
                }};
  }
  if (sub == "revoke" && p.pos.size() == 2)
    return Call{"DELETE", target_with("/api/v1/tokens", "id", p.pos[1]), {},
                [id = p.pos[1]](const json::value&) { return done("revoked token " + id); }};
  return Error::msg("usage: token add NAME [--role admin|viewer] [--days N] | token list | token revoke ID");
}

}  // namespace

bool is_accounts_command(const std::string& command) { return command == "user" || command == "token"; }

std::string accounts_usage() {
  return "  user add NAME [--role admin|viewer] --password-file F|-   add a user (password from a file or stdin)\n"
         "  user list | user del NAME | user passwd NAME --password-file F|-\n"
         "  token add NAME [--role admin|viewer] [--days N]            an API token, shown once\n"
         "  token list | token revoke ID\n";
}

Result<Call> accounts_call(const std::string& command, const std::vector<std::string>& args, std::istream& in,
                           int64_t now_ms) {
  CATS_TRY_ASSIGN(p, parse(args, {"--role", "--password-file", "--days"}));
  if (command == "user") return user_call(p, in);
  if (command == "token") return token_call(p, now_ms);
  return Error::msg("unknown command " + command);
}

}  // namespace cats::ctl
