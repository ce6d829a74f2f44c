#include "base/ip.hpp"

#include <sys/socket.h>

#include <charconv>

namespace cats {

int address_family(const IpAddress& a) { return a.is_v4() ? AF_INET : AF_INET6; }

int Prefix::family() const { return address_family(address); }

namespace {
template <class Bytes>
Bytes mask_bytes(Bytes b, unsigned len) {
  for (size_t i = 0; i < b.size(); ++i) {
    unsigned bit = static_cast<unsigned>(i) * 8;
    if (bit >= len) {
      b[i] = 0;
    } else if (len - bit < 8) {
      b[i] = static_cast<unsigned char>(b[i] & (0xff << (8 - (len - bit))));
    }
  }
  return b;
}
}  // namespace

Prefix Prefix::network() const {
  if (is_v4()) {
    return {boost::asio::ip::address_v4(mask_bytes(address.to_v4().to_bytes(), length)), length};
  }
  return {boost::asio::ip::address_v6(mask_bytes(address.to_v6().to_bytes(), length)), length};
}

bool Prefix::contains(const IpAddress& a) const {
  if (a.is_v4() != is_v4()) return false;
  return Prefix{a, length}.network().address == network().address;
}

std::string Prefix::to_string() const { return address.to_string() + "/" + std::to_string(length); }

Result<IpAddress> parse_address(std::string_view s) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(s), ec);
  if (ec) return Error::msg("invalid IP address '" + std::string(s) + "'");
  return a;
}

Result<Prefix> parse_prefix(std::string_view s) {
  auto slash = s.find('/');
  auto addr = parse_address(s.substr(0, slash));
  if (!addr) return Error::msg("invalid prefix '" + std::string(s) + "'");
  Prefix p{*addr, static_cast<uint8_t>(addr->is_v4() ? 32 : 128)};
  if (slash != std::string_view::npos) {
    auto len_s = s.substr(slash + 1);
    unsigned len = 0;
    auto [ptr, ec] = std::from_chars(len_s.data(), len_s.data() + len_s.size(), len);
    if (ec != std::errc{} || ptr != len_s.data() + len_s.size() || len_s.empty() || len > p.max_length())
      return Error::msg("invalid prefix length in '" + std::string(s) + "'");
    p.length = static_cast<uint8_t>(len);
  }
  return p;
}

Result<UdpEndpoint> parse_endpoint(std::string_view s) {
  std::string_view host, port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return Error::msg("invalid endpoint '" + std::string(s) + "' (want [v6addr]:port)");
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos || s.find(':') != colon)
      return Error::msg("invalid endpoint '" + std::string(s) + "' (want addr:port)");
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  auto addr = parse_address(host);
  if (!addr) return addr.error();
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc{} || ptr != port.data() + port.size() || port.empty() || p == 0 || p > 65535)
    return Error::msg("invalid port in endpoint '" + std::string(s) + "'");
  return UdpEndpoint(*addr, static_cast<uint16_t>(p));
}

std::string endpoint_to_string(const UdpEndpoint& ep) {
  // Appended piecewise: GCC 12 at -O3 reports a false -Wrestrict for "[" + std::string&&
  // (GCC bug 105329), which -Werror would turn into a failed Release build.
  const bool v6 = ep.address().is_v6();
  std::string out = v6 ? "[" : "";
  out += ep.address().to_string();
  out += v6 ? "]:" : ":";
  out += std::to_string(ep.port());
  return out;
}

}  // namespace cats
