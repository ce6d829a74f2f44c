// Benchmark: time to apply one nft transaction carrying a weights map with N elements
// (DESIGN §2 "New weights are one batch"; the steering data plane, common/steer). Runs in a
// private network namespace (needs root). Prints figures; never fails on them.
//   build-steer/tests/bench/bench_nft_apply
#include "netns_guard.hpp"
#include "nft/nft.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

// A full-table replacement (as steer::plan / overlay apply_nft send it) whose one interval
// map holds n elements of width 1 over 0..n-1 (numgen random mod n).
std::string script(int n) {
  std::string s =
      "table inet cats_bench\ndelete table inet cats_bench\ntable inet cats_bench {\n"
      "\tmap w {\n\t\ttypeof numgen random mod " + std::to_string(n) +
      " : meta mark\n\t\tflags interval\n\t\telements = { ";
  char buf[48];
  for (int k = 0; k < n; ++k) {
    std::snprintf(buf, sizeof buf, "%s%d : 0x%08x", k ? ", " : "", k,
                  static_cast<unsigned>(((k % 255) + 1) << 24 | 1u << 16));
    s += buf;
  }
  return s + " }\n\t}\n}\n";
}

double median_ms(cats::nft::Nft& nft, const std::string& sc, int runs) {
  std::vector<double> ms;
  for (int r = 0; r < runs; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    auto st = nft.run(sc);
    auto t1 = std::chrono::steady_clock::now();
    if (!st) {
      std::fprintf(stderr, "nft: %s\n", st.error().message.c_str());
      return -1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main() {
  cats::test::PrivateNetns ns;
  if (!ns.ok()) {
    std::fprintf(stderr, "%s\n", ns.error().c_str());
    return 77;
  }
  auto nft = cats::nft::Nft::open();
  if (!nft) {
    std::fprintf(stderr, "nft: %s\n", nft.error().message.c_str());
    return 1;
  }
  const int runs = 5;
  for (int n : {10, 10000}) {
    double m = median_ms(*nft, script(n), runs);
    if (m < 0) return 1;
    std::printf("nft apply: 1 transaction, %5d map elements: median %.1f ms over %d runs\n", n, m, runs);
  }
  (void)nft->delete_table("inet", "cats_bench");
  return 0;
}
