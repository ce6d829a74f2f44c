// cats-impair: WAN impairment (delay, jitter, loss) on one NFQUEUE, for the lab.
//
// The kernel here has no netem, so the lab diverts one direction of a link into an
// NFQUEUE (iptables-nft `-j NFQUEUE --queue-num N` in FORWARD, no --queue-bypass) and
// this program holds the packets in a time-ordered delay line, then verdicts them.
//
//  * libmnl + libnetfilter_queue's nlmsg helpers; only the first 128 bytes of each
//    packet are copied (we never look at payload), NFQA_CAP_LEN gives the real size;
//    NFQA_CFG_F_GSO so the kernel does not segment GSO packets for us.
//  * Drops are sent at arrival (one NF_DROP verdict each); accepted packets are
//    released as a prefix of the line with ONE NFQNL_MSG_VERDICT_BATCH message per
//    wake-up (after each receive burst, and on the timerfd armed at the head's release
//    time). All verdicts of a wake-up leave in one sendto().
//  * Control: a Unix stream socket, one-line text commands:
//      set delay=MS jitter=MS loss=PCT [seed=N] [limit=PKTS] [limit_bytes=B]  -> ok ...
//      get    -> current parameters
//      stats  -> counters (key=value ...)
//      reset  -> zero the counters
//      ping   -> pong
//
// Usage: cats-impair --queue N --control PATH [--delay MS] [--jitter MS] [--loss PCT]
//                    [--seed N] [--limit PKTS] [--limit-bytes B] [--no-rt]
//  * Runs SCHED_FIFO (priority 20) unless --no-rt, so a loaded host does not add
//    scheduling delay to the configured one.

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
extern "C" {
#include <libnetfilter_queue/libnetfilter_queue.h>
}

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "impair_core.hpp"

