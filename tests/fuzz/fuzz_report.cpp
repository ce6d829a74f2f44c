// libFuzzer target: report/desired-interval decoders and Collector::accept on arbitrary
// bytes. Invariants checked: no crash/UB (ASan/UBSan), a decoded report re-encodes to
// the same signed bytes, and a datagram the collector did not accept changed nothing.
#include "report/collector.hpp"
#include "report/report.hpp"

#include "base/log.hpp"

#include <cstdlib>
#include <cstring>

using namespace cats::report;

namespace {

constexpr uint64_t kBaseUnixNs = 1'700'000'000ull * 1'000'000'000ull;

struct Env {
  SigningKey key = *SigningKey::from_seed(std::vector<uint8_t>(32, 7));
  cats::IpAddress src = boost::asio::ip::make_address("10.200.0.2");
  Collector collector{{{"vcpe-1", key.public_key(), {src}}}};
  Env() { cats::log::set_level(cats::log::Level::error); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Env env;
  std::span<const uint8_t> in(data, size);

  (void)peek_type(in);
  if (auto d = decode_desired_interval(in)) (void)d->verify(env.key.public_key());

  if (auto d = decode_report(in)) {
    // Canonical encoding: what we decoded encodes back to the very same bytes (NaN in
    // unknown types included, since doubles are carried bit for bit).
    auto re = encode_report_unsigned(d->message);
    if (!re || re->size() != d->signed_bytes.size() ||
        std::memcmp(re->data(), d->signed_bytes.data(), re->size()) != 0)
      std::abort();
  }

  // Collector: first the raw input, then the same payload re-signed with the real key so
  // the fuzzer also reaches replay/staleness/table code.
  const auto before = env.collector.table().entries();
  const auto seq_before = env.collector.last_seq("vcpe-1");
  Now now{std::chrono::steady_clock::time_point(std::chrono::seconds(size)),
          std::chrono::system_clock::time_point(std::chrono::nanoseconds(kBaseUnixNs))};
  auto res = env.collector.accept(in, env.src, now);
  if (!res.accepted() && (env.collector.table().entries() != before || env.collector.last_seq("vcpe-1") != seq_before))
    std::abort();

  if (size > kEd25519SignatureSize) {
    std::vector<uint8_t> resigned(data, data + size - kEd25519SignatureSize);
    auto sig = env.key.sign(resigned);
    if (sig) {
      resigned.insert(resigned.end(), sig->begin(), sig->end());
      (void)env.collector.accept(resigned, env.src, now);
    }
    (void)env.collector.expire(now.mono);
  }
  return 0;
}
