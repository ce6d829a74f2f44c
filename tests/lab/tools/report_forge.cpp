// cats-report-forge: sends one crafted metric report to a CPE collector, for lab tests of
// what the collector must reject (R23): a report signed with the wrong key, an unsigned
// one, a replayed sequence number, a bit-flipped one, garbage. It can also send a correct
// report (signed with the vCPE's own key) to show the path works.
//
//   cats-report-forge --mode MODE --vcpe ID --key FILE --to ADDR:PORT --from ADDR --dev IFACE
//                     [--seq N] [--service S --instance I --address A:P --utilization U]
//   MODE: valid | wrong-key | unsigned | flip | garbage
#include "base/ip.hpp"
#include "base/fd.hpp"
#include "report/ed25519.hpp"
#include "report/report.hpp"

#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

using namespace cats;

namespace {
int die(const std::string& m) {
  std::fprintf(stderr, "cats-report-forge: %s\n", m.c_str());
  return 2;
}
}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a{{"--service", "app1"}, {"--instance", "app1-forged"},
                                       {"--address", "10.2.1.10:8080"}, {"--utilization", "0.99"}};
  for (int i = 1; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
  for (auto k : {"--mode", "--vcpe", "--to", "--from", "--dev"})
    if (!a.count(k)) return die(std::string("missing ") + k);
  const std::string mode = a["--mode"];

  uint64_t now_ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  report::Report r;
  r.vcpe_id = a["--vcpe"];
  r.seq = a.count("--seq") ? std::stoull(a["--seq"]) : report::initial_sequence(now_ns) + 1000000;
  r.timestamp_ns = now_ns;
  report::InstanceReport inst;
  inst.service_id = a["--service"];
  inst.instance_id = a["--instance"];
  auto ep = parse_endpoint(a["--address"]);
  if (!ep) return die(ep.error().message);
  inst.address = *ep;
  inst.metrics = {metrics::make(metrics::MetricType::vcpus, 6, metrics::Source::nominal),
                  metrics::make(metrics::MetricType::cpu_utilization, std::stod(a["--utilization"]))};
  r.instances.push_back(inst);

  std::vector<uint8_t> bytes;
  if (mode == "garbage") {
    bytes.assign(100, 0x5a);
  } else if (mode == "unsigned") {
    auto u = report::encode_report_unsigned(r);
    if (!u) return die(u.error().message);
    bytes = *u;
  } else {
    Result<report::SigningKey> key = mode == "wrong-key" ? report::SigningKey::generate()
                                                         : report::load_or_create_signing_key(a["--key"]);
    if (!key) return die(key.error().message);
    auto s = report::encode_report(r, *key);
    if (!s) return die(s.error().message);
    bytes = *s;
    if (mode == "flip") bytes[bytes.size() / 2] ^= 0x01;
    else if (mode != "valid" && mode != "wrong-key") return die("unknown mode " + mode);
  }

  auto to = parse_endpoint(a["--to"]);
  auto from = parse_address(a["--from"]);
  if (!to || !from || !to->address().is_v4()) return die("bad --to/--from (IPv4 addr:port / addr)");
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return die(std::strerror(errno));
  const std::string dev = a["--dev"];
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, dev.c_str(), static_cast<socklen_t>(dev.size())) != 0)
    return die("SO_BINDTODEVICE " + dev + ": " + std::strerror(errno));
  sockaddr_in src{};
  src.sin_family = AF_INET;
  std::memcpy(&src.sin_addr, from->to_v4().to_bytes().data(), 4);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) return die(std::strerror(errno));
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(to->port());
  std::memcpy(&dst.sin_addr, to->address().to_v4().to_bytes().data(), 4);
  if (::sendto(fd.get(), bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) < 0)
    return die(std::string("sendto: ") + std::strerror(errno));
  std::printf("sent %zu bytes (%s, seq %llu)\n", bytes.size(), mode.c_str(), static_cast<unsigned long long>(r.seq));
  return 0;
}