namespace {

using cats::impair::DelayLine;
using cats::impair::Params;

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "cats-impair: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

bool parse_double(std::string_view s, double& out) {
  std::string tmp(s);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(tmp.c_str(), &end);
  if (tmp.empty() || end != tmp.c_str() + tmp.size() || errno != 0) return false;
  out = v;
  return true;
}

bool parse_u64(std::string_view s, uint64_t& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

std::string fmt_double(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

class Queue {
 public:
  Queue(uint32_t num, uint32_t maxlen) : num_(num) {
    nl_ = mnl_socket_open(NETLINK_NETFILTER);
    if (!nl_) die("mnl_socket_open");
    if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) die("mnl_socket_bind");
    portid_ = mnl_socket_get_portid(nl_);
    int fd = mnl_socket_get_fd(nl_);
    int rcv = 16 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0)
      (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    int snd = 4 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof snd) < 0)
      (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);

    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = nfq_nlmsg_put(buf.data(), NFQNL_MSG_CONFIG, num_);
    nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
    send_ack(nlh, "bind queue (is another cats-impair on this queue?)");

    nlh = nfq_nlmsg_put(buf.data(), NFQNL_MSG_CONFIG, num_);
    nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 128);
    nfq_nlmsg_cfg_put_qmaxlen(nlh, maxlen);
    // GSO: hand us unsegmented GSO skbs. FAIL_OPEN is deliberately NOT set: a full
    // queue must drop, never bypass the impairment.
    mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_GSO));
    mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
    send_ack(nlh, "configure queue");

    // Verdicts are sent without NLM_F_ACK: no replies to drain.
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  }
  ~Queue() {
    if (nl_) mnl_socket_close(nl_);
  }
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  int fd() const { return mnl_socket_get_fd(nl_); }
  uint32_t num() const { return num_; }

  // Outgoing verdicts of this wake-up, sent together by flush().
  void drop(uint32_t id) {
    nlmsghdr* nlh = put(NFQNL_MSG_VERDICT);
    nfq_nlmsg_verdict_put(nlh, static_cast<int>(id), NF_DROP);
    commit(nlh);
  }
  void accept_upto(uint32_t id) {
    nlmsghdr* nlh = put(NFQNL_MSG_VERDICT_BATCH);
    nfq_nlmsg_verdict_put(nlh, static_cast<int>(id), NF_ACCEPT);
    commit(nlh);
  }
  void flush() {
    if (out_.empty()) return;
    size_t off = 0;
    // One datagram may carry many netlink messages; keep each send under the
    // socket's max message size.
    while (off < out_.size()) {
      size_t n = std::min<size_t>(out_.size() - off, 64 * 1024);
      // Do not split a message: out_ is made of whole messages, find a boundary.
      if (off + n < out_.size()) {
        size_t p = off, last = off;
        while (p < off + n) {
          auto* h = reinterpret_cast<nlmsghdr*>(out_.data() + p);
          size_t len = NLMSG_ALIGN(h->nlmsg_len);
          if (p + len > off + n) break;
          p += len;
          last = p;
        }
        n = last - off;
      }
      ssize_t r = mnl_socket_sendto(nl_, out_.data() + off, n);
      if (r < 0 && errno != EAGAIN && errno != ENOBUFS) std::perror("cats-impair: sendto");
      off += n;
    }
    out_.clear();
  }

  // Reads everything available; calls on_packet(id, bytes) for each packet. Returns
  // false on a fatal error.
  template <typename F>
  bool receive(F& on_packet, uint64_t& enobufs) {
    static std::vector<char> buf(1 << 20);
    for (int rounds = 0; rounds < 64; ++rounds) {
      ssize_t r = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
        if (errno == ENOBUFS) {
          ++enobufs;
          continue;
        }
        if (errno == EINTR) return true;
        std::perror("cats-impair: recv");
        return false;
      }
      Ctx ctx{&on_packet};
      mnl_cb_run(buf.data(), static_cast<size_t>(r), 0, portid_, &Queue::cb<F>, &ctx);
    }
    return true;
  }

 private:
  struct Ctx {
    void* fn;
  };

  template <typename F>
  static int cb(const nlmsghdr* nlh, void* data) {
    nlattr* attr[NFQA_MAX + 1] = {};
    if (nfq_nlmsg_parse(nlh, attr) < 0) return MNL_CB_OK;
    if (!attr[NFQA_PACKET_HDR]) return MNL_CB_OK;
    auto* ph = static_cast<nfqnl_msg_packet_hdr*>(mnl_attr_get_payload(attr[NFQA_PACKET_HDR]));
    uint32_t id = ntohl(ph->packet_id);
    uint64_t bytes = 0;
    if (attr[NFQA_CAP_LEN])
      bytes = ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN]));
    else if (attr[NFQA_PAYLOAD])
      bytes = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
    auto* ctx = static_cast<Ctx*>(data);
    (*static_cast<F*>(ctx->fn))(id, bytes);
    return MNL_CB_OK;
  }

  nlmsghdr* put(int type) {
    size_t off = out_.size();
    out_.resize(off + 256);
    return nfq_nlmsg_put(out_.data() + off, type, num_);
  }
  void commit(nlmsghdr* nlh) {
    // nfq_nlmsg_put wrote at the tail; trim the slack to the aligned message length.
    size_t start = static_cast<size_t>(reinterpret_cast<char*>(nlh) - out_.data());
    out_.resize(start + NLMSG_ALIGN(nlh->nlmsg_len));
  }

  void send_ack(nlmsghdr* nlh, const char* what) {
    nlh->nlmsg_flags |= NLM_F_ACK;
    nlh->nlmsg_seq = ++seq_;
    if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) die(what);
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    ssize_t r = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
    if (r < 0) die(what);
    if (mnl_cb_run(buf.data(), static_cast<size_t>(r), seq_, portid_, nullptr, nullptr) < 0) die(what);
  }

  mnl_socket* nl_ = nullptr;
  uint32_t num_;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
  std::vector<char> out_;
};

struct Client {
  int fd;
  std::string in;
};

class Control {
 public:
  explicit Control(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) die("control socket");
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) {
      std::fprintf(stderr, "cats-impair: control path too long\n");
      std::exit(2);
    }
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    unlink(path.c_str());
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) die("bind control socket");
    if (listen(fd_, 16) < 0) die("listen");
  }
  ~Control() {
    for (auto& c : clients_) close(c.fd);
    close(fd_);
    unlink(path_.c_str());
  }
  Control(const Control&) = delete;
  Control& operator=(const Control&) = delete;

  int fd() const { return fd_; }
  std::vector<Client>& clients() { return clients_; }

  void accept_clients() {
    for (;;) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) return;
      if (clients_.size() >= 32) {
        close(c);
        continue;
      }
      clients_.push_back(Client{c, {}});
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<Client> clients_;
};

