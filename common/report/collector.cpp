#include "report/collector.hpp"

#include "base/log.hpp"

#include <algorithm>

namespace cats::report {
namespace {

// A v4 peer seen through a dual-stack socket arrives as ::ffff:a.b.c.d.
IpAddress unmap(const IpAddress& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  return a;
}

}  // namespace

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::accepted: return "accepted";
    case Verdict::malformed: return "malformed";
    case Verdict::oversized: return "oversized";
    case Verdict::unknown_vcpe: return "unknown_vcpe";
    case Verdict::peer_mismatch: return "peer_mismatch";
    case Verdict::bad_signature: return "bad_signature";
    case Verdict::replay: return "replay";
    case Verdict::stale: return "stale";
  }
  return "unknown";
}

std::string_view to_string(Stream s) { return s == Stream::report ? "report" : "plan_ack"; }

Collector::Collector(std::vector<VcpePeer> peers, CollectorConfig cfg, std::vector<ReplayMark> marks,
                     MarkWriter write)
    : cfg_(cfg), write_(std::move(write)) {
  for (auto& p : peers) {
    for (auto& a : p.tunnel_addresses) a = unmap(a);
    std::string id = p.id;
    peers_.insert_or_assign(std::move(id), Peer{std::move(p), std::nullopt, std::nullopt});
  }
  for (const auto& m : marks) {
    auto it = peers_.find(m.vcpe_id);
    if (it == peers_.end()) continue;  // a vCPE no longer configured
    auto& last = m.stream == Stream::plan_ack ? it->second.last_ack_seq : it->second.last_seq;
    if (!last || m.seq > *last) last = m.seq;
  }
}

std::optional<uint64_t> Collector::last_seq(const std::string& vcpe_id) const {
  auto it = peers_.find(vcpe_id);
  if (it == peers_.end()) return std::nullopt;
  return it->second.last_seq;
}

Verdict Collector::authenticate(std::span<const uint8_t> signed_bytes, std::span<const uint8_t> signature,
                                const std::string& vcpe_id, uint64_t seq, uint64_t timestamp_ns,
                                const IpAddress& source, const Now& now, bool ack, std::string& detail) {
  auto it = peers_.find(vcpe_id);
  detail = vcpe_id;
  if (it == peers_.end()) return Verdict::unknown_vcpe;
  Peer& peer = it->second;

  const IpAddress src = unmap(source);
  const auto& allowed = peer.cfg.tunnel_addresses;
  if (std::find(allowed.begin(), allowed.end(), src) == allowed.end()) {
    detail = "claims " + vcpe_id;
    return Verdict::peer_mismatch;
  }
  if (!peer.cfg.key.verify(signed_bytes, signature)) return Verdict::bad_signature;

  const auto& last = ack ? peer.last_ack_seq : peer.last_seq;
  if (last && seq <= *last) {
    detail = vcpe_id + " seq " + std::to_string(seq) + " <= " + std::to_string(*last);
    return Verdict::replay;
  }

  // Signed comparison in ns; a timestamp beyond int64 is rejected as far future.
  const int64_t wall_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.wall.time_since_epoch()).count();
  const auto max_age_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(cfg_.max_age).count();
  const auto max_future_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(cfg_.max_future).count();
  if (timestamp_ns > static_cast<uint64_t>(INT64_MAX)) {
    detail = vcpe_id + " timestamp in the far future";
    return Verdict::stale;
  }
  const int64_t ts = static_cast<int64_t>(timestamp_ns);
  if (wall_ns - ts > max_age_ns) {
    detail = vcpe_id + " too old";
    return Verdict::stale;
  }
  if (ts - wall_ns > max_future_ns) {
    detail = vcpe_id + " from the future";
    return Verdict::stale;
  }
  // Persist, then accept (the rule in collector.hpp): a crash right after this leaves a
  // stored mark at least as high as any message this run acted on.
  if (write_) {
    if (auto st = write_(ReplayMark{vcpe_id, ack ? Stream::plan_ack : Stream::report, seq}); !st) {
      ++mark_write_failures_;
      if (!mark_log_.last || now.mono - *mark_log_.last >= cfg_.log_interval) {
        log::warn("collector", "replay mark of " + vcpe_id + " not stored (" + st.error().message +
                                   "); accepted all the same" +
                                   (mark_log_.suppressed ? "; " + std::to_string(mark_log_.suppressed) +
                                                               " similar failures not logged"
                                                         : std::string()));
        mark_log_.last = now.mono;
        mark_log_.suppressed = 0;
      } else {
        ++mark_log_.suppressed;
      }
    }
  }
  (ack ? peer.last_ack_seq : peer.last_seq) = seq;
  return Verdict::accepted;
}

