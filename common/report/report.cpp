#include "report/report.hpp"

#include "report/wire.hpp"

#include <openssl/evp.h>

namespace cats::report {
namespace {

constexpr uint8_t kFlagAvailable = 0x01;
constexpr uint8_t kFamilyV4 = 4;
constexpr uint8_t kFamilyV6 = 6;
constexpr size_t kMetricWireSize = 2 + 1 + 1 + 1 + 8;

void put_header(wire::Writer& w, MessageType t) {
  w.bytes(kMagic);
  w.u8(kVersion);
  w.u8(static_cast<uint8_t>(t));
  w.u16(0);
}

Status check_id(std::string_view what, std::string_view id) {
  if (!valid_id(id)) return Error::msg(std::string(what) + " id is empty, too long or not printable ASCII");
  return ok();
}

void put_endpoint(wire::Writer& w, const UdpEndpoint& ep) {
  const IpAddress a = ep.address();
  if (a.is_v4()) {
    w.u8(kFamilyV4);
    w.bytes(a.to_v4().to_bytes());
  } else {
    w.u8(kFamilyV6);
    w.bytes(a.to_v6().to_bytes());
  }
  w.u16(ep.port());
}

Result<std::vector<uint8_t>> sign_and_append(std::vector<uint8_t> buf, const SigningKey& key) {
  if (buf.size() + kEd25519SignatureSize > kMaxDatagram)
    return Error::msg("message exceeds " + std::to_string(kMaxDatagram) + " bytes");
  CATS_TRY_ASSIGN(sig, key.sign(buf));
  buf.insert(buf.end(), sig.begin(), sig.end());
  return buf;
}

// Header check shared by the decoders; leaves the reader after the header.
Status read_header(wire::Reader& r, std::span<const uint8_t> d, MessageType want) {
  if (d.size() > kMaxDatagram) return Error::msg("datagram larger than " + std::to_string(kMaxDatagram) + " bytes");
  if (d.size() < kHeaderSize + kEd25519SignatureSize) return Error::msg("datagram too short");
  auto magic = r.bytes(kMagic.size());
  if (!std::equal(magic.begin(), magic.end(), kMagic.begin())) return Error::msg("bad magic");
  if (r.u8() != kVersion) return Error::msg("unsupported version");
  if (r.u8() != static_cast<uint8_t>(want)) return Error::msg("unexpected message type");
  if (r.u16() != 0) return Error::msg("reserved header bits set");
  return ok();
}

Result<std::string> read_id(wire::Reader& r, std::string_view what) {
  std::string s = r.str8();
  if (!r.ok()) return Error::msg(std::string(what) + " id truncated");
  if (!valid_id(s)) return Error::msg(std::string(what) + " id invalid");
  return Result<std::string>(boost::system::in_place_value, std::move(s));
}

Result<UdpEndpoint> read_endpoint(wire::Reader& r) {
  uint8_t family = r.u8();
  IpAddress addr;
  if (family == kFamilyV4) {
    boost::asio::ip::address_v4::bytes_type b{};
    auto raw = r.bytes(b.size());
    if (!r.ok()) return Error::msg("instance address truncated");
    std::copy(raw.begin(), raw.end(), b.begin());
    addr = boost::asio::ip::address_v4(b);
  } else if (family == kFamilyV6) {
    boost::asio::ip::address_v6::bytes_type b{};
    auto raw = r.bytes(b.size());
    if (!r.ok()) return Error::msg("instance address truncated");
    std::copy(raw.begin(), raw.end(), b.begin());
    addr = boost::asio::ip::address_v6(b);
  } else {
    return Error::msg("unknown address family");
  }
  uint16_t port = r.u16();
  if (!r.ok()) return Error::msg("instance address truncated");
  return UdpEndpoint(addr, port);
}

// Optional fields of a plan entry, announced by its flags byte (other bits must be 0).
constexpr uint8_t kPlanLoadUrl = 0x01;     // load_url: len u8 + text
constexpr uint8_t kPlanPrometheus = 0x02;  // n u8 (1..4), then per source url + preset (len u8 + text)

// URLs and preset names: 1..max printable ASCII without spaces, like ids (they end up in
// logs and in the vCPE's HTTP requests; the vCPE parses them further).
bool valid_text(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s)
    if (c <= 0x20 || c >= 0x7f) return false;
  return true;
}

Status put_plan_entry(wire::Writer& w, const PlanInstance& in) {
  CATS_TRY(check_id("service", in.service_id));
  CATS_TRY(check_id("instance", in.instance_id));
  if (!in.load_url.empty() && !valid_text(in.load_url, kMaxPlanUrlLength))
    return Error::msg("load_url of " + in.instance_id + " is too long or not printable ASCII");
  if (in.prometheus.size() > kMaxPlanPromSources)
    return Error::msg("more than " + std::to_string(kMaxPlanPromSources) + " Prometheus sources for " + in.instance_id);
  for (const auto& p : in.prometheus)
    if (!valid_text(p.url, kMaxPlanUrlLength) || !valid_text(p.preset, kMaxPlanPresetLength))
      return Error::msg("Prometheus source of " + in.instance_id + ": url or preset empty, too long or not printable");
  w.str8(in.service_id);
  w.str8(in.instance_id);
  put_endpoint(w, in.address);
  w.u8(static_cast<uint8_t>((in.load_url.empty() ? 0 : kPlanLoadUrl) | (in.prometheus.empty() ? 0 : kPlanPrometheus)));
  if (!in.load_url.empty()) w.str8(in.load_url);
  if (!in.prometheus.empty()) {
    w.u8(static_cast<uint8_t>(in.prometheus.size()));
    for (const auto& p : in.prometheus) {
      w.str8(p.url);
      w.str8(p.preset);
    }
  }
  return ok();
}

// A plan's (or a part's) instance section: count u8, then the entries. The digest is of
// the whole plan's section.
Status put_plan_instances(wire::Writer& w, const std::vector<PlanInstance>& instances) {
  if (instances.size() > kMaxPlanInstances)
    return Error::msg("more than " + std::to_string(kMaxPlanInstances) + " instances in a sampling plan");
  w.u8(static_cast<uint8_t>(instances.size()));
  for (const auto& in : instances) CATS_TRY(put_plan_entry(w, in));
  return ok();
}

Result<std::string> read_text(wire::Reader& r, size_t max, std::string_view what) {
  std::string s = r.str8();
  if (!r.ok()) return Error::msg(std::string(what) + " truncated");
  if (!valid_text(s, max)) return Error::msg(std::string(what) + " invalid");
  return Result<std::string>(boost::system::in_place_value, std::move(s));
}

Result<PlanInstance> read_plan_entry(wire::Reader& r) {
  PlanInstance in;
  CATS_TRY_ASSIGN(svc, read_id(r, "service"));
  CATS_TRY_ASSIGN(inst, read_id(r, "instance"));
  in.service_id = std::move(svc);
  in.instance_id = std::move(inst);
  CATS_TRY_ASSIGN(addr, read_endpoint(r));
  in.address = addr;
  const uint8_t flags = r.u8();
  if (!r.ok()) return Error::msg("sampling plan truncated");
  if ((flags & ~(kPlanLoadUrl | kPlanPrometheus)) != 0) return Error::msg("reserved plan instance flags set");
  if (flags & kPlanLoadUrl) {
    CATS_TRY_ASSIGN(u, read_text(r, kMaxPlanUrlLength, "load_url"));
    in.load_url = std::move(u);
  }
  if (flags & kPlanPrometheus) {
    const size_t n = r.u8();
    if (!r.ok()) return Error::msg("sampling plan truncated");
    if (n == 0 || n > kMaxPlanPromSources) return Error::msg("Prometheus source count out of range");
    for (size_t i = 0; i < n; ++i) {
      CATS_TRY_ASSIGN(u, read_text(r, kMaxPlanUrlLength, "Prometheus url"));
      CATS_TRY_ASSIGN(pr, read_text(r, kMaxPlanPresetLength, "Prometheus preset"));
      in.prometheus.push_back({std::move(u), std::move(pr)});
    }
  }
  return in;
}

// Bytes of a part besides its entries: header, ids, seq, timestamp, revision, part,
// parts, digest, count, signature.
size_t part_overhead(std::string_view cpe_id, std::string_view vcpe_id) {
  return kHeaderSize + 1 + cpe_id.size() + 1 + vcpe_id.size() + 3 * 8 + 2 + 32 + 1 + kEd25519SignatureSize;
}

// The largest ack (every entry of a full plan refused, ids of the longest) is one datagram.
constexpr size_t kAckWorstCase = kHeaderSize + 2 * (1 + kMaxIdLength) + 3 * 8 + 32 + 2 +
                                 kMaxPlanInstances * (2 * (1 + kMaxIdLength) + 1) + kEd25519SignatureSize;
static_assert(kAckWorstCase <= kMaxDatagram, "a plan ack refusing every entry must fit one datagram");
static_assert(kAckWorstCase + 2 * (1 + kMaxIdLength) + 1 > kMaxDatagram, "kMaxPlanInstances is the largest that fits");

}  // namespace

