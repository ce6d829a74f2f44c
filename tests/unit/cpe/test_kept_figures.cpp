// The instance figures to and from the store's rows (cpe/kept_figures.hpp): a round trip
// across a "restart" (another steady clock) keeps every figure and the delay's age, and a
// row that a tampered or foreign file holds loses only its bad figure.
#include "cpe/kept_figures.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using namespace cats;
using namespace std::chrono_literals;

TEST_CASE("kept figures: round trip across a restart keeps the figures and the delay's age") {
  const auto mono1 = std::chrono::steady_clock::time_point{} + 5h;
  const cpe::ClockPair before{mono1, 1'700'000'000'000};
  cpe::FiguresMap fig;
  report::InstanceFigures a;
  a.measured = true;
  a.service_time_ms = 60.0;
  a.service_time_source = metrics::Source::estimated;
  a.last_delay_ms = 61.5;
  a.last_delay_at = mono1 - 20s;
  fig[{"cloud2", "bulk", "bulk-cloud2"}] = a;
  fig[{"cloud1", "app1", "quiet"}] = {};  // nothing known: not written
  auto rows = cpe::figure_rows(fig, before);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].vcpe == "cloud2");
  CHECK(rows[0].last_delay_at_ms == before.wall_ms - 20'000);
  CHECK(rows[0].service_time_source == static_cast<int>(metrics::Source::estimated));

  // The new process: its steady clock started at boot long ago, 7 s of wall time later.
  const auto mono2 = std::chrono::steady_clock::time_point{} + 9h;
  const cpe::ClockPair after{mono2, before.wall_ms + 7'000};
  auto back = cpe::kept_figures(rows, after);
  REQUIRE(back.size() == 1);
  const auto& b = back.at({"cloud2", "bulk", "bulk-cloud2"});
  CHECK(b.measured);
  CHECK(b.service_time_ms == 60.0);
  CHECK(b.service_time_source == metrics::Source::estimated);
  CHECK(b.last_delay_ms == 61.5);
  CHECK(b.last_delay_at == mono2 - 27s);  // 20 s old then, 7 s later
}

TEST_CASE("kept figures: bad rows lose the bad figure only, times out of range are clamped") {
  const cpe::ClockPair now{std::chrono::steady_clock::time_point{} + 5h, 1'700'000'000'000};
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<store::InstanceFiguresRow> rows{
      {"v", "s", "nan-delay", 30.0, 2, nan, now.wall_ms, true},
      {"v", "s", "negative-st", -1.0, 0, 10.0, now.wall_ms - 1000, true},
      {"v", "s", "unknown-source", 30.0, 99, std::nullopt, 0, false},
      {"v", "s", "future", std::nullopt, 0, 10.0, now.wall_ms + 60'000, true},
      {"v", "s", "ancient", std::nullopt, 0, 10.0, std::numeric_limits<int64_t>::min(), true},
      {"v", "s", "nothing", std::nullopt, 0, std::nullopt, 0, false},
  };
  auto f = cpe::kept_figures(rows, now);
  REQUIRE(f.size() == rows.size());
  CHECK_FALSE(f.at({"v", "s", "nan-delay"}).last_delay_ms);
  CHECK(f.at({"v", "s", "nan-delay"}).service_time_ms == 30.0);
  CHECK_FALSE(f.at({"v", "s", "negative-st"}).service_time_ms);
  CHECK(f.at({"v", "s", "negative-st"}).last_delay_at == now.mono - 1s);
  CHECK(f.at({"v", "s", "unknown-source"}).service_time_source == metrics::Source::nominal);
  CHECK(f.at({"v", "s", "unknown-source"}).measured);  // a service time is a figure
  CHECK(f.at({"v", "s", "future"}).last_delay_at == now.mono);
  CHECK(f.at({"v", "s", "ancient"}).last_delay_at == now.mono - std::chrono::hours(24 * 365));
  CHECK_FALSE(f.at({"v", "s", "nothing"}).measured);
}

TEST_CASE("kept flap damping: instants survive a restart as ages, a hold over is none") {
  const auto mono1 = std::chrono::steady_clock::time_point{} + 5h;
  const cpe::ClockPair before{mono1, 1'700'000'000'000};
  stamp::FlapDamping::Kept k{1589.5, mono1 - 2s, mono1 + 8s, 3};
  const auto row = cpe::damping_row("path", "wan1/cloud2", k, before);
  CHECK(row.kind == "path");
  CHECK(row.name == "wan1/cloud2");
  CHECK(row.stamp_ms == before.wall_ms - 2'000);
  CHECK(row.hold_end_ms == before.wall_ms + 8'000);
  CHECK(row.flaps == 3);

  // 3 s of wall time later, on another steady clock: stamp 5 s ago, held for 5 s more.
  const auto mono2 = std::chrono::steady_clock::time_point{} + 9h;
  const cpe::ClockPair after{mono2, before.wall_ms + 3'000};
  auto back = cpe::kept_damping(row, after);
  REQUIRE(back.has_value());
  CHECK(back->penalty == 1589.5);
  CHECK(back->stamp == mono2 - 5s);
  REQUIRE(back->hold_end.has_value());
  CHECK(*back->hold_end == mono2 + 5s);
  CHECK(back->flaps == 3);

  // 10 s later the hold is over; a stamp in the future (the wall clock stepped back) is now.
  const cpe::ClockPair late{mono2, before.wall_ms + 10'000};
  back = cpe::kept_damping(row, late);
  REQUIRE(back.has_value());
  CHECK_FALSE(back->hold_end.has_value());
  const cpe::ClockPair stepped_back{mono2, before.wall_ms - 60'000};
  back = cpe::kept_damping(row, stepped_back);
  REQUIRE(back.has_value());
  CHECK(back->stamp == mono2);

  auto bad = row;
  bad.penalty = std::numeric_limits<double>::infinity();
  CHECK_FALSE(cpe::kept_damping(bad, after).has_value());
  bad.penalty = -1;
  CHECK_FALSE(cpe::kept_damping(bad, after).has_value());
}
