// Reports verified per second by the CPE Collector on one core, for a realistic report
// (4 instances x 6 metrics), with raw Ed25519 verifies/s from the same run as baseline:
// the gap between the two is our decoding + table update cost. Then the same with the
// replay marks written to a real SQLite store (WAL, synchronous=NORMAL, one autocommit
// UPSERT per accepted report, as the CPE does: report/collector.hpp) in $TMPDIR.
#include "base/log.hpp"
#include "report/collector.hpp"
#include "store/store.hpp"

#include <sched.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using namespace cats::report;
using namespace cats::metrics;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kBaseUnixNs = 1'700'000'000ull * 1'000'000'000ull;

InstanceReport instance(const char* svc, const char* id, const char* addr, double cpu, double delay) {
  InstanceReport in;
  in.service_id = svc;
  in.instance_id = id;
  in.address = cats::UdpEndpoint(boost::asio::ip::make_address(addr), 8080);
  in.metrics = {make(MetricType::vcpus, 6, Source::nominal), make(MetricType::cpu_utilization, cpu),
                make(MetricType::memory_utilization, 0.4), make(MetricType::processing_delay_ms, delay),
                make(MetricType::active_sessions, 120), make(MetricType::capacity_free, 0.5)};
  return in;
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

int main() {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) std::perror("sched_setaffinity (continuing)");

  auto key = SigningKey::generate();
  if (!key) return 1;
  const auto src = boost::asio::ip::make_address("10.200.0.2");

  constexpr size_t kReports = 20000;
  std::vector<std::vector<uint8_t>> datagrams;
  datagrams.reserve(kReports);
  Report r;
  r.vcpe_id = "vcpe-bench";
  r.timestamp_ns = kBaseUnixNs;
  r.instances = {instance("video", "video-a", "10.10.0.11", 0.5, 12), instance("video", "video-b", "10.10.0.12", 0.2, 8),
                 instance("ar", "ar-a", "2001:db8::21", 0.7, 25), instance("ar", "ar-b", "10.10.0.22", 0.1, 5)};
  for (size_t i = 0; i < kReports; ++i) {
    r.seq = i + 1;
    auto enc = encode_report(r, *key);
    if (!enc) return 1;
    datagrams.push_back(std::move(*enc));
  }
  std::printf("report size: %zu bytes (4 instances x 6 metrics, incl. 64-byte signature)\n", datagrams[0].size());

  // Collector: decode + peer check + Ed25519 verify + replay/staleness + table update.
  cats::log::set_level(cats::log::Level::error);
  Now now{Clock::now(), std::chrono::system_clock::time_point(std::chrono::nanoseconds(kBaseUnixNs))};
  size_t done = 0, accepted = 0;
  auto t0 = Clock::now();
  while (seconds(Clock::now() - t0) < 3.0) {
    Collector c({{"vcpe-bench", key->public_key(), {src}}});
    for (const auto& d : datagrams) {
      if (c.accept(d, src, now).accepted()) ++accepted;
      ++done;
    }
  }
  double coll_s = seconds(Clock::now() - t0);
  if (accepted != done) {
    std::fprintf(stderr, "unexpected rejections: %zu of %zu\n", done - accepted, done);
    return 1;
  }

  // Baseline: raw Ed25519 verify of the same bytes.
  const auto& d0 = datagrams[0];
  std::span<const uint8_t> body(d0.data(), d0.size() - kEd25519SignatureSize);
  std::span<const uint8_t> sig(d0.data() + body.size(), kEd25519SignatureSize);
  size_t raw = 0;
  auto t1 = Clock::now();
  while (seconds(Clock::now() - t1) < 3.0) {
    for (int i = 0; i < 1000; ++i)
      if (key->public_key().verify(body, sig)) ++raw;
  }
  double raw_s = seconds(Clock::now() - t1);

  // The same with every accepted report's mark written to the store first.
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp ? tmp : "/tmp") + "/cats-bench-marks-XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) return 1;
  cats::store::Options so;
  so.path = dir + "/cats.db";
  auto store = cats::store::Store::open(so);
  if (!store) {
    std::fprintf(stderr, "store: %s\n", store.error().message.c_str());
    return 1;
  }
  MarkWriter write = [&](const ReplayMark& m) {
    return (*store)->put_replay_mark({m.vcpe_id, std::string(to_string(m.stream)), m.seq}, 0);
  };
  size_t marked = 0;
  auto t2 = Clock::now();
  while (seconds(Clock::now() - t2) < 3.0) {
    Collector c({{"vcpe-bench", key->public_key(), {src}}}, {}, {}, write);
    for (const auto& d : datagrams) {
      if (!c.accept(d, src, now).accepted()) return 1;
      ++marked;
      if (seconds(Clock::now() - t2) >= 3.0) break;
    }
  }
  double marked_s = seconds(Clock::now() - t2);
  // The mark alone, in this thread's CPU time (user + kernel: the WAL write() calls), so
  // that a loaded machine does not blur it as it blurs the wall-clock rates above.
  constexpr int kMarks = 20000;
  timespec c0{}, c1{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
  auto w0 = Clock::now();
  for (int i = 0; i < kMarks; ++i)
    if (!(*store)->put_replay_mark({"vcpe-bench", "report", static_cast<uint64_t>(i) + 1}, 0)) return 1;
  const double mark_wall_us = seconds(Clock::now() - w0) * 1e6 / kMarks;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
  const double mark_cpu_us =
      (static_cast<double>(c1.tv_sec - c0.tv_sec) * 1e9 + static_cast<double>(c1.tv_nsec - c0.tv_nsec)) / 1e3 / kMarks;
  const auto failures = (*store)->stats().write_failures;
  store->reset();
  std::filesystem::remove_all(dir);
  if (failures != 0) {
    std::fprintf(stderr, "mark writes failed: %llu\n", static_cast<unsigned long long>(failures));
    return 1;
  }

  double coll_rate = static_cast<double>(done) / coll_s;
  double marked_rate = static_cast<double>(marked) / marked_s;
  double raw_rate = static_cast<double>(raw) / raw_s;
  std::printf("collector accept: %.0f reports/s (%.1f us each)\n", coll_rate, 1e6 / coll_rate);
  std::printf("raw Ed25519 verify: %.0f verifies/s (%.1f us each)\n", raw_rate, 1e6 / raw_rate);
  std::printf("collector overhead over raw verify: %.1f%%\n", 100.0 * (raw_rate / coll_rate - 1.0));
  std::printf("collector accept, replay mark stored first: %.0f reports/s (%.1f us each, +%.1f us for the mark)\n",
              marked_rate, 1e6 / marked_rate, 1e6 / marked_rate - 1e6 / coll_rate);
  std::printf("replay mark alone: %.1f us CPU (user + kernel), %.1f us wall each (%d marks)\n", mark_cpu_us,
              mark_wall_us, kMarks);
  return 0;
}
