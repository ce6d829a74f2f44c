// Driver of bench_rss.py (issue 9: resident memory of cats-cpe with V vCPEs x K instances
// of synthetic reports and a day of history). The product's own code does the work:
// report::encode_report signs every report (Ed25519, as cats-vcpe does), and the history
// is written through store::Store, the CPE's store, exactly as the daemon writes it.
//
//   bench_rss_feed keys V
//       one line per vCPE: its Ed25519 report public key and a WireGuard public key
//       (base64), derived from fixed seeds so that `feed` signs with the same keys.
//   bench_rss_feed fill DB WANS V K SERVICES HOURS
//       a day (HOURS) of path samples for WANS x V paths and instance samples for V x K
//       instances, ending now. The daemon stores one sample per series per second
//       (kSampleTick) and its maintain() averages what is older than the fine retention
//       (1 h) into one coarse row per series and minute. The last hour is written at one
//       sample per second; older hours at one raw sample per series and minute, which
//       maintain() (called here as the daemon does) turns into the same coarse rows the
//       daemon would have (one row per series and minute; only their `samples` count
//       differs: 1 instead of 60). Writing 60 per minute would only cost time.
//   bench_rss_feed feed V K SERVICES CPE_IP PORT SECONDS [FIRST_VCPE]
//       V vCPEs each send one signed report per second (K instances x 6 metrics) from
//       their own inner address 10.2.<v>.1 (which must be a local address of the sender)
//       to the CPE's collector, for SECONDS seconds.
//
// Layout shared with bench_rss.py: vCPE v (0-based) is "v<v>", inner address 10.2.<v>.1,
// instance j (0..K-1) of vCPE v belongs to service "s<(v % G) * K + j>" where G =
// SERVICES / K, has id "v<v>-<j>" and address 10.2.<v>.<10 + j>:8080. WANs are "wan<w>".
#include "base/log.hpp"
#include "report/report.hpp"
#include "store/store.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

using namespace cats;
using namespace cats::report;
using namespace cats::metrics;