std::string_view to_string(Refusal r) {
  switch (r) {
    case Refusal::not_allowed: return "not_allowed";
    case Refusal::over_limit: return "over_limit";
    case Refusal::local_conflict: return "local_conflict";
    case Refusal::source_not_allowed: return "source_not_allowed";
    case Refusal::source_invalid: return "source_invalid";
  }
  return "unknown";
}

Result<PlanDigest> plan_digest(const std::vector<PlanInstance>& instances) {
  wire::Writer w;
  CATS_TRY(put_plan_instances(w, instances));
  PlanDigest d{};
  unsigned int n = 0;
  if (EVP_Digest(w.buffer().data(), w.size(), d.data(), &n, EVP_sha256(), nullptr) != 1 || n != d.size())
    return Error::msg("SHA-256 failed");
  return d;
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  for (char c : id)
    if (c <= 0x20 || c >= 0x7f) return false;
  return true;
}

uint64_t initial_sequence(uint64_t unix_ns) { return unix_ns / 1000; }

Result<std::vector<uint8_t>> encode_report_unsigned(const Report& rep) {
  CATS_TRY(check_id("vCPE", rep.vcpe_id));
  if (rep.instances.size() > kMaxInstances) return Error::msg("too many instances in report");
  wire::Writer w;
  put_header(w, MessageType::report);
  w.str8(rep.vcpe_id);
  w.u64(rep.seq);
  w.u64(rep.timestamp_ns);
  w.u8(static_cast<uint8_t>(rep.instances.size()));
  for (const auto& in : rep.instances) {
    CATS_TRY(check_id("service", in.service_id));
    CATS_TRY(check_id("instance", in.instance_id));
    if (in.metrics.size() > kMaxMetricsPerInstance) return Error::msg("too many metrics for instance " + in.instance_id);
    w.str8(in.service_id);
    w.str8(in.instance_id);
    put_endpoint(w, in.address);
    w.u8(in.available ? kFlagAvailable : 0);
    w.u8(static_cast<uint8_t>(in.metrics.size()));
    for (const auto& m : in.metrics) {
      // The sender is held to the same rule as the receiver, so a bad sample is caught
      // at its source instead of getting the whole report dropped at every CPE.
      if (!metrics::is_valid(m))
        return Error::msg("invalid value for metric type " + std::to_string(m.type) + " on " + in.instance_id);
      w.u16(m.type);
      w.u8(static_cast<uint8_t>(m.unit));
      w.u8(static_cast<uint8_t>(m.source));
      w.u8(static_cast<uint8_t>(m.statistic));
      w.f64(m.value);
    }
  }
  if (w.size() + kEd25519SignatureSize > kMaxDatagram)
    return Error::msg("report exceeds " + std::to_string(kMaxDatagram) + " bytes");
  return std::move(w.buffer());
}

