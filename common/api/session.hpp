// One HTTP/1.1 connection and the accept loop, shared by the Unix socket and HTTPS so both
// run the very same read -> detail::handle -> write pipeline and the same limits. The
// transports differ only in their stream (basic_stream<local> or ssl_stream<tcp_stream>):
// TLS adds the handshake, close_notify and HSTS. Callback style as in Beast's
// http_server_async(_ssl) examples; one io_context on one thread, so no strands.
#pragma once

#include "api/http.hpp"
#include "base/log.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <fcntl.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace cats::api::detail {

namespace net = boost::asio;
namespace beast = boost::beast;

// Hands a function to a server's thread from any other thread, until the server stops:
// IoThread::stop closes it after the join and before the io_context is destroyed, so a
// thread that finishes a deferred answer after the stop (api::Deferred) posts nothing
// into a destroyed io_context. Posted after io_context::stop() and before close(), a
// function is never run, only destroyed with the io_context.
class Poster {
 public:
  explicit Poster(net::io_context& ioc) : ioc_(&ioc) {}
  void post(std::function<void()> f) {
    std::lock_guard lk(mu_);
    if (ioc_) net::post(*ioc_, std::move(f));
  }
  void close() {
    std::lock_guard lk(mu_);
    ioc_ = nullptr;
  }

 private:
  std::mutex mu_;
  net::io_context* ioc_;
};

// What every connection of one server shares; owned jointly by the sessions so it
// outlives the server object while the io_context destroys pending handlers.
struct ServerState {
  Router router;
  ServerLimits limits;
  std::shared_ptr<net::ssl::context> tls;  // HTTPS only; the sessions' SSL objects use it
  size_t active = 0;                       // connections being served
  size_t refusing = 0;                     // connections only getting a 503/429
  std::map<std::string, size_t> per_client;  // served connections per client IP
  std::shared_ptr<Poster> poster;            // the server thread's (IoThread::poster)
};

// Connections kept open only to deliver a 503/429 answer are few: beyond this many they
// are closed without one, so refusing cannot itself exhaust file descriptors.
inline constexpr size_t kMaxRefusing = 32;
// RFC 6797: tell browsers to use HTTPS only for this host, for a year.
inline constexpr const char* kHsts = "max-age=31536000";

// Whose share a connection counts against: the IPv4 address, or the IPv6 /64 (one host
// usually gets a whole /64 and can pick any address in it; RFC 6177, RFC 8981). Empty on
// the Unix socket, where there is no per-client bound.
inline std::string client_key(const std::string& peer) {
  boost::system::error_code ec;
  auto a = net::ip::make_address(peer, ec);
  if (ec || !a.is_v6()) return peer;
  auto bytes = a.to_v6().to_bytes();
  for (size_t i = 8; i < bytes.size(); ++i) bytes[i] = 0;
  return net::ip::address_v6(bytes).to_string() + "/64";
}

// 0 to serve a new connection, or the status that refuses it: 503 when the server is full,
// 429 when this client already holds its share.
inline int admission(const ServerState& st, const std::string& key) {
  if (st.active >= st.limits.max_connections) return 503;
  if (!key.empty()) {
    auto it = st.per_client.find(key);
    if (it != st.per_client.end() && it->second >= st.limits.max_connections_per_client) return 429;
  }
  return 0;
}

// Asio opens and accepts without SOCK_CLOEXEC; a child the daemon spawns must not inherit
// the API's sockets.
inline void set_cloexec(int fd) { ::fcntl(fd, F_SETFD, FD_CLOEXEC); }

template <class Stream>
inline constexpr bool kIsTls = false;
template <class Next>
inline constexpr bool kIsTls<beast::ssl_stream<Next>> = true;

