#include "client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <cctype>

namespace cats::app {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

Result<HttpReply> http_request(const net::ip::tcp::endpoint& ep, const std::string& method,
                               const std::string& target, const std::string& body,
                               std::chrono::milliseconds timeout) {
  std::string where = ep.address().to_string() + ":" + std::to_string(ep.port());
  // Async operations on a private io_context: tcp_stream's deadline applies only to them.
  net::io_context ioc(1);
  beast::tcp_stream stream(ioc);
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  if (req.method() == http::verb::unknown) return Error::msg("unknown HTTP method " + method);
  req.set(http::field::host, where);
  req.set(http::field::connection, "close");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1 << 20);
  beast::error_code result;
  const char* step = "connect";
  stream.expires_after(timeout);  // one deadline for the whole exchange
  stream.async_connect(ep, [&](beast::error_code ec) {
    if (ec) { result = ec; return; }
    step = "write";
    http::async_write(stream, req, [&](beast::error_code ec2, size_t) {
      if (ec2) { result = ec2; return; }
      step = "read";
      http::async_read(stream, buffer, parser, [&](beast::error_code ec3, size_t) { result = ec3; });
    });
  });
  ioc.run();
  if (result) return Error::sys(result.value(), std::string(step) + " " + where + ": " + result.message());

  HttpReply out;
  const auto& res = parser.get();
  out.status = static_cast<int>(res.result_int());
  for (const auto& f : res) {
    std::string name(f.name_string());
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out.headers[name] = std::string(f.value());
  }
  out.body = res.body();
  return out;
}

}  // namespace cats::app
