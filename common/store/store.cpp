#include "store/store.hpp"
#include "base/clock.hpp"

#include "base/log.hpp"
#include "store/sqlite_util.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <tuple>

namespace cats::store {
namespace {

using detail::StmtPtr;
using detail::StmtScope;

constexpr std::string_view kLog = "store";
// Small on purpose: the daemon's loop calls in here, and a database held by someone else
// (sqlite3 shell, backup) must cost a dropped batch, not a stalled control loop.
constexpr int kBusyTimeoutMs = 200;
// Replay marks are written on the report path (under the services' lock): a write waits
// this long for another writer (a sample batch, maintain()) and then fails, counted; the
// report is still accepted (cpe/cnma.cpp).
constexpr int kMarkBusyTimeoutMs = 50;
constexpr const char* kPutMark =
    "INSERT INTO replay_marks(vcpe, stream, seq, updated_ms) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT(vcpe, stream) DO UPDATE SET seq = excluded.seq, updated_ms = excluded.updated_ms";
constexpr const char* kGetMarks = "SELECT vcpe, stream, seq FROM replay_marks";
constexpr auto kLogInterval = std::chrono::seconds(10);
// LogLimiter kind for "writes work again", apart from the sqlite primary codes (>= 0).
constexpr int kRecoveredKind = -1;

// Severity order for "worst state in the bucket": down > unknown (or anything else) > up.
#define CATS_SEV(col) "(CASE " col " WHEN 'down' THEN 2 WHEN 'up' THEN 0 ELSE 1 END)"
// Weighted merge of a late bucket average into an existing coarse row; NULL (no value)
// on one side keeps the other side's value.
#define CATS_MERGE(col)                                                                       \
  col " = CASE WHEN " col " IS NULL THEN excluded." col " WHEN excluded." col " IS NULL THEN " col \
      " ELSE (" col " * samples + excluded." col " * excluded.samples) / (samples + excluded.samples) END"
// Bucket start, rounding toward -infinity (sqlite's % truncates toward zero like C).
#define CATS_BUCKET "ts_ms - (((ts_ms % ?1) + ?1) % ?1)"

constexpr const char* kInsertPath =
    "INSERT INTO path_samples(wan, vcpe, ts_ms, rtt_ms, jitter_ms, loss_pct, state, resolution)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'fine')";
constexpr const char* kInsertInstance =
    "INSERT INTO instance_samples(vcpe, service, instance, ts_ms, vcpus, utilization, processing_delay_ms,"
    " available, resolution) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'fine')";
constexpr const char* kInsertEvent = "INSERT INTO events(ts_ms, kind, subject, detail) VALUES (?1, ?2, ?3, ?4)";

// ?1 bucket size, ?2 cutoff (bucket-aligned, so every bucket is complete when averaged).
constexpr const char* kDownsamplePath =
    "INSERT INTO path_samples(wan, vcpe, ts_ms, rtt_ms, jitter_ms, loss_pct, state, resolution, samples)"
    " SELECT wan, vcpe, bucket, avg(rtt_ms), avg(jitter_ms), avg(loss_pct),"
    "  CASE max(sev) WHEN 2 THEN 'down' WHEN 1 THEN 'unknown' ELSE 'up' END, 'coarse', count(*)"
    " FROM (SELECT wan, vcpe, rtt_ms, jitter_ms, loss_pct, " CATS_BUCKET " AS bucket, " CATS_SEV("state") " AS sev"
    "       FROM path_samples WHERE resolution = 'fine' AND ts_ms < ?2)"
    " GROUP BY wan, vcpe, bucket"
    " ON CONFLICT (wan, vcpe, ts_ms) WHERE resolution = 'coarse' DO UPDATE SET "
    CATS_MERGE("rtt_ms") ", " CATS_MERGE("jitter_ms") ", " CATS_MERGE("loss_pct") ","
    " state = CASE WHEN " CATS_SEV("path_samples.state") " >= " CATS_SEV("excluded.state")
    " THEN path_samples.state ELSE excluded.state END,"
    " samples = samples + excluded.samples";
constexpr const char* kDownsampleInstance =
    "INSERT INTO instance_samples(vcpe, service, instance, ts_ms, vcpus, utilization, processing_delay_ms,"
    "  available, resolution, samples)"
    " SELECT vcpe, service, instance, bucket, avg(vcpus), avg(utilization), avg(processing_delay_ms),"
    "  min(available), 'coarse', count(*)"
    " FROM (SELECT vcpe, service, instance, vcpus, utilization, processing_delay_ms, available,"
    "       " CATS_BUCKET " AS bucket FROM instance_samples WHERE resolution = 'fine' AND ts_ms < ?2)"
    " GROUP BY vcpe, service, instance, bucket"
    " ON CONFLICT (vcpe, service, instance, ts_ms) WHERE resolution = 'coarse' DO UPDATE SET "
    CATS_MERGE("vcpus") ", " CATS_MERGE("utilization") ", " CATS_MERGE("processing_delay_ms") ","
    " available = min(available, excluded.available),"
    " samples = samples + excluded.samples";
constexpr const char* kDeletePath = "DELETE FROM path_samples WHERE resolution = ?1 AND ts_ms < ?2";
constexpr const char* kDeleteInstance = "DELETE FROM instance_samples WHERE resolution = ?1 AND ts_ms < ?2";
constexpr const char* kPutFigures =
    "INSERT INTO instance_figures(vcpe, service, instance, service_time_ms, service_time_source, last_delay_ms,"
    " last_delay_at_ms, measured, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    " ON CONFLICT(vcpe, service, instance) DO UPDATE SET service_time_ms = excluded.service_time_ms,"
    " service_time_source = excluded.service_time_source, last_delay_ms = excluded.last_delay_ms,"
    " last_delay_at_ms = excluded.last_delay_at_ms, measured = excluded.measured, updated_ms = excluded.updated_ms";
constexpr const char* kGetFigures =
    "SELECT vcpe, service, instance, service_time_ms, service_time_source, last_delay_ms, last_delay_at_ms, measured"
    " FROM instance_figures ORDER BY vcpe, service, instance";
constexpr const char* kPruneFigures = "DELETE FROM instance_figures WHERE updated_ms < ?1";
constexpr const char* kPutDamping =
    "INSERT INTO flap_damping(kind, name, penalty, stamp_ms, hold_end_ms, flaps, updated_ms)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(kind, name) DO UPDATE SET penalty = excluded.penalty,"
    " stamp_ms = excluded.stamp_ms, hold_end_ms = excluded.hold_end_ms, flaps = excluded.flaps,"
    " updated_ms = excluded.updated_ms";
constexpr const char* kGetDamping =
    "SELECT kind, name, penalty, stamp_ms, hold_end_ms, flaps FROM flap_damping ORDER BY kind, name";
constexpr const char* kPruneDamping = "DELETE FROM flap_damping WHERE updated_ms < ?1";
constexpr const char* kCapEvents =
    "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY ts_ms DESC, id DESC LIMIT -1 OFFSET ?1)";

constexpr const char* kPathHistory =
    "SELECT ts_ms, rtt_ms, jitter_ms, loss_pct, state, resolution, samples FROM path_samples"
    " WHERE wan = ?1 AND vcpe = ?2 AND ts_ms BETWEEN ?3 AND ?4 ORDER BY ts_ms, id LIMIT ?5";
constexpr const char* kInstanceHistory =
    "SELECT ts_ms, vcpus, utilization, processing_delay_ms, available, resolution, samples FROM instance_samples"
    " WHERE vcpe = ?1 AND service = ?2 AND instance = ?3 AND ts_ms BETWEEN ?4 AND ?5 ORDER BY ts_ms, id LIMIT ?6";
// ?N from, ?N+1 to, ?N+2 bucket width. Weighted averages: a coarse row counts its samples.
#define CATS_WAVG(col) "sum(" col " * samples) / sum(CASE WHEN " col " IS NOT NULL THEN samples END)"
constexpr const char* kPathBuckets =
    "SELECT (ts_ms - ?3) / ?5 AS b, " CATS_WAVG("rtt_ms") ", min(rtt_ms), max(rtt_ms), " CATS_WAVG("jitter_ms") ", "
    CATS_WAVG("loss_pct") ", max(" CATS_SEV("state") "), sum(samples) FROM path_samples"
    " WHERE wan = ?1 AND vcpe = ?2 AND ts_ms BETWEEN ?3 AND ?4 GROUP BY b ORDER BY b";
constexpr const char* kInstanceBuckets =
    "SELECT (ts_ms - ?4) / ?6 AS b, " CATS_WAVG("vcpus") ", " CATS_WAVG("utilization") ", min(utilization),"
    " max(utilization), " CATS_WAVG("processing_delay_ms") ", min(processing_delay_ms), max(processing_delay_ms),"
    " min(available), sum(samples) FROM instance_samples"
    " WHERE vcpe = ?1 AND service = ?2 AND instance = ?3 AND ts_ms BETWEEN ?4 AND ?5 GROUP BY b ORDER BY b";
#undef CATS_WAVG
// events(EventQuery): this, then one "kind = ?" or "kind GLOB ?" per kind, the subject
// test, the order and LIMIT (event_sql). The subject matches whole '/'-separated segments:
// "/wan1/cloud1/" contains "/cloud1/", and never "/cloud10/".
constexpr const char* kEventsHead = "SELECT ts_ms, kind, subject, detail FROM events WHERE ts_ms BETWEEN ?1 AND ?2";
constexpr const char* kEventsSubject = " AND instr('/' || subject || '/', '/' || ? || '/') > 0";
// With points (EventQuery::points): the filtered rows numbered per bucket, kind and
// subject, newest first, and only each one's first kept; ?3 is the bucket width, so the
// kinds and the subject bind from ?4 on.
constexpr const char* kEventsBucketsHead =
    "SELECT ts_ms, kind, subject, detail FROM (SELECT ts_ms, kind, subject, detail, id,"
    " row_number() OVER (PARTITION BY (ts_ms - ?1) / ?3, kind, subject ORDER BY ts_ms DESC, id DESC) AS nth"
    " FROM events WHERE ts_ms BETWEEN ?1 AND ?2";

#undef CATS_SEV
#undef CATS_MERGE
#undef CATS_BUCKET

void bind(sqlite3_stmt* s, int i, const std::string& v) {
  // STATIC: every bound string outlives the step, and StmtScope clears the bindings.
  sqlite3_bind_text64(s, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
}
// sqlite stores NaN as NULL; column() turns NULL back into NaN.
void bind(sqlite3_stmt* s, int i, double v) { sqlite3_bind_double(s, i, v); }
void bind(sqlite3_stmt* s, int i, int64_t v) { sqlite3_bind_int64(s, i, v); }
void bind(sqlite3_stmt* s, int i, const std::optional<double>& v) {
  if (v) sqlite3_bind_double(s, i, *v);
  else sqlite3_bind_null(s, i);
}
std::optional<double> column_opt(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_double(s, i);
}
void bind_limit(sqlite3_stmt* s, int i, size_t limit) {
  bind(s, i, static_cast<int64_t>(std::min<size_t>(limit, std::numeric_limits<int64_t>::max())));
}

double column_double(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::numeric_limits<double>::quiet_NaN();
  return sqlite3_column_double(s, i);
}
std::string column_text(sqlite3_stmt* s, int i) {
  const auto* p = sqlite3_column_text(s, i);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}
Resolution column_resolution(sqlite3_stmt* s, int i) {
  return column_text(s, i) == "coarse" ? Resolution::coarse : Resolution::fine;
}

struct Statements {
  StmtPtr begin, commit;
  StmtPtr insert_path, insert_instance, insert_event;
  StmtPtr downsample_path, downsample_instance, delete_path, delete_instance, cap_events;
  StmtPtr path_history, instance_history, path_buckets, instance_buckets;
  StmtPtr put_figures, get_figures, prune_figures;
  StmtPtr put_damping, get_damping, prune_damping;
};

// The statement for `q` (checked already): its shape depends on how many kinds it names.
std::string event_sql(const EventQuery& q) {
  std::string sql = q.points ? kEventsBucketsHead : kEventsHead;
  for (size_t i = 0; i < q.kinds.size(); ++i) {
    sql += i == 0 ? " AND (" : " OR ";
    sql += q.kinds[i].back() == '*' ? "kind GLOB ?" : "kind = ?";
  }
  if (!q.kinds.empty()) sql += ")";
  if (!q.subject.empty()) sql += kEventsSubject;
  if (q.points) sql += ") WHERE nth = 1";
  sql += q.newest ? " ORDER BY ts_ms DESC, id DESC LIMIT ?" : " ORDER BY ts_ms, id LIMIT ?";
  return sql;
}

// The replay marks' own connection (Store::put_replay_mark).
struct MarksConn {
  detail::DbPtr db;
  StmtPtr put, get;  // after db: finalized before the connection closes
};

class SqliteStore final : public Store {
 public:
  SqliteStore(Options opts, detail::DbPtr db, Statements st, int version, MarksConn marks)
      : opts_(std::move(opts)), db_(std::move(db)), st_(std::move(st)), limiter_(kLogInterval),
        marks_(std::move(marks)) {
    stats_.schema_version = version;
  }

  void add_path_samples(const std::vector<PathSample>& samples) override {
    if (samples.empty()) return;
    write_tx("path samples", [&] {
      for (const auto& p : samples) {
        StmtScope s(st_.insert_path.get());
        bind(s.get(), 1, p.wan);
        bind(s.get(), 2, p.vcpe);
        bind(s.get(), 3, p.ts_ms);
        bind(s.get(), 4, p.rtt_ms);
        bind(s.get(), 5, p.jitter_ms);
        bind(s.get(), 6, p.loss_pct);
        bind(s.get(), 7, p.state);
        if (int rc = sqlite3_step(s.get()); rc != SQLITE_DONE) return rc;
      }
      return SQLITE_DONE;
    });
  }

  void add_instance_samples(const std::vector<InstanceSample>& samples) override {
    if (samples.empty()) return;
    write_tx("instance samples", [&] {
      for (const auto& p : samples) {
        StmtScope s(st_.insert_instance.get());
        bind(s.get(), 1, p.vcpe);
        bind(s.get(), 2, p.service);
        bind(s.get(), 3, p.instance);
        bind(s.get(), 4, p.ts_ms);
        bind(s.get(), 5, p.vcpus);
        bind(s.get(), 6, p.utilization);
        bind(s.get(), 7, p.processing_delay_ms);
        bind(s.get(), 8, int64_t{p.available ? 1 : 0});
        if (int rc = sqlite3_step(s.get()); rc != SQLITE_DONE) return rc;
      }
      return SQLITE_DONE;
    });
  }

  void add_event(const Event& e) override {
    write_tx("event", [&] {
      StmtScope s(st_.insert_event.get());
      bind(s.get(), 1, e.ts_ms);
      bind(s.get(), 2, e.kind);
      bind(s.get(), 3, e.subject);
      bind(s.get(), 4, e.detail);
      return sqlite3_step(s.get());
    });
  }

  void maintain(int64_t now_ms) override {
    const int64_t bucket = opts_.coarse_bucket_ms;
    // Only whole buckets are averaged: a bucket straddling the fine window waits, so a
    // coarse row never mixes an early part of its bucket with a later part.
    const int64_t fine_cut = floor_to(now_ms - opts_.fine_retention_ms, bucket);
    const int64_t coarse_cut = now_ms - opts_.coarse_retention_ms;
    write_tx("maintenance", [&] {
      for (sqlite3_stmt* st : {st_.downsample_path.get(), st_.downsample_instance.get()}) {
        StmtScope s(st);
        bind(st, 1, bucket);
        bind(st, 2, fine_cut);
        if (int rc = sqlite3_step(st); rc != SQLITE_DONE) return rc;
      }
      const std::pair<const char*, int64_t> deletions[] = {{"fine", fine_cut}, {"coarse", coarse_cut}};
      for (sqlite3_stmt* st : {st_.delete_path.get(), st_.delete_instance.get()}) {
        for (const auto& [resolution, cut] : deletions) {
          StmtScope s(st);
          sqlite3_bind_text(st, 1, resolution, -1, SQLITE_STATIC);
          bind(st, 2, cut);
          if (int rc = sqlite3_step(st); rc != SQLITE_DONE) return rc;
        }
      }
      for (sqlite3_stmt* st : {st_.prune_figures.get(), st_.prune_damping.get()}) {
        StmtScope s(st);
        bind(st, 1, coarse_cut);
        if (int rc = sqlite3_step(st); rc != SQLITE_DONE) return rc;
      }
      StmtScope s(st_.cap_events.get());
      bind(s.get(), 1, opts_.max_events);
      return sqlite3_step(s.get());
    });
  }

  void put_instance_figures(const std::vector<InstanceFiguresRow>& rows, int64_t now_ms) override {
    if (rows.empty()) return;
    write_tx("instance figures", [&] {
      for (const auto& r : rows) {
        StmtScope s(st_.put_figures.get());
        bind(s.get(), 1, r.vcpe);
        bind(s.get(), 2, r.service);
        bind(s.get(), 3, r.instance);
        bind(s.get(), 4, r.service_time_ms);
        bind(s.get(), 5, int64_t{r.service_time_source});
        bind(s.get(), 6, r.last_delay_ms);
        if (r.last_delay_ms) bind(s.get(), 7, r.last_delay_at_ms);
        else sqlite3_bind_null(s.get(), 7);
        bind(s.get(), 8, int64_t{r.measured ? 1 : 0});
        bind(s.get(), 9, now_ms);
        if (int rc = sqlite3_step(s.get()); rc != SQLITE_DONE) return rc;
      }
      return SQLITE_DONE;
    });
  }

  Result<std::vector<InstanceFiguresRow>> instance_figures() override {
    std::lock_guard lk(mu_);
    StmtScope s(st_.get_figures.get());
    std::vector<InstanceFiguresRow> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      InstanceFiguresRow r;
      r.vcpe = column_text(s.get(), 0);
      r.service = column_text(s.get(), 1);
      r.instance = column_text(s.get(), 2);
      r.service_time_ms = column_opt(s.get(), 3);
      r.service_time_source = static_cast<int>(sqlite3_column_int64(s.get(), 4));
      r.last_delay_ms = column_opt(s.get(), 5);
      if (r.last_delay_ms) r.last_delay_at_ms = sqlite3_column_int64(s.get(), 6);
      r.measured = sqlite3_column_int64(s.get(), 7) != 0;
      out.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) return read_error("instance figures", rc);
    return out;
  }

  void put_flap_damping(const FlapDampingRow& r, int64_t now_ms) override {
    write_tx("flap damping", [&] {
      StmtScope s(st_.put_damping.get());
      bind(s.get(), 1, r.kind);
      bind(s.get(), 2, r.name);
      bind(s.get(), 3, r.penalty);
      bind(s.get(), 4, r.stamp_ms);
      if (r.hold_end_ms) bind(s.get(), 5, *r.hold_end_ms);
      else sqlite3_bind_null(s.get(), 5);
      bind(s.get(), 6, static_cast<int64_t>(r.flaps));
      bind(s.get(), 7, now_ms);
      return sqlite3_step(s.get());
    });
  }

  Result<std::vector<FlapDampingRow>> flap_damping() override {
    std::lock_guard lk(mu_);
    StmtScope s(st_.get_damping.get());
    std::vector<FlapDampingRow> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      FlapDampingRow r;
      r.kind = column_text(s.get(), 0);
      r.name = column_text(s.get(), 1);
      r.penalty = sqlite3_column_double(s.get(), 2);
      r.stamp_ms = sqlite3_column_int64(s.get(), 3);
      if (sqlite3_column_type(s.get(), 4) != SQLITE_NULL) r.hold_end_ms = sqlite3_column_int64(s.get(), 4);
      r.flaps = static_cast<uint64_t>(std::max<int64_t>(0, sqlite3_column_int64(s.get(), 5)));
      out.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) return read_error("flap damping", rc);
    return out;
  }