template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  // refuse: 0 to serve, or the status (503, 429) that answers the first request instead.
  template <class... StreamArgs>
  Session(std::shared_ptr<ServerState> st, Origin origin, int refuse, StreamArgs&&... args)
      : stream_(std::forward<StreamArgs>(args)...),
        st_(std::move(st)),
        origin_(std::move(origin)),
        key_(client_key(origin_.peer)),
        refuse_(refuse),
        deadline_(stream_.get_executor()),
        buffer_(st_->limits.header_limit + kReadAhead) {
    if (refuse_) {
      ++st_->refusing;
    } else {
      ++st_->active;
      if (!key_.empty()) ++st_->per_client[key_];
    }
  }
  ~Session() {
    if (refuse_) {
      --st_->refusing;
      return;
    }
    --st_->active;
    auto it = st_->per_client.find(key_);
    if (it != st_->per_client.end() && --it->second == 0) st_->per_client.erase(it);
  }

  void run() {
    if constexpr (kIsTls<Stream>) {
      lowest().expires_after(limits().handshake_timeout);
      stream_.async_handshake(net::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
    } else {
      wait_request();
    }
  }

 private:
  const ServerLimits& limits() const { return st_->limits; }
  auto& lowest() { return beast::get_lowest_layer(stream_); }

  void on_handshake(beast::error_code ec) {
    // Plain HTTP on the TLS port, TLS < 1.2, no common cipher, timeout: there is no TLS
    // channel to answer on, so the connection just closes.
    if (ec) {
      log::debug("api", "TLS handshake with " + origin_.peer + " failed: " + ec.message());
      return close_now();
    }
    wait_request();
  }

  // Keep-alive idle wait for the first byte of the next request, then the request itself.
  void wait_request() {
    lowest().expires_never();  // our own deadline_ times reads, so a 408 can still be sent
    if (buffer_.size() > 0) return read_request();  // pipelined: the next one has begun
    arm(limits().idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              self->on_first_bytes(ec, n);
                            });
  }

  void on_first_bytes(beast::error_code ec, size_t n) {
    disarm();
    if (ec) return close_now();  // idle timeout, EOF, reset: nobody waits for an answer
    buffer_.commit(n);
    read_request();
  }

  void read_request() {
    parser_.emplace();  // Beast parsers are one-shot
    configure_parser(*parser_, limits());
    arm(limits().read_timeout);  // the whole request, however slowly it trickles in
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  // The header decides how much body this route may take (ServerLimits::document_paths).
  void on_header(beast::error_code ec) {
    if (!ec && !narrow_body_limit(*parser_, limits())) ec = http::error::body_limit;
    if (ec || parser_->is_done()) return on_read(ec);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec2, size_t) { self->on_read(ec2); });
  }

  void on_read(beast::error_code ec) {
    bool late = disarm();
    if (ec && late) return send(error_reply(408, "request not complete within the time limit"));
    if (ec) {
      int status = status_for_read_error(ec);
      if (status == 0) return close_now();  // EOF, reset, TLS error
      return send(error_reply(status, "bad request: " + ec.message()));
    }
    if (refuse_) {
      return send(error_reply(refuse_, refuse_ == 429 ? "too many connections from this client"
                                                      : "too many connections"));
    }
    std::shared_ptr<Deferred> later;
    auto res = handle(st_->router, parser_->get(), origin_, &body_, &later);
    if (later) return wait_answer(std::move(later));
    send(std::move(res));
  }

  // A deferred answer (api::Deferred, e.g. a login's password hash on the Offload worker):
  // this thread goes on serving the other connections. The fulfilling thread posts a
  // wake-up through the server's Poster (a weak reference: a session the server dropped
  // is not kept); answer_timeout bounds the wait, and whichever comes first answers.
  void wait_answer(std::shared_ptr<Deferred> later) {
    later_ = std::move(later);
    deadline_.expires_after(limits().answer_timeout);
    deadline_.async_wait([self = this->shared_from_this(), gen = ++gen_](beast::error_code ec) {
      if (ec || gen != self->gen_ || !self->later_) return;  // cancelled: the answer came
      self->later_.reset();
      self->send(error_reply(503, "no answer within the time limit"));
    });
    later_->on_fulfil([poster = st_->poster, weak = this->weak_from_this()](int) {
      poster->post([weak] {
        if (auto self = weak.lock()) self->on_answer();
      });
    });
  }

  void on_answer() {
    if (!later_) return;  // the deadline answered already
    auto answer = later_->take();
    later_.reset();
    ++gen_;
    deadline_.cancel();
    if (!answer) return send(error_reply(500, "the deferred answer was lost"));
    send(reply(st_->router, parser_->get(), std::move(*answer), &body_));
  }

  void send(BeastResponse res) {
    if constexpr (kIsTls<Stream>) res.set(http::field::strict_transport_security, kHsts);
    res_ = std::move(res);
    lowest().expires_after(limits().write_timeout);  // a client that never reads is dropped
    http::async_write(stream_, res_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    if (ec) return close_now();
    if (body_) return stream_start();
    if (!res_.keep_alive()) return finish();
    res_ = {};
    wait_request();
  }

  // A streamed answer (api::StreamBody): the head is written; from now on this connection only
  // carries the body. No request timeout or idle timeout applies (a quiet stream is alive:
  // its keepalive comments come from the stream); each write still has write_timeout, so
  // a client that stops reading is dropped. A read stays pending only to notice the client
  // going away; whatever it sends is discarded.
  void stream_start() {
    res_ = {};
    lowest().expires_never();
    stream_.async_read_some(net::buffer(discard_), [self = this->shared_from_this()](beast::error_code ec, size_t) {
      self->on_stream_read(ec);
    });
    pump();
  }

  void on_stream_read(beast::error_code ec) {
    if (ec) return close_now();  // EOF, reset, or our own close
    stream_.async_read_some(net::buffer(discard_), [self = this->shared_from_this()](beast::error_code e, size_t) {
      self->on_stream_read(e);
    });
  }

  void pump() {
    if (!lowest().socket().is_open()) return;
    auto chunk = body_->pull();
    stream_end_ = chunk.end;
    if (chunk.bytes.empty()) {
      if (stream_end_) return close_now();
      deadline_.expires_after(kStreamPoll);
      deadline_.async_wait([self = this->shared_from_this()](beast::error_code e) {
        if (!e) self->pump();
      });
      return;
    }
    out_ = std::move(chunk.bytes);
    // With the read pending, this times the write only (basic_stream keeps one timer each).
    lowest().expires_after(limits().write_timeout);
    net::async_write(stream_, net::buffer(out_), [self = this->shared_from_this()](beast::error_code e, size_t) {
      if (e || self->stream_end_) return self->close_now();
      self->pump();
    });
  }

  // Graceful end: TLS close_notify (RFC 8446 6.1), then lingering close (ServerLimits).
  // The close_notify is one-way: OpenSSL is told the peer's has come, so async_shutdown
  // only flushes ours and does not read (and decrypt) the rest of an unread upload while
  // it waits for one; what follows is discarded as raw TCP bytes under the linger bounds.
  void finish() {
    linger_end_ = std::chrono::steady_clock::now() + limits().linger_time;
    if constexpr (kIsTls<Stream>) {
      ::SSL_set_shutdown(stream_.native_handle(), SSL_RECEIVED_SHUTDOWN);
      lowest().expires_after(limits().write_timeout);
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->linger(); });
    } else {
      linger();
    }
  }

  void linger() {
    if (!lowest().socket().is_open()) return;  // the write deadline already closed it
    lowest().expires_never();                  // deadline_ times the linger
    beast::error_code ignored;
    lowest().socket().shutdown(net::socket_base::shutdown_send, ignored);
    drain();
  }

  // Each read waits at most linger_idle, and none goes past linger_end_.
  void drain() {
    const auto now = std::chrono::steady_clock::now();
    if (now >= linger_end_) return close_now();
    deadline_.expires_at(std::min<std::chrono::steady_clock::time_point>(linger_end_, now + limits().linger_idle));
    deadline_.async_wait([self = this->shared_from_this(), gen = ++gen_](beast::error_code ec) {
      if (!ec && gen == self->gen_) self->close_now();
    });
    lowest().async_read_some(net::buffer(discard_),
                             [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                               self->lingered_ += n;
                               if (ec || self->lingered_ > self->limits().linger_bytes) return self->close_now();
                               self->drain();
                             });
  }

  void close_now() {
    deadline_.cancel();
    beast::error_code ignored;
    lowest().socket().shutdown(net::socket_base::shutdown_both, ignored);
    lowest().close();
  }

  // A read deadline of our own rather than basic_stream's, which closes the socket when it
  // expires and so would leave no way to send the 408.
  void arm(std::chrono::milliseconds d) {
    late_ = false;
    deadline_.expires_after(d);
    deadline_.async_wait([self = this->shared_from_this(), gen = ++gen_](beast::error_code ec) {
      if (ec || gen != self->gen_) return;  // cancelled, or a stale wait
      self->late_ = true;
      self->lowest().cancel();  // the pending read completes with operation_aborted
    });
  }
  // Stops the deadline; true when it had fired.
  bool disarm() {
    ++gen_;
    deadline_.cancel();
    return late_;
  }

  Stream stream_;
  std::shared_ptr<ServerState> st_;
  Origin origin_;
  std::string key_;  // client_key(origin_.peer)
  int refuse_;
  net::steady_timer deadline_;
  unsigned gen_ = 0;
  bool late_ = false;
  // Holds the unparsed bytes of at most one request plus kReadAhead (see ServerLimits).
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  BeastResponse res_;
  std::shared_ptr<StreamBody> body_;  // set once a route answered with a stream
  std::shared_ptr<Deferred> later_;   // set while a deferred answer is awaited
  std::string out_;               // the stream bytes being written
  bool stream_end_ = false;
  std::array<char, 2048> discard_{};
  size_t lingered_ = 0;
  std::chrono::steady_clock::time_point linger_end_{};
};

