// What STAMP probing costs: WAN bandwidth (computed, see stamp/probe_cost.hpp) and CPU
// per probe (measured here). Prints figures; the CPU figures are ratios against the
// unauthenticated encode/decode measured in the same run, so they mean the same on a slow
// or fast machine. Not a test: nothing here fails.
#include "stamp/packet.hpp"
#include "stamp/path_stats.hpp"
#include "stamp/probe_cost.hpp"

#include <chrono>
#include <cstdio>

using namespace cats::stamp;
using Clock = std::chrono::steady_clock;

namespace {

volatile uint32_t g_sink;

template <class F>
double ns_per_op(F&& f, int n) {
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) f(i);
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
}

}  // namespace

int main() {
  constexpr uint64_t link_bps = 10'000'000;
  std::printf("WAN cost per session (one vCPE over one WAN), both directions:\n");
  for (uint64_t interval : {100ull, 50ull, 20ull}) {
    for (auto [name, len] : {std::pair{"unauth", kUnauthLen}, std::pair{"auth", kAuthLen}}) {
      const auto bps = session_bits_per_second(len, interval);
      std::printf("  %-6s %3llu ms: %3llu B/probe  %6llu bit/s  %.3f %% of 10 Mbit/s\n", name,
                  static_cast<unsigned long long>(interval),
                  static_cast<unsigned long long>(wire_bytes_per_probe(len)),
                  static_cast<unsigned long long>(bps), 100.0 * static_cast<double>(bps) / link_bps);
    }
  }

  const int n = 200'000;
  std::vector<uint8_t> k(32, 7);
  const auto key = *AuthKey::make(k);
  ReflectorPacket rp;
  rp.error.multiplier = 1;
  const auto unauth_bytes = encode_reflector(rp, nullptr);
  const auto auth_bytes = encode_reflector(rp, &key);

  const double base = ns_per_op(
      [&](int i) {
        SenderPacket p{static_cast<uint32_t>(i), {}, {}};
        g_sink = encode_sender(p, nullptr)[3] + decode_reflector(unauth_bytes, nullptr).packet->seq;
      },
      n);
  const double auth = ns_per_op(
      [&](int i) {
        SenderPacket p{static_cast<uint32_t>(i), {}, {}};
        g_sink = encode_sender(p, &key)[3] + decode_reflector(auth_bytes, &key).packet->seq;
      },
      n);
  PathStats stats;
  SteadyTime t{};
  const double st = ns_per_op(
      [&](int i) {
        t += std::chrono::milliseconds(100);
        stats.on_sent(static_cast<uint32_t>(i), t);
        stats.on_reply(static_cast<uint32_t>(i), t + std::chrono::milliseconds(5), {});
        stats.expire(t);
      },
      n);
  std::printf("\nCPU per probe (sender side):\n");
  std::printf("  unauth encode+decode  %8.0f ns  (baseline 1.00)\n", base);
  std::printf("  auth   encode+decode  %8.0f ns  (%.2fx baseline)\n", auth, auth / base);
  std::printf("  stats update          %8.0f ns  (%.2fx baseline)\n", st, st / base);
  std::printf("  100 paths at 100 ms: %.4f %% of one core (authenticated)\n",
              (auth + st) * 100 * 10 / 1e9 * 100);
  return 0;
}
