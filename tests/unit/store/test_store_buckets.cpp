// History downsampled to N points in SQL (path_buckets / instance_buckets) on a real
// temporary SQLite file: bucket edges, weighted averages over fine and coarse rows,
// min/max, worst state, empty buckets left out, and the argument checks.
#include "store_test_util.hpp"

#include <chrono>
#include <cmath>
#include <limits>

using namespace cats::store;
using namespace cats::store::test;

namespace {

InstanceSample inst(int64_t ts, double util, double delay, bool available = true) {
  InstanceSample s;
  s.vcpe = "cloud1";
  s.service = "app1";
  s.instance = "i1";
  s.ts_ms = ts;
  s.vcpus = 2;
  s.utilization = util;
  s.processing_delay_ms = delay;
  s.available = available;
  return s;
}

}  // namespace

TEST_CASE("store: bucket_width cuts [from, to] into points equal buckets", "[store]") {
  CHECK(*bucket_width(0, 999, 10) == 100);
  CHECK(*bucket_width(0, 1000, 10) == 101);  // 1001 ms: the last bucket is shorter
  CHECK(*bucket_width(5, 5, 1) == 1);
  CHECK(*bucket_width(0, 3, 2000) == 1);  // more points than milliseconds
  CHECK_FALSE(bucket_width(0, 10, 0).has_value());
  CHECK_FALSE(bucket_width(0, 10, kMaxPoints + 1).has_value());
  CHECK_FALSE(bucket_width(10, 0, 5).has_value());
  CHECK_FALSE(bucket_width(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), 5).has_value());
}

TEST_CASE("store: path history in N points, grouped in SQL", "[store]") {
  TempDir dir;
  Options o;
  o.path = dir.file("cats.db");
  auto s = must_open(o);
  // Buckets of 1000 ms over [0, 3999]: 0-999 has rtt 10, 20, 30; 1000-1999 nothing;
  // 2000-2999 has 40 (down) and NaN (unknown); 3000-3999 has 50. Another path and rows
  // outside the range must not count.
  std::vector<PathSample> rows{path_sample("wan1", "c1", 0, 10),           path_sample("wan1", "c1", 500, 20),
                               path_sample("wan1", "c1", 999, 30),         path_sample("wan1", "c1", 2000, 40, "down"),
                               path_sample("wan1", "c1", 2500, NAN, "unknown"), path_sample("wan1", "c1", 3999, 50),
                               path_sample("wan1", "c1", 4000, 1000),      path_sample("wan2", "c1", 100, 1000)};
  s->add_path_samples(rows);
  auto b = s->path_buckets("wan1", "c1", 0, 3999, 4);
  REQUIRE(b.has_value());
  REQUIRE(b->size() == 3);
  const auto& b0 = (*b)[0];
  CHECK(b0.ts_ms == 0);
  CHECK(b0.bucket_ms == 1000);
  CHECK(b0.samples == 3);
  CHECK(b0.rtt_ms == Approx(20));
  CHECK(b0.rtt_min_ms == 10);
  CHECK(b0.rtt_max_ms == 30);
  CHECK(b0.jitter_ms == Approx(10));
  CHECK(b0.state == "up");
  const auto& b2 = (*b)[1];
  CHECK(b2.ts_ms == 2000);
  CHECK(b2.samples == 2);
  CHECK(b2.rtt_ms == Approx(40));  // the NaN sample is left out of the average
  CHECK(b2.state == "down");
  CHECK((*b)[2].ts_ms == 3000);
  CHECK((*b)[2].rtt_ms == Approx(50));

  // One point: the whole range.
  auto one = s->path_buckets("wan1", "c1", 0, 3999, 1);
  REQUIRE(one.has_value());
  REQUIRE(one->size() == 1);
  CHECK(one->front().samples == 6);
  CHECK(one->front().rtt_max_ms == 50);

  CHECK_FALSE(s->path_buckets("wan1", "c1", 0, 10, 0).has_value());
  auto none = s->path_buckets("nope", "c1", 0, 3999, 4);
  REQUIRE(none.has_value());
  CHECK(none->empty());
}

