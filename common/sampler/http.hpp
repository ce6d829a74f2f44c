// Asio probes used by the sampler: an HTTP/1.1 GET and a TCP connect, both async on the
// caller's io_context with one overall deadline, so an instance that hangs costs a timer,
// never the io thread (the vCPE's sampling, reports and STAMP reflector share it).
#pragma once

#include "base/ip.hpp"
#include "base/result.hpp"
#include "sampler/parse.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <functional>
#include <string>

namespace cats::sampler {

struct HttpResponse {
  int status = 0;
  std::string body;
};

// GET url; the callback runs exactly once on `io`: the response (any status), or an Error
// on connect/IO failure, timeout, a body larger than max_body, or a malformed reply.
void http_get(boost::asio::io_context& io, const HttpUrl& url, std::chrono::milliseconds timeout, size_t max_body,
              std::function<void(Result<HttpResponse>)> done);

// TCP connect to `ep` (then close); the callback runs exactly once on `io`.
void tcp_connect_probe(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& ep,
                       std::chrono::milliseconds timeout, std::function<void(Status)> done);

}  // namespace cats::sampler
