// Shared test data for the report tests.
#pragma once

#include "report/report.hpp"

#include <chrono>

namespace cats::report::test {

inline constexpr uint64_t kBaseUnixNs = 1'700'000'000ull * 1'000'000'000ull;

inline UdpEndpoint ep(const char* addr, uint16_t port) {
  return UdpEndpoint(boost::asio::ip::make_address(addr), port);
}

inline InstanceReport instance(std::string svc, std::string id, const char* addr, double cpu, double delay) {
  using namespace cats::metrics;
  InstanceReport in;
  in.service_id = std::move(svc);
  in.instance_id = std::move(id);
  in.address = ep(addr, 8080);
  in.available = true;
  in.metrics = {make(MetricType::vcpus, 6, Source::nominal),
                make(MetricType::cpu_utilization, cpu),
                make(MetricType::memory_utilization, 0.4),
                make(MetricType::processing_delay_ms, delay),
                make(MetricType::active_sessions, 120),
                make(MetricType::capacity_free, 0.5)};
  return in;
}

// The "realistic" report: 4 instances x 6 metrics.
inline Report realistic_report(std::string vcpe = "vcpe-1", uint64_t seq = 1, uint64_t ts = kBaseUnixNs) {
  Report r;
  r.vcpe_id = std::move(vcpe);
  r.seq = seq;
  r.timestamp_ns = ts;
  r.instances = {instance("video", "video-a", "10.10.0.11", 0.5, 12),
                 instance("video", "video-b", "10.10.0.12", 0.2, 8),
                 instance("ar", "ar-a", "2001:db8::21", 0.7, 25),
                 instance("ar", "ar-b", "10.10.0.22", 0.1, 5)};
  return r;
}

}  // namespace cats::report::test