Result<std::vector<uint8_t>> encode_report(const Report& r, const SigningKey& key) {
  CATS_TRY_ASSIGN(buf, encode_report_unsigned(r));
  return sign_and_append(std::move(buf), key);
}

Result<std::vector<uint8_t>> encode_desired_interval(const DesiredInterval& d, const SigningKey& key) {
  CATS_TRY(check_id("CPE", d.cpe_id));
  CATS_TRY(check_id("vCPE", d.vcpe_id));
  wire::Writer w;
  put_header(w, MessageType::desired_interval);
  w.str8(d.cpe_id);
  w.str8(d.vcpe_id);
  w.u64(d.seq);
  w.u64(d.timestamp_ns);
  w.u32(d.min_interval_ms);
  w.u32(d.max_interval_ms);
  return sign_and_append(std::move(w.buffer()), key);
}

Result<std::vector<uint8_t>> encode_sampling_plan(const SamplingPlan& p, const SigningKey& key) {
  CATS_TRY(check_id("CPE", p.cpe_id));
  CATS_TRY(check_id("vCPE", p.vcpe_id));
  if (p.parts == 0 || p.parts > kMaxPlanParts || p.part >= p.parts) return Error::msg("plan part numbers out of range");
  wire::Writer w;
  put_header(w, MessageType::sampling_plan);
  w.str8(p.cpe_id);
  w.str8(p.vcpe_id);
  w.u64(p.seq);
  w.u64(p.timestamp_ns);
  w.u64(p.revision);
  w.u8(p.part);
  w.u8(p.parts);
  w.bytes(p.digest);
  CATS_TRY(put_plan_instances(w, p.instances));
  // A part that does not fit is refused here (split_plan cuts plans so that none is).
  return sign_and_append(std::move(w.buffer()), key);
}