TEST_CASE("store: coarse rows weigh by their samples in a bucket average", "[store]") {
  TempDir dir;
  Options o;
  o.path = dir.file("cats.db");
  o.fine_retention_ms = 60'000;
  o.coarse_bucket_ms = 60'000;
  auto s = must_open(o);
  // Three samples of 10 and one of 50 in minute 0 become one coarse row (avg 20, 4
  // samples); a fine 80 in minute 2 stays fine. Average over both: (20*4 + 80) / 5 = 32.
  s->add_path_samples({path_sample("w", "v", 0, 10), path_sample("w", "v", 1000, 10), path_sample("w", "v", 2000, 10),
                       path_sample("w", "v", 3000, 50)});
  s->maintain(150'000);
  s->add_path_samples({path_sample("w", "v", 130'000, 80)});
  auto raw = s->path_history("w", "v", 0, 200'000);
  REQUIRE(raw.has_value());
  REQUIRE(raw->size() == 2);
  CHECK(raw->front().resolution == Resolution::coarse);
  auto b = s->path_buckets("w", "v", 0, 199'999, 1);
  REQUIRE(b.has_value());
  REQUIRE(b->size() == 1);
  CHECK(b->front().samples == 5);
  CHECK(b->front().rtt_ms == Approx(32));
  CHECK(b->front().rtt_min_ms == Approx(20));  // min/max of a coarse row are its average's
  CHECK(b->front().rtt_max_ms == Approx(80));
}

TEST_CASE("store: instance history in N points", "[store]") {
  TempDir dir;
  Options o;
  o.path = dir.file("cats.db");
  auto s = must_open(o);
  s->add_instance_samples({inst(0, 0.2, 5), inst(400, 0.6, 15), inst(600, 0.4, 10, false), inst(900, 0.9, 1)});
  auto b = s->instance_buckets("cloud1", "app1", "i1", 0, 999, 2);
  REQUIRE(b.has_value());
  REQUIRE(b->size() == 2);
  CHECK((*b)[0].ts_ms == 0);
  CHECK((*b)[0].bucket_ms == 500);
  CHECK((*b)[0].samples == 2);
  CHECK((*b)[0].utilization == Approx(0.4));
  CHECK((*b)[0].utilization_min == Approx(0.2));
  CHECK((*b)[0].utilization_max == Approx(0.6));
  CHECK((*b)[0].processing_delay_ms == Approx(10));
  CHECK((*b)[0].vcpus == Approx(2));
  CHECK((*b)[0].available);
  CHECK((*b)[1].ts_ms == 500);
  CHECK_FALSE((*b)[1].available);  // unavailable in one of its samples
  CHECK((*b)[1].processing_delay_max_ms == Approx(10));
  CHECK((*b)[1].processing_delay_min_ms == Approx(1));
}

TEST_CASE("store: a day in 200 points costs one row per bucket", "[store]") {
  TempDir dir;
  Options o;
  o.path = dir.file("cats.db");
  o.fine_retention_ms = 365LL * 24 * 3600'000;  // keep everything fine: the worst case
  auto s = must_open(o);
  std::vector<PathSample> day;
  for (int64_t t = 0; t < 24 * 3600'000LL; t += 1000) day.push_back(path_sample("w", "v", t, 10));
  s->add_path_samples(day);
  auto t0 = std::chrono::steady_clock::now();
  auto b = s->path_buckets("w", "v", 0, 24 * 3600'000LL - 1, 200);
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(b.has_value());
  CHECK(b->size() == 200);
  CHECK(b->front().samples == 432);
  CHECK(took < std::chrono::seconds(2));  // 86,400 rows scanned once (about 20 ms here)
}
