// libFuzzer target: the WireGuard generic netlink dump parser (kernel backend) on
// arbitrary datagrams. Kernel replies are trusted in practice; this guards against our
// own bounds mistakes and libmnl's (see netlink::well_formed_datagram).
#include "wg/genl.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cats::wg::genl::DumpParser parser;
  // Feed the input as up to two datagrams split at the first byte's position, so
  // multi-datagram merging is exercised too.
  size_t cut = size > 0 ? data[0] % (size + 1) : 0;
  auto r = parser.feed(std::span<const uint8_t>(data, cut), 0, 0);
  if (r && !*r) (void)parser.feed(std::span<const uint8_t>(data + cut, size - cut), 0, 0);
  return 0;
}