  Result<std::vector<PathSample>> path_history(const std::string& wan, const std::string& vcpe, int64_t from_ms,
                                               int64_t to_ms, size_t limit) override {
    std::lock_guard lk(mu_);
    StmtScope s(st_.path_history.get());
    bind(s.get(), 1, wan);
    bind(s.get(), 2, vcpe);
    bind(s.get(), 3, from_ms);
    bind(s.get(), 4, to_ms);
    bind_limit(s.get(), 5, limit);
    std::vector<PathSample> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      PathSample p;
      p.wan = wan;
      p.vcpe = vcpe;
      p.ts_ms = sqlite3_column_int64(s.get(), 0);
      p.rtt_ms = column_double(s.get(), 1);
      p.jitter_ms = column_double(s.get(), 2);
      p.loss_pct = column_double(s.get(), 3);
      p.state = column_text(s.get(), 4);
      p.resolution = column_resolution(s.get(), 5);
      p.samples = sqlite3_column_int64(s.get(), 6);
      out.push_back(std::move(p));
    }
    if (rc != SQLITE_DONE) return read_error("path history", rc);
    return out;
  }

  Result<std::vector<InstanceSample>> instance_history(const std::string& vcpe, const std::string& service,
                                                       const std::string& instance, int64_t from_ms, int64_t to_ms,
                                                       size_t limit) override {
    std::lock_guard lk(mu_);
    StmtScope s(st_.instance_history.get());
    bind(s.get(), 1, vcpe);
    bind(s.get(), 2, service);
    bind(s.get(), 3, instance);
    bind(s.get(), 4, from_ms);
    bind(s.get(), 5, to_ms);
    bind_limit(s.get(), 6, limit);
    std::vector<InstanceSample> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      InstanceSample p;
      p.vcpe = vcpe;
      p.service = service;
      p.instance = instance;
      p.ts_ms = sqlite3_column_int64(s.get(), 0);
      p.vcpus = column_double(s.get(), 1);
      p.utilization = column_double(s.get(), 2);
      p.processing_delay_ms = column_double(s.get(), 3);
      p.available = sqlite3_column_int64(s.get(), 4) != 0;
      p.resolution = column_resolution(s.get(), 5);
      p.samples = sqlite3_column_int64(s.get(), 6);
      out.push_back(std::move(p));
    }
    if (rc != SQLITE_DONE) return read_error("instance history", rc);
    return out;
  }

  Result<std::vector<PathBucket>> path_buckets(const std::string& wan, const std::string& vcpe, int64_t from_ms,
                                               int64_t to_ms, int64_t points) override {
    CATS_TRY_ASSIGN(width, bucket_width(from_ms, to_ms, points));
    std::lock_guard lk(mu_);
    StmtScope s(st_.path_buckets.get());
    bind(s.get(), 1, wan);
    bind(s.get(), 2, vcpe);
    bind(s.get(), 3, from_ms);
    bind(s.get(), 4, to_ms);
    bind(s.get(), 5, width);
    std::vector<PathBucket> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      PathBucket b;
      b.wan = wan;
      b.vcpe = vcpe;
      b.ts_ms = from_ms + sqlite3_column_int64(s.get(), 0) * width;
      b.bucket_ms = width;
      b.rtt_ms = column_double(s.get(), 1);
      b.rtt_min_ms = column_double(s.get(), 2);
      b.rtt_max_ms = column_double(s.get(), 3);
      b.jitter_ms = column_double(s.get(), 4);
      b.loss_pct = column_double(s.get(), 5);
      const auto sev = sqlite3_column_int64(s.get(), 6);
      b.state = sev == 2 ? "down" : sev == 1 ? "unknown" : "up";
      b.samples = sqlite3_column_int64(s.get(), 7);
      out.push_back(std::move(b));
    }
    if (rc != SQLITE_DONE) return read_error("path buckets", rc);
    return out;
  }

  Result<std::vector<InstanceBucket>> instance_buckets(const std::string& vcpe, const std::string& service,
                                                       const std::string& instance, int64_t from_ms, int64_t to_ms,
                                                       int64_t points) override {
    CATS_TRY_ASSIGN(width, bucket_width(from_ms, to_ms, points));
    std::lock_guard lk(mu_);
    StmtScope s(st_.instance_buckets.get());
    bind(s.get(), 1, vcpe);
    bind(s.get(), 2, service);
    bind(s.get(), 3, instance);
    bind(s.get(), 4, from_ms);
    bind(s.get(), 5, to_ms);
    bind(s.get(), 6, width);
    std::vector<InstanceBucket> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      InstanceBucket b;
      b.vcpe = vcpe;
      b.service = service;
      b.instance = instance;
      b.ts_ms = from_ms + sqlite3_column_int64(s.get(), 0) * width;
      b.bucket_ms = width;
      b.vcpus = column_double(s.get(), 1);
      b.utilization = column_double(s.get(), 2);
      b.utilization_min = column_double(s.get(), 3);
      b.utilization_max = column_double(s.get(), 4);
      b.processing_delay_ms = column_double(s.get(), 5);
      b.processing_delay_min_ms = column_double(s.get(), 6);
      b.processing_delay_max_ms = column_double(s.get(), 7);
      b.available = sqlite3_column_int64(s.get(), 8) != 0;
      b.samples = sqlite3_column_int64(s.get(), 9);
      out.push_back(std::move(b));
    }
    if (rc != SQLITE_DONE) return read_error("instance buckets", rc);
    return out;
  }

  Result<std::vector<Event>> events(const EventQuery& q) override {
    if (auto bad = check_event_query(q)) return Error::msg("events: " + bad->field + ": " + bad->message);
    std::lock_guard lk(mu_);
    // Prepared per query: its shape varies, and it costs microseconds next to the read.
    CATS_TRY_ASSIGN(stmt, detail::prepare(db_.get(), event_sql(q)));
    sqlite3_stmt* s = stmt.get();
    int i = 1;
    bind(s, i++, q.from_ms);
    bind(s, i++, q.to_ms);
    if (q.points) {
      CATS_TRY_ASSIGN(width, bucket_width(q.from_ms, q.to_ms, q.points));
      bind(s, i++, width);
    }
    for (const auto& k : q.kinds) bind(s, i++, k);
    if (!q.subject.empty()) bind(s, i++, q.subject);
    bind_limit(s, i, q.limit);
    std::vector<Event> out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      Event e;
      e.ts_ms = sqlite3_column_int64(s, 0);
      e.kind = column_text(s, 1);
      e.subject = column_text(s, 2);
      e.detail = column_text(s, 3);
      out.push_back(std::move(e));
    }
    if (rc != SQLITE_DONE) return read_error("events", rc);
    if (q.newest) std::reverse(out.begin(), out.end());
    return out;
  }

  Stats stats() const override {
    std::scoped_lock lk(mu_, marks_mu_);
    Stats s = stats_;
    s.writes += mark_writes_;
    s.write_failures += mark_failures_;
    return s;
  }

  Result<std::vector<ReplayMark>> replay_marks() override {
    std::lock_guard lk(marks_mu_);
    StmtScope s(marks_.get.get());
    std::vector<ReplayMark> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW)
      out.push_back({column_text(s.get(), 0), column_text(s.get(), 1),
                     static_cast<uint64_t>(sqlite3_column_int64(s.get(), 2))});
    if (rc != SQLITE_DONE) return Error::msg("replay marks: " + detail::describe(marks_.db.get(), rc));
    return out;
  }

  Status put_replay_mark(const ReplayMark& m, int64_t now_ms) override {
    std::lock_guard lk(marks_mu_);
    StmtScope s(marks_.put.get());
    bind(s.get(), 1, m.vcpe);
    bind(s.get(), 2, m.stream);
    bind(s.get(), 3, static_cast<int64_t>(m.seq));  // bit for bit (schema v2)
    bind(s.get(), 4, now_ms);
    // One statement in autocommit: its own transaction, one WAL append.
    if (int rc = sqlite3_step(s.get()); rc != SQLITE_DONE) {
      ++mark_failures_;
      return fail(Error::msg("replay mark: " + detail::describe(marks_.db.get(), rc)));
    }
    ++mark_writes_;
    return ok();
  }

 private:
  static int64_t floor_to(int64_t v, int64_t step) {
    int64_t r = v % step;
    return r < 0 ? v - r - step : v - r;
  }

  Error read_error(const char* what, int rc) const {
    return Error::msg("store " + opts_.path + ": " + what + ": " + detail::describe(db_.get(), rc));
  }

  int step_once(sqlite3_stmt* st) {
    StmtScope s(st);
    return sqlite3_step(st);
  }

  // One IMMEDIATE transaction around `body` (which returns SQLITE_DONE on success).
  // IMMEDIATE takes the write lock up front, so a locked database fails here, after
  // the busy timeout, rather than half way through the batch.
  template <class Body>
  void write_tx(const char* what, Body&& body) {
    std::lock_guard lk(mu_);
    sqlite3* db = db_.get();
    // A rollback that itself failed earlier would make every later BEGIN fail.
    if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    int rc = step_once(st_.begin.get());
    if (rc == SQLITE_DONE) rc = body();
    if (rc == SQLITE_DONE) rc = step_once(st_.commit.get());
    if (rc != SQLITE_DONE) {
      std::string why = detail::describe(db, rc);  // before ROLLBACK replaces the message
      if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      ++stats_.write_failures;
      ++failures_in_a_row_;
      report_failure(what, rc, why);
      return;
    }
    ++stats_.writes;
    if (failures_in_a_row_ > 0) {
      if (limiter_.admit(kRecoveredKind, detail::LogLimiter::Clock::now())) {
        log::info(kLog, "writes to " + opts_.path + " succeed again after " + std::to_string(failures_in_a_row_) +
                            " failed");
      }
      failures_in_a_row_ = 0;
    }
  }

  void report_failure(const char* what, int rc, const std::string& why) {
    // Keyed by the primary code: "disk full" and "locked" each get their own line, but
    // the IOERR sub-codes of one failing disk share one.
    auto suppressed = limiter_.admit(rc & 0xff, detail::LogLimiter::Clock::now());
    if (!suppressed) return;
    std::string msg = "write to " + opts_.path + " failed (" + what + "): " + why + "; data dropped";
    if (*suppressed > 0) msg += "; " + std::to_string(*suppressed) + " more like it suppressed since the last report";
    log::warn(kLog, msg);
  }

  const Options opts_;
  mutable std::mutex mu_;
  detail::DbPtr db_;
  Statements st_;  // after db_: finalized before the connection closes
  Stats stats_;
  uint64_t failures_in_a_row_ = 0;
  detail::LogLimiter limiter_;

  mutable std::mutex marks_mu_;
  MarksConn marks_;
  uint64_t mark_writes_ = 0, mark_failures_ = 0;
};