Result<std::vector<std::vector<PlanInstance>>> split_plan(const std::vector<PlanInstance>& instances,
                                                          std::string_view cpe_id, std::string_view vcpe_id) {
  if (instances.size() > kMaxPlanInstances)
    return Error::msg("more than " + std::to_string(kMaxPlanInstances) + " instances in a sampling plan");
  const size_t room = kMaxDatagram - std::min(kMaxDatagram, part_overhead(cpe_id, vcpe_id));
  std::vector<std::vector<PlanInstance>> parts(1);
  size_t used = 0;
  for (const auto& in : instances) {
    wire::Writer w;
    CATS_TRY(put_plan_entry(w, in));
    if (w.size() > room) return Error::msg("plan entry " + in.instance_id + " does not fit a datagram");
    if (used + w.size() > room) {
      parts.emplace_back();
      used = 0;
    }
    parts.back().push_back(in);
    used += w.size();
  }
  if (parts.size() > kMaxPlanParts) return Error::msg("sampling plan needs more than " + std::to_string(kMaxPlanParts) + " parts");
  return parts;
}

Result<std::vector<uint8_t>> encode_plan_ack(const PlanAck& a, const SigningKey& key) {
  CATS_TRY(check_id("vCPE", a.vcpe_id));
  CATS_TRY(check_id("CPE", a.cpe_id));
  if (a.refused.size() > kMaxPlanInstances) return Error::msg("too many refusals in a plan ack");
  wire::Writer w;
  put_header(w, MessageType::plan_ack);
  w.str8(a.vcpe_id);
  w.str8(a.cpe_id);
  w.u64(a.seq);
  w.u64(a.timestamp_ns);
  w.u64(a.revision);
  w.bytes(a.digest);
  w.u8(a.applied);
  w.u8(static_cast<uint8_t>(a.refused.size()));
  for (const auto& f : a.refused) {
    CATS_TRY(check_id("service", f.service_id));
    CATS_TRY(check_id("instance", f.instance_id));
    w.str8(f.service_id);
    w.str8(f.instance_id);
    w.u8(static_cast<uint8_t>(f.reason));
  }
  return sign_and_append(std::move(w.buffer()), key);
}

