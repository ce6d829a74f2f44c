#include "stamp/sender.hpp"

#include "base/log.hpp"

#include <boost/asio/buffer.hpp>

#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <random>

namespace cats::stamp {

namespace asio = boost::asio;
using std::chrono::steady_clock;

const char* validate(const SenderConfig& c) {
  if (c.interval < std::chrono::milliseconds(1) || c.interval > std::chrono::seconds(60))
    return "interval must be 1 ms .. 60 s";
  if (const char* e = validate(c.stats)) return e;
  if (c.reflector.port() == 0) return "reflector port must be set";
  if (c.device.size() >= IFNAMSIZ) return "device name too long";
  if (!c.local_address.is_unspecified() &&
      c.local_address.is_v4() != c.reflector.address().is_v4())
    return "local address and reflector must be of the same family";
  return nullptr;
}

SteadyTime arrival_time(SteadyTime steady_now, std::chrono::system_clock::time_point system_now,
                        std::optional<std::chrono::system_clock::time_point> kernel,
                        std::chrono::milliseconds max_age) {
  if (!kernel) return steady_now;
  const auto age = system_now - *kernel;
  if (age < decltype(age)::zero() || age > max_age) return steady_now;
  return steady_now - std::chrono::duration_cast<SteadyTime::duration>(age);
}

StampSender::StampSender(asio::io_context& io, SenderConfig cfg, OnChange on_change)
    : cfg_(std::move(cfg)),
      on_change_(std::move(on_change)),
      socket_(io, tunsock::Options{cfg_.device, cfg_.local_address, cfg_.reflector}),
      send_timer_(io),
      deadline_timer_(io),
      stats_(cfg_.stats) {}

StampSender::~StampSender() { stop(); }

Result<std::shared_ptr<StampSender>> StampSender::start(asio::io_context& io, SenderConfig cfg,
                                                        Rng rng, OnChange on_change) {
  if (const char* e = validate(cfg)) return Error::msg("stamp sender " + cfg.name + ": " + e);
  if (!rng) {
    rng = [gen = std::mt19937(std::random_device{}())]() mutable { return static_cast<uint32_t>(gen()); };
  }
  std::shared_ptr<StampSender> s(new StampSender(io, std::move(cfg), std::move(on_change)));
  if (auto st = s->open_socket(); !st) {
    log::warn("stamp", s->cfg_.name + ": " + st.error().message + " (will retry)");
    s->logged_open_error_ = true;
  }
  // Random offset within one interval so sessions created together spread out.
  const auto interval_us = std::chrono::duration_cast<std::chrono::microseconds>(s->cfg_.interval);
  const auto offset = std::chrono::microseconds(rng() % static_cast<uint64_t>(interval_us.count()));
  s->next_send_ = steady_clock::now() + offset;
  s->schedule_tick();
  return s;
}

Status StampSender::open_socket() {
  // Connected: the kernel drops datagrams from anyone but the reflector and reports
  // ICMP errors (port unreachable) to us.
  if (auto st = socket_.open(); !st) return fail(st.error());
  // The first SIOCGSTAMPNS turns the socket's receive timestamps on (socket(7)); it has
  // no packet to stamp yet (ENOENT). Not SO_TIMESTAMPNS: with it the kernel puts the
  // stamp in a control message, which Asio's receive does not read, and stops keeping
  // the one this ioctl returns.
  timespec ts{};
  (void)::ioctl(socket_.socket().native_handle(), SIOCGSTAMPNS, &ts);
  arm_receive();
  return ok();
}

SteadyTime StampSender::arrival_of_last_read() {
  const auto steady_now = steady_clock::now();
  const auto system_now = std::chrono::system_clock::now();
  timespec ts{};
  if (::ioctl(socket_.socket().native_handle(), SIOCGSTAMPNS, &ts) != 0) return steady_now;
  const std::chrono::system_clock::time_point kernel(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
  return arrival_time(steady_now, system_now, kernel);
}

void StampSender::close_socket() { socket_.close(); }

void StampSender::stop() {
  stopped_ = true;
  send_timer_.cancel();
  deadline_timer_.cancel();
  close_socket();
}

void StampSender::emit(const std::optional<StateChange>& c) {
  if (!c) return;
  log::info("stamp", cfg_.name + ": " + std::string(to_string(c->from)) + " -> " +
                         std::string(to_string(c->to)) + " at seq " + std::to_string(c->seq));
  if (on_change_) on_change_(cfg_.name, *c);
}

void StampSender::schedule_tick() {
  send_timer_.expires_at(next_send_);
  send_timer_.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
    auto self = w.lock();
    if (!self || ec || self->stopped_) return;
    self->tick();
  });
}