Status check_options(const Options& o) {
  if (o.path.empty()) return fail(Error::msg("no database path"));
  if (o.fine_retention_ms < 0 || o.coarse_bucket_ms <= 0 || o.coarse_retention_ms < 0 || o.max_events < 0)
    return fail(Error::msg("retention, bucket size and max_events must be >= 0 (bucket > 0)"));
  return ok();
}

Result<Statements> prepare_all(sqlite3* db) {
  Statements s;
  const std::pair<StmtPtr*, const char*> list[] = {
      {&s.begin, "BEGIN IMMEDIATE"},
      {&s.commit, "COMMIT"},
      {&s.insert_path, kInsertPath},
      {&s.insert_instance, kInsertInstance},
      {&s.insert_event, kInsertEvent},
      {&s.downsample_path, kDownsamplePath},
      {&s.downsample_instance, kDownsampleInstance},
      {&s.delete_path, kDeletePath},
      {&s.delete_instance, kDeleteInstance},
      {&s.cap_events, kCapEvents},
      {&s.path_history, kPathHistory},
      {&s.instance_history, kInstanceHistory},
      {&s.path_buckets, kPathBuckets},
      {&s.instance_buckets, kInstanceBuckets},
      {&s.put_figures, kPutFigures},
      {&s.get_figures, kGetFigures},
      {&s.prune_figures, kPruneFigures},
      {&s.put_damping, kPutDamping},
      {&s.get_damping, kGetDamping},
      {&s.prune_damping, kPruneDamping},
  };
  for (const auto& [slot, sql] : list) {
    auto st = detail::prepare(db, sql);
    if (!st) return st.error().context(sql);
    *slot = std::move(*st);
  }
  return s;
}

