// Minimal blocking HTTP/1.1 client over TCP with one overall deadline, for the unit test
// and for later tests (e.g. a vCPE load sampler's) that talk to cats-app in-process.
#pragma once

#include "base/result.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <map>
#include <string>

namespace cats::app {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// One request on a fresh connection (Connection: close). Any failure to get a complete
// reply within timeout (connect, I/O, malformed) is an Error; an HTTP error status is not.
Result<HttpReply> http_request(const boost::asio::ip::tcp::endpoint& ep, const std::string& method,
                               const std::string& target, const std::string& body = {},
                               std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace cats::app