Result<MessageType> peek_type(std::span<const uint8_t> d) {
  if (d.size() < kHeaderSize) return Error::msg("datagram too short");
  if (!std::equal(kMagic.begin(), kMagic.end(), d.begin())) return Error::msg("bad magic");
  if (d[4] != kVersion) return Error::msg("unsupported version");
  if (d[5] == static_cast<uint8_t>(MessageType::report)) return MessageType::report;
  if (d[5] == static_cast<uint8_t>(MessageType::desired_interval)) return MessageType::desired_interval;
  if (d[5] == static_cast<uint8_t>(MessageType::sampling_plan)) return MessageType::sampling_plan;
  if (d[5] == static_cast<uint8_t>(MessageType::plan_ack)) return MessageType::plan_ack;
  return Error::msg("unknown message type");
}

Result<Decoded<Report>> decode_report(std::span<const uint8_t> d) {
  wire::Reader r(d.first(d.size() - std::min(d.size(), kEd25519SignatureSize)));
  CATS_TRY(read_header(r, d, MessageType::report));
  Decoded<Report> out;
  Report& rep = out.message;
  CATS_TRY_ASSIGN(vcpe, read_id(r, "vCPE"));
  rep.vcpe_id = std::move(vcpe);
  rep.seq = r.u64();
  rep.timestamp_ns = r.u64();
  size_t n_inst = r.u8();
  if (!r.ok()) return Error::msg("report header truncated");
  if (n_inst > kMaxInstances) return Error::msg("too many instances");
  rep.instances.reserve(n_inst);
  for (size_t i = 0; i < n_inst; ++i) {
    InstanceReport in;
    CATS_TRY_ASSIGN(svc, read_id(r, "service"));
    CATS_TRY_ASSIGN(inst, read_id(r, "instance"));
    in.service_id = std::move(svc);
    in.instance_id = std::move(inst);
    CATS_TRY_ASSIGN(addr, read_endpoint(r));
    in.address = addr;
    uint8_t flags = r.u8();
    if ((flags & ~kFlagAvailable) != 0) return Error::msg("reserved instance flags set");
    in.available = (flags & kFlagAvailable) != 0;
    size_t n_met = r.u8();
    if (!r.ok()) return Error::msg("instance truncated");
    if (n_met > kMaxMetricsPerInstance) return Error::msg("too many metrics");
    if (n_met * kMetricWireSize > r.remaining()) return Error::msg("metrics truncated");
    in.metrics.reserve(n_met);
    for (size_t j = 0; j < n_met; ++j) {
      metrics::L0Metric m;
      m.type = r.u16();
      m.unit = static_cast<metrics::Unit>(r.u8());
      m.source = static_cast<metrics::Source>(r.u8());
      m.statistic = static_cast<metrics::Statistic>(r.u8());
      m.value = r.f64();
      // Unknown types are kept verbatim (R14); known ones must make sense.
      if (!metrics::is_valid(m)) return Error::msg("invalid value for metric type " + std::to_string(m.type));
      in.metrics.push_back(m);
    }
    if (!r.ok()) return Error::msg("metrics truncated");
    rep.instances.push_back(std::move(in));
  }
  if (r.remaining() != 0) return Error::msg("trailing bytes before signature");
  out.signed_bytes = d.first(r.offset());
  out.signature = d.subspan(r.offset());
  return out;
}

Result<Decoded<DesiredInterval>> decode_desired_interval(std::span<const uint8_t> d) {
  wire::Reader r(d.first(d.size() - std::min(d.size(), kEd25519SignatureSize)));
  CATS_TRY(read_header(r, d, MessageType::desired_interval));
  Decoded<DesiredInterval> out;
  DesiredInterval& m = out.message;
  CATS_TRY_ASSIGN(cpe, read_id(r, "CPE"));
  CATS_TRY_ASSIGN(vcpe, read_id(r, "vCPE"));
  m.cpe_id = std::move(cpe);
  m.vcpe_id = std::move(vcpe);
  m.seq = r.u64();
  m.timestamp_ns = r.u64();
  m.min_interval_ms = r.u32();
  m.max_interval_ms = r.u32();
  if (!r.ok()) return Error::msg("desired-interval message truncated");
  if (r.remaining() != 0) return Error::msg("trailing bytes before signature");
  out.signed_bytes = d.first(r.offset());
  out.signature = d.subspan(r.offset());
  return out;
}

