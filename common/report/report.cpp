#include "report/report.hpp"

#include "report/wire.hpp"

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

}  // namespace

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

Result<MessageType> peek_type(std::span<const uint8_t> d) {
  if (d.size() < kHeaderSize) return Error::msg("datagram too short");
  if (!std::equal(kMagic.begin(), kMagic.end(), d.begin())) return Error::msg("bad magic");
  if (d[4] != kVersion) return Error::msg("unsupported version");
  if (d[5] == static_cast<uint8_t>(MessageType::report)) return MessageType::report;
  if (d[5] == static_cast<uint8_t>(MessageType::desired_interval)) return MessageType::desired_interval;
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
    in.address = UdpEndpoint(addr, port);
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

}  // namespace cats::report
