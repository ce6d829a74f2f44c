// UAPI text protocol, https://www.wireguard.com/xplatform/ ("Configuration Protocol").
// The parser is strict about structure (every line key=value, errno line last, blank line
// terminator, no trailing bytes) and bounded, but ignores keys it does not know so a newer
// wireguard-go cannot break an older cats daemon.
#include "wg/uapi.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>

namespace cats::wg::uapi {
namespace {

void append_kv(std::string& out, std::string_view k, std::string_view v) {
  out.append(k);
  out.push_back('=');
  out.append(v);
  out.push_back('\n');
}

void format_peer(std::string& out, const PeerUpdate& p) {
  append_kv(out, "public_key", to_hex(p.public_key));
  if (p.remove) {
    // Everything else about a peer being removed is meaningless; keep the request minimal.
    append_kv(out, "remove", "true");
    return;
  }
  if (p.update_only) append_kv(out, "update_only", "true");
  if (p.preshared_key) append_kv(out, "preshared_key", to_hex(*p.preshared_key));
  if (p.endpoint) append_kv(out, "endpoint", endpoint_to_string(*p.endpoint));
  if (p.persistent_keepalive)
    append_kv(out, "persistent_keepalive_interval", std::to_string(*p.persistent_keepalive));
  if (p.replace_allowed_ips) append_kv(out, "replace_allowed_ips", "true");
  for (const auto& ip : p.allowed_ips) append_kv(out, "allowed_ip", ip.to_string());
}

template <class T>
bool parse_uint(std::string_view s, T max, T& out) {
  if (s.empty() || s.size() > 20) return false;
  T v{};
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || v > max) return false;
  out = v;
  return true;
}

// errno=N: wireguard-go sends negative values (errno=-22), the xplatform page shows
// positive ones; accept both and report the magnitude.
bool parse_errno(std::string_view s, int& out) {
  bool neg = !s.empty() && s.front() == '-';
  if (neg) s.remove_prefix(1);
  unsigned v = 0;
  if (!parse_uint<unsigned>(s, 4095, v)) return false;
  out = static_cast<int>(v);
  return true;
}

// Endpoint and prefix text goes to boost::asio; only hand it plausible characters.
bool plausible_address_text(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' ||
           c == ':' || c == '[' || c == ']' || c == '/' || c == '%' || (c >= 'g' && c <= 'z') ||
           (c >= 'G' && c <= 'Z') || c == '-' || c == '_';
  });
}

struct Line {
  std::string_view key, value;
};

class GetParser {
 public:
  Status on_line(const Line& l) {
    if (l.key == "errno") return on_errno(l.value);
    if (seen_errno_) return Error::msg("UAPI reply: data after errno line");
    if (l.key == "public_key") return start_peer(l.value);
    if (peer_ == nullptr) return device_field(l);
    return peer_field(l);
  }

  Result<Device> finish() {
    if (!seen_errno_) return Error::msg("UAPI reply: missing errno line");
    if (errno_ != 0) return Error::sys(errno_, "UAPI get");
    if (dev_.private_key) {
      auto pub = public_from_private(*dev_.private_key);
      if (!pub) return pub.error();
      dev_.public_key = *pub;
    }
    return std::move(dev_);
  }

 private:
  Status on_errno(std::string_view v) {
    if (seen_errno_) return Error::msg("UAPI reply: duplicate errno line");
    if (!parse_errno(v, errno_)) return Error::msg("UAPI reply: bad errno value");
    seen_errno_ = true;
    return ok();
  }

  Status start_peer(std::string_view v) {
    if (dev_.peers.size() >= kMaxPeers) return Error::msg("UAPI reply: too many peers");
    auto k = from_hex(v);
    if (!k) return Error::msg("UAPI reply: bad peer public_key");
    dev_.peers.emplace_back();
    peer_ = &dev_.peers.back();
    hs_sec_ = hs_nsec_ = 0;
    peer_->public_key = *k;
    return ok();
  }

  Status device_field(const Line& l) {
    if (l.key == "private_key") {
      auto k = from_hex(l.value);
      if (!k) return Error::msg("UAPI reply: bad private_key");
      // All zeros is how "no key" is spelled.
      if (*k != Key{}) dev_.private_key = *k;
    } else if (l.key == "listen_port") {
      if (!parse_uint<uint16_t>(l.value, 65535, dev_.listen_port)) return Error::msg("UAPI reply: bad listen_port");
    } else if (l.key == "fwmark") {
      if (!parse_uint<uint32_t>(l.value, std::numeric_limits<uint32_t>::max(), dev_.fwmark))
        return Error::msg("UAPI reply: bad fwmark");
    } else if (is_peer_key(l.key)) {
      return Error::msg("UAPI reply: peer field before any public_key");
    }
    return ok();  // unknown device key: forward compatibility
  }

  static bool is_peer_key(std::string_view k) {
    return k == "preshared_key" || k == "endpoint" || k == "last_handshake_time_sec" ||
           k == "last_handshake_time_nsec" || k == "rx_bytes" || k == "tx_bytes" ||
           k == "persistent_keepalive_interval" || k == "allowed_ip" || k == "protocol_version";
  }

