// Userspace backend: wireguard-go and its UAPI socket <uapi_dir>/<ifname>.sock
// (https://www.wireguard.com/xplatform/). wireguard-go daemonizes itself, so the device
// and its tunnel outlive a restart of our daemon; we adopt it on the next create().
#include "base/fd.hpp"
#include "base/log.hpp"
#include "base/process.hpp"
#include "wg/backends.hpp"
#include "wg/netlink.hpp"
#include "wg/uapi.hpp"

#include <openssl/crypto.h>

#include <dirent.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

namespace cats::wg {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kIoTimeout{5000};
constexpr milliseconds kStartTimeout{5000};   // wireguard-go start until its socket answers
constexpr milliseconds kRemoveTimeout{2000};  // link deletion until wireguard-go is gone

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Wait for fd to become ready for `events` before the deadline.
Status wait_fd(int fd, short events, Clock::time_point deadline) {
  while (true) {
    pollfd pfd{fd, events, 0};
    int r = ::poll(&pfd, 1, remaining_ms(deadline));
    if (r > 0) return ok();
    if (r == 0) return Error::sys(ETIMEDOUT, "UAPI socket");
    if (errno != EINTR) return Error::sys(errno, "poll UAPI socket");
  }
}

Result<UniqueFd> connect_uapi(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return Error::sys(ENAMETOOLONG, path);
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  // Non-blocking so every step is bounded by our deadline; a unix stream connect
  // completes (or fails with ECONNREFUSED/ENOENT) immediately.
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return Error::sys(errno, "socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS)
    return Error::sys(errno, "connect " + path);
  return fd;
}

Status send_all(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return Error::sys(errno, "send UAPI request");
    CATS_TRY(wait_fd(fd, POLLOUT, deadline));
  }
  return ok();
}

// Read until the reply's terminating blank line, EOF, the size bound or the deadline.
Result<std::string> read_reply(int fd, Clock::time_point deadline) {
  std::string reply;
  char buf[4096];
  while (!uapi::reply_complete(reply)) {
    if (reply.size() > uapi::kMaxReplyBytes) return Error::sys(EMSGSIZE, "UAPI reply too large");
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      reply.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) break;  // daemon closed; the parser reports the truncation
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return Error::sys(errno, "recv UAPI reply");
    CATS_TRY(wait_fd(fd, POLLIN, deadline));
  }
  return Result<std::string>(boost::system::in_place_value, std::move(reply));
}

class UapiControl final : public Control {
 public:
  explicit UapiControl(Options opts) : opts_(std::move(opts)) {}

  BackendKind kind() const override { return BackendKind::userspace; }