Result<std::unique_ptr<Store>> open_impl(const Options& opts) {
  CATS_TRY(check_options(opts));
  CATS_TRY_ASSIGN(db, detail::open_db(opts.path, kBusyTimeoutMs));
  {
    // WAL: readers (history queries, catsctl) never block the writer, and a commit is one
    // append instead of a journal rewrite. NORMAL is durable across a process crash; a
    // power loss may lose the last commits, which is fine for telemetry.
    CATS_TRY_ASSIGN(jm, detail::prepare(db.get(), "PRAGMA journal_mode=WAL"));
    int rc = sqlite3_step(jm.get());
    if (rc != SQLITE_ROW) return Error::msg("journal_mode: " + detail::describe(db.get(), rc));
    std::string mode = column_text(jm.get(), 0);
    if (mode != "wal") log::warn(kLog, opts.path + ": WAL not available, journal mode is " + mode);
  }
  if (auto st = detail::exec(db.get(), "PRAGMA synchronous=NORMAL"); !st) return st.error().context("synchronous");
  CATS_TRY_ASSIGN(version, detail::migrate(db.get(), detail::migrations(), unix_ms_now()));
  CATS_TRY_ASSIGN(st, prepare_all(db.get()));
  MarksConn marks;
  {
    CATS_TRY_ASSIGN(mdb, detail::open_db(opts.path, kMarkBusyTimeoutMs));
    if (auto r = detail::exec(mdb.get(), "PRAGMA synchronous=NORMAL"); !r) return r.error().context("replay marks");
    CATS_TRY_ASSIGN(put, detail::prepare(mdb.get(), kPutMark));
    CATS_TRY_ASSIGN(get, detail::prepare(mdb.get(), kGetMarks));
    marks = MarksConn{std::move(mdb), std::move(put), std::move(get)};
  }
  return std::unique_ptr<Store>(
      std::make_unique<SqliteStore>(opts, std::move(db), std::move(st), version, std::move(marks)));
}

}  // namespace