std::string stats_line(const DelayLine& line) {
  const auto& s = line.stats();
  std::string r;
  auto add = [&](const char* k, uint64_t v) {
    if (!r.empty()) r += ' ';
    r += k;
    r += '=';
    r += std::to_string(v);
  };
  add("received", s.received);
  add("received_bytes", s.received_bytes);
  add("accepted", s.accepted);
  add("accepted_bytes", s.accepted_bytes);
  add("dropped_loss", s.dropped_loss);
  add("dropped_overflow", s.dropped_overflow);
  add("queued", line.queued());
  add("queued_bytes", line.queued_bytes());
  add("max_queued", s.max_queued);
  add("enobufs", s.enobufs);
  add("verdict_batches", s.verdict_batches);
  return r;
}

std::string params_line(const Params& p, uint64_t seed) {
  return "delay=" + fmt_double(p.delay_ms) + " jitter=" + fmt_double(p.jitter_ms) +
         " loss=" + fmt_double(p.loss_pct) + " limit=" + std::to_string(p.limit_packets) +
         " limit_bytes=" + std::to_string(p.limit_bytes) + " seed=" + std::to_string(seed);
}

// Applies "k=v" settings; on error returns the message and changes nothing.
std::string apply_settings(const std::vector<std::string_view>& kvs, DelayLine& line, uint64_t& seed) {
  Params p = line.params();
  uint64_t new_seed = seed;
  bool reseed = false;
  for (auto kv : kvs) {
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) return "error: expected key=value, got '" + std::string(kv) + "'";
    auto k = kv.substr(0, eq), v = kv.substr(eq + 1);
    double d = 0;
    uint64_t u = 0;
    if (k == "delay" || k == "jitter" || k == "loss") {
      if (!parse_double(v, d) || d < 0) return "error: bad number for " + std::string(k);
      if (k == "loss" && d > 100) return "error: loss must be 0..100";
      if (k != "loss" && d > 60000) return "error: " + std::string(k) + " must be <= 60000 ms";
      (k == "delay" ? p.delay_ms : k == "jitter" ? p.jitter_ms : p.loss_pct) = d;
    } else if (k == "seed" || k == "limit" || k == "limit_bytes") {
      if (!parse_u64(v, u)) return "error: bad integer for " + std::string(k);
      if (k == "seed") {
        new_seed = u;
        reseed = true;
      } else if (k == "limit") {
        if (u == 0) return "error: limit must be > 0";
        p.limit_packets = u;
      } else {
        if (u == 0) return "error: limit_bytes must be > 0";
        p.limit_bytes = u;
      }
    } else {
      return "error: unknown key '" + std::string(k) + "'";
    }
  }
  line.set_params(p);
  if (reseed) {
    seed = new_seed;
    line.set_uniform(cats::impair::seeded_uniform(seed));
  }
  return "ok " + params_line(p, seed);
}

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\r') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string handle_command(std::string_view line_text, DelayLine& line, uint64_t& seed) {
  auto words = split_ws(line_text);
  if (words.empty()) return "error: empty command";
  auto cmd = words[0];
  std::vector<std::string_view> rest(words.begin() + 1, words.end());
  if (cmd == "set") return apply_settings(rest, line, seed);
  if (cmd == "get") return params_line(line.params(), seed);
  if (cmd == "stats") return stats_line(line);
  if (cmd == "reset") {
    line.reset_stats();
    return "ok";
  }
  if (cmd == "ping") return "pong";
  return "error: unknown command '" + std::string(cmd) + "' (set|get|stats|reset|ping)";
}

