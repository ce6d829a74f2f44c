// The report collector's socket on the CPE's inner address (R8-R11): datagrams into
// report::Collector, instance availability events (damped like paths, R3/R4) and one
// event per rejection cause per log interval (R23). Part of CpeServices::Impl
// (cnma_impl.hpp).
#include "cpe/cnma_impl.hpp"

#include "base/log.hpp"

namespace cats::cpe {

namespace {

constexpr const char* kLog = "cpe";

}  // namespace

// The collector listens on the CPE's inner address: reports arrive through the tunnels
// (DESIGN §3), where WireGuard has already authenticated the peer.
void CpeServices::Impl::open_report_socket() {
  if (report_sock.is_open() || !cfg.lan.address) return;
  boost::system::error_code ec;
  udp::endpoint ep(*cfg.lan.address, cfg.reporting.port);
  report_sock.open(ep.protocol(), ec);
  if (!ec) report_sock.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) report_sock.bind(ep, ec);
  if (ec) {
    if (!report_bind_logged) log::error(kLog, "collector: bind " + endpoint_to_string(ep) + ": " + ec.message());
    report_bind_logged = true;
    report_sock.close(ec);
    return;  // retried every second
  }
  log::info(kLog, "collector listening on " + endpoint_to_string(report_sock.local_endpoint(ec)));
  arm_receive();
}

void CpeServices::Impl::arm_receive() {
  std::weak_ptr<Impl> wself = weak_from_this();
  report_sock.async_receive_from(asio::buffer(rx), rx_from, [wself](boost::system::error_code ec, size_t n) {
    auto self = wself.lock();
    if (!self || self->stopped || ec == asio::error::operation_aborted) return;
    if (!ec) self->on_report(n);
    self->arm_receive();
  });
}

void CpeServices::Impl::on_report(size_t n) {
  const std::span<const uint8_t> bytes(rx.data(), n);
  if (auto t = report::peek_type(bytes); t && *t == report::MessageType::plan_ack) return on_plan_ack(bytes);
  report::AcceptResult res;
  {
    std::lock_guard lk(sh->mu);
    res = sh->collector.accept(std::span<const uint8_t>(rx.data(), n), rx_from.address(),
                               report::Now{sh->mono(), sh->wall()});
  }
  // Rejections are counted and logged (rate-limited) by the Collector; their events are
  // summarised per cause in check_rejections().
  for (const auto& e : res.events) availability_event(e);
  if (res.accepted()) steer_tick();  // a load change reaches the weights at once (R3)
}

std::string CpeServices::Impl::instance_name(const report::InstanceKey& k) {
  return k.vcpe_id + "/" + k.service_id + "/" + k.instance_id;
}

// An instance's availability changed in the collector: damp it as a path (a flap =
// available -> unavailable), then write the event.
void CpeServices::Impl::availability_event(const report::AvailabilityEvent& e) {
  const auto now = sh->mono();
  std::string detail;
  switch (e.reason) {  // no default: a new reason must be named here (-Wswitch)
    case report::AvailabilityEvent::Reason::reported: detail = "reported"; break;
    case report::AvailabilityEvent::Reason::withdrawn: detail = "withdrawn"; break;
    case report::AvailabilityEvent::Reason::expired: detail = "expired"; break;
  }
  stamp::DampedState::Result r;
  std::optional<stamp::FlapDamping::Kept> flapped;
  {
    std::lock_guard lk(sh->mu);
    auto& d = sh->inst_damp.try_emplace(e.key, sh->inst_damping).first->second;
    const auto to = e.available ? stamp::PathState::up : stamp::PathState::down;
    const uint64_t flaps = d.damping().flaps();
    r = d.on_probe_change(stamp::StateChange{d.probe_state(), to, 0, now}, now);
    if (d.damping().flaps() > 0) detail += "; " + damping_detail(d.damping(), now);
    if (d.damping().flaps() != flaps) flapped = d.damping().kept();
  }
  // Kept across a restart (never under both locks).
  if (flapped) keep_damping("instance", instance_name(e.key), *flapped);
  if (r.held)
    sh->event("instance_held", instance_name(e.key), "available again, held unavailable by flap damping: " + detail);
  else
    sh->event(e.available ? "instance_available" : "instance_unavailable", instance_name(e.key), detail);
}

// One event per rejection cause per collector log interval, carrying how many were
// rejected since the last one: a flood of forged reports (R23) is visible in the
// history without writing an event per datagram.
void CpeServices::Impl::check_rejections() {
  std::array<uint64_t, report::kVerdictCount> now_counts{};
  std::chrono::seconds interval;
  {
    std::lock_guard lk(sh->mu);
    for (size_t i = 0; i < report::kVerdictCount; ++i)
      now_counts[i] = sh->collector.count(static_cast<report::Verdict>(i));
    interval = sh->collector.config().log_interval;
  }
  auto now = sh->mono();
  for (size_t i = 1; i < report::kVerdictCount; ++i) {  // 0 = accepted
    uint64_t delta = now_counts[i] - rejected_reported[i];
    if (delta == 0) continue;
    if (rejected_event_at[i] && now - *rejected_event_at[i] < interval) continue;
    rejected_reported[i] = now_counts[i];
    rejected_event_at[i] = now;
    sh->event("report_rejected", std::string(report::to_string(static_cast<report::Verdict>(i))),
              std::to_string(delta) + " rejected");
  }
}

}  // namespace cats::cpe