AcceptResult Collector::accept(std::span<const uint8_t> datagram, const IpAddress& source, const Now& now) {
  if (datagram.size() > kMaxDatagram)
    return reject(Verdict::oversized, source, std::to_string(datagram.size()) + " bytes", now.mono);
  auto decoded = decode_report(datagram);
  if (!decoded) return reject(Verdict::malformed, source, decoded.error().message, now.mono);
  const Report& rep = decoded->message;
  std::string detail;
  auto v = authenticate(decoded->signed_bytes, decoded->signature, rep.vcpe_id, rep.seq, rep.timestamp_ns, source,
                        now, false, detail);
  if (v != Verdict::accepted) return reject(v, source, detail, now.mono);

  AcceptResult res;
  res.verdict = Verdict::accepted;
  res.events = table_.apply(rep, now.mono);
  res.report = std::move(decoded->message);
  ++counters_[static_cast<size_t>(Verdict::accepted)];
  return res;
}

AckResult Collector::accept_ack(std::span<const uint8_t> datagram, const IpAddress& source, const Now& now) {
  AckResult res;
  auto done = [&](Verdict v, std::string_view detail) {
    ++ack_counters_[static_cast<size_t>(v)];
    if (v != Verdict::accepted) log_rejection(v, source, "plan ack", detail, now.mono);
    res.verdict = v;
    return res;
  };
  if (datagram.size() > kMaxDatagram) return done(Verdict::oversized, std::to_string(datagram.size()) + " bytes");
  auto decoded = decode_plan_ack(datagram);
  if (!decoded) return done(Verdict::malformed, decoded.error().message);
  const PlanAck& a = decoded->message;
  std::string detail;
  auto v = authenticate(decoded->signed_bytes, decoded->signature, a.vcpe_id, a.seq, a.timestamp_ns, source, now,
                        true, detail);
  if (v == Verdict::accepted) res.ack = std::move(decoded->message);
  return done(v, detail);
}

AcceptResult Collector::reject(Verdict v, const IpAddress& source, std::string_view detail,
                               std::chrono::steady_clock::time_point now) {
  ++counters_[static_cast<size_t>(v)];
  log_rejection(v, source, "report", detail, now);
  AcceptResult res;
  res.verdict = v;
  return res;
}

void Collector::log_rejection(Verdict v, const IpAddress& source, std::string_view what, std::string_view detail,
                              std::chrono::steady_clock::time_point now) {
  // Rate-limited: a flood of junk must not turn into a flood of log lines.
  LogState& ls = log_[static_cast<size_t>(v)];
  if (ls.last && now - *ls.last < cfg_.log_interval) {
    ++ls.suppressed;
    return;
  }
  std::string msg = "rejected " + std::string(what) + " from " + source.to_string() + ": " +
                    std::string(to_string(v)) + " (" + std::string(detail) + ")";
  if (ls.suppressed > 0) msg += "; " + std::to_string(ls.suppressed) + " similar rejections not logged";
  log::warn("collector", msg);
  ls.last = now;
  ls.suppressed = 0;
  ++ls.lines;
}

}  // namespace cats::report
