#include "cpe/kept_figures.hpp"

#include <algorithm>
#include <cmath>

namespace cats::cpe {

namespace {

std::optional<double> sane(std::optional<double> v) {
  if (v && std::isfinite(*v) && *v >= 0) return v;
  return std::nullopt;
}

// How long before now `at_ms` was, within [0, kMaxAge]: any int64 from the file, without
// overflow. Older than a year is as old as matters (the figure is a last-known one).
constexpr std::chrono::milliseconds kMaxAge = std::chrono::hours(24 * 365);
std::chrono::milliseconds age(int64_t now_ms, int64_t at_ms) {
  if (at_ms >= now_ms) return std::chrono::milliseconds(0);
  int64_t d = 0;
  if (__builtin_sub_overflow(now_ms, at_ms, &d) || d > kMaxAge.count()) return kMaxAge;
  return std::chrono::milliseconds(d);
}

// A steady instant as unix ms, and back (both relative to one reading of both clocks).
int64_t wall_of(std::chrono::steady_clock::time_point t, const ClockPair& now) {
  return now.wall_ms - std::chrono::duration_cast<std::chrono::milliseconds>(now.mono - t).count();
}

}  // namespace

store::FlapDampingRow damping_row(std::string kind, std::string name, const stamp::FlapDamping::Kept& k,
                                  const ClockPair& now) {
  store::FlapDampingRow r;
  r.kind = std::move(kind);
  r.name = std::move(name);
  r.penalty = k.penalty;
  r.stamp_ms = wall_of(k.stamp, now);
  if (k.hold_end) r.hold_end_ms = wall_of(*k.hold_end, now);
  r.flaps = k.flaps;
  return r;
}

std::optional<stamp::FlapDamping::Kept> kept_damping(const store::FlapDampingRow& row, const ClockPair& now) {
  if (!std::isfinite(row.penalty) || row.penalty < 0) return std::nullopt;
  stamp::FlapDamping::Kept k;
  k.penalty = row.penalty;
  k.stamp = now.mono - age(now.wall_ms, row.stamp_ms);
  k.flaps = row.flaps;
  // A hold ends at most max_hold after a flap: a year ahead is as far as matters too.
  if (row.hold_end_ms && *row.hold_end_ms > now.wall_ms)
    k.hold_end = now.mono + std::min(std::chrono::milliseconds(*row.hold_end_ms - now.wall_ms), kMaxAge);
  return k;
}

std::vector<store::InstanceFiguresRow> figure_rows(const FiguresMap& figures, const ClockPair& now) {
  std::vector<store::InstanceFiguresRow> out;
  for (const auto& [k, f] : figures) {
    if (!f.measured && !f.service_time_ms && !f.last_delay_ms) continue;
    store::InstanceFiguresRow r;
    r.vcpe = k.vcpe_id;
    r.service = k.service_id;
    r.instance = k.instance_id;
    r.service_time_ms = f.service_time_ms;
    r.service_time_source = static_cast<int>(f.service_time_source);
    r.last_delay_ms = f.last_delay_ms;
    if (f.last_delay_ms)
      r.last_delay_at_ms =
          now.wall_ms - std::chrono::duration_cast<std::chrono::milliseconds>(now.mono - f.last_delay_at).count();
    r.measured = f.measured;
    out.push_back(std::move(r));
  }
  return out;
}

FiguresMap kept_figures(const std::vector<store::InstanceFiguresRow>& rows, const ClockPair& now) {
  FiguresMap out;
  for (const auto& r : rows) {
    report::InstanceFigures f;
    f.service_time_ms = sane(r.service_time_ms);
    if (f.service_time_ms) {
      const bool known = r.service_time_source >= 0 &&
                         r.service_time_source <= static_cast<int>(metrics::Source::aggregated);
      f.service_time_source = known ? static_cast<metrics::Source>(r.service_time_source) : metrics::Source::nominal;
    }
    f.last_delay_ms = sane(r.last_delay_ms);
    if (f.last_delay_ms) f.last_delay_at = now.mono - age(now.wall_ms, r.last_delay_at_ms);
    f.measured = r.measured || f.service_time_ms || f.last_delay_ms;
    out[{r.vcpe, r.service, r.instance}] = std::move(f);
  }
  return out;
}

}  // namespace cats::cpe
