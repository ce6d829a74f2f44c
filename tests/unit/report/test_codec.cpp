#include "fixtures.hpp"
#include "report/report.hpp"

#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstring>

using namespace cats::report;
using namespace cats::metrics;
using cats::report::test::realistic_report;

namespace {

const SigningKey& key() {
  static SigningKey k = *SigningKey::generate();
  return k;
}

Report small_report() {
  Report r;
  r.vcpe_id = "v1";
  r.seq = 0x0102030405060708ull;
  r.timestamp_ns = 0x1122334455667788ull;
  InstanceReport in;
  in.service_id = "s";
  in.instance_id = "i";
  in.address = test::ep("10.0.0.1", 8080);
  in.available = true;
  in.metrics = {make(MetricType::cpu_utilization, 0.5)};
  r.instances.push_back(in);
  return r;
}

// Overwrite a big-endian f64 at `off`.
void put_f64(std::vector<uint8_t>& b, size_t off, double v) {
  auto u = std::bit_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) b[off + static_cast<size_t>(i)] = static_cast<uint8_t>(u >> (56 - 8 * i));
}

}  // namespace

TEST_CASE("codec: golden bytes of a small report") {
  auto enc = encode_report_unsigned(small_report());
  REQUIRE(enc.has_value());
  const std::vector<uint8_t> want{
      'C', 'A', 'T', 'R', 0x01, 0x01, 0x00, 0x00,             // magic, version 1, type report, reserved
      0x02, 'v', '1',                                          // vCPE id
      0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,          // seq
      0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,          // timestamp ns
      0x01,                                                    // 1 instance
      0x01, 's', 0x01, 'i',                                    // service, instance
      0x04, 10, 0, 0, 1, 0x1f, 0x90,                           // IPv4 10.0.0.1 port 8080
      0x01,                                                    // flags: available
      0x01,                                                    // 1 metric
      0x00, 0x02, 0x02, 0x02, 0x00,                            // cpu_utilization, ratio, measured, cur
      0x3f, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,          // 0.5
  };
  CHECK(*enc == want);
  auto signed_ = encode_report(small_report(), key());
  REQUIRE(signed_.has_value());
  CHECK(signed_->size() == want.size() + kEd25519SignatureSize);
  CHECK(std::equal(want.begin(), want.end(), signed_->begin()));
}

TEST_CASE("codec: round trip, IPv4 and IPv6, signature verifies") {
  Report r = realistic_report();
  auto enc = encode_report(r, key());
  REQUIRE(enc.has_value());
  CHECK(enc->size() < kMaxDatagram);
  auto dec = decode_report(*enc);
  REQUIRE(dec.has_value());
  CHECK(dec->message == r);
  CHECK(dec->verify(key().public_key()));
  CHECK(dec->signed_bytes.size() + dec->signature.size() == enc->size());
  auto t = peek_type(*enc);
  REQUIRE(t.has_value());
  CHECK(*t == MessageType::report);
}

TEST_CASE("codec: unknown metric types round-trip verbatim (R14)") {
  Report r = small_report();
  r.instances[0].metrics.push_back({0x8001, 42.25, static_cast<Unit>(0xee), static_cast<Source>(0x77),
                                    static_cast<Statistic>(0x66)});
  r.instances[0].metrics.push_back({0x0099, -7.0, Unit::none, Source::estimated, Statistic::max});
  auto enc = encode_report(r, key());
  REQUIRE(enc.has_value());
  auto dec = decode_report(*enc);
  REQUIRE(dec.has_value());
  CHECK(dec->message == r);

  // Even a NaN is carried for a type we do not understand (we cannot judge it).
  r.instances[0].metrics[1].value = std::nan("");
  auto enc2 = encode_report(r, key());
  REQUIRE(enc2.has_value());
  auto dec2 = decode_report(*enc2);
  REQUIRE(dec2.has_value());
  CHECK(std::isnan(dec2->message.instances[0].metrics[1].value));
}

