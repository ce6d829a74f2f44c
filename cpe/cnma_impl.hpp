// CpeServices::Impl, private to the C-NMA's files: what runs on the services io_context.
// One object, one thread; its member functions live in the file of their concern:
//   probes.cpp         STAMP probing of every WAN x vCPE path, flap damping (R7, R2)
//   report_intake.cpp  the collector socket, instance availability and rejections (R8-R11, R23)
//   vcpe_control.cpp   desired intervals (R11) and sampling plans (issue 9) to each vCPE
//   stream_feed.cpp    what the services publish on GET /api/v1/stream
//   service_ticks.cpp  the periodic work (timers), steering rounds, stop
//   cnma.cpp           CpeServices: start-up wiring and the public interface
// The read side of the control API over the Shared state is state_api.cpp.
#pragma once

#include "cpe/cnma.hpp"
#include "cpe/kept_figures.hpp"
#include "cpe/shared_state.hpp"
#include "report/report.hpp"
#include "stamp/sender.hpp"
#include "tunsock/tunnel_socket.hpp"

#include <boost/asio/steady_timer.hpp>

#include <array>
#include <span>

namespace cats::cpe {

namespace asio = boost::asio;
using udp = asio::ip::udp;

struct CpeServices::Impl : std::enable_shared_from_this<Impl> {
  asio::io_context& io;
  config::CpeConfig cfg;
  std::shared_ptr<Shared> sh;
  std::optional<report::SigningKey> key;
  std::function<uint32_t()> rng;

  struct Path {
    size_t wan, vcpe;
    std::shared_ptr<stamp::StampSender> sender;
    stamp::DampedState damp;  // the state steering uses: the probes', held down while damped
    std::string name;         // "wan/vcpe"
  };
  std::vector<Path> paths;

  udp::socket report_sock;
  std::array<uint8_t, report::kMaxDatagram + 1> rx{};  // +1 tells an oversized datagram apart
  udp::endpoint rx_from;
  bool report_bind_logged = false;

  // Per WAN, bound to its tunnel and our inner address; reopened when the tunnel is
  // re-created (tunsock/tunnel_socket.hpp, issue 14). Desired intervals and plans.
  std::vector<std::unique_ptr<tunsock::TunnelUdpSocket>> tun_socks;
  std::vector<bool> di_sent;  // per vCPE: one went out since start
  std::vector<std::string> to_vcpe_error;  // per vCPE: the last send error logged
  uint64_t di_seq = 0;        // one sequence for desired intervals and plans (the vCPE checks one)

  std::array<uint64_t, report::kVerdictCount> rejected_reported{};  // counts covered by events
  std::array<std::optional<SteadyClock::time_point>, report::kVerdictCount> rejected_event_at{};

  asio::steady_timer fast, sample, desired, maintain, flow;
  std::function<Result<size_t>(int, uint32_t)> count_flows;
  bool flow_error_logged = false;
  bool stopped = false;
  std::shared_ptr<Steering> steering;  // null when no service is configured
  // The instance figures as last written to the store (kept_figures.hpp): each sample
  // tick writes those that changed; each maintenance clears it, so all are rewritten
  // (their rows stay younger than the store's retention, a failed write is retried).
  FiguresMap figures_stored;
  // Per service, the weights and health last streamed (publish_decisions).
  std::map<std::string, std::string> streamed_decisions;

  Impl(asio::io_context& io_, config::CpeConfig c, std::shared_ptr<Shared> s)
      : io(io_), cfg(std::move(c)), sh(std::move(s)), report_sock(io_), fast(io_), sample(io_), desired(io_),
        maintain(io_), flow(io_) {}

  template <class F>
  void every(asio::steady_timer& t, SteadyClock::duration period, F f) {
    t.expires_after(period);
    std::weak_ptr<Impl> wself = weak_from_this();
    t.async_wait([wself, &t, period, f](boost::system::error_code ec) {
      auto self = wself.lock();
      if (!self || self->stopped || ec) return;
      f(*self);
      self->every(t, period, f);
    });
  }

  // probes.cpp: one STAMP sender per (WAN x vCPE) path, damped
  Status start_paths();
  stamp::DampingConfig damping_config() const;
  static std::string damping_detail(const stamp::FlapDamping& d, SteadyClock::time_point now);
  void on_probe_change(size_t i, const stamp::StateChange& c);
  void path_event(const Path& p, const stamp::StateChange& c, const std::string& detail);
  void check_holds();
  void refresh_paths();
  // Flap damping kept across restarts (kept_figures.hpp): written at each flap, restored
  // at start (paths in start_paths(), instances in restore_instance_damping()).
  void keep_damping(std::string kind, std::string name, const stamp::FlapDamping::Kept& k);
  std::vector<store::FlapDampingRow> kept_damping_rows();
  void restore_instance_damping();

  // report_intake.cpp: the collector socket, availability and rejection events
  void open_report_socket();
  void arm_receive();
  void on_report(size_t n);
  static std::string instance_name(const report::InstanceKey& k);
  void availability_event(const report::AvailabilityEvent& e);
  void check_rejections();

  // vcpe_control.cpp: desired intervals (R11) and sampling plans (issue 9) to each vCPE
  std::optional<size_t> up_wan(size_t v) const;
  uint64_t next_seq();
  uint64_t wall_ns() const;
  bool send_to_vcpe(size_t v, size_t w, const std::vector<uint8_t>& bytes, const char* what);
  void send_desired(size_t v);
  static std::vector<report::PlanInstance> plan_for(const config::CpeConfig& c, const std::string& vcpe);
  void set_plans(const config::CpeConfig& c);
  void send_plans();
  void on_plan_ack(std::span<const uint8_t> bytes);

  // stream_feed.cpp: what the services publish on GET /api/v1/stream
  void publish_paths();
  void publish_instances();
  void publish_decisions();

  // service_ticks.cpp: the periodic work, steering rounds and stop
  void steer_tick();
  void on_fast();
  void on_sample();
  void store_figures();
  void on_flow();
  void on_maintain();
  void stop();
};

// GET /api/v1/paths, instances (now and history), stream, reports, plans, events
// (state_api.cpp).
void add_state_routes(api::Router& router, const std::shared_ptr<Shared>& sh, const config::CpeConfig& cfg);

}  // namespace cats::cpe
