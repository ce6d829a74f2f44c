// The services' periodic work on their io_context (cadence in shared_state.hpp): expiry,
// holds, steering rounds and plans every kFastTick; samples to the store every
// kSampleTick; flow counts; store maintenance; and stop(). Part of CpeServices::Impl
// (cnma_impl.hpp).
#include "cpe/cnma_impl.hpp"

#include "base/clock.hpp"
#include "base/log.hpp"

#include <sys/socket.h>

namespace cats::cpe {

namespace {

constexpr const char* kLog = "cpe";

}  // namespace

// One selection + data-plane round on the current inputs (steering.hpp).
void CpeServices::Impl::steer_tick() {
  if (!steering) return;
  std::vector<PathView> ps;
  report::InstanceTable::Map table;
  {
    std::lock_guard lk(sh->mu);
    ps = sh->paths;
    table = sh->damped_entries();
  }
  steering->tick(ps, table);
  publish_decisions();
}

void CpeServices::Impl::on_fast() {
  std::vector<report::AvailabilityEvent> evs;
  {
    std::lock_guard lk(sh->mu);
    evs = sh->collector.expire(sh->mono());
  }
  for (const auto& e : evs) availability_event(e);
  check_holds();
  refresh_paths();
  steer_tick();
  send_plans();
  sh->hub->tick();  // coalesced stream messages whose slot has come
}

void CpeServices::Impl::on_sample() {
  open_report_socket();
  check_rejections();
  int64_t ts = unix_ms(sh->wall());
  std::vector<store::PathSample> ps;
  std::vector<store::InstanceSample> is;
  {
    std::lock_guard lk(sh->mu);
    ps = path_samples(sh->paths, ts);
    is = instance_samples(sh->damped_entries(), ts);
  }
  publish_paths();
  publish_instances();
  {
    std::lock_guard lk(sh->store_mu);
    if (!sh->store) return;
    if (!ps.empty()) sh->store->add_path_samples(ps);
    if (!is.empty()) sh->store->add_instance_samples(is);
  }
  store_figures();
}

// The figures that changed since they were last written (kept_figures.hpp). Runs after
// on_sample's writes; never holds both locks at once.
void CpeServices::Impl::store_figures() {
  FiguresMap changed;
  ClockPair now;
  {
    std::lock_guard lk(sh->mu);
    now = {sh->mono(), unix_ms(sh->wall())};
    for (const auto& [k, st] : sh->collector.table().entries())
      if (auto it = figures_stored.find(k); it == figures_stored.end() || it->second != st.figures)
        changed.emplace(k, st.figures);
  }
  if (changed.empty()) return;
  {
    std::lock_guard lk(sh->store_mu);
    if (!sh->store) return;
    sh->store->put_instance_figures(figure_rows(changed, now), now.wall_ms);
  }
  for (auto& [k, f] : changed) figures_stored[k] = std::move(f);
}

// A candidate whose count fails is left out (its series disappears) rather than shown as 0.
void CpeServices::Impl::on_flow() {
  if (!steering || !count_flows) return;
  std::map<uint32_t, uint64_t> counts;
  for (const auto& c : steering->candidate_weights()) {
    auto n = count_flows(c.ipv6 ? AF_INET6 : AF_INET, c.mark);
    if (n) {
      counts[c.mark] = *n;
      continue;
    }
    if (!flow_error_logged) log::warn(kLog, "counting flows by ct mark: " + n.error().message);
    flow_error_logged = true;
  }
  std::lock_guard lk(sh->mu);
  sh->flows = std::move(counts);
  sh->flows_counted_ms = unix_ms(sh->wall());
}

void CpeServices::Impl::on_maintain() {
  {
    std::lock_guard lk(sh->store_mu);
    if (sh->store) sh->store->maintain(unix_ms(sh->wall()));
  }
  figures_stored.clear();  // every instance's figures again at the next sample tick
}

void CpeServices::Impl::stop() {
  if (stopped) return;
  stopped = true;
  for (auto& p : paths) p.sender->stop();
  boost::system::error_code ec;
  report_sock.close(ec);
  for (auto& s : tun_socks) s->close();
  fast.cancel();
  sample.cancel();
  desired.cancel();
  maintain.cancel();
  flow.cancel();
  sh->hub->close();  // nothing feeds it any more: its streams end, their clients reconnect
}

}  // namespace cats::cpe
