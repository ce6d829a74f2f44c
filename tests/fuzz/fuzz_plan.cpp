// libFuzzer target: sampling plan and plan ack decoders (issue 9) and
// Collector::accept_ack on arbitrary bytes, and the vCPE's assembly of plan parts.
// Invariants: no crash/UB (ASan/UBSan), a decoded plan part or ack re-encodes (re-signed
// with the same deterministic key) to the very same bytes, a decoded part's entries split
// again, an assembled plan hashes to the digest its parts name, and an ack the collector
// did not accept changed no replay mark.
#include "report/collector.hpp"
#include "report/plan_sync.hpp"
#include "report/report.hpp"
#include "vcpe/plan.hpp"

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
  PlanSync sync;
  cats::vcpe::PlanAssembler assembler;
  Env() { cats::log::set_level(cats::log::Level::error); }
};

template <class Decoded, class Encode>
void same_bytes(const Decoded& d, Encode encode, const SigningKey& key) {
  auto re = encode(d.message, key);
  if (!re || re->size() - kEd25519SignatureSize != d.signed_bytes.size() ||
      std::memcmp(re->data(), d.signed_bytes.data(), d.signed_bytes.size()) != 0)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Env env;
  std::span<const uint8_t> in(data, size);
  (void)peek_type(in);
  if (auto d = decode_sampling_plan(in)) {
    same_bytes(*d, encode_sampling_plan, env.key);
    (void)plan_digest(d->message.instances);
    if (!split_plan(d->message.instances, d->message.cpe_id, d->message.vcpe_id)) std::abort();
    auto fed = env.assembler.feed(d->message);
    if (fed.plan && *plan_digest(fed.plan->instances) != fed.plan->digest) std::abort();
    if (fed.plan && !fed.error.empty()) std::abort();
    env.sync.set_plan(d->message.vcpe_id, d->message.instances, d->message.revision,
                      std::chrono::steady_clock::time_point(std::chrono::seconds(size)));
  }
  if (auto d = decode_plan_ack(in)) {
    same_bytes(*d, encode_plan_ack, env.key);
    (void)env.sync.on_ack(d->message, std::chrono::steady_clock::time_point(std::chrono::seconds(size)));
  }
  Now now{std::chrono::steady_clock::time_point(std::chrono::seconds(size)),
          std::chrono::system_clock::time_point(std::chrono::nanoseconds(kBaseUnixNs))};
  const auto before = env.collector.ack_count(Verdict::accepted);
  auto res = env.collector.accept_ack(in, env.src, now);
  if (res.accepted() != (env.collector.ack_count(Verdict::accepted) == before + 1)) std::abort();
  if (size > kEd25519SignatureSize) {
    std::vector<uint8_t> resigned(data, data + size - kEd25519SignatureSize);
    if (auto sig = env.key.sign(resigned)) {
      resigned.insert(resigned.end(), sig->begin(), sig->end());
      (void)env.collector.accept_ack(resigned, env.src, now);
    }
  }
  return 0;
}
