#include "api/http.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <optional>

namespace cats::api {

namespace {

std::optional<int> hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return std::nullopt;
}

Result<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      auto hi = i + 2 < s.size() ? hex_value(s[i + 1]) : std::nullopt;
      auto lo = i + 2 < s.size() ? hex_value(s[i + 2]) : std::nullopt;
      if (!hi || !lo) return Error::msg("bad percent-escape in query");
      out += static_cast<char>(*hi * 16 + *lo);
      i += 2;
    } else {
      out += c;
    }
  }
  // NUL would silently truncate wherever the value ends up as a C string.
  if (out.find('\0') != std::string::npos) return Error::msg("NUL byte in query");
  // Explicit: in C++20 Error (an aggregate) is constructible from a string too.
  return Result<std::string>(boost::system::in_place_value, std::move(out));
}

}  // namespace

Result<std::map<std::string, std::string>> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) continue;  // "a=1&&b=2"
    auto eq = part.find('=');
    CATS_TRY_ASSIGN(key, percent_decode(part.substr(0, eq)));
    std::string value;
    if (eq != std::string_view::npos) {
      CATS_TRY_ASSIGN(v, percent_decode(part.substr(eq + 1)));
      value = std::move(v);
    }
    out[std::move(key)] = std::move(value);  // a repeated key: the last one wins
  }
  return out;
}

std::string ClientResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (boost::beast::iequals(k, name)) return v;
  return {};
}

namespace detail {

ClientResponse to_client_response(http::response<http::string_body>& r) {
  ClientResponse out;
  out.status = static_cast<int>(r.result_int());
  out.body = std::move(r.body());
  for (const auto& f : r) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  return out;
}

void configure_parser(RequestParser& p, const ServerLimits& limits) {
  // Beast counts the limit in bytes; it is far below any 32-bit overflow.
  p.header_limit(static_cast<std::uint32_t>(limits.header_limit));
  size_t largest = limits.body_limit;
  for (const auto& [path, limit] : limits.route_body_limits) largest = std::max(largest, limit);
  p.body_limit(largest);
}

size_t body_limit_for(std::string_view target, const ServerLimits& limits) {
  auto it = limits.route_body_limits.find(target.substr(0, target.find('?')));
  return it == limits.route_body_limits.end() ? limits.body_limit : it->second;
}

bool narrow_body_limit(RequestParser& p, const ServerLimits& limits) {
  const size_t limit = body_limit_for(p.get().target(), limits);
  if (auto cl = p.content_length(); cl && *cl > limit) return false;
  p.body_limit(limit);
  return true;
}

int status_for_read_error(const boost::beast::error_code& ec) {
  if (ec == http::error::body_limit) return 413;
  if (ec == http::error::header_limit) return 431;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) return 0;
  if (ec.category() == http::make_error_code(http::error::bad_method).category()) return 400;
  return 0;
}

Result<Request> to_request(const BeastRequest& r) {
  // Header names and values reach handlers and logs: Beast already refuses CR/LF in them.
  std::string_view target = r.target();
  if (target.empty() || target.front() != '/') return Error::msg("request target must be an absolute path");
  Request out;
  out.method = std::string(r.method_string());
  auto q = target.find('?');
  out.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) {
    CATS_TRY_ASSIGN(query, parse_query(target.substr(q + 1)));
    out.query = std::move(query);
  }
  out.body = r.body();
  for (const auto& f : r) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    auto [it, fresh] = out.headers.try_emplace(std::move(name), f.value());
    if (!fresh) it->second += (it->first == "cookie" ? "; " : ", ") + std::string(f.value());
  }
  return out;
}