namespace {

std::array<uint8_t, 32> seed(int v, uint8_t salt) {
  std::array<uint8_t, 32> s{};
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(v * 131 + static_cast<int>(i) * 29 + salt + 1);
  s[0] = static_cast<uint8_t>(v & 0xff);
  s[1] = static_cast<uint8_t>(v >> 8);
  s[2] = salt;
  return s;
}

std::string vname(int v) { return "v" + std::to_string(v); }
std::string sname(int v, int j, int k, int services) {
  const int groups = services / k;
  return "s" + std::to_string((v % groups) * k + j);
}
std::string iname(int v, int j) { return vname(v) + "-" + std::to_string(j); }

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int keys(int n) {
  for (int v = 0; v < n; ++v) {
    auto k = SigningKey::from_seed(seed(v, 1));
    if (!k) return std::fprintf(stderr, "key: %s\n", k.error().message.c_str()), 1;
    // A WireGuard public key is any 32 bytes to the CPE (it never handshakes here).
    auto wg = seed(v, 2);
    std::printf("%s %s\n", k->public_key().to_base64().c_str(), base64_encode(wg).c_str());
  }
  return 0;
}

// Smooth synthetic figures, so that averages are not all equal.
double wave(int64_t t_ms, int series, double lo, double hi) {
  const double x = static_cast<double>(t_ms) / 60'000.0 + series * 0.37;
  return lo + (hi - lo) * (0.5 + 0.5 * std::sin(x));
}

int fill(const std::string& path, int wans, int v_count, int k, int services, int hours) {
  store::Options o;
  o.path = path;
  auto st = store::Store::open(o);
  if (!st) return std::fprintf(stderr, "store: %s\n", st.error().message.c_str()), 1;
  auto& s = **st;
  const int64_t end = now_ms();
  const int64_t start = end - static_cast<int64_t>(hours) * 3600'000;
  const int64_t fine_from = end - o.fine_retention_ms;
  size_t rows = 0;
  auto write_at = [&](int64_t t) {
    std::vector<store::PathSample> ps;
    for (int w = 0; w < wans; ++w)
      for (int v = 0; v < v_count; ++v)
        ps.push_back({"wan" + std::to_string(w), vname(v), t, wave(t, v + 1000 * w, 8, 40), wave(t, v, 0.2, 3),
                      wave(t, v, 0, 0.5), "up"});
    std::vector<store::InstanceSample> is;
    for (int v = 0; v < v_count; ++v)
      for (int j = 0; j < k; ++j)
        is.push_back({vname(v), sname(v, j, k, services), iname(v, j), t, 4, wave(t, v * k + j, 0.1, 0.9),
                      wave(t, v * k + j, 2, 30), true});
    s.add_path_samples(ps);
    s.add_instance_samples(is);
    rows += ps.size() + is.size();
  };
  int64_t t = start;
  for (; t < fine_from; t += 60'000) {
    write_at(t);
    if ((t - start) % 3600'000 == 0) s.maintain(t + o.fine_retention_ms);  // as if "now" were an hour later
  }
  s.maintain(end);
  for (t = fine_from + 1000; t <= end; t += 1000) write_at(t);
  s.maintain(now_ms());
  const auto stats = s.stats();
  std::printf("rows written %zu, write transactions %llu, failures %llu\n", rows,
              static_cast<unsigned long long>(stats.writes), static_cast<unsigned long long>(stats.write_failures));
  return stats.write_failures == 0 ? 0 : 1;
}

int feed(int v_count, int k, int services, const std::string& cpe_ip, int port, int seconds, int first) {
  struct Sender {
    int fd = -1;
    SigningKey key;
    Report r;
  };
  std::vector<Sender> snd;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, cpe_ip.c_str(), &to.sin_addr) != 1) return std::fprintf(stderr, "bad CPE address\n"), 1;
  const uint64_t unix_ns = static_cast<uint64_t>(now_ms()) * 1'000'000;
  for (int v = first; v < first + v_count; ++v) {
    auto key = SigningKey::from_seed(seed(v, 1));
    if (!key) return 1;
    Sender x{-1, *key, {}};
    x.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    const std::string src = "10.2." + std::to_string(v) + ".1";
    inet_pton(AF_INET, src.c_str(), &from.sin_addr);
    if (x.fd < 0 || ::bind(x.fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0)
      return std::perror(("bind " + src).c_str()), 1;
    x.r.vcpe_id = vname(v);
    x.r.seq = initial_sequence(unix_ns);
    for (int j = 0; j < k; ++j) {
      InstanceReport in;
      in.service_id = sname(v, j, k, services);
      in.instance_id = iname(v, j);
      in.address = UdpEndpoint(boost::asio::ip::make_address("10.2." + std::to_string(v) + "." + std::to_string(10 + j)),
                               8080);
      x.r.instances.push_back(std::move(in));
    }
    snd.push_back(std::move(x));
  }
  size_t sent = 0, errors = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int round = 0; round < seconds; ++round) {
    const auto slot = t0 + std::chrono::seconds(round);
    std::this_thread::sleep_until(slot);
    const int64_t t = now_ms();
    for (size_t i = 0; i < snd.size(); ++i) {
      // Spread the vCPEs over the second, as independent vCPEs would be.
      std::this_thread::sleep_until(slot + std::chrono::microseconds(1'000'000 * i / snd.size()));
      auto& x = snd[i];
      x.r.seq += 1;
      x.r.timestamp_ns = static_cast<uint64_t>(now_ms()) * 1'000'000;
      for (int j = 0; j < k; ++j) {
        const int series = static_cast<int>(i) * k + j;
        x.r.instances[static_cast<size_t>(j)].metrics = {
            make(MetricType::vcpus, 4, Source::nominal), make(MetricType::cpu_utilization, wave(t, series, 0.1, 0.9)),
            make(MetricType::memory_utilization, 0.4), make(MetricType::processing_delay_ms, wave(t, series, 2, 30)),
            make(MetricType::active_sessions, 120), make(MetricType::capacity_free, 0.5)};
      }
      auto enc = encode_report(x.r, x.key);
      if (!enc) return std::fprintf(stderr, "encode: %s\n", enc.error().message.c_str()), 1;
      if (::sendto(x.fd, enc->data(), enc->size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
        ++errors;
      else
        ++sent;
    }
  }
  std::printf("reports sent %zu, send errors %zu\n", sent, errors);
  for (auto& x : snd) ::close(x.fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  log::set_level(log::Level::warn);
  const std::vector<std::string> a(argv + 1, argv + argc);
  auto i = [&](size_t n) { return std::atoi(a.at(n).c_str()); };
  try {
    if (a.size() == 2 && a[0] == "keys") return keys(i(1));
    if (a.size() == 7 && a[0] == "fill") return fill(a[1], i(2), i(3), i(4), i(5), i(6));
    if ((a.size() == 7 || a.size() == 8) && a[0] == "feed")
      return feed(i(1), i(2), i(3), a[4], i(5), i(6), a.size() == 8 ? i(7) : 0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  std::fprintf(stderr,
               "usage: bench_rss_feed keys V | fill DB WANS V K SERVICES HOURS | "
               "feed V K SERVICES CPE_IP PORT SECONDS [FIRST_VCPE]\n");
  return 2;
}
