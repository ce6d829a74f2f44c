// libFuzzer target: the ctnetlink dump reply parser (ct::parse_dump_datagram) on arbitrary
// datagrams. Kernel replies are trusted in practice; this guards our own bounds checks
// (lengths near 4 GiB, attributes overrunning their message).
#include "ct/conntrack.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The first 8 bytes choose the sequence number and mark to match; the rest is the datagram.
  uint32_t seq = 0, mark = 0;
  if (size >= 8) {
    std::memcpy(&seq, data, 4);
    std::memcpy(&mark, data + 4, 4);
    data += 8;
    size -= 8;
  }
  (void)cats::ct::parse_dump_datagram(std::span<const uint8_t>(data, size), seq, mark, 0xffff0000);
  return 0;
}
