// Shared fixture of the steering tests: two services (DESIGN §2). "web" sticky per client
// for 300 s (R16), one instance per WAN (marks 0x01010000, 0x02020000); "ar" per-flow over
// (instance x path) pairs, instance 10.1.0.7 reachable over both WANs (0x03010000,
// 0x04020000, 0x05020000).
#pragma once

#include "steer/steer.hpp"

namespace cats::test {

inline IpAddress addr(const char* s) { return *parse_address(s); }

inline steer::State two_services() {
  using namespace steer;
  State s;
  Service web;
  web.id = "web";
  web.vip = addr("100.100.0.10");
  web.protocol = Protocol::tcp;
  web.ports = {443, 8443};
  web.candidates = {{addr("10.1.0.5"), 8080, 1, 300}, {addr("10.2.0.5"), 8080, 2, 700}};
  web.sticky_timeout_s = 300;
  Service ar;
  ar.id = "ar";
  ar.vip = addr("100.100.0.11");
  ar.protocol = Protocol::udp;
  ar.ports = {4000};
  ar.candidates = {{addr("10.1.0.7"), 9000, 1, 500}, {addr("10.1.0.7"), 9000, 2, 250}, {addr("10.2.0.7"), 9000, 2, 250}};
  s.services = {web, ar};
  return s;
}

}  // namespace cats::test
