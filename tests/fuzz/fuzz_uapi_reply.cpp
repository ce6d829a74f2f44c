// libFuzzer target: the UAPI reply parsers must reject, never crash on, any input.
// A reply comes from a process on the other end of a unix socket (wireguard-go, or
// whatever managed to bind that path), so it is untrusted input.
#include "wg/uapi.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto dev = cats::wg::uapi::parse_get_reply(in);
  if (dev) {
    // A reply we accept must be internally consistent.
    size_t ips = 0;
    for (const auto& p : dev->peers) ips += p.allowed_ips.size();
    if (dev->peers.size() > cats::wg::uapi::kMaxPeers || ips > cats::wg::uapi::kMaxAllowedIps) __builtin_trap();
  }
  (void)cats::wg::uapi::parse_set_reply(in);
  (void)cats::wg::uapi::reply_complete(in);
  return 0;
}
