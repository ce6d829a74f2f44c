#include "store_test_util.hpp"

#include <chrono>
#include <cmath>
#include <limits>
#include <map>

using namespace cats::store;
using namespace cats::store::test;

namespace {

const int kLatest = static_cast<int>(cats::store::detail::migrations().size());

Options opts_in(const TempDir& d) {
  Options o;
  o.path = d.file("cats.db");
  return o;
}

}  // namespace

TEST_CASE("store: migrations run once, re-open is a no-op, WAL is on", "[store]") {
  TempDir dir;
  auto o = opts_in(dir);
  int64_t applied_ms = 0;
  {
    auto s = must_open(o);
    CHECK(s->stats().schema_version == kLatest);
    s->add_path_samples({path_sample("wan1", "cloud1", 1000, 10)});
    RawDb raw(o.path);
    CHECK(raw.int_query("SELECT count(*) FROM schema_version") == kLatest);
    CHECK(raw.int_query("SELECT max(version) FROM schema_version") == kLatest);
    applied_ms = raw.int_query("SELECT applied_ms FROM schema_version WHERE version = 1");
    CHECK(applied_ms > 0);
    CHECK(raw.text_query("PRAGMA journal_mode") == "wal");
  }
  for (int i = 0; i < 2; ++i) {
    auto s = must_open(o);
    CHECK(s->stats().schema_version == kLatest);
    RawDb raw(o.path);
    CHECK(raw.int_query("SELECT count(*) FROM schema_version") == kLatest);
    CHECK(raw.int_query("SELECT applied_ms FROM schema_version WHERE version = 1") == applied_ms);
    auto h = s->path_history("wan1", "cloud1", 0, 10'000);
    REQUIRE(h.has_value());
    CHECK(h->size() == 1);  // the tables were not recreated
  }
}

TEST_CASE("store: a database from a newer version is refused", "[store]") {
  TempDir dir;
  auto o = opts_in(dir);
  { must_open(o); }
  {
    RawDb raw(o.path);
    raw.exec("INSERT INTO schema_version(version, applied_ms) VALUES (" + std::to_string(kLatest + 1) + ", 0)");
  }
  auto r = Store::open(o);
  REQUIRE_FALSE(r.has_value());
  CHECK_THAT(r.error().message, Catch::Contains("newer") && Catch::Contains("version " + std::to_string(kLatest + 1)));
  RawDb raw(o.path);
  CHECK(raw.int_query("SELECT max(version) FROM schema_version") == kLatest + 1);  // left untouched
}

TEST_CASE("store: migration runner applies each step in its own transaction", "[store]") {
  using cats::store::detail::Migration;
  using cats::store::detail::migrate;
  TempDir dir;
  RawDb raw(dir.file("m.db"));
  const Migration good[] = {{1, "CREATE TABLE t1(x)"}, {2, "CREATE TABLE t2(x); INSERT INTO t2 VALUES (7)"}};
  const Migration bad[] = {good[0], good[1], {3, "CREATE TABLE t3(x); INSERT INTO nosuch VALUES (1)"}};

  auto r = migrate(raw.get(), bad, 123);
  REQUIRE_FALSE(r.has_value());
  CHECK_THAT(r.error().message, Catch::Contains("migration to version 3"));
  // 1 and 2 stay applied; 3 was rolled back as a whole.
  CHECK(raw.int_query("SELECT max(version) FROM schema_version") == 2);
  CHECK(raw.int_query("SELECT count(*) FROM sqlite_schema WHERE name = 't3'") == 0);
  CHECK(raw.int_query("SELECT x FROM t2") == 7);

  auto again = migrate(raw.get(), good, 456);
  REQUIRE(again.has_value());
  CHECK(*again == 2);
  CHECK(raw.int_query("SELECT count(*) FROM schema_version") == 2);
  CHECK(raw.int_query("SELECT count(*) FROM t2") == 1);  // not re-run

  auto older = migrate(raw.get(), std::span<const Migration>(good, 1), 0);
  REQUIRE_FALSE(older.has_value());
  CHECK_THAT(older.error().message, Catch::Contains("newer"));

  const Migration gap[] = {{1, "SELECT 1"}, {3, "SELECT 1"}};
  TempDir dir2;
  RawDb raw2(dir2.file("m.db"));
  CHECK_FALSE(migrate(raw2.get(), gap, 0).has_value());
}

TEST_CASE("store: bad files and options are refused cleanly", "[store]") {
  TempDir dir;
  auto o = opts_in(dir);
  {
    std::FILE* f = std::fopen(o.path.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs("this is not an sqlite database, just some text that is long enough to have a header\n", f);
    std::fclose(f);
  }
  CHECK_FALSE(Store::open(o).has_value());

  Options bad = opts_in(dir);
  bad.path = dir.file("other.db");
  bad.coarse_bucket_ms = 0;
  CHECK_FALSE(Store::open(bad).has_value());
  Options nopath;
  CHECK_FALSE(Store::open(nopath).has_value());
  Options nodir;
  nodir.path = dir.file("missing/dir/cats.db");
  CHECK_FALSE(Store::open(nodir).has_value());
}

TEST_CASE("store: samples and events round-trip", "[store]") {
  TempDir dir;
  auto s = must_open(opts_in(dir));

  PathSample p = path_sample("wan1", "cloud1", 1'700'000'000'123, 12.5, "down");
  p.jitter_ms = 0.25;
  p.loss_pct = 100;
  PathSample nan = path_sample("wan1", "cloud1", 1'700'000'000'124, std::numeric_limits<double>::quiet_NaN());
  s->add_path_samples({p, nan});

  InstanceSample i;
  i.vcpe = "cloud1";
  i.service = "app1";
  i.instance = "app1-cloud1";
  i.ts_ms = 1'700'000'000'000;
  i.vcpus = 4;
  i.utilization = 0.75;
  i.processing_delay_ms = 3.5;
  i.available = true;
  s->add_instance_samples({i});
  s->add_event({1'700'000'000'500, "path_down", "wan1/cloud1", R"({"loss":100})"});
  s->add_path_samples({});  // nothing to do: not a write

  auto st = s->stats();
  CHECK(st.writes == 3);
  CHECK(st.write_failures == 0);

  auto ph = s->path_history("wan1", "cloud1", 0, std::numeric_limits<int64_t>::max());
  REQUIRE(ph.has_value());
  REQUIRE(ph->size() == 2);
  const auto& got = (*ph)[0];
  CHECK(got.wan == "wan1");
  CHECK(got.vcpe == "cloud1");
  CHECK(got.ts_ms == p.ts_ms);
  CHECK(got.rtt_ms == 12.5);
  CHECK(got.jitter_ms == 0.25);
  CHECK(got.loss_pct == 100);
  CHECK(got.state == "down");
  CHECK(got.resolution == Resolution::fine);
  CHECK(got.samples == 1);
  CHECK(std::isnan((*ph)[1].rtt_ms));  // NaN is stored as NULL and read back as NaN

  auto ih = s->instance_history("cloud1", "app1", "app1-cloud1", 0, std::numeric_limits<int64_t>::max());
  REQUIRE(ih.has_value());
  REQUIRE(ih->size() == 1);
  CHECK((*ih)[0].instance == "app1-cloud1");
  CHECK((*ih)[0].ts_ms == i.ts_ms);
  CHECK((*ih)[0].vcpus == 4);
  CHECK((*ih)[0].utilization == 0.75);
  CHECK((*ih)[0].processing_delay_ms == 3.5);
  CHECK((*ih)[0].available);
  CHECK((*ih)[0].resolution == Resolution::fine);

  auto ev = s->events(0, std::numeric_limits<int64_t>::max());
  REQUIRE(ev.has_value());
  REQUIRE(ev->size() == 1);
  CHECK((*ev)[0].ts_ms == 1'700'000'000'500);
  CHECK((*ev)[0].kind == "path_down");
  CHECK((*ev)[0].subject == "wan1/cloud1");
  CHECK((*ev)[0].detail == R"({"loss":100})");
}

TEST_CASE("store: history by range, oldest first, with limit", "[store]") {
  TempDir dir;
  auto s = must_open(opts_in(dir));
  // Written out of order and in several batches; other keys interleaved.
  for (int64_t ts : {5000, 1000, 9000, 3000, 7000, 2000, 10000, 4000, 8000, 6000}) {
    s->add_path_samples({path_sample("wan1", "cloud1", ts, static_cast<double>(ts)),
                         path_sample("wan2", "cloud1", ts, 1), path_sample("wan1", "cloud2", ts, 2)});
  }
  auto h = s->path_history("wan1", "cloud1", 3000, 6000);
  REQUIRE(h.has_value());
  REQUIRE(h->size() == 4);
  for (size_t k = 0; k < 4; ++k) {
    CHECK((*h)[k].ts_ms == 3000 + 1000 * static_cast<int64_t>(k));
    CHECK((*h)[k].rtt_ms == static_cast<double>((*h)[k].ts_ms));
  }
  auto lim = s->path_history("wan1", "cloud1", 3000, 6000, 2);
  REQUIRE(lim.has_value());
  REQUIRE(lim->size() == 2);
  CHECK((*lim)[0].ts_ms == 3000);
  CHECK((*lim)[1].ts_ms == 4000);
  auto none = s->path_history("wan1", "cloud1", 3000, 6000, 0);
  REQUIRE(none.has_value());
  CHECK(none->empty());
  auto other = s->path_history("wan9", "cloud1", 0, 100000);
  REQUIRE(other.has_value());
  CHECK(other->empty());

  for (int64_t ts = 1; ts <= 5; ++ts) s->add_event({ts * 100, "k", "s" + std::to_string(ts), ""});
  auto ev = s->events(200, 400, 2);
  REQUIRE(ev.has_value());
  REQUIRE(ev->size() == 2);
  CHECK((*ev)[0].subject == "s2");
  CHECK((*ev)[1].subject == "s3");
}

TEST_CASE("store: maintain downsamples exactly and prunes", "[store]") {
  TempDir dir;
  Options o = opts_in(dir);
  o.fine_retention_ms = 10'000;
  o.coarse_bucket_ms = 1'000;
  o.coarse_retention_ms = 100'000;
  auto s = must_open(o);

  s->add_path_samples({
      // bucket 20'000: rtt 10/20/30 -> 20; states up, unknown, up -> unknown
      path_sample("wan1", "cloud1", 20'000, 10, "up"),
      path_sample("wan1", "cloud1", 20'250, 20, "unknown"),
      path_sample("wan1", "cloud1", 20'999, 30, "up"),
      // bucket 21'000: 1/3/5 -> 3; down wins
      path_sample("wan1", "cloud1", 21'100, 1, "up"),
      path_sample("wan1", "cloud1", 21'900, 5, "down"),
      path_sample("wan1", "cloud1", 21'500, 3, "unknown"),
      // bucket 39'000: a single sample, and a NaN that the average leaves out
      path_sample("wan1", "cloud1", 39'500, 8, "up"),
      path_sample("wan1", "cloud1", 39'600, std::numeric_limits<double>::quiet_NaN(), "up"),
      // bucket 40'000 straddles the fine window (cut at 40'500): stays fine for now
      path_sample("wan1", "cloud1", 40'100, 50, "up"),
      path_sample("wan1", "cloud1", 45'000, 60, "up"),
      // another key, same bucket: its own coarse row
      path_sample("wan2", "cloud1", 20'500, 100, "up"),
  });
  InstanceSample i;
  i.vcpe = "cloud1";
  i.service = "app1";
  i.instance = "a1";
  for (auto [ts, util, avail] : {std::tuple{20'100, 0.25, true}, {20'200, 0.5, false}, {20'300, 0.75, true}}) {
    i.ts_ms = ts;
    i.vcpus = 2;
    i.utilization = util;
    i.processing_delay_ms = util * 4;
    i.available = avail;
    s->add_instance_samples({i});
  }

  const int64_t now = 50'500;
  s->maintain(now);
  s->maintain(now);  // idempotent
  CHECK(s->stats().write_failures == 0);

  auto h = s->path_history("wan1", "cloud1", 0, 1'000'000);
  REQUIRE(h.has_value());
  REQUIRE(h->size() == 5);
  const auto& b20 = (*h)[0];
  CHECK(b20.ts_ms == 20'000);
  CHECK(b20.resolution == Resolution::coarse);
  CHECK(b20.samples == 3);
  CHECK(b20.rtt_ms == 20);
  CHECK(b20.jitter_ms == 10);
  CHECK(b20.loss_pct == 5);
  CHECK(b20.state == "unknown");
  const auto& b21 = (*h)[1];
  CHECK(b21.ts_ms == 21'000);
  CHECK(b21.resolution == Resolution::coarse);
  CHECK(b21.rtt_ms == 3);
  CHECK(b21.state == "down");
  const auto& b39 = (*h)[2];
  CHECK(b39.ts_ms == 39'000);
  CHECK(b39.resolution == Resolution::coarse);
  CHECK(b39.samples == 2);
  CHECK(b39.rtt_ms == 8);
  CHECK(b39.state == "up");
  CHECK((*h)[3].ts_ms == 40'100);
  CHECK((*h)[3].resolution == Resolution::fine);
  CHECK((*h)[4].ts_ms == 45'000);
  CHECK((*h)[4].resolution == Resolution::fine);

  auto h2 = s->path_history("wan2", "cloud1", 0, 1'000'000);
  REQUIRE(h2.has_value());
  REQUIRE(h2->size() == 1);
  CHECK((*h2)[0].ts_ms == 20'000);
  CHECK((*h2)[0].rtt_ms == 100);
  CHECK((*h2)[0].samples == 1);

  auto ih = s->instance_history("cloud1", "app1", "a1", 0, 1'000'000);
  REQUIRE(ih.has_value());
  REQUIRE(ih->size() == 1);
  CHECK((*ih)[0].resolution == Resolution::coarse);
  CHECK((*ih)[0].samples == 3);
  CHECK((*ih)[0].utilization == 0.5);
  CHECK((*ih)[0].processing_delay_ms == 2);
  CHECK((*ih)[0].vcpus == 2);
  CHECK_FALSE((*ih)[0].available);  // unavailable at some point in the bucket

  {
    RawDb raw(o.path);
    CHECK(raw.int_query("SELECT count(*) FROM path_samples WHERE resolution = 'fine' AND ts_ms < 40000") == 0);
    CHECK(raw.int_query("SELECT count(*) FROM instance_samples WHERE resolution = 'fine'") == 0);
  }

  // A late sample for an already downsampled bucket is merged in, weighted by count.
  s->add_path_samples({path_sample("wan1", "cloud1", 20'500, 40, "down")});
  s->maintain(now);
  h = s->path_history("wan1", "cloud1", 20'000, 20'000);
  REQUIRE(h.has_value());
  REQUIRE(h->size() == 1);
  CHECK((*h)[0].samples == 4);
  CHECK((*h)[0].rtt_ms == 25);  // (10 + 20 + 30 + 40) / 4
  CHECK((*h)[0].state == "down");

  // Much later: the coarse rows past coarse retention go, the rest is downsampled.
  s->maintain(20'000 + 100'000 + 500);  // coarse cut 20'500, fine cut 110'000
  h = s->path_history("wan1", "cloud1", 0, 1'000'000);
  REQUIRE(h.has_value());
  REQUIRE(h->size() == 4);
  CHECK((*h)[0].ts_ms == 21'000);
  CHECK((*h)[1].ts_ms == 39'000);
  CHECK((*h)[2].ts_ms == 40'000);
  CHECK((*h)[2].rtt_ms == 50);
  CHECK((*h)[3].ts_ms == 45'000);
  for (const auto& row : *h) CHECK(row.resolution == Resolution::coarse);

  s->maintain(1'000'000'000);  // everything expired
  h = s->path_history("wan1", "cloud1", 0, std::numeric_limits<int64_t>::max());
  REQUIRE(h.has_value());
  CHECK(h->empty());
  ih = s->instance_history("cloud1", "app1", "a1", 0, std::numeric_limits<int64_t>::max());
  REQUIRE(ih.has_value());
  CHECK(ih->empty());
}

TEST_CASE("store: events are capped, oldest dropped first", "[store]") {
  TempDir dir;
  Options o = opts_in(dir);
  o.max_events = 5;
  auto s = must_open(o);
  // ts 1..8, written newest first, with a tie at ts 4 broken by insertion order.
  for (int64_t ts = 8; ts >= 1; --ts) s->add_event({ts, "k", "e" + std::to_string(ts), ""});
  s->add_event({4, "k", "e4b", ""});
  s->maintain(100);
  auto ev = s->events(0, 100);
  REQUIRE(ev.has_value());
  REQUIRE(ev->size() == 5);
  CHECK((*ev)[0].subject == "e4b");  // the later-inserted of the two at ts 4 survives
  for (size_t k = 1; k < 5; ++k) CHECK((*ev)[k].subject == "e" + std::to_string(4 + k));
}

TEST_CASE("store: a locked database makes writes fail softly, and they recover", "[store]") {
  TempDir dir;
  auto o = opts_in(dir);
  auto s = must_open(o);
  s->add_path_samples({path_sample("wan1", "cloud1", 1000, 1)});
  REQUIRE(s->stats().writes == 1);

  RawDb other(o.path);
  other.exec("BEGIN EXCLUSIVE");
  auto t0 = std::chrono::steady_clock::now();
  s->add_path_samples({path_sample("wan1", "cloud1", 2000, 2)});
  s->add_event({2000, "k", "s", ""});
  s->maintain(1'000'000);
  auto took = std::chrono::steady_clock::now() - t0;
  auto st = s->stats();
  CHECK(st.write_failures == 3);
  CHECK(st.writes == 1);
  CHECK(took < std::chrono::seconds(3));  // degraded within the busy timeout, not blocked
  // Readers are not blocked by a writer in WAL mode.
  auto h = s->path_history("wan1", "cloud1", 0, 10'000);
  REQUIRE(h.has_value());
  CHECK(h->size() == 1);

  other.exec("COMMIT");
  s->add_path_samples({path_sample("wan1", "cloud1", 3000, 3)});
  st = s->stats();
  CHECK(st.write_failures == 3);
  CHECK(st.writes == 2);
  h = s->path_history("wan1", "cloud1", 0, 10'000);
  REQUIRE(h.has_value());
  REQUIRE(h->size() == 2);  // the sample written while locked was dropped, not half-written
  CHECK((*h)[0].ts_ms == 1000);
  CHECK((*h)[1].ts_ms == 3000);
}

TEST_CASE("store: failure logs are rate-limited per error kind", "[store]") {
  using cats::store::detail::LogLimiter;
  using namespace std::chrono_literals;
  LogLimiter lim(10s);
  LogLimiter::Clock::time_point t0{};
  t0 += 1h;
  auto first = lim.admit(SQLITE_FULL, t0);
  REQUIRE(first.has_value());
  CHECK(*first == 0);
  CHECK_FALSE(lim.admit(SQLITE_FULL, t0 + 1s).has_value());
  CHECK_FALSE(lim.admit(SQLITE_FULL, t0 + 5s).has_value());
  CHECK_FALSE(lim.admit(SQLITE_FULL, t0 + 9999ms).has_value());
  auto busy = lim.admit(SQLITE_BUSY, t0 + 2s);  // another kind has its own budget
  REQUIRE(busy.has_value());
  CHECK(*busy == 0);
  auto next = lim.admit(SQLITE_FULL, t0 + 10s);
  REQUIRE(next.has_value());
  CHECK(*next == 3);
  CHECK_FALSE(lim.admit(SQLITE_FULL, t0 + 11s).has_value());
  auto later = lim.admit(SQLITE_FULL, t0 + 60s);
  REQUIRE(later.has_value());
  CHECK(*later == 1);
}

TEST_CASE("store: events filtered in SQL by kind, subject and range agree with matches()", "[store]") {
  TempDir dir;
  auto s = must_open(opts_in(dir));
  const std::vector<Event> all = {
      {100, "path_down", "wan1/cloud1", "loss"},     {200, "path_up", "wan1/cloud1", ""},
      {300, "path_down", "wan2/cloud10", ""},        {400, "instance_held", "cloud1/app1/app1-cloud1", ""},
      {500, "weights", "app1", "ok"},                {600, "report_rejected", "cloud1", "bad_mac"},
      {700, "pathology", "wan1/cloud1", ""},         {800, "path_flap", "wan_1/cloud%1", ""},
      {900, "auth_login", "alice@192.0.2.1", "ok"},  {1000, "path_up", "wan1/cloud1", ""},
  };
  for (const auto& e : all) s->add_event(e);

  auto subjects = [](const std::vector<Event>& ev) {
    std::vector<int64_t> ts;
    for (const auto& e : ev) ts.push_back(e.ts_ms);
    return ts;
  };
  auto run = [&](EventQuery q) {
    auto got = s->events(q);
    REQUIRE(got.has_value());
    // The in-memory filter (no store) answers the same, in the same order and bound.
    std::vector<Event> want;
    for (const auto& e : all)
      if (matches(q, e)) want.push_back(e);
    want = newest_per_bucket(q, want);
    if (want.size() > q.limit) {
      if (q.newest) want.erase(want.begin(), want.end() - static_cast<std::ptrdiff_t>(q.limit));
      else want.resize(q.limit);
    }
    CHECK(subjects(*got) == subjects(want));
    return subjects(*got);
  };
  using V = std::vector<int64_t>;
  EventQuery q;
  CHECK(run(q) == V{100, 200, 300, 400, 500, 600, 700, 800, 900, 1000});
  q.kinds = {"path_*"};  // a prefix: not "pathology"
  CHECK(run(q) == V{100, 200, 300, 800, 1000});
  q.kinds = {"path_up", "weights"};
  CHECK(run(q) == V{200, 500, 1000});
  q.kinds = {};
  q.subject = "cloud1";  // a whole segment: not cloud10, and in either position
  CHECK(run(q) == V{100, 200, 400, 600, 700, 1000});
  q.subject = "wan1/cloud1";
  CHECK(run(q) == V{100, 200, 700, 1000});
  q.subject = "cloud%1";  // no LIKE wildcards: taken literally
  CHECK(run(q) == V{800});
  q.subject = "wan_1";
  CHECK(run(q) == V{800});
  q.subject = "cloud1";
  q.kinds = {"path_*"};
  q.from_ms = 150;
  q.to_ms = 1000;
  CHECK(run(q) == V{200, 1000});
  q = {};
  q.limit = 3;
  CHECK(run(q) == V{100, 200, 300});
  q.newest = true;  // the newest three, still oldest first
  CHECK(run(q) == V{800, 900, 1000});

  // points: [from, to] in buckets, of each bucket, kind and subject only the newest.
  q = {};
  q.from_ms = 100;
  q.to_ms = 1099;
  q.points = 2;  // buckets [100, 599], [600, 1099]
  CHECK(run(q) == V{100, 200, 300, 400, 500, 600, 700, 800, 900, 1000});  // no two share kind, subject and bucket
  q.kinds = {"path_*"};
  q.subject = "wan1/cloud1";
  CHECK(run(q) == V{100, 200, 1000});
  q.points = 1;  // one bucket: the newest of each kind
  CHECK(run(q) == V{100, 1000});
  q.newest = true;
  q.limit = 1;
  CHECK(run(q) == V{1000});
  q = {};
  q.from_ms = 0;
  q.to_ms = 2000;
  q.points = 2000;  // 1 ms buckets: nothing thinned
  CHECK(run(q) == V{100, 200, 300, 400, 500, 600, 700, 800, 900, 1000});

  // A query the store cannot run as asked is refused, never widened.
  for (auto bad : {std::vector<std::string>{"path_down' OR 1=1 --"}, std::vector<std::string>{"*"},
                   std::vector<std::string>{""}, std::vector<std::string>{"Path_up"}}) {
    EventQuery b;
    b.kinds = bad;
    CHECK(check_event_query(b)->field == "kind");
    CHECK_FALSE(s->events(b).has_value());
  }
  EventQuery b;
  b.limit = 0;
  CHECK(check_event_query(b)->field == "limit");
  b.limit = EventQuery::kMaxEvents + 1;
  CHECK(check_event_query(b)->field == "limit");
  b = {};
  b.subject = "a\nb";
  CHECK(check_event_query(b)->field == "subject");
  for (int64_t p : {int64_t{-1}, kMaxPoints + 1}) {
    b = {};
    b.to_ms = 1000;
    b.points = p;
    CHECK(check_event_query(b)->field == "points");
    CHECK_FALSE(s->events(b).has_value());
  }
  b = {};  // to_ms: the end of time, a span no bucket width covers
  b.points = 10;
  CHECK(check_event_query(b)->field == "points");
}

TEST_CASE("store: events by points keep the newest per bucket, ties to the later row", "[store]") {
  TempDir dir;
  auto s = must_open(opts_in(dir));
  const std::vector<Event> all = {
      {1000, "weights", "app1", "a"}, {1500, "weights", "app1", "b"}, {1500, "weights", "app1", "c"},
      {1999, "weights", "app2", "d"}, {2000, "weights", "app1", "e"}, {2999, "weights", "app1", "f"},
      {3000, "weights", "app1", "g"},
  };
  for (const auto& e : all) s->add_event(e);
  EventQuery q;
  q.kinds = {"weights"};
  q.from_ms = 1000;
  q.to_ms = 3999;
  q.points = 3;  // [1000, 1999], [2000, 2999], [3000, 3999]
  auto got = s->events(q);
  REQUIRE(got.has_value());
  std::string details;
  for (const auto& e : *got) details += e.detail;
  CHECK(details == "cdfg");  // app1: c (the later of two at 1500), f, g; app2: d
  std::string mem;
  for (const auto& e : newest_per_bucket(q, all)) mem += e.detail;
  CHECK(mem == details);
  q.subject = "app1";
  q.newest = true;
  q.limit = 2;
  got = s->events(q);
  REQUIRE(got.has_value());
  REQUIRE(got->size() == 2);
  CHECK((*got)[0].detail == "f");
  CHECK((*got)[1].detail == "g");
}

TEST_CASE("store: replay marks survive a re-open, bit for bit, and have their own connection", "[store]") {
  TempDir dir;
  auto o = opts_in(dir);
  const uint64_t big = std::numeric_limits<uint64_t>::max() - 5;  // beyond int64: stored bit for bit
  {
    auto s = must_open(o);
    auto none = s->replay_marks();
    REQUIRE(none.has_value());
    CHECK(none->empty());
    REQUIRE(s->put_replay_mark({"cloud1", "report", 100}, 1));
    REQUIRE(s->put_replay_mark({"cloud1", "report", 101}, 2));
    REQUIRE(s->put_replay_mark({"cloud1", "plan_ack", big}, 3));
    CHECK_FALSE(s->put_replay_mark({"cloud1", "bogus", 1}, 4));  // the schema's CHECK
    CHECK(s->stats().write_failures == 1);
    // No close, no flush: a process crash keeps what put_replay_mark returned ok for.
  }
  auto s = must_open(o);
  auto m = s->replay_marks();
  REQUIRE(m.has_value());
  REQUIRE(m->size() == 2);
  std::map<std::string, uint64_t> got;
  for (const auto& r : *m) got[r.vcpe + "/" + r.stream] = r.seq;
  CHECK(got["cloud1/report"] == 101);
  CHECK(got["cloud1/plan_ack"] == big);

  // A writer holding the file's write lock (a long maintain(), another module): the mark
  // fails after the short busy timeout instead of waiting with the services' lock held.
  RawDb raw(o.path);
  raw.exec("BEGIN IMMEDIATE");
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(s->put_replay_mark({"cloud1", "report", 102}, 5));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
  raw.exec("ROLLBACK");
  CHECK(s->put_replay_mark({"cloud1", "report", 102}, 6));
}

TEST_CASE("store: instance figures survive a re-open, NULL stays absent, upsert replaces, old rows pruned", "[store]") {
  TempDir dir;
  auto o = opts_in(dir);
  InstanceFiguresRow a{"cloud1", "app1", "app1-cloud1", 60.0, 1, 61.5, 1'000'000, true};
  InstanceFiguresRow b{"cloud2", "bulk", "bulk-cloud2", std::nullopt, 0, 12.25, 2'000'000, true};
  InstanceFiguresRow c{"cloud2", "bulk", "bulk-x", std::nullopt, 0, std::nullopt, 0, true};
  {
    auto s = must_open(o);
    auto none = s->instance_figures();
    REQUIRE(none.has_value());
    CHECK(none->empty());
    s->put_instance_figures({a, b}, 10'000'000);
    s->put_instance_figures({c}, 20'000'000);
    b.last_delay_ms = 13.0;  // the same instance again: one row, the newer figures
    b.last_delay_at_ms = 2'500'000;
    s->put_instance_figures({b}, 20'000'000);
    CHECK(s->stats().write_failures == 0);
  }
  auto s = must_open(o);
  auto got = s->instance_figures();
  REQUIRE(got.has_value());
  REQUIRE(got->size() == 3);
  CHECK((*got)[0] == a);
  CHECK((*got)[1] == b);
  CHECK((*got)[2] == c);
  CHECK_FALSE((*got)[1].service_time_ms.has_value());
  CHECK_FALSE((*got)[2].last_delay_ms.has_value());
  // a was last written at 10'000'000: older than coarse_retention before `now`, pruned.
  s->maintain(10'000'000 + o.coarse_retention_ms + 1);
  got = s->instance_figures();
  REQUIRE(got.has_value());
  REQUIRE(got->size() == 2);
  CHECK((*got)[0] == b);
}

TEST_CASE("store: flap damping rows survive a re-open, upsert replaces, NULL hold stays absent, old rows pruned", "[store]") {
  TempDir dir;
  auto o = opts_in(dir);
  FlapDampingRow path{"path", "wan1/cloud2", 1589.5, 1'000'000, 1'010'800, 3};
  FlapDampingRow inst{"instance", "cloud2/app1/10.2.2.10:8080", 1000, 2'000'000, std::nullopt, 1};
  {
    auto s = must_open(o);
    auto none = s->flap_damping();
    REQUIRE(none.has_value());
    CHECK(none->empty());
    s->put_flap_damping(path, 10'000'000);
    s->put_flap_damping(inst, 20'000'000);
    inst.penalty = 1900;  // a second flap: the same row, the newer state
    inst.flaps = 2;
    s->put_flap_damping(inst, 20'000'000);
    CHECK(s->stats().write_failures == 0);
  }
  auto s = must_open(o);
  auto got = s->flap_damping();
  REQUIRE(got.has_value());
  REQUIRE(got->size() == 2);
  CHECK((*got)[0] == inst);  // ordered by kind, name
  CHECK((*got)[1] == path);
  CHECK_FALSE((*got)[0].hold_end_ms.has_value());
  s->maintain(10'000'000 + o.coarse_retention_ms + 1);
  got = s->flap_damping();
  REQUIRE(got.has_value());
  REQUIRE(got->size() == 1);
  CHECK((*got)[0] == inst);
}
