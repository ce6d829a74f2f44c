// The schema, as an append-only list of migrations: a released step is never edited,
// a change is a new step (databases in the field are at any earlier version).
#include "store/sqlite_util.hpp"

#include <array>

namespace cats::store::detail {
namespace {

// Version 1.
// resolution: 'fine' rows are raw samples; 'coarse' rows average `samples` raw samples of
// the bucket starting at ts_ms. The partial unique index keeps one coarse row per key and
// bucket, so late samples for an already downsampled bucket are merged into it.
// Measurements may be NULL (NaN from the caller: no RTT while a path is down).
constexpr const char* kV1 = R"sql(
CREATE TABLE path_samples (
  id INTEGER PRIMARY KEY,
  wan TEXT NOT NULL,
  vcpe TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  rtt_ms REAL,
  jitter_ms REAL,
  loss_pct REAL,
  state TEXT NOT NULL,
  resolution TEXT NOT NULL CHECK (resolution IN ('fine', 'coarse')),
  samples INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX path_samples_key_ts ON path_samples(wan, vcpe, ts_ms);
CREATE INDEX path_samples_resolution_ts ON path_samples(resolution, ts_ms);
CREATE UNIQUE INDEX path_samples_coarse_bucket ON path_samples(wan, vcpe, ts_ms) WHERE resolution = 'coarse';

CREATE TABLE instance_samples (
  id INTEGER PRIMARY KEY,
  vcpe TEXT NOT NULL,
  service TEXT NOT NULL,
  instance TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  vcpus REAL,
  utilization REAL,
  processing_delay_ms REAL,
  available INTEGER NOT NULL,
  resolution TEXT NOT NULL CHECK (resolution IN ('fine', 'coarse')),
  samples INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX instance_samples_key_ts ON instance_samples(vcpe, service, instance, ts_ms);
CREATE INDEX instance_samples_resolution_ts ON instance_samples(resolution, ts_ms);
CREATE UNIQUE INDEX instance_samples_coarse_bucket ON instance_samples(vcpe, service, instance, ts_ms)
  WHERE resolution = 'coarse';

CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  ts_ms INTEGER NOT NULL,
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX events_ts ON events(ts_ms);
CREATE INDEX events_kind_subject_ts ON events(kind, subject, ts_ms);
)sql";

// Version 2: the report collector's replay high-water marks (report/collector.hpp), one
// row per vCPE and sequence stream ('report': metric reports, 'plan_ack': plan
// confirmations). seq holds the unsigned 64-bit sequence bit for bit (SQLite integers
// are signed); it is only ever compared in C++.
constexpr const char* kV2 = R"sql(
CREATE TABLE replay_marks (
  vcpe TEXT NOT NULL,
  stream TEXT NOT NULL CHECK (stream IN ('report', 'plan_ack')),
  seq INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (vcpe, stream)
) WITHOUT ROWID;
)sql";

// Version 3: each instance's kept figures (report::InstanceFigures, docs/METRICS.md
// "Instance figures"), so a restarted CPE knows a measured instance as measured (issue 8:
// without them it explored an instance it had priced for hours and rewrote its weights).
// NULL: the figure was never given. last_delay_at_ms is unix ms (the CPE's steady clock
// does not survive the process). service_time_source is metrics::Source's number.
constexpr const char* kV3 = R"sql(
CREATE TABLE instance_figures (
  vcpe TEXT NOT NULL,
  service TEXT NOT NULL,
  instance TEXT NOT NULL,
  service_time_ms REAL,
  service_time_source INTEGER NOT NULL,
  last_delay_ms REAL,
  last_delay_at_ms INTEGER,
  measured INTEGER NOT NULL CHECK (measured IN (0, 1)),
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (vcpe, service, instance)
) WITHOUT ROWID;
)sql";

// Version 4: flap damping (stamp/flap_damping.hpp) of each path ('path', "wan/vcpe") and
// instance ('instance', "vcpe/service/instance"), written at each flap, so a restarted
// CPE keeps holding down what was held (issue 8: a restart readmitted a path held down
// for flapping at once). stamp_ms and hold_end_ms are unix ms (NULL: not held).
constexpr const char* kV4 = R"sql(
CREATE TABLE flap_damping (
  kind TEXT NOT NULL CHECK (kind IN ('path', 'instance')),
  name TEXT NOT NULL,
  penalty REAL NOT NULL,
  stamp_ms INTEGER NOT NULL,
  hold_end_ms INTEGER,
  flaps INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (kind, name)
) WITHOUT ROWID;
)sql";

constexpr std::array<Migration, 4> kMigrations{{{1, kV1}, {2, kV2}, {3, kV3}, {4, kV4}}};

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

}  // namespace cats::store::detail