void StampSender::drain() {
  // Replies already queued in our socket are not lost: when this process was slow to run
  // (a loaded host), the deadline timer and the socket can be ready at once, and Asio may
  // run the timer first. Reading them before any expiry keeps a short deadline from
  // turning our own scheduling delay into "path down".
  if (!socket_.is_open()) return;
  for (int i = 0; i < 64; ++i) {
    boost::system::error_code ec;
    const std::size_t n = socket_.socket().receive(asio::buffer(rx_), 0, ec);  // non-blocking socket
    if (ec) return;  // would_block: nothing queued (an ICMP error is only a loss, as below)
    on_datagram(n, arrival_of_last_read());
  }
}

void StampSender::tick() {
  drain();
  const auto now = steady_clock::now();
  emit(stats_.expire(now));
  if (!socket_.is_open()) {
    auto st = open_socket();
    if (st && logged_open_error_) {
      log::info("stamp", cfg_.name + ": socket open again");
      logged_open_error_ = false;
    } else if (!st && !logged_open_error_) {
      log::warn("stamp", cfg_.name + ": " + st.error().message + " (will retry)");
      logged_open_error_ = true;
    }
  }
  send_probe(now);
  // Fixed schedule (no drift); after a stall, resume instead of sending a burst.
  next_send_ += cfg_.interval;
  if (next_send_ <= now) next_send_ = now + cfg_.interval;
  schedule_tick();
  arm_deadline();
}

void StampSender::send_probe(SteadyTime now) {
  const uint32_t seq = next_seq_++;
  if (!socket_.is_open()) {
    ++send_errors_;
    emit(stats_.on_send_error(seq, now));
    return;
  }
  SenderPacket p{seq, to_ntp(std::chrono::system_clock::now()), cfg_.error};
  p.error.ptp = false;
  const auto bytes = encode_sender(p, cfg_.key ? &*cfg_.key : nullptr);
  const uint64_t gen = socket_.generation();
  auto st = socket_.send(bytes);
  // A re-created tunnel: the helper sent on a new socket, which needs its receive armed.
  if (socket_.is_open() && socket_.generation() != gen) arm_receive();
  if (st) {
    emit(stats_.on_sent(seq, now));
    return;
  }
  ++send_errors_;
  emit(stats_.on_send_error(seq, now));
  log::debug("stamp", cfg_.name + ": " + st.error().message);
}

void StampSender::arm_receive() {
  socket_.socket().async_receive(
      asio::buffer(rx_), [w = weak_from_this(), gen = socket_.generation()](const boost::system::error_code& ec,
                                                                   std::size_t n) {
        auto self = w.lock();
        if (!self || self->stopped_ || gen != self->socket_.generation()) return;
        if (ec) {
          // ICMP errors on a connected socket are reported once each and say the probe
          // was lost, which the timeout already accounts for. Anything else: start over
          // with a fresh socket on the next tick.
          if (ec == asio::error::connection_refused || ec == asio::error::host_unreachable ||
              ec == asio::error::network_unreachable || ec == asio::error::connection_reset ||
              ec.value() == EHOSTUNREACH || ec.value() == ENETUNREACH) {
            self->arm_receive();
          } else if (ec != asio::error::operation_aborted) {
            log::debug("stamp", self->cfg_.name + ": receive: " + ec.message());
            self->close_socket();
          }
          return;
        }
        self->on_datagram(n, self->arrival_of_last_read());
        self->arm_receive();
      });
}

void StampSender::on_datagram(std::size_t n, SteadyTime now) {
  if (n > kMaxPacketLen) {
    ++malformed_;
    return;
  }
  const auto d = decode_reflector(std::span<const uint8_t>(rx_.data(), n), cfg_.key ? &*cfg_.key : nullptr);
  if (!d) {
    ++malformed_;
    return;
  }
  const ReflectorPacket& p = *d.packet;
  // T3 - T2 from the reflector's own timestamps, in the format its Z bit names.
  const auto dwell = timestamp_diff(p.timestamp, p.receive_timestamp, p.error.ptp);
  // The Session-Sender Sequence Number is the copy of ours in both reflector modes.
  const auto r = stats_.on_reply(p.sender_seq, now, dwell);
  emit(r.change);
}

void StampSender::arm_deadline() {
  const auto d = stats_.next_deadline();
  if (!d || (armed_deadline_ && *armed_deadline_ <= *d)) return;
  armed_deadline_ = d;
  deadline_timer_.expires_at(*d);  // cancels a later wait, whose handler sees aborted
  deadline_timer_.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
    auto self = w.lock();
    if (!self || ec || self->stopped_) return;
    self->armed_deadline_.reset();
    self->drain();
    self->emit(self->stats_.expire(steady_clock::now()));
    self->arm_deadline();
  });
}

SenderSnapshot StampSender::snapshot() const {
  SenderSnapshot s;
  static_cast<PathSnapshot&>(s) = stats_.snapshot();
  s.malformed = malformed_;
  s.send_errors = send_errors_;
  return s;
}

}  // namespace cats::stamp