Result<Decoded<SamplingPlan>> decode_sampling_plan(std::span<const uint8_t> d) {
  wire::Reader r(d.first(d.size() - std::min(d.size(), kEd25519SignatureSize)));
  CATS_TRY(read_header(r, d, MessageType::sampling_plan));
  Decoded<SamplingPlan> out;
  SamplingPlan& p = out.message;
  CATS_TRY_ASSIGN(cpe, read_id(r, "CPE"));
  CATS_TRY_ASSIGN(vcpe, read_id(r, "vCPE"));
  p.cpe_id = std::move(cpe);
  p.vcpe_id = std::move(vcpe);
  p.seq = r.u64();
  p.timestamp_ns = r.u64();
  p.revision = r.u64();
  p.part = r.u8();
  p.parts = r.u8();
  auto dg = r.bytes(p.digest.size());
  if (r.ok()) std::copy(dg.begin(), dg.end(), p.digest.begin());
  size_t n = r.u8();
  if (!r.ok()) return Error::msg("sampling plan truncated");
  if (p.parts == 0 || p.parts > kMaxPlanParts || p.part >= p.parts) return Error::msg("plan part numbers out of range");
  if (n > kMaxPlanInstances) return Error::msg("too many instances in sampling plan");
  p.instances.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    CATS_TRY_ASSIGN(in, read_plan_entry(r));
    p.instances.push_back(std::move(in));
  }
  if (r.remaining() != 0) return Error::msg("trailing bytes before signature");
  out.signed_bytes = d.first(r.offset());
  out.signature = d.subspan(r.offset());
  return out;
}

Result<Decoded<PlanAck>> decode_plan_ack(std::span<const uint8_t> d) {
  wire::Reader r(d.first(d.size() - std::min(d.size(), kEd25519SignatureSize)));
  CATS_TRY(read_header(r, d, MessageType::plan_ack));
  Decoded<PlanAck> out;
  PlanAck& a = out.message;
  CATS_TRY_ASSIGN(vcpe, read_id(r, "vCPE"));
  CATS_TRY_ASSIGN(cpe, read_id(r, "CPE"));
  a.vcpe_id = std::move(vcpe);
  a.cpe_id = std::move(cpe);
  a.seq = r.u64();
  a.timestamp_ns = r.u64();
  a.revision = r.u64();
  auto dg = r.bytes(a.digest.size());
  if (r.ok()) std::copy(dg.begin(), dg.end(), a.digest.begin());
  a.applied = r.u8();
  size_t n = r.u8();
  if (!r.ok()) return Error::msg("plan ack truncated");
  if (a.applied > kMaxPlanInstances || n > kMaxPlanInstances) return Error::msg("plan ack counts out of range");
  a.refused.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    PlanRefusal f;
    CATS_TRY_ASSIGN(svc, read_id(r, "service"));
    CATS_TRY_ASSIGN(inst, read_id(r, "instance"));
    f.service_id = std::move(svc);
    f.instance_id = std::move(inst);
    uint8_t why = r.u8();
    if (!r.ok()) return Error::msg("plan ack truncated");
    if (why == 0 || why > kMaxRefusal) return Error::msg("unknown refusal reason");
    f.reason = static_cast<Refusal>(why);
    a.refused.push_back(std::move(f));
  }
  if (r.remaining() != 0) return Error::msg("trailing bytes before signature");
  out.signed_bytes = d.first(r.offset());
  out.signature = d.subspan(r.offset());
  return out;
}

}  // namespace cats::report
