// The instances' kept figures (report::InstanceFigures) to and from the store (schema v3),
// so a restarted CPE prices an instance by what it knew before the restart rather than
// exploring it as never measured (issue 8; docs/METRICS.md "Instance figures").
#pragma once

#include "report/instance_table.hpp"
#include "stamp/flap_damping.hpp"
#include "store/store.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <vector>

namespace cats::cpe {

// One reading of both clocks. The steady clock does not survive the process, so a
// delay's time is stored as unix ms and brought back as an age before now.
struct ClockPair {
  std::chrono::steady_clock::time_point mono;
  int64_t wall_ms = 0;
};

using FiguresMap = std::map<report::InstanceKey, report::InstanceFigures>;

// Rows for the instances with something to keep (measured, or a figure given).
std::vector<store::InstanceFiguresRow> figure_rows(const FiguresMap& figures, const ClockPair& now);

// The figures to seed the collector with. A row the store could not have written (a
// non-finite or negative figure, an unknown source) loses that figure, not the row: the
// rest of what was known stands. A time in the future (the wall clock stepped back)
// counts as now.
FiguresMap kept_figures(const std::vector<store::InstanceFiguresRow>& rows, const ClockPair& now);

// A path's ("path", "wan/vcpe") or instance's ("instance", "vcpe/service/instance") flap
// damping as a store row (schema v4), its instants as unix ms.
store::FlapDampingRow damping_row(std::string kind, std::string name, const stamp::FlapDamping::Kept& k,
                                  const ClockPair& now);
// The damping to restore from a row: instants brought back to the steady clock (a stamp
// in the future counts as now; a hold already over is none). Empty for a row the store
// could not have written (a penalty not finite or negative).
std::optional<stamp::FlapDamping::Kept> kept_damping(const store::FlapDampingRow& row, const ClockPair& now);

}  // namespace cats::cpe