  Status peer_field(const Line& l) {
    Peer& p = *peer_;
    if (l.key == "preshared_key") {
      auto k = from_hex(l.value);
      if (!k) return Error::msg("UAPI reply: bad preshared_key");
      if (*k != Key{}) p.preshared_key = *k;
    } else if (l.key == "endpoint") {
      if (!plausible_address_text(l.value)) return Error::msg("UAPI reply: bad endpoint");
      auto ep = parse_endpoint(l.value);
      if (!ep) return Error::msg("UAPI reply: bad endpoint");
      p.endpoint = *ep;
    } else if (l.key == "last_handshake_time_sec") {
      if (!parse_uint<uint64_t>(l.value, kMaxHandshakeSec, hs_sec_)) return Error::msg("UAPI reply: bad handshake time");
      update_handshake();
    } else if (l.key == "last_handshake_time_nsec") {
      if (!parse_uint<uint64_t>(l.value, 999'999'999, hs_nsec_)) return Error::msg("UAPI reply: bad handshake time");
      update_handshake();
    } else if (l.key == "rx_bytes") {
      if (!parse_uint<uint64_t>(l.value, std::numeric_limits<uint64_t>::max(), p.rx_bytes))
        return Error::msg("UAPI reply: bad rx_bytes");
    } else if (l.key == "tx_bytes") {
      if (!parse_uint<uint64_t>(l.value, std::numeric_limits<uint64_t>::max(), p.tx_bytes))
        return Error::msg("UAPI reply: bad tx_bytes");
    } else if (l.key == "persistent_keepalive_interval") {
      if (!parse_uint<uint16_t>(l.value, 65535, p.persistent_keepalive))
        return Error::msg("UAPI reply: bad persistent_keepalive_interval");
    } else if (l.key == "allowed_ip") {
      return add_allowed_ip(l.value);
    } else if (l.key == "private_key" || l.key == "listen_port" || l.key == "fwmark") {
      return Error::msg("UAPI reply: device field after a peer");
    }
    return ok();  // protocol_version and unknown peer keys
  }

  Status add_allowed_ip(std::string_view v) {
    if (allowed_ips_ >= kMaxAllowedIps) return Error::msg("UAPI reply: too many allowed IPs");
    if (!plausible_address_text(v) || v.find('/') == std::string_view::npos)
      return Error::msg("UAPI reply: bad allowed_ip");
    auto pfx = parse_prefix(v);
    if (!pfx) return Error::msg("UAPI reply: bad allowed_ip");
    peer_->allowed_ips.push_back(*pfx);
    ++allowed_ips_;
    return ok();
  }

  // sec and nsec arrive as separate lines in either order; recompute after each
  // (start_peer resets them: they belong to the current peer only).
  void update_handshake() {
    peer_->last_handshake_unix_ns = static_cast<int64_t>(hs_sec_ * 1'000'000'000ULL + hs_nsec_);
  }

  // Keeps sec * 1e9 + nsec within int64_t.
  static constexpr uint64_t kMaxHandshakeSec = 9'000'000'000ULL;

  Device dev_;
  Peer* peer_ = nullptr;
  uint64_t hs_sec_ = 0, hs_nsec_ = 0;
  size_t allowed_ips_ = 0;
  bool seen_errno_ = false;
  int errno_ = 0;
};

// Split a reply into key=value lines, calling f for each; enforces the framing rules.
template <class F>
Status for_each_line(std::string_view reply, F&& f) {
  if (reply.size() > kMaxReplyBytes) return Error::msg("UAPI reply too large");
  if (!reply_complete(reply)) return Error::msg("UAPI reply truncated (no blank line)");
  reply.remove_suffix(1);  // the blank line's '\n'; every remaining line ends in '\n'
  while (!reply.empty()) {
    auto nl = reply.find('\n');
    auto line = reply.substr(0, nl);
    reply.remove_prefix(nl + 1);
    if (line.size() > kMaxLineBytes) return Error::msg("UAPI reply: line too long");
    auto eq = line.find('=');
    if (line.empty() || eq == std::string_view::npos || eq == 0)
      return Error::msg("UAPI reply: malformed line");
    CATS_TRY(f(Line{line.substr(0, eq), line.substr(eq + 1)}));
  }
  return ok();
}

}  // namespace

bool reply_complete(std::string_view buf) {
  return buf.size() >= 2 && buf.substr(buf.size() - 2) == "\n\n";
}

std::string format_set(const DeviceUpdate& u) {
  std::string out = "set=1\n";
  if (u.private_key) append_kv(out, "private_key", to_hex(*u.private_key));
  if (u.listen_port) append_kv(out, "listen_port", std::to_string(*u.listen_port));
  if (u.fwmark) append_kv(out, "fwmark", std::to_string(*u.fwmark));
  if (u.replace_peers) append_kv(out, "replace_peers", "true");
  for (const auto& p : u.peers) format_peer(out, p);
  out.push_back('\n');
  return out;
}

Result<Device> parse_get_reply(std::string_view reply) {
  GetParser parser;
  auto st = for_each_line(reply, [&](const Line& l) { return parser.on_line(l); });
  if (!st) return st.error();
  return parser.finish();
}

Status parse_set_reply(std::string_view reply) {
  bool seen = false;
  int err = 0;
  auto st = for_each_line(reply, [&](const Line& l) -> Status {
    if (l.key != "errno") return ok();  // nothing else is defined; tolerate additions
    if (seen) return Error::msg("UAPI reply: duplicate errno line");
    if (!parse_errno(l.value, err)) return Error::msg("UAPI reply: bad errno value");
    seen = true;
    return ok();
  });
  if (!st) return st;
  if (!seen) return Error::msg("UAPI reply: missing errno line");
  if (err != 0) return Error::sys(err, "UAPI set");
  return ok();
}

}  // namespace cats::wg::uapi