Result<int64_t> bucket_width(int64_t from_ms, int64_t to_ms, int64_t points) {
  if (points < 1 || points > kMaxPoints) return Error::msg("points: expected 1.." + std::to_string(kMaxPoints));
  if (from_ms > to_ms) return Error::msg("from is after to");
  int64_t span = 0;
  // The bucket index (ts - from) / width is then in 0..points-1 for every ts in [from, to].
  if (__builtin_sub_overflow(to_ms, from_ms, &span) || span == std::numeric_limits<int64_t>::max())
    return Error::msg("from..to: range too large");
  ++span;
  return span / points + (span % points != 0 ? 1 : 0);
}

Result<std::unique_ptr<Store>> Store::open(const Options& opts) {
  auto r = open_impl(opts);
  if (!r) return r.error().context("store " + opts.path);
  return r;
}

std::optional<EventQueryError> check_event_query(const EventQuery& q) {
  if (q.kinds.size() > EventQuery::kMaxKinds)
    return EventQueryError{"kind", "at most " + std::to_string(EventQuery::kMaxKinds) + " kinds"};
  for (const auto& k : q.kinds) {
    std::string_view name = k;
    if (!name.empty() && name.back() == '*') name.remove_suffix(1);
    const bool ok = !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
    if (!ok) return EventQueryError{"kind", "\"" + k + "\": a kind is [a-z0-9_]{1,64}, optionally ending in '*'"};
  }
  if (q.subject.size() > EventQuery::kMaxSubject)
    return EventQueryError{"subject", "at most " + std::to_string(EventQuery::kMaxSubject) + " bytes"};
  if (std::any_of(q.subject.begin(), q.subject.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
    return EventQueryError{"subject", "control characters are not allowed"};
  if (q.limit < 1 || q.limit > EventQuery::kMaxEvents)
    return EventQueryError{"limit", "expected 1.." + std::to_string(EventQuery::kMaxEvents)};
  if (q.points != 0) {
    auto w = bucket_width(q.from_ms, q.to_ms, q.points);
    if (!w) return EventQueryError{"points", w.error().message};
  }
  return std::nullopt;
}

std::vector<Event> newest_per_bucket(const EventQuery& q, const std::vector<Event>& matching) {
  if (q.points == 0) return matching;
  auto width = bucket_width(q.from_ms, q.to_ms, q.points);
  if (!width) return {};
  // (bucket, kind, subject) -> index of its newest event so far.
  std::map<std::tuple<int64_t, std::string_view, std::string_view>, size_t> newest;
  for (size_t i = 0; i < matching.size(); ++i) {
    const auto& e = matching[i];
    auto [at, fresh] = newest.try_emplace({(e.ts_ms - q.from_ms) / *width, e.kind, e.subject}, i);
    if (!fresh && matching[at->second].ts_ms <= e.ts_ms) at->second = i;
  }
  std::vector<size_t> keep;
  for (const auto& [key, i] : newest) keep.push_back(i);
  // Oldest first, as the SQL orders them (ts_ms, then row id: the order in `matching`).
  std::sort(keep.begin(), keep.end(), [&](size_t a, size_t b) {
    return matching[a].ts_ms != matching[b].ts_ms ? matching[a].ts_ms < matching[b].ts_ms : a < b;
  });
  std::vector<Event> out;
  out.reserve(keep.size());
  for (size_t i : keep) out.push_back(matching[i]);
  return out;
}

bool matches(const EventQuery& q, const Event& e) {
  if (e.ts_ms < q.from_ms || e.ts_ms > q.to_ms) return false;
  if (!q.kinds.empty() && std::none_of(q.kinds.begin(), q.kinds.end(), [&](const std::string& k) {
        return k.back() == '*' ? e.kind.compare(0, k.size() - 1, k, 0, k.size() - 1) == 0 : e.kind == k;
      }))
    return false;
  return q.subject.empty() || ("/" + e.subject + "/").find("/" + q.subject + "/") != std::string::npos;
}

}  // namespace cats::store
