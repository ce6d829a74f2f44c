// Parsers for the request headers that carry credentials and their context: Cookie
// (RFC 6265 §4.2), Authorization (RFC 9110 §11.6.2, Bearer per RFC 6750 §2.1), and the
// authority in Origin (RFC 6454 §7) / Referer (RFC 9110 §10.1.3) / Host (RFC 9110 §7.2).
// Pure functions over bounded strings; fuzzed by tests/fuzz/fuzz_auth_headers.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cats::auth {

// Longest credential we look at: bigger headers are refused, not scanned.
inline constexpr size_t kMaxCredential = 512;

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or nullopt when absent,
// repeated (ambiguous: a sibling domain may have planted one), or malformed. A value in
// DQUOTEs is returned without them (RFC 6265 §4.1.1 cookie-value).
std::optional<std::string> find_cookie(std::string_view header, std::string_view name);

// Splits "Scheme credentials" (RFC 9110 §11.6.2, scheme case-insensitive). nullopt for
// anything that is not exactly a scheme, one or more spaces, and a token68.
struct Authorization {
  std::string scheme;  // lower case
  std::string token;   // token68
};
std::optional<Authorization> parse_authorization(std::string_view header);

// The lower-case "host[:port]" of an absolute http(s) URL or serialised origin, with the
// scheme's default port dropped, as a browser sends in Host. nullopt for "null", other
// schemes, userinfo or anything malformed.
std::optional<std::string> url_authority(std::string_view url);

// Host header normalised the same way for `https_default` (":443" dropped when the
// connection is HTTPS, ":80" otherwise). nullopt when malformed.
std::optional<std::string> host_authority(std::string_view host, bool https_default);

// True when `host` (a normalised authority) matches an allow-list entry: the same
// "host:port", or an entry without a port naming the same host. An empty list allows any.
bool host_allowed(const std::string& host, const std::vector<std::string>& allowed);

}  // namespace cats::auth
