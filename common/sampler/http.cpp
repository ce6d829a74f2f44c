#include "sampler/http.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <memory>

namespace cats::sampler {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// One GET. Owned by its own handlers (shared_from_this); the tcp_stream's expiry covers
// connect, write and read together, so the whole exchange is bounded by `timeout`.
struct GetOp : std::enable_shared_from_this<GetOp> {
  GetOp(asio::io_context& io, std::function<void(Result<HttpResponse>)> d) : stream(io), done(std::move(d)) {}
  beast::tcp_stream stream;
  beast::flat_buffer buf;
  http::request<http::empty_body> req;
  std::optional<http::response_parser<http::string_body>> parser;
  std::function<void(Result<HttpResponse>)> done;

  void fail(const char* what, const boost::system::error_code& ec) {
    beast::error_code ignored;
    stream.socket().close(ignored);
    int err = ec == beast::error::timeout ? ETIMEDOUT : ec.value();
    done(Error{std::string(what) + ": " + (ec == beast::error::timeout ? "timed out" : ec.message()), err});
  }
};

}  // namespace

void http_get(asio::io_context& io, const HttpUrl& url, std::chrono::milliseconds timeout, size_t max_body,
              std::function<void(Result<HttpResponse>)> done) {
  auto op = std::make_shared<GetOp>(io, std::move(done));
  op->req = {http::verb::get, url.target, 11};
  op->req.set(http::field::host, url.host);
  op->req.set(http::field::user_agent, "cats-vcpe");
  op->req.set(http::field::connection, "close");
  op->parser.emplace();
  op->parser->body_limit(max_body);
  op->parser->header_limit(8 * 1024);
  op->stream.expires_after(timeout);
  op->stream.async_connect(tcp::endpoint(url.address, url.port), [op](beast::error_code ec) {
    if (ec) return op->fail("connect", ec);
    http::async_write(op->stream, op->req, [op](beast::error_code ec2, size_t) {
      if (ec2) return op->fail("write", ec2);
      http::async_read(op->stream, op->buf, *op->parser, [op](beast::error_code ec3, size_t) {
        if (ec3) return op->fail("read", ec3);
        beast::error_code ignored;
        op->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        op->stream.socket().close(ignored);
        auto res = op->parser->release();
        op->done(HttpResponse{static_cast<int>(res.result_int()), std::move(res.body())});
      });
    });
  });
}

void tcp_connect_probe(asio::io_context& io, const tcp::endpoint& ep, std::chrono::milliseconds timeout,
                       std::function<void(Status)> done) {
  auto stream = std::make_shared<beast::tcp_stream>(io);
  stream->expires_after(timeout);
  stream->async_connect(ep, [stream, done = std::move(done)](beast::error_code ec) {
    beast::error_code ignored;
    stream->socket().close(ignored);
    if (!ec) return done(ok());
    if (ec == beast::error::timeout) return done(fail(Error{"connect: timed out", ETIMEDOUT}));
    done(fail(Error{"connect: " + ec.message(), ec.value()}));
  });
}

}  // namespace cats::sampler
