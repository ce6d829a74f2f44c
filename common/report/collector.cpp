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

Collector::Collector(std::vector<VcpePeer> peers, CollectorConfig cfg) : cfg_(cfg) {
  for (auto& p : peers) {
    for (auto& a : p.tunnel_addresses) a = unmap(a);
    std::string id = p.id;
    peers_.insert_or_assign(std::move(id), Peer{std::move(p), std::nullopt});
  }
}

std::optional<uint64_t> Collector::last_seq(const std::string& vcpe_id) const {
  auto it = peers_.find(vcpe_id);
  if (it == peers_.end()) return std::nullopt;
  return it->second.last_seq;
}

AcceptResult Collector::accept(std::span<const uint8_t> datagram, const IpAddress& source, const Now& now) {
  if (datagram.size() > kMaxDatagram)
    return reject(Verdict::oversized, source, std::to_string(datagram.size()) + " bytes", now.mono);
  auto decoded = decode_report(datagram);
  if (!decoded) return reject(Verdict::malformed, source, decoded.error().message, now.mono);
  const Report& rep = decoded->message;

  auto it = peers_.find(rep.vcpe_id);
  if (it == peers_.end()) return reject(Verdict::unknown_vcpe, source, rep.vcpe_id, now.mono);
  Peer& peer = it->second;

  const IpAddress src = unmap(source);
  const auto& allowed = peer.cfg.tunnel_addresses;
  if (std::find(allowed.begin(), allowed.end(), src) == allowed.end())
    return reject(Verdict::peer_mismatch, source, "claims " + rep.vcpe_id, now.mono);

  if (!decoded->verify(peer.cfg.key)) return reject(Verdict::bad_signature, source, rep.vcpe_id, now.mono);

  if (peer.last_seq && rep.seq <= *peer.last_seq)
    return reject(Verdict::replay, source,
                  rep.vcpe_id + " seq " + std::to_string(rep.seq) + " <= " + std::to_string(*peer.last_seq),
                  now.mono);

  // Signed comparison in ns; a timestamp beyond int64 is rejected as far future.
  const int64_t wall_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.wall.time_since_epoch()).count();
  const auto max_age_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(cfg_.max_age).count();
  const auto max_future_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(cfg_.max_future).count();
  if (rep.timestamp_ns > static_cast<uint64_t>(INT64_MAX))
    return reject(Verdict::stale, source, rep.vcpe_id + " timestamp in the far future", now.mono);
  const int64_t ts = static_cast<int64_t>(rep.timestamp_ns);
  if (wall_ns - ts > max_age_ns)
    return reject(Verdict::stale, source, rep.vcpe_id + " report too old", now.mono);
  if (ts - wall_ns > max_future_ns)
    return reject(Verdict::stale, source, rep.vcpe_id + " report from the future", now.mono);

  AcceptResult res;
  res.verdict = Verdict::accepted;
  peer.last_seq = rep.seq;
  res.events = table_.apply(rep, now.mono);
  res.report = std::move(decoded->message);
  ++counters_[static_cast<size_t>(Verdict::accepted)];
  return res;
}

AcceptResult Collector::reject(Verdict v, const IpAddress& source, std::string_view detail,
                               std::chrono::steady_clock::time_point now) {
  const auto i = static_cast<size_t>(v);
  ++counters_[i];
  // Rate-limited: a flood of junk must not turn into a flood of log lines.
  LogState& ls = log_[i];
  if (ls.last && now - *ls.last < cfg_.log_interval) {
    ++ls.suppressed;
  } else {
    std::string msg = "rejected report from " + source.to_string() + ": " + std::string(to_string(v)) +
                      " (" + std::string(detail) + ")";
    if (ls.suppressed > 0) msg += "; " + std::to_string(ls.suppressed) + " similar rejections not logged";
    log::warn("collector", msg);
    ls.last = now;
    ls.suppressed = 0;
    ++ls.lines;
  }
  AcceptResult res;
  res.verdict = v;
  return res;
}

}  // namespace cats::report