// Starts a session for an accepted connection, or closes it when even refusing is full.
template <class Stream, class... StreamArgs>
void start_session(const std::shared_ptr<ServerState>& st, Origin origin, StreamArgs&&... args) {
  int refuse = admission(*st, client_key(origin.peer));
  if (refuse && st->refusing >= kMaxRefusing) return;  // the socket closes as it goes
  if (refuse) log::warn("api", "refusing a connection from " + (origin.peer.empty() ? "local" : origin.peer) +
                                   " with " + std::to_string(refuse));
  std::make_shared<Session<Stream>>(st, std::move(origin), refuse, std::forward<StreamArgs>(args)...)->run();
}

// Accept loop for one acceptor; on_socket decides what becomes of each connection.
template <class Protocol>
class Listener : public std::enable_shared_from_this<Listener<Protocol>> {
 public:
  using Acceptor = typename Protocol::acceptor;
  using Socket = typename Protocol::socket;
  using OnSocket = std::function<void(Socket)>;

  Listener(net::io_context& ioc, Acceptor acc, OnSocket on_socket)
      : ioc_(ioc), acceptor_(std::move(acc)), retry_(ioc), on_socket_(std::move(on_socket)) {}

  void run() { do_accept(); }
  void close() {
    beast::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
  }

 private:
  void do_accept() {
    acceptor_.async_accept(ioc_, [self = this->shared_from_this()](beast::error_code ec, Socket s) {
      self->on_accept(ec, std::move(s));
    });
  }