  Result<std::vector<std::string>> list() override {
    std::vector<std::string> names;
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(opts_.uapi_dir.c_str()), ::closedir);
    if (!dir) {
      if (errno == ENOENT) return names;  // no wireguard-go has run yet
      return Error::sys(errno, "open " + opts_.uapi_dir);
    }
    while (const dirent* e = ::readdir(dir.get())) {
      std::string_view file = e->d_name;
      if (file.size() <= 5 || !file.ends_with(".sock")) continue;
      std::string name(file.substr(0, file.size() - 5));
      // The socket directory is shared by every network namespace; only a link visible
      // here is ours. if_nametoindex() asks this thread's netns, unlike /sys/class/net,
      // which shows the namespace sysfs was mounted in (wrong after setns()).
      if (nl::valid_ifname(name) && ::if_nametoindex(name.c_str()) != 0) names.push_back(std::move(name));
    }
    return names;
  }

  Result<Device> get(const std::string& name) override {
    if (!nl::valid_ifname(name)) return Error::sys(EINVAL, "invalid interface name");
    CATS_TRY(require_local_link(name));
    CATS_TRY_ASSIGN(reply, transact(name, uapi::kGetRequest));
    auto dev = uapi::parse_get_reply(reply);
    if (!dev) return dev.error().context(name);
    dev->name = name;
    dev->ifindex = static_cast<int>(::if_nametoindex(name.c_str()));
    return dev;
  }

  Status set(const DeviceUpdate& u) override {
    if (!nl::valid_ifname(u.name)) return Error::sys(EINVAL, "invalid interface name");
    CATS_TRY(require_local_link(u.name));
    std::string req = uapi::format_set(u);
    auto reply = transact(u.name, req);
    // The request may hold a private key; do not leave it lying around in freed memory.
    OPENSSL_cleanse(req.data(), req.size());
    if (!reply) return reply.error();
    auto st = uapi::parse_set_reply(*reply);
    if (!st) return st.error().context(u.name);
    return ok();
  }

  Status create(const std::string& name) override {
    if (!nl::valid_ifname(name)) return Error::sys(EINVAL, "invalid interface name");
    if (answers(name)) {
      if (!require_local_link(name))
        return Error::sys(EADDRINUSE, name + ": UAPI socket belongs to a device in another network namespace");
      log::info("wg", name + ": adopting running wireguard-go");
      return ok();
    }
    CATS_TRY(start_daemon(name));
    auto deadline = Clock::now() + kStartTimeout;
    for (milliseconds step{10}; Clock::now() < deadline; step = std::min(step * 2, milliseconds{200})) {
      if (answers(name)) {
        log::info("wg", name + ": wireguard-go started");
        return ok();
      }
      std::this_thread::sleep_for(step);
    }
    return Error::sys(ETIMEDOUT, name + ": wireguard-go UAPI socket did not come up");
  }

  Status remove(const std::string& name) override {
    if (!nl::valid_ifname(name)) return Error::sys(EINVAL, "invalid interface name");
    // wireguard-go notices its TUN is gone, shuts down and unlinks its socket.
    CATS_TRY(nl::link_del(name));
    const std::string path = socket_path(name);
    auto deadline = Clock::now() + kRemoveTimeout;
    while (Clock::now() < deadline) {
      auto fd = connect_uapi(path);
      if (!fd && fd.error().sys_errno == ENOENT) return ok();
      if (!fd && fd.error().sys_errno == ECONNREFUSED) {
        ::unlink(path.c_str());  // stale: nobody listens
        return ok();
      }
      std::this_thread::sleep_for(milliseconds{20});
    }
    // Still answering: a device of the same name in another network namespace owns it
    // (the directory is shared), so it is not ours to delete.
    log::warn("wg", name + ": UAPI socket still answers after link removal; left in place");
    return ok();
  }

 private:
  std::string socket_path(const std::string& name) const { return opts_.uapi_dir + "/" + name + ".sock"; }

  // The socket directory is shared by all network namespaces, so a socket named after
  // our device may belong to a same-named device elsewhere. Only talk to it if the link
  // exists here (if_nametoindex asks this thread's namespace).
  static Status require_local_link(const std::string& name) {
    if (::if_nametoindex(name.c_str()) == 0) return Error::sys(ENODEV, name + ": no such link in this network namespace");
    return ok();
  }

  Result<std::string> transact(const std::string& name, std::string_view request) {
    auto deadline = Clock::now() + kIoTimeout;
    CATS_TRY_ASSIGN(fd, connect_uapi(socket_path(name)));
    CATS_TRY(wait_fd(fd.get(), POLLOUT, deadline));
    CATS_TRY(send_all(fd.get(), request, deadline));
    return read_reply(fd.get(), deadline);
  }

  bool answers(const std::string& name) {
    auto reply = transact(name, uapi::kGetRequest);
    return reply && uapi::parse_get_reply(*reply).has_value();
  }

  Status start_daemon(const std::string& name) {
    // wireguard-go forks a daemon copy of itself (with WG_PROCESS_FOREGROUND=1) and the
    // parent exits 0 once the TUN exists. Make sure the variable is not inherited from
    // us, or it would stay in the foreground. LOG_LEVEL is cleared as well: with it set
    // the daemon would keep run_command's output pipe open and we would wait forever.
    std::vector<std::string> argv = {"/usr/bin/env", "-u", "WG_PROCESS_FOREGROUND", "-u", "LOG_LEVEL",
                                     opts_.wireguard_go, name};
    auto out = run_command(argv, kStartTimeout, 16 * 1024);
    if (!out) return out.error().context(name + ": start wireguard-go");
    if (out->exit_status != 0) {
      std::string tail = out->output.substr(out->output.size() > 512 ? out->output.size() - 512 : 0);
      return Error::msg(name + ": wireguard-go exited with status " + std::to_string(out->exit_status) + ": " + tail);
    }
    return ok();
  }

  Options opts_;
};

}  // namespace

std::unique_ptr<Control> make_uapi_control(const Options& opts) { return std::make_unique<UapiControl>(opts); }

}  // namespace cats::wg
