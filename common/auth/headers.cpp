#include "auth/headers.hpp"

#include <algorithm>
#include <cctype>

namespace cats::auth {
namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// tchar, RFC 9110 §5.6.2.
bool is_tchar(char c) {
  return is_alnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// cookie-octet, RFC 6265 §4.1.1: US-ASCII without CTLs, whitespace, DQUOTE, comma,
// semicolon and backslash.
bool is_cookie_octet(char c) {
  auto u = static_cast<unsigned char>(c);
  return u == 0x21 || (u >= 0x23 && u <= 0x2B) || (u >= 0x2D && u <= 0x3A) || (u >= 0x3C && u <= 0x5B) ||
         (u >= 0x5D && u <= 0x7E);
}

bool is_token68_char(char c) { return is_alnum(c) || std::string_view("-._~+/").find(c) != std::string_view::npos; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool iequals(std::string_view a, std::string_view b) { return a.size() == b.size() && lower(a) == lower(b); }

// uri-host [ ":" port ] (RFC 3986 §3.2.2-3): a reg-name of letters, digits, '-', '.',
// '_' or a bracketed IPv6 literal; a port of 1-5 digits up to 65535. Lower-cased, the
// default port dropped.
std::optional<std::string> authority(std::string_view a, std::string_view default_port) {
  if (a.empty() || a.size() > 261) return std::nullopt;
  std::string_view host, port;
  bool has_port = false;
  if (a.front() == '[') {
    size_t close = a.find(']');
    if (close == std::string_view::npos || close < 2) return std::nullopt;
    host = a.substr(0, close + 1);
    for (char c : a.substr(1, close - 1))
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return std::nullopt;
    std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      has_port = true;
    }
  } else {
    size_t colon = a.find(':');
    host = a.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = a.substr(colon + 1);
      has_port = true;
    }
    if (host.empty() || host.size() > 253) return std::nullopt;
    for (char c : host)
      if (!is_alnum(c) && c != '-' && c != '.' && c != '_') return std::nullopt;
  }
  if (has_port) {
    if (port.empty() || port.size() > 5) return std::nullopt;
    unsigned v = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v == 0 || v > 65535) return std::nullopt;
    while (port.size() > 1 && port.front() == '0') port.remove_prefix(1);
  }
  std::string out = lower(host);
  if (has_port && port != default_port) out += ":" + std::string(port);
  return out;
}

}  // namespace

std::optional<std::string> find_cookie(std::string_view header, std::string_view name) {
  if (header.size() > 8 * 1024 || name.empty()) return std::nullopt;
  std::optional<std::string> found;
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view pair = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    size_t eq = pair.find('=');
    // Other applications' cookies may be sloppy; only ours must be well formed.
    if (eq == std::string_view::npos || trim(pair.substr(0, eq)) != name) continue;
    if (found) return std::nullopt;  // two of ours: refuse rather than guess
    std::string_view value = trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    if (value.empty() || value.size() > kMaxCredential) return std::nullopt;
    if (!std::all_of(value.begin(), value.end(), is_cookie_octet)) return std::nullopt;
    found = std::string(value);
  }
  return found;
}

std::optional<Authorization> parse_authorization(std::string_view header) {
  header = trim(header);
  if (header.size() > kMaxCredential + 32) return std::nullopt;
  size_t sp = header.find(' ');
  if (sp == 0 || sp == std::string_view::npos) return std::nullopt;
  std::string_view scheme = header.substr(0, sp);
  if (!std::all_of(scheme.begin(), scheme.end(), is_tchar)) return std::nullopt;
  std::string_view token = header.substr(sp);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
  size_t body = 0;
  while (body < token.size() && is_token68_char(token[body])) ++body;
  if (body == 0) return std::nullopt;
  for (size_t i = body; i < token.size(); ++i)
    if (token[i] != '=') return std::nullopt;
  return Authorization{lower(scheme), std::string(token)};
}

std::optional<std::string> url_authority(std::string_view url) {
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  std::string_view scheme = url.substr(0, sep);
  std::string_view default_port;
  if (iequals(scheme, "https"))
    default_port = "443";
  else if (iequals(scheme, "http"))
    default_port = "80";
  else
    return std::nullopt;
  std::string_view rest = url.substr(sep + 3);
  std::string_view auth = rest.substr(0, rest.find_first_of("/?#"));
  if (auth.find('@') != std::string_view::npos) return std::nullopt;
  return authority(auth, default_port);
}

std::optional<std::string> host_authority(std::string_view host, bool https_default) {
  return authority(trim(host), https_default ? "443" : "80");
}

bool host_allowed(const std::string& host, const std::vector<std::string>& allowed) {
  if (allowed.empty()) return true;
  // The host part: up to the port's colon, which follows ']' for an IPv6 literal.
  size_t colon = host.rfind(':');
  if (colon != std::string::npos && host.front() == '[' && host.find(']') > colon) colon = std::string::npos;
  std::string bare = host.substr(0, colon);
  return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) {
    std::string e = lower(a);
    return e == host || e == bare;
  });
}

}  // namespace cats::auth
