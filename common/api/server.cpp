// UnixServer: the shared session (api/session.hpp) over a Unix stream socket. The socket
// is root-only (0600), so its requests are `local` and need no login.
#include "api/session.hpp"

#include <boost/asio/local/stream_protocol.hpp>

#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>

namespace cats::api {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using Local = net::local::stream_protocol;
using Stream = beast::basic_stream<Local>;
using Listener = detail::Listener<Local>;

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
  detail::set_cloexec(acc.native_handle());
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
  UnixServerImpl(std::string path, std::unique_ptr<detail::IoThread> io, std::shared_ptr<Listener> l)
      : path_(std::move(path)), io_(std::move(io)), listener_(std::move(l)) {
    io_->start();
  }
  ~UnixServerImpl() override { stop(); }

  void stop() override {
    if (!listener_) return;
    // The listener's acceptor and timer must go before the io_context they belong to
    // (their destructors call into its services): released here, after the join and before
    // the io_context is destroyed; a pending accept handler holding it goes with the
    // io_context's handlers.
    io_->stop([this] {
      listener_->close();
      listener_.reset();
    });
    ::unlink(path_.c_str());
    log::info("api", "stopped serving " + path_);
  }

 private:
  std::string path_;
  std::unique_ptr<detail::IoThread> io_;
  std::shared_ptr<Listener> listener_;
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
  auto io = std::make_unique<detail::IoThread>();
  CATS_TRY_ASSIGN(acc, open_acceptor(io->ioc(), socket_path));
  auto state = std::make_shared<detail::ServerState>();
  state->poster = io->poster();
  state->router = router;
  state->limits = limits;
  state->limits.route_body_limits.insert(router.body_limits().begin(), router.body_limits().end());
  auto listener = std::make_shared<Listener>(io->ioc(), std::move(acc), [state](Local::socket s) {
    detail::start_session<Stream>(state, detail::Origin{true, {}}, std::move(s));
  });
  listener->run();
  log::info("api", "serving " + socket_path);
  return std::unique_ptr<UnixServer>(new UnixServerImpl(socket_path, std::move(io), std::move(listener)));
}

}  // namespace cats::api
