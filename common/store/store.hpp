// The CPE's SQLite store (WAL): path and instance samples, downsampled (fine for the last
// hour, coarse for a week, bounded size), and events. Versioned schema migrations.
// Every write failure (full disk, locked database, I/O error) degrades to a counted,
// rate-limited log line: the caller's in-memory state is never affected, nothing throws.
#pragma once

#include "base/result.hpp"

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cats::store {

// Rows younger than fine_retention are raw samples; older ones are bucket averages.
enum class Resolution { fine, coarse };

struct PathSample {
  std::string wan;
  std::string vcpe;
  int64_t ts_ms = 0;  // unix ms
  double rtt_ms = 0;
  double jitter_ms = 0;
  double loss_pct = 0;
  std::string state;  // "up" | "down" | "unknown"
  // Set by the history queries; writers always store raw (fine) samples and ignore these.
  // A coarse row starts at ts_ms, covers coarse_bucket_ms, averages `samples` raw samples
  // (a NaN value is stored as NULL and left out of the average) and has the worst state
  // seen in its bucket (down > unknown > up).
  Resolution resolution = Resolution::fine;
  int64_t samples = 1;
};

struct InstanceSample {
  std::string vcpe;
  std::string service;
  std::string instance;
  int64_t ts_ms = 0;
  double vcpus = 0;
  double utilization = 0;
  double processing_delay_ms = 0;
  bool available = false;
  // As for PathSample; a coarse row is available only if every sample in it was.
  Resolution resolution = Resolution::fine;
  int64_t samples = 1;
};

// History downsampled to a number of points: [from, to] cut into `points` buckets of
// bucket_ms = ceil((to - from + 1) / points), bucket i starting at from + i * bucket_ms.
// Averages are weighted by the raw samples each row stands for (a coarse row counts its
// `samples`); min/max are over the rows (for coarse rows: of their averages). A NaN
// (NULL) value is left out; a bucket with no value at all for a figure has NaN there.
// Buckets without any row are left out.
struct PathBucket {
  std::string wan;
  std::string vcpe;
  int64_t ts_ms = 0;      // bucket start
  int64_t bucket_ms = 0;
  int64_t samples = 0;    // raw samples in the bucket
  double rtt_ms = 0, rtt_min_ms = 0, rtt_max_ms = 0;
  double jitter_ms = 0;
  double loss_pct = 0;
  std::string state;      // the worst in the bucket: down > unknown > up
};

struct InstanceBucket {
  std::string vcpe;
  std::string service;
  std::string instance;
  int64_t ts_ms = 0;
  int64_t bucket_ms = 0;
  int64_t samples = 0;
  double vcpus = 0;
  double utilization = 0, utilization_min = 0, utilization_max = 0;
  double processing_delay_ms = 0, processing_delay_min_ms = 0, processing_delay_max_ms = 0;
  bool available = false;  // available in every sample of the bucket
};

// The width of each of `points` buckets over [from_ms, to_ms]; an error for points outside
// 1..max_points, from > to, or a span int64 cannot hold.
inline constexpr int64_t kMaxPoints = 2000;
Result<int64_t> bucket_width(int64_t from_ms, int64_t to_ms, int64_t points);

struct Event {
  int64_t ts_ms = 0;
  std::string kind;     // "path_up", "path_down", "instance_available", "instance_unavailable", "report_rejected", ...
  std::string subject;  // e.g. "wan1/cloud1", "cloud1/app1/app1-cloud1"
  std::string detail;   // free text / JSON
};

// Which events to read (GET /api/v1/events): those in [from_ms, to_ms], narrowed by kind
// and subject in SQL, at most `limit` of them.
struct EventQuery {
  int64_t from_ms = 0;
  int64_t to_ms = std::numeric_limits<int64_t>::max();
  // Each an exact kind ("path_down") or a prefix ending in '*' ("path_*"); empty: any.
  // Only [a-z0-9_] before the '*' (check_event_query), so a prefix is a plain SQL GLOB.
  std::vector<std::string> kinds;
  // Empty: any. Else the whole subject, or a run of its '/'-separated segments: "cloud1"
  // matches "wan1/cloud1" and "cloud1/app1/app1-cloud1", not "cloud10" (a vCPE, a WAN, a
  // service or one path, whatever the kind's subject names first).
  std::string subject;
  size_t limit = kMaxEvents;
  // The newest `limit` events of the range rather than the oldest; either way oldest first.
  bool newest = false;
  // 0: every matching event. Else [from_ms, to_ms] is cut into `points` buckets
  // (bucket_width) and of each bucket, kind and subject only the newest event is kept (a
  // state such as a service's weights as it stood at the end of each bucket), before
  // `limit`: a day of publications costs at most `points` rows per subject.
  int64_t points = 0;
  static constexpr size_t kMaxEvents = 1000;
  static constexpr size_t kMaxKinds = 16;
  static constexpr size_t kMaxSubject = 256;
};
// "" when `q` is one the store runs as asked; else which field is wrong and why.
struct EventQueryError {
  std::string field;  // "kind", "subject", "limit", "points"
  std::string message;
};
std::optional<EventQueryError> check_event_query(const EventQuery& q);
// The same filter in C++ (for events kept in memory when there is no store); the unit
// tests hold it to the SQL's answers.
bool matches(const EventQuery& q, const Event& e);
// `q.points` in C++ (no store): of `matching` (events that match `q`, oldest first), the
// newest of each bucket, kind and subject, oldest first; all of them when q.points is 0.
// Ties on ts_ms go to the later one in `matching` (the SQL: the later row id).
std::vector<Event> newest_per_bucket(const EventQuery& q, const std::vector<Event>& matching);

struct Options {
  std::string path;                      // database file
  int64_t fine_retention_ms = 3600'000;  // raw samples kept this long
  int64_t coarse_bucket_ms = 60'000;     // older samples averaged into buckets of this size
  int64_t coarse_retention_ms = 7 * 24 * 3600'000LL;
  int64_t max_events = 100'000;          // oldest events dropped beyond this
};

// The report collector's replay high-water mark of one vCPE and sequence stream
// ("report" or "plan_ack"): the highest sequence accepted (report/collector.hpp).
struct ReplayMark {
  std::string vcpe;
  std::string stream;
  uint64_t seq = 0;
};

// One instance's kept figures (report::InstanceFigures) as stored, so they survive a
// restart of the CPE (schema v3). Rows not written for coarse_retention_ms are pruned by
// maintain(); the CPE rewrites the figures of every instance it knows each maintenance.
struct InstanceFiguresRow {
  std::string vcpe;
  std::string service;
  std::string instance;
  std::optional<double> service_time_ms;
  int service_time_source = 0;  // metrics::Source
  std::optional<double> last_delay_ms;
  int64_t last_delay_at_ms = 0;  // unix ms; meaningful with last_delay_ms
  bool measured = false;
  friend bool operator==(const InstanceFiguresRow&, const InstanceFiguresRow&) = default;
};

// One path's or instance's flap damping as stored (schema v4): kind "path" (name
// "wan/vcpe") or "instance" (name "vcpe/service/instance"); times in unix ms. Pruned with
// the instance figures.
struct FlapDampingRow {
  std::string kind;
  std::string name;
  double penalty = 0;
  int64_t stamp_ms = 0;
  std::optional<int64_t> hold_end_ms;
  uint64_t flaps = 0;
  friend bool operator==(const FlapDampingRow&, const FlapDampingRow&) = default;
};

// Counted per write transaction: one per add_* call or maintain() call.
struct Stats {
  uint64_t writes = 0;          // committed
  uint64_t write_failures = 0;  // full disk, locked, I/O: logged (rate-limited), counted
  int schema_version = 0;
};

class Store {
 public:
  // Opens or creates the database and migrates it to the current schema version.
  // Fails on invalid options, an unreadable file, or a schema newer than this build's.
  // The returned object is safe to use from several threads (calls are serialized).
  static Result<std::unique_ptr<Store>> open(const Options& opts);
  virtual ~Store() = default;

  // Writes never fail the caller: failures are counted in stats() and logged.
  virtual void add_path_samples(const std::vector<PathSample>& samples) = 0;
  virtual void add_instance_samples(const std::vector<InstanceSample>& samples) = 0;
  virtual void add_event(const Event& e) = 0;
  // Downsample and prune (call periodically, e.g. once a minute).
  virtual void maintain(int64_t now_ms) = 0;

  // History by time range [from_ms, to_ms], oldest first, at most `limit` rows.
  virtual Result<std::vector<PathSample>> path_history(const std::string& wan, const std::string& vcpe,
                                                       int64_t from_ms, int64_t to_ms, size_t limit = 10000) = 0;
  virtual Result<std::vector<InstanceSample>> instance_history(const std::string& vcpe, const std::string& service,
                                                               const std::string& instance, int64_t from_ms,
                                                               int64_t to_ms, size_t limit = 10000) = 0;
  // The same ranges grouped into `points` buckets in SQL (one indexed range scan, one row
  // per bucket), so a chart of a day costs what a chart of a minute does.
  virtual Result<std::vector<PathBucket>> path_buckets(const std::string& wan, const std::string& vcpe,
                                                       int64_t from_ms, int64_t to_ms, int64_t points) = 0;
  virtual Result<std::vector<InstanceBucket>> instance_buckets(const std::string& vcpe, const std::string& service,
                                                               const std::string& instance, int64_t from_ms,
                                                               int64_t to_ms, int64_t points) = 0;
  // An invalid query (check_event_query) is an Error; nothing is read.
  virtual Result<std::vector<Event>> events(const EventQuery& q) = 0;
  Result<std::vector<Event>> events(int64_t from_ms, int64_t to_ms, size_t limit = EventQuery::kMaxEvents) {
    EventQuery q;
    q.from_ms = from_ms;
    q.to_ms = to_ms;
    q.limit = limit;
    return events(q);
  }
  virtual Stats stats() const = 0;

  // Replay marks (issue 14): the collector writes a mark before the report it raises it
  // takes effect, so a restart never accepts a report again. They have their own
  // connection and lock: a long history query or maintain() on the main connection never
  // holds up report processing (a write waits at most a short busy timeout for another
  // writer, then fails). A returned ok is durable across a process crash (WAL,
  // synchronous=NORMAL: the commit is in the WAL file; a power loss may lose it).
  // Unlike the other writes these report failure, counted in stats() too.
  virtual Result<std::vector<ReplayMark>> replay_marks() = 0;
  virtual Status put_replay_mark(const ReplayMark& m, int64_t now_ms) = 0;

  // Kept instance figures: upserted in one transaction (a failure is counted and logged
  // like the samples'), read back at start.
  virtual void put_instance_figures(const std::vector<InstanceFiguresRow>& rows, int64_t now_ms) = 0;
  virtual Result<std::vector<InstanceFiguresRow>> instance_figures() = 0;
  // Kept flap damping: upserted at each flap (failures counted and logged), read at start.
  virtual void put_flap_damping(const FlapDampingRow& row, int64_t now_ms) = 0;
  virtual Result<std::vector<FlapDampingRow>> flap_damping() = 0;
};

}  // namespace cats::store