TEST_CASE("codec: the instance's own figures (types 9-11) round-trip and are held to their rows") {
  Report r = small_report();
  r.instances[0].metrics = {make(MetricType::service_time_ms, 20.0, Source::estimated, Statistic::mean),
                            make(MetricType::last_processing_delay_ms, 61.5, Source::measured, Statistic::mean),
                            make(MetricType::last_processing_delay_age_ms, 20'000.0, Source::measured)};
  auto enc = encode_report_unsigned(r);
  REQUIRE(enc.has_value());
  // The three metrics, 13 bytes each, at the end of the body: same layout as every type,
  // so a receiver from before these types carries them verbatim as unknown (R14).
  const std::vector<uint8_t> want{
      0x00, 0x09, 0x03, 0x01, 0x01, 0x40, 0x34, 0, 0, 0, 0, 0, 0,           // service_time_ms, ms, estimated, mean, 20
      0x00, 0x0a, 0x03, 0x02, 0x01, 0x40, 0x4e, 0xc0, 0, 0, 0, 0, 0,        // last delay, ms, measured, mean, 61.5
      0x00, 0x0b, 0x03, 0x02, 0x00, 0x40, 0xd3, 0x88, 0, 0, 0, 0, 0,        // its age, ms, measured, cur, 20000
  };
  REQUIRE(enc->size() > want.size());
  CHECK(std::equal(want.begin(), want.end(), enc->end() - static_cast<std::ptrdiff_t>(want.size())));
  auto signed_ = encode_report(r, key());
  REQUIRE(signed_.has_value());
  auto dec = decode_report(*signed_);
  REQUIRE(dec.has_value());
  CHECK(dec->message == r);
  CHECK(dec->verify(key().public_key()));
  CHECK(current_value(dec->message.instances[0].metrics, MetricType::service_time_ms) == 20.0);

  // Known types now: out of their range (a negative age, a NaN service time) or in the
  // wrong unit, the report is malformed at the receiver and refused by the sender.
  // (Patched in the signed datagram: decoding does not verify, so only the value is judged.)
  const size_t age_value = enc->size() - 8;
  const size_t service_unit = enc->size() - want.size() + 2;
  auto bad = *signed_;
  put_f64(bad, age_value, 5.0);
  CHECK(decode_report(bad).has_value());  // the patching itself is sound
  put_f64(bad, age_value, -1.0);
  CHECK_FALSE(decode_report(bad).has_value());
  put_f64(bad, age_value, std::nan(""));
  CHECK_FALSE(decode_report(bad).has_value());
  bad = *signed_;
  bad[service_unit] = 0x02;  // service_time_ms in unit "ratio"
  CHECK_FALSE(decode_report(bad).has_value());
  r.instances[0].metrics[0].value = -5.0;
  CHECK_FALSE(encode_report(r, key()).has_value());
}

TEST_CASE("codec: encoder refuses what the decoder would refuse") {
  Report r = small_report();
  r.vcpe_id = "";
  CHECK_FALSE(encode_report(r, key()).has_value());
  r.vcpe_id = std::string(65, 'x');
  CHECK_FALSE(encode_report(r, key()).has_value());
  r.vcpe_id = "has space";
  CHECK_FALSE(encode_report(r, key()).has_value());
  r = small_report();
  r.instances[0].metrics[0].value = std::nan("");
  CHECK_FALSE(encode_report(r, key()).has_value());
  r = small_report();
  r.instances[0].metrics.assign(kMaxMetricsPerInstance + 1, make(MetricType::vcpus, 1));
  CHECK_FALSE(encode_report(r, key()).has_value());
  r = small_report();
  {
    const InstanceReport one = r.instances[0];
    r.instances.assign(kMaxInstances + 1, one);
  }
  CHECK_FALSE(encode_report(r, key()).has_value());
  // Within count limits but over 8 KiB.
  r = small_report();
  r.instances[0].metrics.assign(kMaxMetricsPerInstance, make(MetricType::vcpus, 1));
  {
    const InstanceReport one = r.instances[0];
    r.instances.assign(kMaxInstances, one);
  }
  CHECK_FALSE(encode_report(r, key()).has_value());
}

TEST_CASE("decoder: every truncation and any trailing byte is malformed") {
  auto enc = *encode_report(realistic_report(), key());
  for (size_t n = 0; n < enc.size(); ++n) {
    std::span<const uint8_t> cut(enc.data(), n);
    CHECK_FALSE(decode_report(cut).has_value());
  }
  auto longer = enc;
  longer.push_back(0);
  CHECK_FALSE(decode_report(longer).has_value());
}

TEST_CASE("decoder: header and field checks") {
  const auto good = *encode_report(small_report(), key());
  auto patched = [&](size_t off, uint8_t v) {
    auto b = good;
    b[off] = v;
    return decode_report(b).has_value();
  };
  CHECK(decode_report(good).has_value());
  CHECK_FALSE(patched(0, 'X'));     // magic
  CHECK_FALSE(patched(4, 2));       // version
  CHECK_FALSE(patched(5, 2));       // type: desired interval
  CHECK_FALSE(patched(5, 9));       // unknown type
  CHECK_FALSE(patched(7, 1));       // reserved
  CHECK_FALSE(patched(8, 0));       // empty vCPE id
  CHECK_FALSE(patched(9, 0x07));    // control char in id
  CHECK_FALSE(patched(27, 65));     // instance count > max
  CHECK_FALSE(patched(32, 5));      // address family
  CHECK_FALSE(patched(39, 0x03));   // reserved instance flag
  CHECK_FALSE(patched(40, 33));     // metrics count > max
  CHECK_FALSE(patched(43, 0x01));   // unit of a known type
  CHECK_FALSE(patched(44, 0x09));   // source
  CHECK_FALSE(patched(45, 0x09));   // statistic
  for (double bad : {std::nan(""), double(INFINITY), -double(INFINITY), 1.5, -0.1}) {
    auto b = good;
    put_f64(b, 46, bad);
    CHECK_FALSE(decode_report(b).has_value());
  }
  std::vector<uint8_t> huge(kMaxDatagram + 1, 0);
  std::copy(good.begin(), good.end(), huge.begin());
  CHECK_FALSE(decode_report(huge).has_value());
}

TEST_CASE("desired interval: round trip, signature, type separation") {
  DesiredInterval d{"cpe-branch1", "vcpe-1", 7, test::kBaseUnixNs, 500, 5000};
  auto enc = encode_desired_interval(d, key());
  REQUIRE(enc.has_value());
  auto dec = decode_desired_interval(*enc);
  REQUIRE(dec.has_value());
  CHECK(dec->message == d);
  CHECK(dec->verify(key().public_key()));
  CHECK_FALSE(decode_report(*enc).has_value());
  auto other = *SigningKey::generate();
  CHECK_FALSE(dec->verify(other.public_key()));
  auto t = peek_type(*enc);
  REQUIRE(t.has_value());
  CHECK(*t == MessageType::desired_interval);
}
