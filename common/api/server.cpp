// UnixServer: one io_context on one thread, callback style as in Beast's
// http_server_async example. Single-threaded, so no strands are needed.
#include "api/http.hpp"
#include "base/log.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <sys/stat.h>
#include <sys/un.h>

#include <atomic>
#include <cerrno>
#include <thread>

namespace cats::api {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Local = net::local::stream_protocol;
using Stream = beast::basic_stream<Local>;

// What every connection needs; shared so it outlives the Impl while handlers drain.
struct State {
  Router router;
  ServerLimits limits;
  size_t active = 0;  // only touched on the server thread
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Local::socket s, std::shared_ptr<State> st) : stream_(std::move(s)), state_(std::move(st)) {
    ++state_->active;
  }
  ~Session() { --state_->active; }

  void run() { do_read(); }

 private:
  void do_read() {
    parser_.emplace();
    detail::configure_parser(*parser_, state_->limits);
    // Covers the whole request, so also bounds how long an idle keep-alive lingers.
    stream_.expires_after(state_->limits.read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      int status = detail::status_for_read_error(ec);
      if (status == 0) return close();  // EOF, reset or timeout: nobody to answer
      return send(detail::error_reply(status, "bad request: " + ec.message()));
    }
    send(detail::handle(state_->router, parser_->get(), detail::Origin{true, {}}));
  }

  void send(detail::BeastResponse res) {
    res_ = std::move(res);
    stream_.expires_after(state_->limits.read_timeout);
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    if (ec || !res_.keep_alive()) return close();
    res_ = {};
    do_read();
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(Local::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  Stream stream_;
  std::shared_ptr<State> state_;
  beast::flat_buffer buffer_;
  std::optional<detail::RequestParser> parser_;  // re-created per request (Beast parsers are one-shot)
  detail::BeastResponse res_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, Local::acceptor acc, std::shared_ptr<State> st)
      : ioc_(ioc), acceptor_(std::move(acc)), retry_(ioc), state_(std::move(st)) {}

  void run() { do_accept(); }
  void close() {
    beast::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
  }

 private:
  void do_accept() {
    acceptor_.async_accept(ioc_, [self = shared_from_this()](beast::error_code ec, Local::socket s) {
      self->on_accept(ec, std::move(s));
    });
  }

  void on_accept(beast::error_code ec, Local::socket s) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning on a failing accept.
      log::warn("api", "accept: " + ec.message());
      retry_.expires_after(std::chrono::milliseconds(100));
      retry_.async_wait([self = shared_from_this()](beast::error_code e) {
        if (!e) self->do_accept();
      });
      return;
    }
    if (state_->active >= state_->limits.max_connections) {
      reject(std::move(s));
    } else {
      std::make_shared<Session>(std::move(s), state_)->run();
    }
    do_accept();
  }

  // Best effort 503 without waiting on the client: a fresh socket's send buffer takes it.
  static void reject(Local::socket s) {
    log::warn("api", "too many connections, rejecting one");
    beast::error_code ignored;
    s.non_blocking(true, ignored);
    auto res = detail::error_reply(503, "too many connections");
    http::response_serializer<http::string_body> sr(res);
    http::write(s, sr, ignored);
    s.shutdown(Local::socket::shutdown_send, ignored);
  }

  net::io_context& ioc_;
  Local::acceptor acceptor_;
  net::steady_timer retry_;
  std::shared_ptr<State> state_;
};

// mkdir -p with mode for the directories it creates; existing ones are left alone.
Status make_parent_dirs(const std::string& socket_path) {
  auto slash = socket_path.rfind('/');
  if (slash == std::string::npos || slash == 0) return ok();
  std::string dir = socket_path.substr(0, slash);
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string part = dir.substr(0, pos);
    if (::mkdir(part.c_str(), 0755) == 0) {
      ::chmod(part.c_str(), 0755);  // mkdir's mode is filtered through the umask
    } else if (errno != EEXIST) {
      return fail(Error::sys(errno, "create directory " + part));
    }
  }
  return ok();
}

// A leftover socket file from a crashed daemon is removed; a live one is not ours to take.
Status clear_stale_socket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return ok();
    return fail(Error::sys(errno, "stat " + path));
  }
  if (!S_ISSOCK(st.st_mode)) return fail(Error::msg(path + " exists and is not a socket; not removing it"));
  net::io_context ioc;
  Local::socket probe(ioc);
  beast::error_code ec;
  probe.connect(Local::endpoint(path), ec);
  if (!ec) return fail(Error::msg("another process is already listening on " + path));
  if (ec != net::error::connection_refused) return fail(Error::sys(ec.value(), "probe " + path));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail(Error::sys(errno, "remove stale " + path));
  log::info("api", "removed stale socket " + path);
  return ok();
}

Result<Local::acceptor> open_acceptor(net::io_context& ioc, const std::string& path) {
  Local::acceptor acc(ioc);
  beast::error_code ec;
  acc.open(Local(), ec);
  if (ec) return Error::sys(ec.value(), "socket " + path);
  acc.bind(Local::endpoint(path), ec);
  if (ec) return Error::sys(ec.value(), "bind " + path);
  // Not yet listening, so nobody can connect before the mode is tightened.
  if (::chmod(path.c_str(), 0600) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return Error::sys(err, "chmod " + path);
  }
  acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    ::unlink(path.c_str());
    return Error::sys(ec.value(), "listen " + path);
  }
  return acc;
}

class UnixServerImpl final : public UnixServer {
 public:
  UnixServerImpl(std::string path, std::unique_ptr<net::io_context> ioc, std::shared_ptr<Listener> l)
      : path_(std::move(path)), ioc_(std::move(ioc)), listener_(std::move(l)) {
    thread_ = std::thread([this] { run(); });
  }
  ~UnixServerImpl() override { stop(); }

  void stop() override {
    if (stopped_.exchange(true)) return;
    ioc_->stop();
    if (thread_.joinable()) thread_.join();
    // The loop is gone, so closing here races with nothing. Destroying the io_context then
    // destroys the pending handlers, and with them the sessions and their sockets.
    listener_->close();
    listener_.reset();
    ioc_.reset();
    ::unlink(path_.c_str());
    log::info("api", "stopped serving " + path_);
  }

 private:
  void run() {
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

  std::string path_;
  std::unique_ptr<net::io_context> ioc_;
  std::shared_ptr<Listener> listener_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
};

}  // namespace

Result<std::unique_ptr<UnixServer>> UnixServer::start(const std::string& socket_path, const Router& router) {
  return start(socket_path, router, ServerLimits{});
}

Result<std::unique_ptr<UnixServer>> UnixServer::start(const std::string& socket_path, const Router& router,
                                                      const ServerLimits& limits) {
  if (socket_path.empty() || socket_path.size() >= sizeof(sockaddr_un::sun_path))
    return Error::msg("socket path empty or longer than " + std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                      " bytes: " + socket_path);
  CATS_TRY(make_parent_dirs(socket_path));
  CATS_TRY(clear_stale_socket(socket_path));
  auto ioc = std::make_unique<net::io_context>(1);
  CATS_TRY_ASSIGN(acc, open_acceptor(*ioc, socket_path));
  auto state = std::make_shared<State>(State{router, limits, 0});
  auto listener = std::make_shared<Listener>(*ioc, std::move(acc), std::move(state));
  listener->run();
  log::info("api", "serving " + socket_path);
  return std::unique_ptr<UnixServer>(new UnixServerImpl(socket_path, std::move(ioc), std::move(listener)));
}

}  // namespace cats::api
