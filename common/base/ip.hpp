// Family-agnostic addresses and prefixes. IPv4 is what the lab uses today; nothing here
// assumes it, so IPv6 underlay or overlay stays possible.
#pragma once

#include "base/result.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/udp.hpp>

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace cats {

using IpAddress = boost::asio::ip::address;
using UdpEndpoint = boost::asio::ip::udp::endpoint;

struct Prefix {
  IpAddress address;
  uint8_t length = 0;

  static Prefix host(const IpAddress& a) { return {a, static_cast<uint8_t>(a.is_v4() ? 32 : 128)}; }
  bool is_v4() const { return address.is_v4(); }
  int family() const;                  // AF_INET or AF_INET6
  uint8_t max_length() const { return is_v4() ? 32 : 128; }
  Prefix network() const;              // host bits cleared
  bool contains(const IpAddress& a) const;
  std::string to_string() const;       // "10.0.0.0/24"

  friend bool operator==(const Prefix& a, const Prefix& b) {
    return a.address == b.address && a.length == b.length;
  }
  friend bool operator<(const Prefix& a, const Prefix& b) {
    if (a.address != b.address) return a.address < b.address;
    return a.length < b.length;
  }
};

// "10.0.0.1" or "2001:db8::1"
Result<IpAddress> parse_address(std::string_view s);
// "10.0.0.0/24"; a bare address is a host prefix (/32 or /128). Host bits may be set
// (an interface address such as 10.0.0.1/24 keeps them).
Result<Prefix> parse_prefix(std::string_view s);
// "192.0.2.1:51820" or "[2001:db8::1]:51820"
Result<UdpEndpoint> parse_endpoint(std::string_view s);
std::string endpoint_to_string(const UdpEndpoint& ep);
int address_family(const IpAddress& a);  // AF_INET or AF_INET6

}  // namespace cats
