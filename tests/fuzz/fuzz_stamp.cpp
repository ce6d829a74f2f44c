// libFuzzer target for the STAMP decoders (RFC 8762 §4.2/§4.3), in both modes, plus the
// path statistics driven by an arbitrary event sequence. Properties checked beyond "does
// not crash": a decoded packet re-encodes to bytes that decode to the same packet, and
// the statistics keep their invariants whatever arrives in whatever order.
#include "stamp/packet.hpp"
#include "stamp/path_stats.hpp"

#include <cstdlib>
#include <span>

using namespace cats::stamp;

namespace {

const AuthKey& key() {
  static const AuthKey k = [] {
    std::vector<uint8_t> b(32, 0x5a);
    return *AuthKey::make(b);
  }();
  return k;
}

void check(bool ok) {
  if (!ok) std::abort();
}

template <class Decode, class Encode>
void roundtrip(std::span<const uint8_t> in, const AuthKey* k, Decode decode, Encode encode) {
  auto d = decode(in, k);
  if (!d) return;
  const auto again = decode(encode(*d.packet, k), k);
  check(again.packet.has_value() && *again.packet == *d.packet);
}

void stats_ops(std::span<const uint8_t> in) {
  // Each 3-octet record: op, seq (small, so collisions happen), time step in ms.
  PathStats s;
  SteadyTime now{};
  for (std::size_t i = 0; i + 3 <= in.size(); i += 3) {
    now += std::chrono::milliseconds(in[i + 2]);
    const uint32_t seq = in[i + 1] % 16;
    switch (in[i] % 4) {
      case 0: s.on_sent(seq, now); break;
      case 1: s.on_send_error(seq, now); break;
      case 2: s.on_reply(seq, now, std::chrono::milliseconds(static_cast<int8_t>(in[i]) / 4)); break;
      case 3: s.expire(now); break;
    }
    const auto snap = s.snapshot();
    check(snap.received + snap.lost <= snap.sent);
    check(snap.loss_pct >= 0 && snap.loss_pct <= 100);
    check(snap.jitter_ms >= 0);
    if (snap.rtt_min_ms) check(*snap.rtt_min_ms <= *snap.rtt_avg_ms && *snap.rtt_avg_ms <= *snap.rtt_max_ms);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::span<const uint8_t> in(data, size);
  for (const AuthKey* k : {static_cast<const AuthKey*>(nullptr), &key()}) {
    roundtrip(in, k, decode_sender, encode_sender);
    roundtrip(in, k, decode_reflector, encode_reflector);
  }
  if (size >= 16) {
    auto be32 = [&](std::size_t o) {
      return uint32_t{data[o]} << 24 | uint32_t{data[o + 1]} << 16 | uint32_t{data[o + 2]} << 8 |
             uint32_t{data[o + 3]};
    };
    const Timestamp x{be32(0), be32(4)}, y{be32(8), be32(12)};
    (void)timestamp_diff(x, y, false);
    (void)timestamp_diff(x, y, true);
  }
  stats_ops(in);
  return 0;
}