void usage() {
  std::fprintf(stderr,
               "usage: cats-impair --queue N --control PATH [--delay MS] [--jitter MS] [--loss PCT]\n"
               "                   [--seed N] [--limit PKTS] [--limit-bytes BYTES] [--no-rt]\n");
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t queue_num = 0;
  bool have_queue = false;
  std::string control;
  uint64_t seed = 1;
  std::vector<std::string> settings;
  bool realtime = true;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto need = [&]() -> std::string_view {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--queue") {
      if (!parse_u64(need(), queue_num) || queue_num > 65535) {
        usage();
        return 2;
      }
      have_queue = true;
    } else if (a == "--control") {
      control = need();
    } else if (a == "--delay" || a == "--jitter" || a == "--loss" || a == "--seed" || a == "--limit" ||
               a == "--limit-bytes") {
      std::string k(a.substr(2));
      if (k == "limit-bytes") k = "limit_bytes";
      settings.push_back(k + "=" + std::string(need()));
    } else if (a == "--no-rt") {
      realtime = false;
    } else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else {
      usage();
      return 2;
    }
  }
  if (!have_queue || control.empty()) {
    usage();
    return 2;
  }

  DelayLine line(cats::impair::seeded_uniform(seed));
  {
    std::vector<std::string_view> kvs(settings.begin(), settings.end());
    auto r = apply_settings(kvs, line, seed);
    if (r.rfind("error", 0) == 0) {
      std::fprintf(stderr, "cats-impair: %s\n", r.c_str());
      return 2;
    }
  }

  // A delay line is only as precise as our wake-ups: on a busy box (parallel
  // compiles) a SCHED_OTHER process waits milliseconds for a CPU. Run SCHED_FIFO
  // (we use little CPU; the kernel's RT throttling still bounds us).
  if (realtime) {
    sched_param sp{};
    sp.sched_priority = 20;
    if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
      std::fprintf(stderr, "cats-impair: SCHED_FIFO not available (%s); timing may jitter under load\n",
                   std::strerror(errno));
  }

  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Kernel queue length: above our own bound so the kernel never drops first.
  uint32_t kmax = static_cast<uint32_t>(std::min<uint64_t>(line.params().limit_packets * 2 + 1024, 1u << 20));
  Queue q(static_cast<uint32_t>(queue_num), kmax);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (tfd < 0) die("timerfd_create");
  Control ctl(control);  // created last: its existence means "ready"

  std::fprintf(stderr, "cats-impair: queue %u ready, control %s, %s\n", q.num(), control.c_str(),
               params_line(line.params(), seed).c_str());

  int64_t armed_for = -1;
  auto arm = [&]() {
    auto next = line.next_release();
    int64_t want = next ? std::max<int64_t>(*next, 1) : 0;
    if (want == armed_for) return;
    itimerspec its{};
    its.it_value.tv_sec = want / 1'000'000'000;
    its.it_value.tv_nsec = want % 1'000'000'000;
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, nullptr);  // 0 disarms
    armed_for = want;
  };
  auto release = [&](int64_t t) {
    if (auto last = line.release_due(t)) {
      q.accept_upto(*last);
      ++line.stats().verdict_batches;
    }
  };

  auto on_packet = [&](uint32_t id, uint64_t bytes) {
    auto v = line.arrive(id, bytes, now_ns());
    if (v != DelayLine::Verdict::queued) q.drop(id);
  };

  while (!g_stop) {
    std::vector<pollfd> pfds;
    pfds.push_back({q.fd(), POLLIN, 0});
    pfds.push_back({tfd, POLLIN, 0});
    pfds.push_back({ctl.fd(), POLLIN, 0});
    for (auto& c : ctl.clients()) pfds.push_back({c.fd, POLLIN, 0});
    int n = poll(pfds.data(), pfds.size(), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (pfds[0].revents & POLLIN) {
      if (!q.receive(on_packet, line.stats().enobufs)) return 1;
    }
    if (pfds[1].revents & POLLIN) {
      uint64_t exp;
      (void)!read(tfd, &exp, sizeof exp);
      armed_for = -1;
    }
    // Whatever woke us: release what is due (this also covers delay=0, where packets
    // received in this burst are released together by one batch verdict).
    release(now_ns());
    q.flush();
    arm();

    if (pfds[2].revents & POLLIN) ctl.accept_clients();
    auto& cl = ctl.clients();
    for (size_t i = 3; i < pfds.size(); ++i) {
      if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Client* c = nullptr;
      for (auto& x : cl)
        if (x.fd == pfds[i].fd) c = &x;
      if (!c) continue;
      char buf[1024];
      ssize_t r = read(c->fd, buf, sizeof buf);
      if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        close(c->fd);
        c->fd = -1;
        continue;
      }
      c->in.append(buf, static_cast<size_t>(r));
      size_t nl;
      while ((nl = c->in.find('\n')) != std::string::npos) {
        std::string cmd = c->in.substr(0, nl);
        c->in.erase(0, nl + 1);
        std::string reply = handle_command(cmd, line, seed) + "\n";
        if (cmd.rfind("set", 0) == 0) std::fprintf(stderr, "cats-impair: %s", reply.c_str());
        (void)!write(c->fd, reply.data(), reply.size());
      }
      if (c->in.size() > 4096) {
        close(c->fd);
        c->fd = -1;
      }
    }
    std::erase_if(cl, [](const Client& x) { return x.fd < 0; });
  }

  // Shutdown: let everything still held go, so nothing is lost by stopping us.
  if (auto last = line.release_all()) q.accept_upto(*last);
  q.flush();
  close(tfd);
  std::fprintf(stderr, "cats-impair: stopped; %s\n", stats_line(line).c_str());
  return 0;
}