BeastResponse to_beast(Response r, unsigned version, bool keep_alive, const std::string& allow) {
  BeastResponse res;
  res.version(version);
  // An out-of-range status from a handler is a bug; answer 500 rather than a bogus line.
  res.result(r.status >= 100 && r.status <= 599 ? static_cast<unsigned>(r.status) : 500u);
  res.set(http::field::server, "cats");
  for (const auto& [k, v] : security_headers()) res.set(k, v);
  if (!allow.empty()) res.set(http::field::allow, allow);
  // A handler's header replaces a default (Cache-Control for hashed assets); Set-Cookie may repeat.
  for (const auto& [k, v] : r.headers) {
    if (k == "Set-Cookie") res.insert(k, v);
    else res.set(k, v);
  }
  if (r.stream) {
    // The body follows as the stream produces it and ends with the connection (RFC 9112
    // 6.3 item 8): no Content-Length, no keep-alive.
    res.set(http::field::content_type, r.content_type);
    res.keep_alive(false);
    return res;
  }
  if (r.raw) {
    res.set(http::field::content_type, r.content_type.empty() ? "application/octet-stream" : r.content_type);
    res.body() = std::move(*r.raw);
  } else {
    res.set(http::field::content_type, "application/json");
    res.body() = boost::json::serialize(r.body);
    res.body() += '\n';
  }
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

BeastResponse handle(const Router& router, const BeastRequest& r, const Origin& from,
                     std::shared_ptr<StreamBody>* stream, std::shared_ptr<Deferred>* later) {
  auto req = to_request(r);
  if (!req) return to_beast(Response::error(400, req.error().message), r.version(), false);
  req->local = from.local;
  req->peer = from.peer;
  Response resp = router.dispatch(*req);
  if (resp.deferred) {
    if (later) {
      *later = std::move(resp.deferred);
      return {};
    }
    resp = resp.deferred->wait();
  }
  return reply(router, r, std::move(resp), stream);
}

BeastResponse reply(const Router& router, const BeastRequest& r, Response resp, std::shared_ptr<StreamBody>* stream) {
  if (resp.deferred) return to_beast(Response::error(500, "a deferred answer must not defer again"), r.version(), false);
  if (resp.stream) {
    if (!stream) return to_beast(Response::error(500, "a streamed answer needs a server session"), r.version(), false);
    auto head = to_beast(resp, r.version(), false);
    *stream = std::move(resp.stream);
    return head;
  }
  std::string allow;
  if (resp.status == 405) {
    std::string_view target = r.target();
    allow = router.allow(std::string(target.substr(0, target.find('?'))));
  }
  // No route answers HEAD without a body, so do not let the body desync a kept-alive stream.
  bool keep_alive = r.keep_alive() && r.method() != http::verb::head;
  return to_beast(std::move(resp), r.version(), keep_alive, allow);
}

BeastResponse error_reply(int status, const std::string& message) {
  // After a bad message the stream position is unknown, so the connection closes.
  return to_beast(Response::error(status, message), 11, false);
}

RawParse parse_raw(std::string_view bytes, const ServerLimits& limits) {
  RawParse out;
  RequestParser parser;
  configure_parser(parser, limits);
  boost::beast::error_code ec;
  size_t used = 0;
  // put() may consume only part of the input per call: the header first (not eager), then,
  // once the route's body limit is known, as much body as there is (as the session does).
  while (!parser.is_done() && used < bytes.size()) {
    size_t n = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    if (ec == http::error::need_more) { ec = {}; break; }
    if (ec) break;
    used += n;
    if (parser.is_header_done() && !parser.eager()) {
      if (!narrow_body_limit(parser, limits)) {
        ec = http::error::body_limit;
        break;
      }
      parser.eager(true);
    } else if (n == 0) {
      break;
    }
  }
  if (!ec && !parser.is_done()) {
    // The socket read would wait for more (and time out); requests never end at EOF.
    out.incomplete = true;
    return out;
  }
  if (ec) {
    out.error_status = status_for_read_error(ec);
    out.error = ec.message();
    if (out.error_status == 0) out.incomplete = true;
    return out;
  }
  out.request = parser.release();
  return out;
}

}  // namespace detail
}  // namespace cats::api