  void on_accept(beast::error_code ec, Socket s) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning on a failing accept.
      log::warn("api", "accept: " + ec.message());
      retry_.expires_after(std::chrono::milliseconds(100));
      retry_.async_wait([self = this->shared_from_this()](beast::error_code e) {
        if (!e) self->do_accept();
      });
      return;
    }
    set_cloexec(s.native_handle());
    on_socket_(std::move(s));
    do_accept();
  }

  net::io_context& ioc_;
  Acceptor acceptor_;
  net::steady_timer retry_;
  OnSocket on_socket_;
};

// The server thread: runs the io_context until stop().
class IoThread {
 public:
  IoThread() : ioc_(std::make_unique<net::io_context>(1)), poster_(std::make_shared<Poster>(*ioc_)) {}
  ~IoThread() { stop(); }
  net::io_context& ioc() { return *ioc_; }
  const std::shared_ptr<Poster>& poster() const { return poster_; }
  void start() {
    thread_ = std::thread([this] { loop(); });
  }
  // Idempotent; joins the thread, then destroys the io_context and with it the pending
  // handlers, the sessions and their sockets. Not from a handler (it would join itself).
  // `before_destroy` runs after the join, when closing races with nothing.
  void stop(const std::function<void()>& before_destroy = {}) {
    if (stopped_.exchange(true)) return;
    ioc_->stop();
    if (thread_.joinable()) thread_.join();
    if (before_destroy) before_destroy();
    poster_->close();
    ioc_.reset();
  }

 private:
  void loop() {
    // Handlers catch their own exceptions; this is the last line against a library throw.
    for (;;) {
      try {
        ioc_->run();
        return;
      } catch (const std::exception& e) {
        log::error("api", std::string("server loop: ") + e.what());
      }
    }
  }

  std::unique_ptr<net::io_context> ioc_;
  std::shared_ptr<Poster> poster_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
};

}  // namespace cats::api::detail
