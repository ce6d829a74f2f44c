// Beast-level pieces shared by UnixServer and the fuzz target, so both run the very same
// parse -> Request -> dispatch -> response path (the fuzzer just skips the socket).
#pragma once

#include "api/api.hpp"

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cats::api::detail {

namespace http = boost::beast::http;
using BeastRequest = http::request<http::string_body>;
using BeastResponse = http::response<http::string_body>;
using RequestParser = http::request_parser<http::string_body>;

// Applies the header/body limits to a fresh parser.
// Header limit, and the largest body any route may take: narrow_body_limit() then applies
// the request's own route limit once its header is read.
void configure_parser(RequestParser& p, const ServerLimits& limits);
size_t body_limit_for(std::string_view target, const ServerLimits& limits);
// After the header: false when the declared Content-Length is already beyond the route's
// limit (413); otherwise a chunked body is counted against that limit from here on.
bool narrow_body_limit(RequestParser& p, const ServerLimits& limits);

// The status to answer a failed read with (400, 413, 431), or 0 when the error is not the
// client's message being bad (EOF, reset, timeout): then the connection is just closed.
int status_for_read_error(const boost::beast::error_code& ec);

// Splits the target into path and decoded query. Only origin-form ("/path?q") is accepted.
Result<Request> to_request(const BeastRequest& r);

// Serialisable HTTP response for an api::Response; allow is the Allow header value for a 405.
// `r` by value: a raw body (a /metrics exposition, a static file) is moved into the answer,
// not copied.
BeastResponse to_beast(Response r, unsigned version, bool keep_alive, const std::string& allow = {});

// Where a request came from, as the transport knows it (Request::local / peer).
struct Origin {
  bool local = false;  // the root-only Unix socket
  std::string peer;    // TCP client address
};

// Full handling of one parsed request: convert, dispatch, build the reply (reply()).
// A deferred answer (Response::deferred) goes to *later and the reply returned is empty:
// the caller calls reply() once the answer is there; without a slot for it (the fuzzer,
// the lab's app) handle() waits for it here.
BeastResponse handle(const Router& router, const BeastRequest& r, const Origin& from,
                     std::shared_ptr<StreamBody>* stream = nullptr, std::shared_ptr<Deferred>* later = nullptr);
// The reply to `r` for an answer. A streamed answer (Response::stream) hands its body to
// *stream and returns only the head (no Content-Length, Connection: close); without a
// slot for it it is a 500.
BeastResponse reply(const Router& router, const BeastRequest& r, Response resp,
                    std::shared_ptr<StreamBody>* stream = nullptr);

// Reply to a message that could not be read (status from status_for_read_error).
BeastResponse error_reply(int status, const std::string& message);

// Client side, shared by unix_request and https_request: a request as catsctl sends it
// (Connection: close, JSON body), and an Error for a failed step (ETIMEDOUT on timeout).
Result<BeastRequest> client_request(const std::string& method, const std::string& target, const std::string& host,
                                    const std::string& body);
Error client_error(const boost::beast::error_code& ec, const std::string& what);
inline constexpr size_t kMaxResponseBody = 16u << 20;  // a status with thousands of peers still fits

// A client's view of a received answer: status, body (moved out) and headers.
ClientResponse to_client_response(http::response<http::string_body>& r);

// Socket-free parse of raw bytes, for the fuzzer and tests. Exactly one of request /
// error_status is set, unless the bytes end before the message does (incomplete).
struct RawParse {
  std::optional<BeastRequest> request;
  int error_status = 0;
  std::string error;
  bool incomplete = false;
};
RawParse parse_raw(std::string_view bytes, const ServerLimits& limits);

}  // namespace cats::api::detail
