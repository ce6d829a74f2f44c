#include "stamp/reflector.hpp"

#include "base/log.hpp"
#include "stamp/udp_meta.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>

namespace cats::stamp {

namespace asio = boost::asio;

StampReflector::StampReflector(asio::io_context& io, ReflectorConfig cfg)
    : cfg_(std::move(cfg)), socket_(io), limiter_(cfg_.rate_limit) {}

StampReflector::~StampReflector() { stop(); }

Result<std::shared_ptr<StampReflector>> StampReflector::start(asio::io_context& io,
                                                              ReflectorConfig cfg) {
  std::shared_ptr<StampReflector> r(new StampReflector(io, std::move(cfg)));
  const UdpEndpoint ep(r->cfg_.address, r->cfg_.port);
  const bool v6 = ep.address().is_v6();
  boost::system::error_code ec;
  r->socket_.open(ep.protocol(), ec);
  if (ec) return Error::sys(ec.value(), "stamp reflector: socket");
  const int fd = r->socket_.native_handle();
  if (v6) {
    const int one = 1;
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
      return Error::sys(errno, "stamp reflector: IPV6_V6ONLY");
  }
  CATS_TRY(enable_recv_meta(fd, v6));
  r->socket_.bind(ep, ec);
  if (ec) return Error::sys(ec.value(), "stamp reflector: bind " + endpoint_to_string(ep));
  r->socket_.non_blocking(true, ec);
  r->local_ = r->socket_.local_endpoint(ec);
  if (ec) return Error::sys(ec.value(), "stamp reflector: getsockname");
  r->arm();
  log::info("stamp", "reflector listening on " + endpoint_to_string(r->local_) +
                         (r->cfg_.key ? " (authenticated)" : ""));
  return r;
}

void StampReflector::stop() {
  boost::system::error_code ec;
  if (socket_.is_open()) socket_.close(ec);
}

void StampReflector::arm() {
  // Readiness, then recvmsg ourselves: Asio's receive cannot return ancillary data.
  socket_.async_wait(asio::socket_base::wait_read,
                     [w = weak_from_this()](const boost::system::error_code& ec) {
                       auto self = w.lock();
                       if (!self || ec || !self->socket_.is_open()) return;
                       self->drain();
                       self->arm();
                     });
}

std::optional<std::vector<uint8_t>> StampReflector::make_reply(
    const Arrival& a, std::chrono::system_clock::time_point send_time) {
  const AuthKey* key = cfg_.key ? &*cfg_.key : nullptr;
  if (a.truncated) {
    ++counters_.malformed;
    return std::nullopt;
  }
  // §4.4: verify the HMAC before anything else is believed, and before spending a token
  // (an unauthenticated flood must not starve the real sender's bucket).
  const auto d = decode_sender(a.bytes, key);
  if (!d) {
    ++(d.error == DecodeError::bad_hmac ? counters_.auth_failed : counters_.malformed);
    return std::nullopt;
  }
  if (!limiter_.allow(a.source, a.now)) {
    ++counters_.rate_limited;
    return std::nullopt;
  }
  const SenderPacket& s = *d.packet;
  ReflectorPacket p;
  p.seq = s.seq;  // stateless mode (§4.3.1): copy of the received sequence number
  p.timestamp = to_ntp(send_time);
  p.error = cfg_.error;
  p.error.ptp = false;  // our timestamps are always NTP format
  p.receive_timestamp = to_ntp(a.received_at);
  p.sender_seq = s.seq;
  p.sender_timestamp = s.timestamp;
  p.sender_error = s.error;
  p.sender_ttl = static_cast<uint8_t>(std::clamp(a.ttl, 0, 255));
  auto out = encode_reflector(p, key);
  // Reply as long as the request (zero-filled past the base packet): RFC 8762 sizes both
  // directions alike so that a path is measured with equal packets each way. Never
  // longer, so the reflector cannot amplify.
  if (a.bytes.size() > out.size()) out.resize(a.bytes.size(), 0);
  return out;
}

void StampReflector::drain() {
  // Bounded batch per wakeup so one busy socket cannot monopolise the io_context.
  std::array<uint8_t, kMaxPacketLen> buf;
  for (int i = 0; i < 64 && socket_.is_open(); ++i) {
    RecvMeta m;
    if (!recv_with_meta(socket_.native_handle(), buf, m)) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        log::warn("stamp", std::string("reflector recvmsg: ") + std::strerror(errno));
      return;
    }
    ++counters_.received;
    Arrival a;
    a.bytes = std::span<const uint8_t>(buf.data(), m.length);
    a.truncated = m.truncated;
    a.source = {m.source.address(), m.ifindex};
    a.ttl = m.ttl.value_or(255);
    a.received_at = m.kernel_time.value_or(std::chrono::system_clock::now());
    a.now = std::chrono::steady_clock::now();
    auto reply = make_reply(a, std::chrono::system_clock::now());
    if (!reply) continue;
    if (int err = send_via(socket_.native_handle(), *reply, m.source, m.ifindex, m.destination)) {
      ++counters_.send_errors;
      log::debug("stamp", "reflector reply to " + endpoint_to_string(m.source) + ": " +
                              std::strerror(err));
      continue;
    }
    ++counters_.reflected;
  }
}

}  // namespace cats::stamp
